"""WebAssembly 2.0 features and isolation between calls."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import wasmtime

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.runtime.engine import MEMORIES_PER_SLOT, EngineOptions, create_engine
from wasmgrid.runtime.testing import Runtime, RuntimeFactory, inline, wat_file

WAT = Path(__file__).parent / "wat"


def wat(name: str) -> bytes:
    return wat_file(WAT / name)


async def call(rt: Runtime, module: str, function: str, *args: pb.Value) -> list[pb.Value]:
    r = await rt.stub.Call(
        pb.CallRequest(module=inline(wat(module)), function=function, args=list(args))
    )
    assert r.outcome == pb.OUTCOME_OK, r.trap_message
    return list(r.results)


async def test_multi_value(runtime: Runtime) -> None:
    swap = await call(runtime, "multi_value.wat", "swap", pb.Value(i32=1), pb.Value(i32=2))
    assert [v.i32 for v in swap] == [2, 1]
    dm = await call(runtime, "multi_value.wat", "divmod", pb.Value(i32=17), pb.Value(i32=5))
    assert [v.i32 for v in dm] == [3, 2]
    run = await call(runtime, "multi_value.wat", "run")
    assert [v.WhichOneof("value") for v in run] == ["i32", "i64", "f64"]
    assert (run[0].i32, run[1].i64, run[2].f64) == (1, 2, 3.5)


async def test_bulk_memory(runtime: Runtime) -> None:
    assert (await call(runtime, "bulk_memory.wat", "fill_copy"))[0].i32 == 0x2A2A2A2A
    # A fresh instance per call: the passive segment is still there the 2nd time.
    for _ in range(2):
        assert (await call(runtime, "bulk_memory.wat", "init"))[0].i32 == 0x04030201


async def test_reference_types(runtime: Runtime) -> None:
    for _ in range(2):  # 1133 on a fresh instance only
        assert (await call(runtime, "reference_types.wat", "run"))[0].i32 == 1133


async def test_externref_export_is_listed_but_not_callable(runtime: Runtime) -> None:
    warm = await runtime.stub.Warm(pb.WarmRequest(module=inline(wat("reference_types.wat"))))
    sigs = {f.name: f for f in warm.functions}
    assert not sigs["is_null_extern"].callable
    assert sigs["run"].callable
    assert list(sigs["run"].results) == [pb.VALUE_TYPE_I32]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Call(
            pb.CallRequest(module=inline(wat("reference_types.wat")), function="is_null_extern")
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "is_null_extern(externref) -> i32 cannot be called" in (info.value.details() or "")


async def test_simd(runtime: Runtime) -> None:
    assert (await call(runtime, "simd.wat", "run"))[0].i32 == 33
    assert (await call(runtime, "simd.wat", "lane_sum", pb.Value(i32=10)))[0].i32 == 46


async def test_sign_extension(runtime: Runtime) -> None:
    assert (await call(runtime, "sign_extension.wat", "run"))[0].i32 == -128
    assert (await call(runtime, "sign_extension.wat", "extend8_s", pb.Value(i32=255)))[0].i32 == -1
    got = await call(runtime, "sign_extension.wat", "extend16_s", pb.Value(i32=0x8000))
    assert got[0].i32 == -32768
    got = await call(runtime, "sign_extension.wat", "extend32_s_i64", pb.Value(i64=0xFFFFFFFF))
    assert got[0].i64 == -1


async def test_nontrapping_float_to_int(runtime: Runtime) -> None:
    assert (await call(runtime, "nontrapping_f2i.wat", "run"))[0].i32 == 2147483647
    m = "nontrapping_f2i.wat"
    assert (await call(runtime, m, "trunc_sat", pb.Value(f32=-3.7)))[0].i32 == -3
    assert (await call(runtime, m, "trunc_sat", pb.Value(f32=float("nan"))))[0].i32 == 0
    assert (await call(runtime, m, "trunc_sat", pb.Value(f32=float("-inf"))))[0].i32 == -(2**31)
    assert (await call(runtime, m, "trunc_sat_u64", pb.Value(f64=-1.0)))[0].i64 == 0
    r = await runtime.stub.Call(
        pb.CallRequest(module=inline(wat(m)), function="trunc_trap", args=[pb.Value(f32=3e9)])
    )
    assert r.outcome == pb.OUTCOME_TRAP
    assert "integer overflow" in r.trap_message


async def test_mutable_global_import_is_refused_by_the_service(runtime: Runtime) -> None:
    # The service links WASI only, so a module importing env.counter cannot run there...
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Call(
            pb.CallRequest(module=inline(wat("mutable_global.wat")), function="bump")
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "env::counter" in (info.value.details() or "")


def test_mutable_global_import_export_on_the_engine() -> None:
    # ...but the engine's feature policy supports it (WebAssembly 2.0).
    engine = create_engine(EngineOptions())
    store = wasmtime.Store(engine)
    store.set_fuel(10_000)
    store.set_epoch_deadline(1_000)
    counter = wasmtime.Global(
        store, wasmtime.GlobalType(wasmtime.ValType.i32(), True), wasmtime.Val.i32(41)
    )
    module = wasmtime.Module(engine, wat("mutable_global.wat"))
    instance = wasmtime.Instance(store, module, [counter])
    bump = instance.exports(store)["bump"]
    total = instance.exports(store)["total"]
    assert isinstance(bump, wasmtime.Func)
    assert isinstance(total, wasmtime.Global)
    assert bump(store) == 42
    assert counter.value(store) == 42
    assert total.value(store) == 142


@pytest.mark.integration
@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("(module (memory 1 1 shared))", "threads must be enabled"),
        ("(module (memory 1 (pagesize 1)))", "custom page sizes proposal must be enabled"),
        (
            '(module (func (export "f") (result i64) (i64.add128 (i64.const 1) (i64.const 2)'
            " (i64.const 3) (i64.const 4)) (drop)))",
            "wide arithmetic support is not enabled",
        ),
    ],
)
async def test_disabled_proposals_are_refused(runtime: Runtime, text: str, needle: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Warm(pb.WarmRequest(module=inline(bytes(wasmtime.wat2wasm(text)))))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in (info.value.details() or "")


async def test_canary_state_never_leaks(runtime: Runtime) -> None:
    module = inline(wat("canary.wat"))
    for _ in range(5):
        r = await runtime.stub.Invoke(pb.InvokeRequest(module=module))
        assert r.outcome == pb.OUTCOME_OK
        assert r.output.stdout == b"1\n"
        c = await runtime.stub.Call(pb.CallRequest(module=module, function="bump"))
        assert [v.i32 for v in c.results] == [1]


# A counter far past the part of a pooled memory that is wiped with memset (the rest is
# returned to the kernel), and eight tables: the most an instance may define.
_POOLED_CANARY = """
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 40)
  (table 1 funcref) (table 1 funcref) (table 1 funcref) (table 1 funcref)
  (table 1 funcref) (table 1 funcref) (table 1 funcref) (table $t 1000 funcref)
  (func (export "_start")
    (local $n i32)
    (local.set $n (i32.add (i32.load (i32.const 0x200000)) (i32.const 1)))
    (i32.store (i32.const 0x200000) (local.get $n))
    (if (i32.eqz (ref.is_null (table.get $t (i32.const 999)))) (then unreachable))
    (table.set $t (i32.const 999) (ref.func 0))
    (if (i32.gt_u (local.get $n) (i32.const 9)) (then (local.set $n (i32.const 9))))
    (i32.store8 (i32.const 32) (i32.add (i32.const 48) (local.get $n)))
    (i32.store8 (i32.const 33) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 2))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (elem declare func 0))
"""


async def test_pooled_instance_slots_are_wiped_and_reused(make_runtime: RuntimeFactory) -> None:
    # max_concurrent=1: 18 pooled slots. Three times as many calls, one after another
    # and a burst at once, each on a fresh-looking instance: memory past 2 MiB and the
    # tables start from zero every time, and the slots come back.
    rt = await make_runtime(max_concurrent=1)
    module = inline(bytes(wasmtime.wat2wasm(_POOLED_CANARY)))
    for _ in range(40):
        r = await rt.stub.Invoke(pb.InvokeRequest(module=module))
        assert (r.outcome, r.output.stdout) == (pb.OUTCOME_OK, b"1\n"), r.trap_message
    burst = await asyncio.gather(
        *(rt.stub.Invoke(pb.InvokeRequest(module=module)) for _ in range(20)),
        return_exceptions=True,
    )
    done = [r for r in burst if isinstance(r, pb.InvokeResponse)]
    assert done
    assert all(r.output.stdout == b"1\n" for r in done)
    refused = [r for r in burst if not isinstance(r, pb.InvokeResponse)]
    assert all(
        isinstance(e, grpc.aio.AioRpcError) and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for e in refused
    )
    last = await rt.stub.Invoke(pb.InvokeRequest(module=module))
    assert last.output.stdout == b"1\n"


async def test_env_is_only_what_the_request_gives(runtime: Runtime) -> None:
    module = inline(wat("env_dump.wat"))
    first = await runtime.stub.Invoke(
        pb.InvokeRequest(
            module=module,
            env=[pb.EnvVar(name="CANARY", value="s3cret"), pb.EnvVar(name="A", value="1")],
        )
    )
    assert first.output.stdout == b"CANARY=s3cret\nA=1\n"
    second = await runtime.stub.Invoke(
        pb.InvokeRequest(module=module, env=[pb.EnvVar(name="A", value="2")])
    )
    assert second.output.stdout == b"A=2\n"
    empty = await runtime.stub.Invoke(pb.InvokeRequest(module=module))
    assert empty.outcome == pb.OUTCOME_OK
    assert empty.output.stdout == b""


@pytest.mark.parametrize(
    ("env", "args", "needle"),
    [
        ([pb.EnvVar(name="", value="x")], [], "env[0].name must be 1..256 bytes"),
        ([pb.EnvVar(name="A=B", value="x")], [], "must not contain '=' or NUL"),
        ([pb.EnvVar(name="A", value="x" * 70_000)], [], "the limit is 65536"),
        ([], ["a"] * 300, "args has 300 entries; the limit is 256"),
    ],
)
async def test_bad_env_and_args_are_refused(
    runtime: Runtime, env: list[pb.EnvVar], args: list[str], needle: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Invoke(
            pb.InvokeRequest(module=inline(wat("env_dump.wat")), env=env, args=args)
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in (info.value.details() or "")


async def test_tail_calls_are_enabled(runtime: Runtime) -> None:
    text = """
    (module
      (func $count (export "count") (param i64) (result i64)
        (if (result i64) (i64.eqz (local.get 0))
          (then (i64.const 42))
          (else (return_call $count (i64.sub (local.get 0) (i64.const 1)))))))
    """
    # A million nested tail calls would overflow the stack without tail-call support.
    r = await runtime.stub.Call(
        pb.CallRequest(
            module=inline(bytes(wasmtime.wat2wasm(text))),
            function="count",
            args=[pb.Value(i64=1_000_000)],
        )
    )
    assert r.outcome == pb.OUTCOME_OK
    assert r.results[0].i64 == 42


async def test_a_full_instance_pool_is_resource_exhausted_not_a_trap(
    make_runtime: RuntimeFactory,
) -> None:
    rt = await make_runtime(max_concurrent=1)  # 18 pooled slots
    engine = rt.service.engine
    tiny = wasmtime.Module(engine, "(module (memory 1))")
    held = []
    # Take every pooled memory, as instances still alive elsewhere would: memories are
    # what runs out first (core instances are pooled 16 per slot, for components).
    for _ in range(rt.service.options.pool_slots * MEMORIES_PER_SLOT):
        store = wasmtime.Store(engine)
        held.append((store, wasmtime.Instance(store, tiny, [])))
    module = inline(wat("canary.wat"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rt.stub.Invoke(pb.InvokeRequest(module=module))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "no free instance slot" in (info.value.details() or "")
    held.clear()  # slots come back: the next call runs
    r = await rt.stub.Invoke(pb.InvokeRequest(module=module))
    assert (r.outcome, r.output.stdout) == (pb.OUTCOME_OK, b"1\n")


_POOL_UNDER_LIMIT = """
import sys, tempfile
from wasmgrid.runtime.service import RuntimeService
from wasmgrid.runtime.settings import RuntimeSettings
service = RuntimeService(RuntimeSettings(data_dir=tempfile.mkdtemp(), max_concurrent=8))
print("slots", service.options.pool_slots)
"""


@pytest.mark.integration  # runs the check in a child process under a ulimit
@pytest.mark.parametrize(("limit_gib", "slots"), [(None, 32), (24, 0)])
def test_pool_too_big_for_the_address_space_limit_falls_back(
    limit_gib: int | None, slots: int
) -> None:
    # wasmtime reserves the whole pool up front and aborts the process when it cannot:
    # under `ulimit -v` the runtime allocates per call instead, and says so.
    # The limit is set by a shell, not a preexec_fn: that would make subprocess fork()
    # (not vfork()) with gRPC threads live in this process, running gRPC's fork handlers.
    command = [sys.executable, "-c", _POOL_UNDER_LIMIT]
    if limit_gib is not None:
        kib = limit_gib * 1024**2
        command = ["sh", "-c", f'ulimit -v {kib} && exec "$@"', "sh", *command]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"slots {slots}" in done.stdout
    assert ("ulimit -v" in done.stderr) == (limit_gib is not None)
