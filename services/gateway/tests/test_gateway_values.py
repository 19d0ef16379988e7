"""JSON ⇄ WebAssembly values of function calls, and a call's runtime limits and outcome."""

from __future__ import annotations

import math

import pytest

from wasmgrid.api.runtime.v1 import runtime_pb2
from wasmgrid.gateway.invoke.execution import raise_for_outcome, runtime_limits
from wasmgrid.gateway.invoke.values import from_value, signatures, to_value, to_values
from wasmgrid.gateway.problem import Problem
from wasmgrid.gateway.routes import Limits


def _detail(call: object) -> str:
    assert callable(call)
    with pytest.raises(Problem) as exc:
        call()
    assert exc.value.status == 400
    return exc.value.detail


def test_integers_take_signed_or_unsigned_spellings_and_keep_their_bits() -> None:
    assert to_value(7, 0, "i32", "f") == runtime_pb2.Value(i32=7)
    assert to_value(2**32 - 1, 0, "i32", "f") == runtime_pb2.Value(i32=-1)
    assert to_value(-(2**31), 0, "i32", "f") == runtime_pb2.Value(i32=-(2**31))
    # Past 2**53 a JSON number loses precision: the string spelling keeps every bit.
    assert to_value({"i64": "9007199254740993"}, 0, "i64", "f") == runtime_pb2.Value(
        i64=9007199254740993
    )
    assert to_value({"i64": str(2**64 - 1)}, 0, None, "f") == runtime_pb2.Value(i64=-1)
    assert to_value(1.5, 0, "f64", "f") == runtime_pb2.Value(f64=1.5)
    assert to_value({"f32": "2.5"}, 0, None, "f") == runtime_pb2.Value(f32=2.5)


@pytest.mark.parametrize(
    ("arg", "expected", "detail"),
    [
        (2**32, "i32", "args[0]: 4294967296 is outside the i32 range -2147483648..4294967295"),
        (1.5, "i32", "args[0]: 1.5 is not an integer (f expects i32)"),
        ("x", "f64", "args[0]: 'x' is not a number (f expects f64)"),
        (True, "i32", "args[0]: True is not a number (f expects i32)"),
        ({"f64": 1}, "i32", "args[0]: f expects i32, got f64"),
        ({"i8": 1}, None, 'args[0]: a typed argument is one of {"i32"|"i64"|"f32"|"f64": n}'),
        (3, None, 'args[0]: the type is unknown; pass it as {"i32": 3}'),
    ],
)
def test_a_bad_argument_is_named_with_its_value_and_type(
    arg: object, expected: str | None, detail: str
) -> None:
    assert _detail(lambda: to_value(arg, 0, expected, "f")) == detail


def test_the_arity_is_checked_against_the_signature() -> None:
    assert _detail(lambda: to_values([1], ["i32", "i32"], "add")) == (
        "add takes 2 argument(s) (i32, i32), got 1"
    )
    assert _detail(lambda: to_values([1], [], "tick")) == "tick takes 0 argument(s) (none), got 1"
    assert to_values([1, 2], ["i32", "i64"], "add") == [
        runtime_pb2.Value(i32=1),
        runtime_pb2.Value(i64=2),
    ]


def test_results_come_back_typed_with_non_finite_floats_as_strings() -> None:
    assert from_value(runtime_pb2.Value(i64=-5)) == ("i64", -5)
    assert from_value(runtime_pb2.Value(f64=0.25)) == ("f64", 0.25)
    assert from_value(runtime_pb2.Value(f64=math.nan)) == ("f64", "NaN")
    assert from_value(runtime_pb2.Value(f32=-math.inf)) == ("f32", "-Infinity")


def test_only_callable_exports_have_signatures() -> None:
    warm = runtime_pb2.WarmResponse(
        functions=[
            runtime_pb2.FunctionSignature(
                name="add",
                params=[runtime_pb2.VALUE_TYPE_I32, runtime_pb2.VALUE_TYPE_I64],
                results=[runtime_pb2.VALUE_TYPE_F64],
                callable=True,
            ),
            runtime_pb2.FunctionSignature(name="takes_a_ref", callable=False),
        ]
    )
    assert signatures(warm) == {"add": (["i32", "i64"], ["f64"])}


def test_the_runtime_time_limit_ends_the_module_before_the_callers_deadline() -> None:
    assert runtime_limits(None, 2.0) == runtime_pb2.Limits(timeout_ms=1950)
    route = Limits(timeout_seconds=0.5, memory_bytes=1 << 20, fuel=10, max_output_bytes=64)
    assert runtime_limits(route, 2.0) == runtime_pb2.Limits(
        fuel=10, timeout_ms=500, memory_bytes=1 << 20, stdout_bytes=64
    )
    assert runtime_limits(route, 0.2).timeout_ms == 150
    assert runtime_limits(None, -1.0).timeout_ms == 1  # past due: the smallest limit
    assert runtime_limits(None, 600.0).timeout_ms == 60_000  # the runtime's maximum


_APPLIED = runtime_pb2.AppliedLimits(
    fuel=1000, timeout_ms=250, memory_bytes=65536, stack_bytes=4096, stdout_bytes=99
)


@pytest.mark.parametrize(
    ("outcome", "status", "detail"),
    [
        (runtime_pb2.OUTCOME_EXIT, 500, "module a/b@1.0.0 exited with code 3"),
        (runtime_pb2.OUTCOME_TRAP, 500, "module a/b@1.0.0 trapped: unreachable"),
        (
            runtime_pb2.OUTCOME_FUEL_EXHAUSTED,
            500,
            "module a/b@1.0.0 ran out of fuel (limit 1000 units)",
        ),
        (runtime_pb2.OUTCOME_TIMEOUT, 500, "module a/b@1.0.0 exceeded its 250 ms time limit"),
        (
            runtime_pb2.OUTCOME_MEMORY_LIMIT,
            500,
            "module a/b@1.0.0 exceeded its memory limit of 65536 bytes",
        ),
        (
            runtime_pb2.OUTCOME_STACK_OVERFLOW,
            500,
            "module a/b@1.0.0 overflowed its 4096-byte stack",
        ),
        (
            runtime_pb2.OUTCOME_OUTPUT_TRUNCATED,
            500,
            "module a/b@1.0.0 wrote more than its 99-byte output limit",
        ),
    ],
)
def test_each_outcome_is_a_guest_fault_naming_the_limit_that_applied(
    outcome: int, status: int, detail: str
) -> None:
    resp = runtime_pb2.InvokeResponse(
        outcome=outcome,  # type: ignore[arg-type]
        exit_code=3,
        trap_message="unreachable",
        execution=runtime_pb2.Execution(limits=_APPLIED),
        output=runtime_pb2.Output(stderr=b"x" * 10 + b"the end!"),
    )
    with pytest.raises(Problem) as exc:
        raise_for_outcome(resp, "a/b@1.0.0", 8)
    problem = exc.value
    assert (problem.status, problem.detail) == (status, detail)
    # A guest fault, never the platform's: its own type and fault, in the document too.
    slug = runtime_pb2.Outcome.Name(outcome).removeprefix("OUTCOME_").lower().replace("_", "-")
    assert problem.type == f"https://wasmgrid.dev/problems/guest-{slug}"
    assert problem.fault == "guest"
    assert problem.document()["fault"] == "guest"
    assert problem.extra["stderr"] == "…the end!"  # the tail, marked as cut
    assert ("exit_code" in problem.extra) == (outcome == runtime_pb2.OUTCOME_EXIT)


def test_an_ok_outcome_raises_nothing_and_an_unknown_one_is_a_platform_502() -> None:
    raise_for_outcome(runtime_pb2.InvokeResponse(outcome=runtime_pb2.OUTCOME_OK), "m", 10)
    with pytest.raises(Problem) as exc:
        raise_for_outcome(runtime_pb2.CallResponse(), "a/b@1.0.0", 10)
    assert (exc.value.status, exc.value.detail) == (502, "module a/b@1.0.0 failed: unknown outcome")
    assert exc.value.fault == "platform"
