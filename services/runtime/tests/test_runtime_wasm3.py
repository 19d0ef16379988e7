"""WebAssembly 3.0 through Invoke and Call, under the service's real engine (pooled slots,
fuel, epoch deadlines, memory limits), and the features that stay refused."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.common import wasmfeatures
from wasmgrid.runtime.testing import Runtime, RuntimeFactory, inline, wat_file

WAT = Path(__file__).parent / "wat" / "wasm3"
MIB = 1024 * 1024


def module(name: str) -> pb.ModuleSource:
    return inline(wat_file(WAT / f"{name}.wat"), name)


async def call(
    rt: Runtime, name: str, function: str, *args: pb.Value, limits: pb.Limits | None = None
) -> pb.CallResponse:
    return await rt.stub.Call(
        pb.CallRequest(module=module(name), function=function, args=list(args), limits=limits)
    )


async def ok(rt: Runtime, name: str, function: str, *args: pb.Value) -> pb.Value:
    r = await call(rt, name, function, *args)
    assert r.outcome == pb.OUTCOME_OK, r.trap_message
    assert len(r.results) == 1
    return r.results[0]


@pytest.mark.parametrize(
    ("name", "printed", "result"),
    [
        ("exceptions", b"42\n", 42),
        ("gc", b"47\n", 47),
        ("function_references", b"42\n", 42),
        ("multi_memory", b"44\n", 44),
        ("relaxed_simd", b"694\n", 694),
        ("extended_const", b"47\n", 47),
        ("tail_call", b"42\n", 1),
    ],
)
async def test_each_webassembly_3_feature_runs_through_invoke_and_call(
    runtime: Runtime, name: str, printed: bytes, result: int
) -> None:
    # Twice each: the second call runs on a reused pooled slot.
    for _ in range(2):
        r = await runtime.stub.Invoke(pb.InvokeRequest(module=module(name)))
        assert (r.outcome, r.output.stdout) == (pb.OUTCOME_OK, printed), r.trap_message
        arg = 1_000_000 if name == "tail_call" else 41
        assert (await ok(runtime, name, "run", pb.Value(i32=arg))).i32 == result


async def test_exceptions_rethrow_and_an_uncaught_exception_is_a_trap(runtime: Runtime) -> None:
    assert (await ok(runtime, "exceptions", "rethrown")).i32 == 7
    r = await call(runtime, "exceptions", "uncaught", pb.Value(i32=3))
    assert r.outcome == pb.OUTCOME_TRAP
    assert "thrown Wasm exception" in r.trap_message


async def test_a_throw_loop_is_stopped_by_fuel_and_by_the_deadline(runtime: Runtime) -> None:
    text = b"""(module (tag $e)
      (func (export "spin") (loop $l (block $h (try_table (catch $e $h) (throw $e))) (br $l))))"""
    source = pb.ModuleSource(wasm=_wat(text))
    fuel = await runtime.stub.Call(
        pb.CallRequest(module=source, function="spin", limits=pb.Limits(fuel=2_000_000))
    )
    assert fuel.outcome == pb.OUTCOME_FUEL_EXHAUSTED
    timeout = await runtime.stub.Call(
        pb.CallRequest(
            module=source, function="spin", limits=pb.Limits(fuel=10**10, timeout_ms=200)
        )
    )
    assert timeout.outcome == pb.OUTCOME_TIMEOUT


async def test_the_gc_heap_is_bounded_by_the_memory_limit(runtime: Runtime) -> None:
    within = await call(
        runtime, "gc", "hoard", pb.Value(i32=20), limits=pb.Limits(memory_bytes=8 * MIB)
    )
    assert (within.outcome, within.results[0].i32) == (pb.OUTCOME_OK, 20)
    past = await call(
        runtime, "gc", "hoard", pb.Value(i32=1000), limits=pb.Limits(memory_bytes=8 * MIB)
    )
    assert past.outcome == pb.OUTCOME_MEMORY_LIMIT, past.trap_message
    assert "GC heap reached the memory limit of 8388608 bytes" in past.trap_message


async def test_typed_function_references(runtime: Runtime) -> None:
    deep = await ok(runtime, "function_references", "countdown", pb.Value(i64=1_000_000))
    assert deep.i64 == 0
    r = await call(runtime, "function_references", "null_call")
    assert r.outcome == pb.OUTCOME_TRAP
    assert "null reference" in r.trap_message


async def test_memory64_within_the_memory_limit(runtime: Runtime) -> None:
    assert (await ok(runtime, "memory64", "run", pb.Value(i32=41))).i64 == 46
    r = await call(
        runtime, "memory64", "grow", pb.Value(i64=100), limits=pb.Limits(memory_bytes=4 * MIB)
    )
    assert (r.outcome, r.results[0].i64) == (pb.OUTCOME_OK, -1)  # 101 pages > 64
    r = await call(runtime, "memory64", "grow", pb.Value(i64=10))
    assert (r.outcome, r.results[0].i64) == (pb.OUTCOME_OK, 1)
    past = await call(runtime, "memory64", "past_end")
    assert past.outcome == pb.OUTCOME_TRAP
    assert "out of bounds" in past.trap_message


async def test_each_of_several_memories_is_bounded_by_the_memory_limit(runtime: Runtime) -> None:
    limits = pb.Limits(memory_bytes=4 * MIB)  # 64 pages; the second memory starts at 2
    r = await call(runtime, "multi_memory", "grow_second", pb.Value(i32=62), limits=limits)
    assert (r.outcome, r.results[0].i32) == (pb.OUTCOME_OK, 2)
    r = await call(runtime, "multi_memory", "grow_second", pb.Value(i32=63), limits=limits)
    assert (r.outcome, r.results[0].i32) == (pb.OUTCOME_OK, -1)


async def test_more_memories_than_the_runtime_allows_are_refused(runtime: Runtime) -> None:
    n = wasmfeatures.MAX_MEMORIES + 1
    text = "(module " + "(memory 1) " * n + '(func (export "f")))'
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Call(
            pb.CallRequest(module=pb.ModuleSource(wasm=_wat(text.encode())), function="f")
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"defined memories count of {n} exceeds the per-instance limit of {n - 1}" in (
        info.value.details() or ""
    )


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("threads", "threads must be enabled for shared memories"),
        ("legacy_exceptions", "legacy_exceptions feature required for try instruction"),
    ],
)
async def test_refused_features_say_why(runtime: Runtime, name: str, needle: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Warm(pb.WarmRequest(module=module(name)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details() or ""
    assert needle in details
    assert "refused: legacy-exceptions, threads," in details


async def test_webassembly_3_runs_without_pooling_too(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime(pooling=False)
    for name, printed in (("gc", b"47\n"), ("exceptions", b"42\n"), ("multi_memory", b"44\n")):
        r = await rt.stub.Invoke(pb.InvokeRequest(module=module(name)))
        assert (r.outcome, r.output.stdout) == (pb.OUTCOME_OK, printed), r.trap_message


def _wat(text: bytes) -> bytes:
    import wasmtime

    return bytes(wasmtime.wat2wasm(text.decode()))
