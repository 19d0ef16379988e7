"""Module sources: marketplace fetch, digest checks, single flight, disk artifacts."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import grpc
import pytest

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.common.testing import free_port, poll_until
from wasmgrid.runtime.store import KEY_FILE
from wasmgrid.runtime.testing import (
    Marketplace,
    RuntimeFactory,
    by_digest,
    example_module,
    inline,
    sha,
    start_marketplace,
)

REPO = Path(__file__).resolve().parents[3]
HELLO = example_module(REPO, "hello")
MATHFN = example_module(REPO, "mathfn")


def hello_request(module: pb.ModuleSource) -> pb.InvokeRequest:
    return pb.InvokeRequest(module=module, stdin=b"abc")


async def test_fetches_by_digest_once_and_counts_as_runtime(
    make_runtime: RuntimeFactory, marketplace: Marketplace
) -> None:
    marketplace.state.blobs[sha(HELLO)] = HELLO
    rt = await make_runtime(marketplace_addr=marketplace.address, allow_inline=False)
    for _ in range(3):
        r = await rt.stub.Invoke(hello_request(by_digest(HELLO, "examples/hello@1.0.0")))
        assert r.outcome == pb.OUTCOME_OK
        assert r.output.stdout.endswith(b"ABC")
        assert r.execution.digest == sha(HELLO)
    assert len(marketplace.state.requests) == 1
    req = marketplace.state.requests[0]
    assert req.digest == sha(HELLO)
    assert req.purpose == 2  # DOWNLOAD_PURPOSE_RUNTIME
    prefixed = await rt.stub.Invoke(
        hello_request(pb.ModuleSource(digest="sha256:" + sha(HELLO).upper()))
    )
    assert prefixed.execution.cache_tier == pb.CACHE_TIER_MEMORY


async def test_digest_mismatch_is_refused_and_never_run(
    make_runtime: RuntimeFactory, marketplace: Marketplace
) -> None:
    marketplace.state.blobs[sha(HELLO)] = MATHFN  # a corrupt or malicious registry
    rt = await make_runtime(marketplace_addr=marketplace.address)
    for attempt in (1, 2):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rt.stub.Invoke(hello_request(by_digest(HELLO)))
        assert info.value.code() == grpc.StatusCode.DATA_LOSS
        details = info.value.details() or ""
        assert f"for digest {sha(HELLO)} whose sha256 is {sha(MATHFN)}" in details
        assert len(marketplace.state.requests) == attempt  # nothing was kept
    stats = await rt.stub.GetStats(pb.GetStatsRequest())
    assert stats.invocations == 0
    assert stats.compiled_cache_entries == 0


async def test_concurrent_requests_for_one_digest_fetch_and_compile_once(
    make_runtime: RuntimeFactory, marketplace: Marketplace
) -> None:
    marketplace.state.blobs[sha(HELLO)] = HELLO
    marketplace.state.gate = asyncio.Event()
    rt = await make_runtime(marketplace_addr=marketplace.address)

    async def one() -> pb.InvokeResponse:
        return await rt.stub.Invoke(hello_request(by_digest(HELLO)))

    calls = [asyncio.create_task(one()) for _ in range(8)]

    async def download_started() -> bool:
        return bool(marketplace.state.requests)

    await poll_until(download_started, "the first download to start")
    marketplace.state.gate.set()
    results = await asyncio.gather(*calls)
    assert all(r.outcome == pb.OUTCOME_OK for r in results)
    assert len(marketplace.state.requests) == 1
    assert rt.service.loader.loads == 1
    tiers = sorted(r.execution.cache_tier for r in results)
    assert tiers.count(pb.CACHE_TIER_COMPILED) >= 1


async def test_marketplace_down_is_unavailable(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime(marketplace_addr="127.0.0.1:1", fetch_timeout_seconds=2.0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rt.stub.Invoke(hello_request(by_digest(HELLO)))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "marketplace at 127.0.0.1:1 is unavailable" in (info.value.details() or "")
    assert rt.runner.ready  # cached modules still run: not taken out of rotation


async def test_a_marketplace_that_is_back_serves_the_next_fetch_at_once(
    make_runtime: RuntimeFactory,
) -> None:
    """Between two connect attempts a channel fails calls at once: the fetch waits for
    the next attempt instead, so the first invoke after a marketplace restart runs."""
    port = free_port()
    rt = await make_runtime(marketplace_addr=f"127.0.0.1:{port}", allow_inline=False)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rt.stub.Invoke(hello_request(by_digest(HELLO)))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    marketplace = await start_marketplace(port)
    marketplace.state.blobs[sha(HELLO)] = HELLO
    try:
        r = await rt.stub.Invoke(hello_request(by_digest(HELLO)))
        assert r.outcome == pb.OUTCOME_OK
        assert len(marketplace.state.requests) == 1
    finally:
        await marketplace.server.stop(0)


async def test_unknown_digest_is_not_found(
    make_runtime: RuntimeFactory, marketplace: Marketplace
) -> None:
    rt = await make_runtime(marketplace_addr=marketplace.address)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rt.stub.Invoke(hello_request(pb.ModuleSource(digest="ab" * 32)))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "ab" * 32 in (info.value.details() or "")


async def test_oversized_module_is_refused(
    make_runtime: RuntimeFactory, marketplace: Marketplace
) -> None:
    marketplace.state.blobs[sha(HELLO)] = HELLO
    rt = await make_runtime(marketplace_addr=marketplace.address, max_module_bytes=4096)
    for source in (by_digest(HELLO), inline(HELLO)):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rt.stub.Invoke(hello_request(source))
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "WASMGRID_RUNTIME_MAX_MODULE_BYTES" in (info.value.details() or "")


@pytest.mark.parametrize("digest", ["", "sha256:xyz", "ab" * 31, "md5:" + "ab" * 32])
async def test_bad_digest_is_invalid(make_runtime: RuntimeFactory, digest: str) -> None:
    rt = await make_runtime()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rt.stub.Invoke(hello_request(pb.ModuleSource(digest=digest)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "module.digest must be 64 hex characters" in (info.value.details() or "")


async def test_inline_modules_are_off_by_default(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime(allow_inline=False)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rt.stub.Invoke(hello_request(inline(HELLO)))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "WASMGRID_RUNTIME_ALLOW_INLINE=false" in (info.value.details() or "")


async def test_disk_artifacts_survive_restart_and_tampering_is_recompiled(
    make_runtime: RuntimeFactory, marketplace: Marketplace, tmp_path: Path
) -> None:
    marketplace.state.blobs[sha(HELLO)] = HELLO
    data = tmp_path / "shared"
    first = await make_runtime(marketplace_addr=marketplace.address, data_dir=data)
    r = await first.stub.Invoke(hello_request(by_digest(HELLO)))
    assert r.execution.cache_tier == pb.CACHE_TIER_COMPILED
    # A new process (fresh memory cache) with the marketplace gone: blob + artifact on disk.
    await marketplace.server.stop(0)
    second = await make_runtime(marketplace_addr=marketplace.address, data_dir=data)
    r = await second.stub.Invoke(hello_request(by_digest(HELLO)))
    assert r.outcome == pb.OUTCOME_OK
    assert r.execution.cache_tier == pb.CACHE_TIER_DISK
    artifacts = list((data / "artifacts").rglob("*.cwasm"))
    assert len(artifacts) == 1
    blob = bytearray(artifacts[0].read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    artifacts[0].write_bytes(bytes(blob))
    third = await make_runtime(marketplace_addr=marketplace.address, data_dir=data)
    r = await third.stub.Invoke(hello_request(by_digest(HELLO)))
    assert r.outcome == pb.OUTCOME_OK
    assert r.execution.cache_tier == pb.CACHE_TIER_COMPILED
    # Written under another key: not trusted either.
    foreign = await make_runtime(data_dir=data, artifact_key="another-key-" + "x" * 30)
    r = await foreign.stub.Invoke(hello_request(by_digest(HELLO)))
    assert r.execution.cache_tier == pb.CACHE_TIER_COMPILED
    # Another engine configuration has its own fingerprint directory.
    other_engine = await make_runtime(data_dir=data, stack_bytes=1024 * 1024)
    r = await other_engine.stub.Invoke(hello_request(by_digest(HELLO)))
    assert r.execution.cache_tier == pb.CACHE_TIER_COMPILED
    assert len({p.parent for p in (data / "artifacts").rglob("*.cwasm")}) == 2


async def test_generated_artifact_key_is_private_and_kept(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    data = tmp_path / "keyed"
    first = await make_runtime(data_dir=data, artifact_key="")
    await first.stub.Warm(pb.WarmRequest(module=inline(HELLO)))
    key_file = data / KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    key = key_file.read_bytes()
    second = await make_runtime(data_dir=data, artifact_key="")
    warm = await second.stub.Warm(pb.WarmRequest(module=inline(HELLO)))
    assert warm.cache_tier == pb.CACHE_TIER_DISK
    assert key_file.read_bytes() == key


async def test_warm_describes_the_module(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime()
    warm = await rt.stub.Warm(pb.WarmRequest(module=inline(MATHFN)))
    assert warm.digest == sha(MATHFN)
    assert warm.cache_tier == pb.CACHE_TIER_COMPILED
    assert warm.module_bytes == len(MATHFN)
    assert not warm.is_command
    sigs = {f.name: (list(f.params), list(f.results)) for f in warm.functions}
    assert sigs["divmod"] == (
        [pb.VALUE_TYPE_I32, pb.VALUE_TYPE_I32],
        [pb.VALUE_TYPE_I32, pb.VALUE_TYPE_I32],
    )
    assert sigs["fib"] == ([pb.VALUE_TYPE_I64], [pb.VALUE_TYPE_I64])
    again = await rt.stub.Warm(pb.WarmRequest(module=inline(MATHFN)))
    assert again.cache_tier == pb.CACHE_TIER_MEMORY


async def test_get_stats_ranks_modules_and_counts_outcomes(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime()
    for _ in range(3):
        await rt.stub.Invoke(hello_request(inline(HELLO, "examples/hello@1.0.0")))
    await rt.stub.Call(
        pb.CallRequest(
            module=inline(MATHFN, "examples/mathfn@1.0.0"),
            function="divmod",
            args=[pb.Value(i32=1), pb.Value(i32=0)],
        )
    )
    stats = await rt.stub.GetStats(pb.GetStatsRequest(top_n=1))
    assert stats.invocations == 4
    assert {(o.outcome, o.count) for o in stats.outcomes} == {
        (pb.OUTCOME_OK, 3),
        (pb.OUTCOME_TRAP, 1),
    }
    assert stats.modules_tracked == 2
    assert len(stats.modules) == 1
    top = stats.modules[0]
    assert (top.digest, top.display_name, top.invocations) == (
        sha(HELLO),
        "examples/hello@1.0.0",
        3,
    )
    assert top.total_wall_time_us >= top.max_wall_time_us > 0
    assert stats.compiled_cache_entries == 2
    assert stats.compiled_cache_hits == 2
    assert stats.max_concurrent == 8
    assert stats.pid == os.getpid()
