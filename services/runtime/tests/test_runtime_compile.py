"""Big modules off the request path: one background compile per digest, callers waiting
within their own deadlines, "compiling" past them, prefetch, the byte-bounded cache."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import grpc
import pytest
import wasmtime
from prometheus_client import REGISTRY

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.common.errors import COMPILING_TRAILER, RETRY_AFTER_TRAILER
from wasmgrid.common.testing import poll_until
from wasmgrid.runtime.modules import code_bytes
from wasmgrid.runtime.testing import (
    Marketplace,
    Runtime,
    RuntimeFactory,
    by_digest,
    inline,
    sha,
    slow_module,
)


@pytest.fixture(scope="module")
def slow() -> bytes:
    return slow_module()


def gate_compiles(rt: Runtime) -> threading.Event:
    """Hold every compile of `rt` until the returned event is set."""
    loader = rt.service.loader
    real: Callable[..., Any] = loader._compile
    gate = threading.Event()

    def gated(*args: Any) -> Any:
        gate.wait(30)
        return real(*args)

    loader._compile = gated  # type: ignore[method-assign,assignment]
    return gate


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def expect_compiling(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    err = info.value
    assert err.code() == grpc.StatusCode.UNAVAILABLE, err.details()
    assert "is compiling on this runtime" in (err.details() or "")
    return err


async def test_callers_wait_on_one_compile_and_a_short_deadline_gets_compiling(
    make_runtime: RuntimeFactory,
) -> None:
    hello = inline(slow_module(functions=2, ops=2))  # tiny: the gate sets the pace
    rt = await make_runtime()
    gate = gate_compiles(rt)
    try:
        await _hold_and_release(rt, hello, gate)
    finally:
        gate.set()


async def _hold_and_release(rt: Runtime, hello: pb.ModuleSource, gate: threading.Event) -> None:
    started = sample("wasmgrid_runtime_compiling_answers_total")
    patient = [
        asyncio.ensure_future(rt.stub.Invoke(pb.InvokeRequest(module=hello), timeout=30))
        for _ in range(8)
    ]
    await poll_until(lambda: _async(rt.service.loader.in_progress == 1), "a compile to start")
    hurried = [rt.stub.Invoke(pb.InvokeRequest(module=hello), timeout=0.5) for _ in range(3)]
    for call in hurried:
        err = await expect_compiling(call)
        metadata: Any = err.trailing_metadata() or ()
        trailers = {str(k): str(v) for k, v in metadata}
        assert float(trailers[COMPILING_TRAILER]) >= 0
        assert int(trailers[RETRY_AFTER_TRAILER]) >= 1
    assert sample("wasmgrid_runtime_compiling_answers_total") == started + 3
    stats = await rt.stub.GetStats(pb.GetStatsRequest())
    assert stats.compiles_in_progress == 1  # the hurried callers cancelled nothing
    gate.set()
    done = await asyncio.gather(*patient)
    assert all(r.outcome == pb.OUTCOME_OK for r in done)
    assert rt.service.loader.compiles == 1 and rt.service.loader.loads == 1
    assert sum(r.execution.cache_tier == pb.CACHE_TIER_COMPILED for r in done) == 8


async def test_a_real_slow_compile_outlives_a_callers_deadline(
    make_runtime: RuntimeFactory, marketplace: Marketplace, slow: bytes
) -> None:
    marketplace.state.blobs[sha(slow)] = slow
    rt = await make_runtime(marketplace_addr=marketplace.address)
    before = sample("wasmgrid_runtime_compile_seconds_count", {"source": "compiled"})
    await expect_compiling(rt.stub.Warm(pb.WarmRequest(module=by_digest(slow)), timeout=0.5))
    # The compile goes on without any caller and lands in the memory cache.
    await poll_until(lambda: _async(len(rt.service.loader) == 1), "the compile to finish")
    r = await rt.stub.Invoke(pb.InvokeRequest(module=by_digest(slow)), timeout=5)
    assert (r.outcome, r.execution.cache_tier) == (pb.OUTCOME_OK, pb.CACHE_TIER_MEMORY)
    assert rt.service.loader.compiles == 1 and len(marketplace.state.requests) == 1
    assert sample("wasmgrid_runtime_compile_seconds_count", {"source": "compiled"}) == before + 1


async def test_a_restarted_replica_loads_the_verified_artifact_instead_of_compiling(
    make_runtime: RuntimeFactory, marketplace: Marketplace, slow: bytes, tmp_path: Any
) -> None:
    marketplace.state.blobs[sha(slow)] = slow
    first = await make_runtime(marketplace_addr=marketplace.address)
    await first.stub.Warm(pb.WarmRequest(module=by_digest(slow)), timeout=60)
    await first.runner.stop(1.0)
    second = await make_runtime(marketplace_addr="127.0.0.1:1")  # same data dir
    r = await second.stub.Invoke(pb.InvokeRequest(module=by_digest(slow)), timeout=30)
    assert (r.outcome, r.execution.cache_tier) == (pb.OUTCOME_OK, pb.CACHE_TIER_DISK)
    assert second.service.loader.compiles == 0
    assert len(marketplace.state.requests) == 1


async def test_prefetch_compiles_in_the_background_before_any_call(
    make_runtime: RuntimeFactory, marketplace: Marketplace
) -> None:
    module = slow_module(functions=3, ops=3)
    marketplace.state.blobs[sha(module)] = module
    rt = await make_runtime(marketplace_addr=marketplace.address)
    assert rt.service.loader.prefetch(sha(module))
    assert not rt.service.loader.prefetch(sha(module))  # already loading: one load
    await poll_until(lambda: _async(len(rt.service.loader) == 1), "the prefetch to finish")
    assert not rt.service.loader.prefetch(sha(module))  # cached
    r = await rt.stub.Invoke(pb.InvokeRequest(module=by_digest(module)))
    assert (r.outcome, r.execution.cache_tier) == (pb.OUTCOME_OK, pb.CACHE_TIER_MEMORY)
    assert len(marketplace.state.requests) == 1


async def test_the_memory_cache_is_bounded_in_bytes_of_compiled_code(
    make_runtime: RuntimeFactory,
) -> None:
    modules = [slow_module(functions=100 + i, ops=200) for i in range(4)]  # ~430 KB each
    rt = await make_runtime(compiled_cache_bytes=1024 * 1024, disk_artifacts=False)
    sizes = [code_bytes(wasmtime.Module(rt.service.engine, m)) for m in modules]
    assert all(400_000 < size < 512 * 1024 for size in sizes)
    for m in modules:
        r = await rt.stub.Invoke(pb.InvokeRequest(module=inline(m)))
        assert r.outcome == pb.OUTCOME_OK
        stats = await rt.stub.GetStats(pb.GetStatsRequest())
        assert stats.compiled_cache_max_bytes == 1024 * 1024
        assert 0 < stats.compiled_cache_bytes <= 1024 * 1024
        assert stats.compiled_cache_bytes == rt.service.loader.cache_bytes
        assert stats.compiled_cache_bytes == sum(
            c.code_bytes for c in rt.service.loader._compiled.values()
        )
    assert stats.compiled_cache_entries == 2  # the two oldest went out
    assert sample("wasmgrid_runtime_module_cache_bytes") == stats.compiled_cache_bytes


async def _async(value: bool) -> bool:
    return value
