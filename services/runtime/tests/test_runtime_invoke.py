"""Invoke and Call through the gRPC API of a real in-process runtime."""

from __future__ import annotations

import gc
from pathlib import Path

import grpc
import pytest

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.runtime.testing import Runtime, example_module, inline, wat_file

WAT = Path(__file__).parent / "wat"
REPO = Path(__file__).resolve().parents[3]


def wat(name: str) -> bytes:
    return wat_file(WAT / name)


def example(name: str) -> bytes:
    return example_module(REPO, name)


async def test_hello_uppercases_stdin_and_reports_execution(runtime: Runtime) -> None:
    hello = example("hello")
    req = pb.InvokeRequest(
        module=inline(hello, "examples/hello@1.0.0"),
        stdin=b"hello, world",
        env=[pb.EnvVar(name="QUERY_STRING", value="env=1"), pb.EnvVar(name="HTTP_X", value="y")],
    )
    first = await runtime.stub.Invoke(req)
    assert first.outcome == pb.OUTCOME_OK
    assert first.exit_code == 0
    assert first.output.stdout == (
        b"Content-Type: text/plain; charset=utf-8\n\nHELLO, WORLD\nHTTP_X=y\nQUERY_STRING=env=1\n"
    )
    assert first.execution.cache_tier == pb.CACHE_TIER_COMPILED
    assert not first.execution.compiled_cache_hit
    assert first.execution.fuel_consumed > 0
    assert first.execution.limits.fuel == 1_000_000_000
    second = await runtime.stub.Invoke(req)
    assert second.execution.cache_tier == pb.CACHE_TIER_MEMORY
    assert second.execution.compiled_cache_hit
    assert second.output.stdout == first.output.stdout


async def test_an_invoke_leaves_no_garbage_of_its_own_for_the_collector(runtime: Runtime) -> None:
    # Garbage in reference cycles waits for a collection, and a collection stops the loop:
    # an Invoke's own objects (the guest's environment, its store) are freed as it ends.
    req = pb.InvokeRequest(
        module=inline(example("hello")),
        stdin=b"x",
        env=[pb.EnvVar(name=f"HTTP_X_{i}", value="y" * i) for i in range(16)],
    )
    await runtime.stub.Invoke(req)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(20):
            assert (await runtime.stub.Invoke(req)).outcome == pb.OUTCOME_OK
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__ in ("_ctypes", "ctypes", "wasmtime")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert [repr(o)[:80] for o in ours] == []


async def test_stdin_is_delivered_whole_then_eof_and_never_leaks_into_the_next_call(
    runtime: Runtime,
) -> None:
    hello = inline(example("hello"))
    header = b"Content-Type: text/plain; charset=utf-8\n\n"
    body = bytes(range(256)) * 3500 + b"tail"  # ~900 KB (stdout cap 1 MiB), every byte
    big = await runtime.stub.Invoke(pb.InvokeRequest(module=hello, stdin=body))
    assert big.outcome == pb.OUTCOME_OK
    assert big.output.stdout == header + body.upper()
    empty = await runtime.stub.Invoke(pb.InvokeRequest(module=hello))
    assert empty.outcome == pb.OUTCOME_OK
    assert empty.output.stdout == header


async def test_call_typed_values_and_multi_value(runtime: Runtime) -> None:
    mathfn = inline(example("mathfn"))
    add = await runtime.stub.Call(
        pb.CallRequest(
            module=mathfn, function="add", args=[pb.Value(i32=2**31 - 1), pb.Value(i32=1)]
        )
    )
    assert add.outcome == pb.OUTCOME_OK
    assert [v.i32 for v in add.results] == [-(2**31)]
    dm = await runtime.stub.Call(
        pb.CallRequest(module=mathfn, function="divmod", args=[pb.Value(i32=17), pb.Value(i32=5)])
    )
    assert [(v.WhichOneof("value"), v.i32) for v in dm.results] == [("i32", 3), ("i32", 2)]
    fib = await runtime.stub.Call(
        pb.CallRequest(module=mathfn, function="fib", args=[pb.Value(i64=90)])
    )
    assert fib.results[0].i64 == 2880067194370816120
    hyp = await runtime.stub.Call(
        pb.CallRequest(module=mathfn, function="hypot", args=[pb.Value(f64=3.0), pb.Value(f64=4.0)])
    )
    assert hyp.results[0].f64 == 5.0
    scale = await runtime.stub.Call(
        pb.CallRequest(module=mathfn, function="scale", args=[pb.Value(f32=2.0)])
    )
    assert scale.results[0].f32 == 5.0
    div0 = await runtime.stub.Call(
        pb.CallRequest(module=mathfn, function="divmod", args=[pb.Value(i32=1), pb.Value(i32=0)])
    )
    assert div0.outcome == pb.OUTCOME_TRAP
    assert "divide by zero" in div0.trap_message
    assert list(div0.results) == []


@pytest.mark.parametrize(
    ("function", "args", "expected"),
    [
        ("nope", [], "function 'nope'; exported functions: add(i32, i32) -> i32, divmod"),
        ("add", [pb.Value(i32=1)], "export add(i32, i32) -> i32 takes 2 argument(s), got 1"),
        (
            "add",
            [pb.Value(i32=1), pb.Value(i64=2)],
            "args[1] of export add(i32, i32) -> i32 must be i32, got i64",
        ),
        ("divmod", [pb.Value(), pb.Value(i32=1)], "args[0] has no value"),
    ],
)
async def test_call_refuses_bad_export_arity_and_types(
    runtime: Runtime, function: str, args: list[pb.Value], expected: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Call(
            pb.CallRequest(module=inline(example("mathfn")), function=function, args=args)
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (info.value.details() or "")


async def test_exit_code_and_trap(runtime: Runtime) -> None:
    ex = await runtime.stub.Invoke(pb.InvokeRequest(module=inline(wat("exit_code.wat"))))
    assert (ex.outcome, ex.exit_code) == (pb.OUTCOME_EXIT, 7)
    tr = await runtime.stub.Invoke(pb.InvokeRequest(module=inline(wat("trap_unreachable.wat"))))
    assert tr.outcome == pb.OUTCOME_TRAP
    assert "unreachable" in tr.trap_message


async def test_invoke_on_reactor_is_refused(runtime: Runtime) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Invoke(pb.InvokeRequest(module=inline(example("mathfn"))))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no _start export" in (info.value.details() or "")


async def test_empty_stdin_reads_as_end_of_file(runtime: Runtime) -> None:
    r = await runtime.stub.Invoke(pb.InvokeRequest(module=inline(example("hello"))))
    assert r.outcome == pb.OUTCOME_OK
    assert r.output.stdout == b"Content-Type: text/plain; charset=utf-8\n\n"
