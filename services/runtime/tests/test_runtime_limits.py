"""Limits and adversarial guests, through the gRPC API."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import time
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.common.errors import BUSY_TRAILER
from wasmgrid.common.testing import poll_until
from wasmgrid.runtime.testing import Runtime, RuntimeFactory, example_module, inline, wat_file

WAT = Path(__file__).parent / "wat"
REPO = Path(__file__).resolve().parents[3]
MIB = 1024 * 1024
TICK_MS = 10
#: Scheduling slack on a shared 2-core machine, on top of "limit + one tick".
SLACK_MS = 150


def wat(name: str) -> bytes:
    return wat_file(WAT / name)


async def invoke(rt: Runtime, module: bytes, **limits: int) -> pb.InvokeResponse:
    return await rt.stub.Invoke(pb.InvokeRequest(module=inline(module), limits=pb.Limits(**limits)))


async def test_infinite_loop_runs_out_of_fuel(runtime: Runtime) -> None:
    r = await invoke(runtime, wat("infinite_loop.wat"), fuel=1_000_000)
    assert r.outcome == pb.OUTCOME_FUEL_EXHAUSTED
    assert r.execution.fuel_consumed == 1_000_000
    assert "fuel limit of 1000000" in r.trap_message


async def test_an_infinite_loop_is_stopped_by_its_timeout(runtime: Runtime) -> None:
    r = await invoke(runtime, wat("infinite_loop.wat"), fuel=10_000_000_000, timeout_ms=200)
    assert r.outcome == pb.OUTCOME_TIMEOUT
    assert "timeout of 200 ms" in r.trap_message
    assert r.execution.limits.timeout_ms == 200


async def test_deep_recursion_is_a_stack_overflow(runtime: Runtime) -> None:
    r = await invoke(runtime, wat("deep_recursion.wat"))
    assert r.outcome == pb.OUTCOME_STACK_OVERFLOW
    assert r.execution.limits.stack_bytes == 512 * 1024


async def test_memory_grow_loop_hits_the_memory_limit(runtime: Runtime) -> None:
    r = await invoke(runtime, wat("memory_grow.wat"), memory_bytes=8 * MIB)
    assert r.outcome == pb.OUTCOME_MEMORY_LIMIT
    assert r.execution.memory_bytes == 8 * MIB
    assert "memory limit of 8388608 bytes" in r.trap_message


async def test_limits_are_clamped_to_service_maxima(runtime: Runtime) -> None:
    limits = pb.Limits(fuel=10**15, memory_bytes=10**12, timeout_ms=10**9)
    r = await runtime.stub.Invoke(
        pb.InvokeRequest(module=inline(wat("trap_unreachable.wat")), limits=limits), timeout=100
    )
    applied = r.execution.limits
    assert (applied.fuel, applied.memory_bytes, applied.timeout_ms) == (10**10, 1024 * MIB, 60_000)


async def test_output_flood_is_truncated_and_stopped(runtime: Runtime) -> None:
    r = await invoke(runtime, wat("output_flood.wat"), stdout_bytes=10_000, timeout_ms=10_000)
    assert r.outcome == pb.OUTCOME_OUTPUT_TRUNCATED
    assert len(r.output.stdout) == 10_000
    assert r.output.stdout_truncated
    assert r.output.stdout_dropped_bytes > 0
    # Stopped by the cap as soon as it was passed: the outcome is not the 10 s TIMEOUT.
    assert "stdout exceeded its limit of 10000 bytes" in r.trap_message


async def test_a_stderr_flood_is_truncated_and_stopped_too(runtime: Runtime) -> None:
    import wasmtime

    text = (WAT / "output_flood.wat").read_text()
    to_stderr = text.replace("(call $fd_write (i32.const 1)", "(call $fd_write (i32.const 2)")
    assert to_stderr != text
    module = bytes(wasmtime.wat2wasm(to_stderr))
    r = await invoke(runtime, module, stderr_bytes=10_000, timeout_ms=10_000)
    assert r.outcome == pb.OUTCOME_OUTPUT_TRUNCATED
    assert len(r.output.stderr) == 10_000
    assert r.output.stderr_truncated
    assert r.output.stderr_dropped_bytes > 0
    assert r.output.stdout == b""
    assert "stderr exceeded its limit of 10000 bytes" in r.trap_message


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (b"\0asm\x01\0\0\0\x01\x05", "does not compile"),
        (b"\0asm\x02\0\0\0", "does not compile"),
        (b"not wasm at all", "not a WebAssembly binary"),
        (b"(module)", "text format is not accepted"),
    ],
)
async def test_truncated_and_malformed_binaries_are_refused(
    runtime: Runtime, module: bytes, expected: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await invoke(runtime, module)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (info.value.details() or "")


async def test_unknown_import_is_refused_naming_it(runtime: Runtime) -> None:
    for _ in range(2):  # the 2nd refusal comes from the loader's memory, not a recompile
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await invoke(runtime, wat("unknown_import.wat"))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = info.value.details() or ""
        assert "env::not_a_wasi_function" in details
        assert "only WASI preview 1" in details
    assert runtime.service.loader.loads == 1


async def test_disabled_proposal_is_refused_clearly(runtime: Runtime) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await runtime.stub.Call(
            pb.CallRequest(module=inline(wat("custom_page_sizes.wat")), function="size")
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "custom page sizes proposal must be enabled" in (info.value.details() or "")


async def test_excess_concurrency_is_refused_at_once(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime(max_concurrent=1)
    slow = asyncio.create_task(invoke(rt, wat("infinite_loop.wat"), fuel=10**10, timeout_ms=3_000))

    async def slow_call_running() -> bool:
        return (await rt.stub.GetStats(pb.GetStatsRequest())).in_flight == 1

    await poll_until(slow_call_running, "the slow call to hold the only slot")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await invoke(rt, wat("trap_unreachable.wat"))
    assert not slow.done(), "refused only after the slot came free: it did not fail fast"
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "all 1 execution slots are busy" in (info.value.details() or "")
    # Refused unstarted, and the trailer says so: a gateway may try another replica.
    metadata: Any = info.value.trailing_metadata() or ()
    trailers = [(str(k), str(v)) for k, v in metadata]
    assert (BUSY_TRAILER, "execution-slots") in trailers
    assert (await slow).outcome == pb.OUTCOME_TIMEOUT
    stats = await rt.stub.GetStats(pb.GetStatsRequest())
    assert stats.rejected == 1
    assert stats.in_flight == 0


async def test_rpc_deadline_bounds_the_guest(runtime: Runtime) -> None:
    r = await runtime.stub.Invoke(
        pb.InvokeRequest(module=inline(wat("infinite_loop.wat")), limits=pb.Limits(fuel=10**10)),
        timeout=0.5,
    )
    assert r.outcome == pb.OUTCOME_TIMEOUT
    assert r.execution.limits.timeout_ms < 500


def _adversarial_mix() -> list[tuple[str, bytes, dict[str, int], set[int]]]:
    """(label, module, limits, acceptable outcomes) for the mixed run."""
    loop = wat("infinite_loop.wat")
    return [
        ("fuel", loop, {"fuel": 200_000}, {pb.OUTCOME_FUEL_EXHAUSTED}),
        ("timeout", loop, {"fuel": 10**10, "timeout_ms": 20}, {pb.OUTCOME_TIMEOUT}),
        ("recursion", wat("deep_recursion.wat"), {}, {pb.OUTCOME_STACK_OVERFLOW}),
        ("grow", wat("memory_grow.wat"), {"memory_bytes": 2 * MIB}, {pb.OUTCOME_MEMORY_LIMIT}),
        (
            "flood",
            wat("output_flood.wat"),
            {"stdout_bytes": 8192},
            {pb.OUTCOME_OUTPUT_TRUNCATED},
        ),
        ("trap", wat("trap_unreachable.wat"), {}, {pb.OUTCOME_TRAP}),
        ("exit", wat("exit_code.wat"), {}, {pb.OUTCOME_EXIT}),
        ("malformed", b"\0asm\x01\0\0\0\x01\xff\xff", {}, set()),
        ("unknown-import", wat("unknown_import.wat"), {}, set()),
    ]


async def test_thousand_mixed_adversarial_calls(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime(max_concurrent=4)
    mix = _adversarial_mix()
    hello = example_module(REPO, "hello")
    proc = psutil.Process(os.getpid())
    # Warm every module once so compiled code is cached before the RSS baseline.
    for _, module, limits, _ in mix:
        with contextlib.suppress(grpc.aio.AioRpcError):
            await invoke(rt, module, **limits)
    gc.collect()
    rss_start = proc.memory_info().rss
    rng = random.Random(1234)
    calls = [mix[rng.randrange(len(mix))] for _ in range(1000)]
    sem = asyncio.Semaphore(4)
    worst_overshoot_ms = 0.0
    counts: dict[str, int] = {}

    async def one(label: str, module: bytes, limits: dict[str, int], ok: set[int]) -> None:
        nonlocal worst_overshoot_ms
        async with sem:
            try:
                r = await invoke(rt, module, **limits)
            except grpc.aio.AioRpcError as exc:
                # Which calls fail is drawn at random: pytest.raises cannot say beforehand.
                assert not ok, f"{label}: unexpected {exc.code()} {exc.details()}"  # noqa: PT017
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, label  # noqa: PT017
                counts[label] = counts.get(label, 0) + 1
                return
        assert r.outcome in ok, f"{label}: outcome {pb.Outcome.Name(r.outcome)}"
        applied = r.execution.limits
        overshoot = r.execution.wall_time_us / 1000 - applied.timeout_ms
        worst_overshoot_ms = max(worst_overshoot_ms, overshoot)  # reported, not asserted
        assert r.execution.fuel_consumed <= applied.fuel
        assert len(r.output.stdout) <= applied.stdout_bytes
        assert r.execution.memory_bytes <= applied.memory_bytes
        counts[label] = counts.get(label, 0) + 1

    started = time.monotonic()
    await asyncio.gather(*(one(*c) for c in calls))
    elapsed = time.monotonic() - started
    assert sum(counts.values()) == 1000
    ok = await rt.stub.Invoke(pb.InvokeRequest(module=inline(hello), stdin=b"still alive"))
    assert ok.outcome == pb.OUTCOME_OK
    assert b"STILL ALIVE" in ok.output.stdout
    gc.collect()
    rss_end = proc.memory_info().rss
    growth_mib = (rss_end - rss_start) / MIB
    print(
        f"\nadversarial: 1000 calls in {elapsed:.1f}s, outcomes {sorted(counts.items())},"
        f" worst timeout overshoot {worst_overshoot_ms:.1f} ms,"
        f" RSS {rss_start / MIB:.1f} -> {rss_end / MIB:.1f} MiB ({growth_mib:+.1f} MiB)"
    )
    assert growth_mib < 64, f"RSS grew by {growth_mib:.1f} MiB over 1000 adversarial calls"
    assert rt.runner.ready


async def test_stdout_cap_is_exact(runtime: Runtime) -> None:
    hello = example_module(REPO, "hello")
    full = await runtime.stub.Invoke(pb.InvokeRequest(module=inline(hello), stdin=b"abc"))
    size = len(full.output.stdout)
    exact = await runtime.stub.Invoke(
        pb.InvokeRequest(module=inline(hello), stdin=b"abc", limits=pb.Limits(stdout_bytes=size))
    )
    assert exact.outcome == pb.OUTCOME_OK
    assert not exact.output.stdout_truncated
    short = await runtime.stub.Invoke(
        pb.InvokeRequest(
            module=inline(hello), stdin=b"abc", limits=pb.Limits(stdout_bytes=size - 1)
        )
    )
    assert short.outcome == pb.OUTCOME_OUTPUT_TRUNCATED
    assert short.output.stdout == full.output.stdout[:-1]
    assert short.output.stdout_dropped_bytes == 1


STDERR_WRITER = b"""
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "0123456789012345678901234567890123456789")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 40))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


async def test_stderr_cap(runtime: Runtime) -> None:
    import wasmtime

    module = inline(bytes(wasmtime.wat2wasm(STDERR_WRITER.decode())))
    r = await runtime.stub.Invoke(
        pb.InvokeRequest(module=module, limits=pb.Limits(stderr_bytes=10))
    )
    assert r.outcome == pb.OUTCOME_OUTPUT_TRUNCATED
    assert r.output.stderr == b"0123456789"
    assert r.output.stderr_truncated
    assert r.output.stderr_dropped_bytes == 30
    assert "stderr exceeded its limit of 10 bytes" in r.trap_message
    full = await runtime.stub.Invoke(pb.InvokeRequest(module=module))
    assert full.outcome == pb.OUTCOME_OK
    assert len(full.output.stderr) == 40
