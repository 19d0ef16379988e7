"""Components (WASI 0.2) through the runtime's gRPC API: typed calls with every WIT type
both ways, errors naming the path, a WAGI command component through Invoke, limits and
isolation, denied network, refused imports, artifacts.

The Python component (examples/components/textstats) is built with componentize-py
once per machine and compiled once per engine: the runtime here keeps its artifacts under
.wasmgrid/test-cache between runs (a first compile takes 5–40 s on this machine).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.runtime.testing import (
    TEST_CACHE,
    Marketplace,
    Runtime,
    RuntimeFactory,
    by_digest,
    example_component,
    inline,
    sha,
    start_marketplace,
    start_runtime,
    stop_runtime,
)

ROOT = Path(__file__).resolve().parents[3]
MIB = 1024 * 1024
ECHO = "wasmgrid:textstats/echo@0.1.0#"
SANDBOX = "wasmgrid:textstats/sandbox@0.1.0#"

# The first test here may build the Python component and compile it (up to a minute or
# two on a loaded machine); later runs load its artifact in milliseconds.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def textstats(textstats_component: bytes) -> bytes:
    return textstats_component


@pytest.fixture(scope="module")
async def served(textstats: bytes) -> AsyncIterator[tuple[Runtime, Marketplace]]:
    """A runtime fed by a loopback marketplace holding the Python component, its
    artifacts kept between test runs (the compile is the slow part)."""
    mk = await start_marketplace()
    mk.state.blobs[sha(textstats)] = textstats
    rt = await start_runtime(
        ROOT / TEST_CACHE / "runtime-components", marketplace_addr=mk.address, allow_inline=True
    )
    warm = await rt.stub.Warm(pb.WarmRequest(module=by_digest(textstats, "textstats")))
    assert warm.is_component
    yield rt, mk
    await stop_runtime(rt, 1.0)
    await mk.server.stop(0)


async def call(
    served: tuple[Runtime, Marketplace],
    textstats: bytes,
    function: str,
    *args: Any,
    limits: pb.Limits | None = None,
    env: list[pb.EnvVar] | None = None,
) -> pb.CallResponse:
    rt, _ = served
    return await rt.stub.Call(
        pb.CallRequest(
            module=pb.ModuleSource(digest=sha(textstats), display_name="textstats"),
            function=function,
            args_json=json.dumps(list(args)),
            limits=limits,
            env=env or [],
        )
    )


async def results(served: tuple[Runtime, Marketplace], textstats: bytes, fn: str, *a: Any) -> Any:
    r = await call(served, textstats, fn, *a)
    assert r.outcome == pb.OUTCOME_OK, r.trap_message
    return json.loads(r.results_json)


async def refused(served: tuple[Runtime, Marketplace], textstats: bytes, fn: str, *a: Any) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(served, textstats, fn, *a)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return info.value.details() or ""


def component_calls(outcome: str) -> float:
    labels = {"mode": "call", "outcome": outcome, "kind": "component"}
    return REGISTRY.get_sample_value("wasmgrid_runtime_invocations_total", labels) or 0.0


async def test_a_typed_call_answers_a_record(served: Any, textstats: bytes) -> None:
    before = component_calls("OK")
    assert await results(served, textstats, "analyse", "a tiny wasm runtime") == [
        {
            "words": ["a", "tiny", "wasm", "runtime"],
            "count": 4,
            "mean-length": 4.0,
            "longest": "runtime",
        }
    ]
    assert await results(served, textstats, "analyse", "") == [
        {"words": [], "count": 0, "mean-length": 0.0, "longest": None}
    ]
    assert component_calls("OK") == before + 2


# (function, argument, what comes back: the same JSON unless given)
ROUND_TRIPS: list[tuple[str, Any]] = [
    ("echo-bool", True),
    ("echo-bool", False),
    ("echo-s8", -128),
    ("echo-s16", 32767),
    ("echo-s32", -(2**31)),
    ("echo-s64", 2**63 - 1),
    ("echo-u8", 255),
    ("echo-u16", 65535),
    ("echo-u32", 2**32 - 1),
    ("echo-u64", 2**64 - 1),
    ("echo-f32", 1.5),
    ("echo-f32", "Infinity"),
    ("echo-f64", -0.25),
    ("echo-f64", "NaN"),
    ("echo-f64", "-Infinity"),
    ("echo-char", "é"),
    ("echo-char", "🦀"),
    ("echo-string", "héllo, wörld ✓"),
    ("echo-string", ""),
    ("echo-list", ["a", "", "ç"]),
    ("echo-list", []),
    ("echo-bytes", [0, 1, 255]),
    ("echo-record", {"x": -3, "y": 4, "label": "p"}),
    ("echo-tuple", [7, "seven", 7.5]),
    ("echo-variant", {"circle": 2.5}),
    ("echo-variant", {"rect": [1.0, 2.0]}),
    ("echo-variant", {"empty": None}),
    ("echo-enum", "green"),
    ("echo-flags", ["read", "exec"]),
    ("echo-flags", []),
    ("echo-option", None),
    ("echo-option", 42),
    ("echo-nested", None),
    ("echo-nested", {"some": None}),
    ("echo-nested", {"some": "deep"}),
    ("echo-result", {"ok": "fine"}),
    ("echo-result", {"err": 404}),
    ("echo-unit", {"ok": None}),
    ("echo-unit", {"err": None}),
]


async def test_every_wit_type_goes_through_call_both_ways(served: Any, textstats: bytes) -> None:
    for function, value in ROUND_TRIPS:
        got = await results(served, textstats, ECHO + function, value)
        assert got == [value], function
    # Integer-valued floats come back as floats; flags in declaration order.
    assert await results(served, textstats, ECHO + "echo-f64", 3) == [3.0]
    assert await results(served, textstats, ECHO + "echo-flags", ["exec", "read", "exec"]) == [
        ["read", "exec"]
    ]
    r = await call(served, textstats, ECHO + "nothing", 1, "b")
    assert (r.outcome, r.results_json, r.output.stdout) == (
        pb.OUTCOME_OK,
        "[]",
        b"nothing(1, 'b')\n",
    )


@pytest.mark.parametrize(
    ("function", "args", "message"),
    [
        ("analyse", [5], "args[0]: expected string, got 5"),
        (ECHO + "echo-u8", [256], "args[0]: expected u8 in 0..255, got 256"),
        (ECHO + "echo-s8", [-129], "args[0]: expected s8 in -128..127, got -129"),
        (ECHO + "echo-u32", [1.5], "args[0]: expected u32 (an integer), got 1.5"),
        (ECHO + "echo-u32", [True], "args[0]: expected u32 (an integer), got true"),
        (ECHO + "echo-f32", [1e39], "args[0]: expected f32 within ±3.4028235e38, got 1e+39"),
        (
            ECHO + "echo-char",
            ["ab"],
            'args[0]: expected char (a string of one Unicode scalar value), got "ab"',
        ),
        (ECHO + "echo-list", [["a", 5]], "args[0][1]: expected string, got 5"),
        (ECHO + "echo-bytes", [[1, 300]], "args[0][1]: expected u8 in 0..255, got 300"),
        (
            ECHO + "echo-record",
            [{"x": 1, "y": "2", "label": "p"}],
            'args[0].y: expected s32 (an integer), got "2"',
        ),
        (
            ECHO + "echo-record",
            [{"x": 1, "label": "p"}],
            "args[0].y: expected s32, got nothing (missing field)",
        ),
        (
            ECHO + "echo-record",
            [{"x": 1, "y": 2, "label": "p", "z": 3}],
            "args[0].z: expected no such field (fields: x, y, label), got 3",
        ),
        (
            ECHO + "echo-tuple",
            [[1, "a"]],
            "args[0]: expected tuple<u8, string, f64> (an array of 3), got [1, 'a']",
        ),
        (
            ECHO + "echo-variant",
            [{"rect": [1, "x"]}],
            'args[0].rect[1]: expected f64 (a number, "NaN", "Infinity" or "-Infinity"), got "x"',
        ),
        (
            ECHO + "echo-variant",
            [{"square": 1}],
            "args[0]: expected an object with one key of circle, rect, empty, got {'square': 1}",
        ),
        (
            ECHO + "echo-variant",
            [{"empty": 1}],
            "args[0].empty: expected null (this case has no payload), got 1",
        ),
        (ECHO + "echo-enum", ["purple"], 'args[0]: expected one of red, green, blue, got "purple"'),
        (
            ECHO + "echo-flags",
            [["read", "fly"]],
            'args[0]: expected flags from read, write, exec, got "fly"',
        ),
        (
            ECHO + "echo-nested",
            [5],
            'args[0]: expected null or {"some": …} for option<option<string>>, got 5',
        ),
        (
            ECHO + "echo-result",
            [{"maybe": 1}],
            'args[0]: expected {"ok": …} or {"err": …} for result<string, u32>, got {\'maybe\': 1}',
        ),
        (ECHO + "echo-result", [{"err": "x"}], 'args[0].err: expected u32 (an integer), got "x"'),
        (ECHO + "nothing", [1], "args: expected 2 argument(s) for"),
    ],
)
async def test_a_mismatch_names_the_path_and_the_expected_type(
    served: Any, textstats: bytes, function: str, args: list[Any], message: str
) -> None:
    details = await refused(served, textstats, function, *args)
    assert details.startswith(message), details


async def test_unknown_functions_and_wrong_argument_forms_are_refused(
    served: Any, textstats: bytes
) -> None:
    details = await refused(served, textstats, "no-such-function")
    assert "exports no function 'no-such-function'; callable functions: analyse," in details
    rt, _ = served
    digest = pb.ModuleSource(digest=sha(textstats))
    for request, expected in [
        (
            pb.CallRequest(module=digest, function="analyse", args=[pb.Value(i32=1)]),
            "is a component: pass its arguments as JSON in args_json",
        ),
        (
            pb.CallRequest(module=digest, function="analyse", args_json="[1,"),
            "args_json is not JSON",
        ),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rt.stub.Call(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert expected in (info.value.details() or "")
    mathfn = (ROOT / "examples/modules/mathfn/mathfn.wasm").read_bytes()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rt.stub.Call(
            pb.CallRequest(module=inline(mathfn), function="add", args_json="[1, 2]")
        )
    assert "args_json is for components" in (info.value.details() or "")


async def test_warm_lists_the_functions_with_their_wit_signatures(
    served: Any, textstats: bytes
) -> None:
    rt, _ = served
    warm = await rt.stub.Warm(pb.WarmRequest(module=by_digest(textstats)))
    functions = {f.name: f for f in warm.component_functions}
    assert (warm.is_component, warm.is_command, list(warm.functions)) == (True, False, [])
    assert functions["analyse"].signature == (
        "func(text: string) -> record { words: list<string>, count: u32, mean-length: f64,"
        " longest: option<string> }"
    )
    assert functions[ECHO + "echo-unit"].signature == "func(v: result) -> result"
    assert functions[SANDBOX + "connect"].signature == (
        "func(host: string, port: u16) -> result<_, string>"
    )
    assert all(f.callable for f in functions.values())


async def test_each_call_gets_a_fresh_instance(served: Any, textstats: bytes) -> None:
    counts = [await results(served, textstats, SANDBOX + "counter") for _ in range(3)]
    concurrent = await asyncio.gather(
        *(results(served, textstats, SANDBOX + "counter") for _ in range(6))
    )
    assert counts + list(concurrent) == [[1]] * 9
    env = [pb.EnvVar(name="GREETING", value="hi")]
    r = await call(served, textstats, SANDBOX + "env", "GREETING", env=env)
    assert json.loads(r.results_json) == ["hi"]
    assert await results(served, textstats, SANDBOX + "env", "GREETING") == [None]


async def test_fuel_stops_a_component_loop(served: Any, textstats: bytes) -> None:
    r = await call(served, textstats, SANDBOX + "spin", 10**9, limits=pb.Limits(fuel=20_000_000))
    assert (r.outcome, r.trap_message, r.results_json) == (
        pb.OUTCOME_FUEL_EXHAUSTED,
        "fuel limit of 20000000 exhausted",
        "",
    )
    assert r.execution.fuel_consumed == 20_000_000
    assert await results(served, textstats, SANDBOX + "spin", 1000) == [499500]


async def test_the_deadline_stops_a_component_loop(served: Any, textstats: bytes) -> None:
    r = await call(
        served, textstats, SANDBOX + "spin", 10**12, limits=pb.Limits(timeout_ms=300, fuel=10**10)
    )
    assert (r.outcome, r.trap_message) == (
        pb.OUTCOME_TIMEOUT,
        "wall-clock timeout of 300 ms exceeded",
    )


async def test_the_memory_limit_holds_for_a_component(served: Any, textstats: bytes) -> None:
    small = pb.Limits(memory_bytes=64 * MIB)
    r = await call(served, textstats, SANDBOX + "grow", 128, limits=small)
    assert (r.outcome, json.loads(r.results_json)) == (
        pb.OUTCOME_OK,
        [{"err": "could not allocate 128 MiB"}],
    )
    assert r.execution.limits.memory_bytes == 64 * MIB
    r = await call(
        served, textstats, SANDBOX + "grow", 128, limits=pb.Limits(memory_bytes=512 * MIB)
    )
    assert json.loads(r.results_json) == [{"ok": 128}]
    # Below what the component needs to start (CPython's heap image): refused at start.
    r = await call(served, textstats, "analyse", "x", limits=pb.Limits(memory_bytes=4 * MIB))
    assert r.outcome == pb.OUTCOME_MEMORY_LIMIT
    assert "memory limit of 4194304 bytes" in r.trap_message


async def test_the_output_cap_holds_for_a_component(served: Any, textstats: bytes) -> None:
    r = await call(
        served, textstats, SANDBOX + "shout", 4 * MIB, limits=pb.Limits(stdout_bytes=64 * 1024)
    )
    assert r.outcome == pb.OUTCOME_OUTPUT_TRUNCATED
    assert (len(r.output.stdout), r.output.stdout_truncated) == (64 * 1024, True)
    assert r.output.stdout_dropped_bytes > 0
    r = await call(served, textstats, SANDBOX + "shout", 5000)
    assert (json.loads(r.results_json), len(r.output.stdout)) == ([5000], 5000)


async def test_a_component_gets_no_network(served: Any, textstats: bytes) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        got = await results(served, textstats, SANDBOX + "connect", "127.0.0.1", port)
        assert list(got[0]) == ["err"]
        assert "ermission" in got[0]["err"] or "denied" in got[0]["err"].lower(), got
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected


async def test_a_command_component_serves_a_wagi_request(runtime: Runtime) -> None:
    echo = example_component(ROOT, "wagi-echo")
    request = pb.InvokeRequest(
        module=inline(echo, "wagi-echo"),
        stdin=b"the body",
        args=["one", "two"],
        env=[
            pb.EnvVar(name="REQUEST_METHOD", value="POST"),
            pb.EnvVar(name="PATH_INFO", value="/x"),
            pb.EnvVar(name="QUERY_STRING", value="a=1"),
        ],
    )
    r = await runtime.stub.Invoke(request)
    assert (r.outcome, r.exit_code, r.output.stdout) == (
        pb.OUTCOME_OK,
        0,
        b"Content-Type: text/plain; charset=utf-8\n\n"
        b"method: POST\npath: /x\nquery: a=1\nargv: one two\nbody: the body",
    )
    assert r.execution.cache_tier == pb.CACHE_TIER_COMPILED
    del request.env[:]
    request.env.append(pb.EnvVar(name="QUERY_STRING", value="fail=3"))
    r = await runtime.stub.Invoke(request)
    assert (r.outcome, r.exit_code) == (pb.OUTCOME_EXIT, 1)  # WASI 0.2 exit carries ok/err
    assert r.execution.cache_tier == pb.CACHE_TIER_MEMORY
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Call(pb.CallRequest(module=inline(echo), function="run"))
    assert "exports no function 'run'; callable functions: wasi:cli/run@" in (
        info.value.details() or ""
    )


async def test_a_component_artifact_is_verified_and_reloaded_after_a_restart(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    echo = example_component(ROOT, "wagi-echo")
    first = await make_runtime(data_dir=tmp_path / "rt")
    warm = await first.stub.Warm(pb.WarmRequest(module=inline(echo)))
    assert (warm.cache_tier, warm.is_component, warm.is_command) == (
        pb.CACHE_TIER_COMPILED,
        True,
        True,
    )
    await stop_runtime(first, 1.0)
    again = await make_runtime(data_dir=tmp_path / "rt")
    r = await again.stub.Invoke(pb.InvokeRequest(module=inline(echo), stdin=b"x"))
    assert (r.outcome, r.execution.cache_tier) == (pb.OUTCOME_OK, pb.CACHE_TIER_DISK)


FORBIDDEN = """(component
  (import "wasi:http/outgoing-handler@0.2.0" (instance
    (export "handle" (func (param "x" u32) (result u32)))))
)"""


async def test_a_component_importing_what_the_runtime_does_not_link_is_refused(
    runtime: Runtime,
) -> None:
    import wasmtime

    wasm = bytes(wasmtime.wat2wasm(FORBIDDEN))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Warm(pb.WarmRequest(module=inline(wasm)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "imports what this runtime does not provide: wasi:http/outgoing-handler@0.2.0" in (
        info.value.details() or ""
    )
