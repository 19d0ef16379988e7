"""Two replicas sharing the real (embedded) Redis: read-through, invalidation, outages."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
import urllib.request
from typing import Any

import pytest
import redis.asyncio as aioredis
import zstandard
from prometheus_client import REGISTRY

from wasmgrid.api.cache.v1 import cache_pb2 as pb
from wasmgrid.cache.redis_tier import SharedRecord, TierState
from wasmgrid.cache.tiered import SetItem, TieredCache
from wasmgrid.cli.embedded import EmbeddedRedis
from wasmgrid.common.testing import Poll

from .conftest import Replica, StartReplica

CONNECTED = pb.SHARED_TIER_STATE_CONNECTED
DEGRADED = pb.SHARED_TIER_STATE_DEGRADED


async def tier_state(replica: Replica) -> pb.SharedTierStatus:
    return (await replica.stub.ListNamespaces(pb.ListNamespacesRequest())).shared_tier


async def test_read_through_and_invalidation_window(
    start_cache: StartReplica, redis_url: str, poll: Poll
) -> None:
    a = await start_cache(redis_url=redis_url)
    b = await start_cache(redis_url=redis_url)
    sa, sb = await tier_state(a), await tier_state(b)
    assert sa.state == CONNECTED
    assert sb.state == CONNECTED
    assert sa.replica_id != sb.replica_id

    first = await a.stub.Set(pb.SetRequest(namespace="s", key="k", value=b"v1", tags=["t"]))
    assert first.shared
    assert first.admitted
    got = await b.stub.Get(pb.GetRequest(namespace="s", key="k"))
    assert (got.found, got.value, got.tier, got.version) == (
        True,
        b"v1",
        pb.TIER_SHARED,
        first.version,
    )
    assert list(got.tags) == ["t"]
    got = await b.stub.Get(pb.GetRequest(namespace="s", key="k"))
    assert got.tier == pb.TIER_MEMORY

    # Replace on A while B holds v(n) in memory: B must serve the new value within the window.
    windows: list[float] = []
    for i in range(20):
        value = f"value-{i}".encode()
        t0 = time.perf_counter()
        await a.stub.Set(pb.SetRequest(namespace="s", key="k", value=value))

        async def fresh(expected: bytes = value) -> bool:
            got = await b.stub.Get(pb.GetRequest(namespace="s", key="k"))
            return bool(got.value == expected)

        await poll(fresh, "replica B to see the replaced value", 5.0)
        windows.append(time.perf_counter() - t0)
        # Let B cache this value in memory again before the next replacement.
        assert (await b.stub.Get(pb.GetRequest(namespace="s", key="k"))).tier == pb.TIER_MEMORY
    print(
        f"\nstale window over 20 replacements: p50 {statistics.median(windows) * 1e3:.2f} ms, "
        f"max {max(windows) * 1e3:.2f} ms"
    )
    assert max(windows) < 1.0

    await a.stub.Delete(pb.DeleteRequest(namespace="s", key="k"))

    async def gone() -> bool:
        return not (await b.stub.Get(pb.GetRequest(namespace="s", key="k"))).found

    await poll(gone, "replica B to drop the deleted key", 5.0)

    # Prefix and tag invalidations reach B's memory copies.
    for key, tag in [("p:1", "x"), ("p:2", "y"), ("q:1", "x"), ("q:2", "z")]:
        await a.stub.Set(pb.SetRequest(namespace="s", key=key, value=b"v", tags=[tag]))
        assert (await b.stub.Get(pb.GetRequest(namespace="s", key=key))).found
    res = await a.stub.InvalidateByPrefix(pb.InvalidateByPrefixRequest(namespace="s", prefix="p:"))
    assert res.shared_invalidated == 2
    res = await a.stub.InvalidateByTag(pb.InvalidateByTagRequest(namespace="s", tag="x"))
    assert res.shared_invalidated == 1  # q:1 (p:1 is already gone)

    async def b_view() -> bool:
        got = await b.stub.GetMany(
            pb.GetManyRequest(namespace="s", keys=["p:1", "p:2", "q:1", "q:2"])
        )
        return [g.found for g in got.results] == [False, False, False, True]

    await poll(b_view, "replica B to apply the prefix and tag invalidations", 5.0)
    assert (await tier_state(b)).invalidations_received >= 25

    # A namespace configured on A is configured on B too.
    await a.stub.ConfigureNamespace(
        pb.ConfigureNamespaceRequest(
            config=pb.NamespaceConfig(name="conf", max_bytes=1 << 20, policy=pb.EVICTION_POLICY_LFU)
        )
    )

    async def b_configured() -> bool:
        page = await b.stub.ListNamespaces(pb.ListNamespacesRequest())
        conf = [n.config for n in page.namespaces if n.config.name == "conf"]
        return (
            bool(conf) and conf[0].policy == pb.EVICTION_POLICY_LFU and conf[0].max_bytes == 1 << 20
        )

    await poll(b_configured, "replica B to pick up the namespace configuration", 5.0)

    # A local-only namespace never touches Redis.
    await a.stub.ConfigureNamespace(
        pb.ConfigureNamespaceRequest(config=pb.NamespaceConfig(name="mine", local_only=True))
    )
    out = await a.stub.Set(pb.SetRequest(namespace="mine", key="k", value=b"v"))
    assert not out.shared
    await poll(lambda: _configured(b, "mine"), "replica B to learn the local-only namespace")
    assert not (await b.stub.Get(pb.GetRequest(namespace="mine", key="k"))).found


async def _configured(replica: Replica, name: str) -> bool:
    page = await replica.stub.ListNamespaces(pb.ListNamespacesRequest())
    return any(n.config.name == name for n in page.namespaces)


async def test_in_flight_read_cannot_resurrect_a_replaced_value(
    start_cache: StartReplica, redis_url: str, poll: Poll
) -> None:
    """B reads v1 from Redis; A replaces it with v2 and B gets the broadcast; only then does
    B's read complete. B must not keep v1 in memory (it would serve it until evicted)."""
    a = await start_cache(redis_url=redis_url)
    b = await start_cache(redis_url=redis_url)
    cache_b: TieredCache = b.service.cache
    assert cache_b.tier is not None
    await a.stub.Set(pb.SetRequest(namespace="race", key="k", value=b"v1"))

    read_done = asyncio.Event()
    release = asyncio.Event()
    real_get = cache_b.tier.get

    async def held_get(namespace: str, key: str) -> SharedRecord | None:
        record = await real_get(namespace, key)
        read_done.set()
        await release.wait()
        return record

    cache_b.tier.get = held_get  # type: ignore[method-assign]
    reader = asyncio.create_task(cache_b.get("race", "k"))
    await asyncio.wait_for(read_done.wait(), 5)
    received = cache_b.tier.received
    v2 = await a.stub.Set(pb.SetRequest(namespace="race", key="k", value=b"v2"))

    async def broadcast_seen() -> bool:
        assert cache_b.tier is not None
        return cache_b.tier.received > received

    await poll(broadcast_seen, "B to receive A's invalidation", 5.0)
    release.set()
    stale = await reader
    assert stale.value == b"v1"  # the value as of the read: fine to return once
    cache_b.tier.get = real_get  # type: ignore[method-assign]
    now = await cache_b.get("race", "k")
    assert (now.value, now.version, now.shared) == (b"v2", v2.version, True)


async def test_redis_outage_serves_memory_and_recovers(
    start_cache: StartReplica, redis_server: EmbeddedRedis, redis_url: str, poll: Poll
) -> None:
    a = await start_cache(redis_url=redis_url)
    b = await start_cache(redis_url=redis_url)
    await a.stub.Set(pb.SetRequest(namespace="o", key="before", value=b"v"))
    assert (await a.stub.Get(pb.GetRequest(namespace="o", key="before"))).found

    redis_server.stop()
    try:
        # Configured while the shared tier is down: applies here now, shared on recovery.
        late = await a.stub.ConfigureNamespace(
            pb.ConfigureNamespaceRequest(
                config=pb.NamespaceConfig(name="late", policy=pb.EVICTION_POLICY_FIFO)
            )
        )
        assert late.created
        assert late.config.policy == pb.EVICTION_POLICY_FIFO
        # Reads keep working from memory throughout the outage.
        assert (await a.stub.Get(pb.GetRequest(namespace="o", key="before"))).value == b"v"

        async def degraded() -> Any:
            status = await tier_state(a)
            return status if status.state == DEGRADED else None

        status = await poll(degraded, "the shared tier to be reported degraded", 10.0)
        assert status.last_error
        stats = await a.stub.Stats(pb.StatsRequest(namespace="o"))
        assert stats.shared_tier.state == DEGRADED
        text = _scrape(a)
        assert "wasmgrid_cache_shared_tier_degraded 1.0" in text

        tried_before = _redis_reads_and_writes_failed()
        out = await a.stub.Set(pb.SetRequest(namespace="o", key="during", value=b"d"))
        assert out.admitted
        assert not out.shared
        assert (await a.stub.Get(pb.GetRequest(namespace="o", key="during"))).value == b"d"
        assert (await a.stub.Get(pb.GetRequest(namespace="o", key="before"))).found
        # Degraded, the replica does not even try Redis (no attempt to fail or wait on).
        assert _redis_reads_and_writes_failed() == tried_before
    finally:
        redis_server.start()

    async def recovered() -> Any:
        status = await tier_state(a)
        return status if status.state == CONNECTED else None

    status = await poll(recovered, "the shared tier to recover by itself", 15.0)
    assert status.reconnects == 1
    assert "wasmgrid_cache_shared_tier_degraded 0.0" in _scrape(a)
    after = await a.stub.Set(pb.SetRequest(namespace="o", key="after", value=b"a"))
    assert after.shared
    # A write made during the outage never reached Redis; it is invalidated on recovery
    # rather than risking an older copy elsewhere being served next to it.
    assert not (await a.stub.Get(pb.GetRequest(namespace="o", key="during"))).found

    async def b_learned_late() -> bool:
        page = await b.stub.ListNamespaces(pb.ListNamespacesRequest())
        conf = [n.config for n in page.namespaces if n.config.name == "late"]
        return bool(conf) and conf[0].policy == pb.EVICTION_POLICY_FIFO

    await poll(b_learned_late, "replica B to receive the configuration made during the outage")


def _redis_reads_and_writes_failed() -> float:
    """Failed shared-tier gets and sets of every cache in this process, so far."""
    return sum(
        REGISTRY.get_sample_value("wasmgrid_cache_shared_tier_errors_total", {"op": op}) or 0.0
        for op in ("get", "set")
    )


def _scrape(replica: Replica) -> str:
    url = f"http://127.0.0.1:{replica.runner.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


async def test_engine_counts_shared_hits(start_cache: StartReplica, redis_url: str) -> None:
    a = await start_cache(redis_url=redis_url)
    b = await start_cache(redis_url=redis_url)
    await a.service.cache.set("h", SetItem("k", b"x" * 4000))
    assert (await b.service.cache.get("h", "k")).shared
    assert not (await b.service.cache.get("h", "k")).shared
    snap = b.service.cache.snapshot("h")
    assert (snap.counters.shared_hits, snap.counters.memory_hits, snap.counters.hits) == (1, 1, 2)
    assert b.service.cache.tier_status().state is TierState.CONNECTED

    # GetMany: L1 hits, shared hits (one pipelined read) and misses, in request order.
    for i in range(5):
        await a.stub.Set(pb.SetRequest(namespace="h", key=f"m{i}", value=f"v{i}".encode()))
    got = await b.stub.GetMany(
        pb.GetManyRequest(namespace="h", keys=["k", "m0", "absent", "m4", "m0"])
    )
    assert [(g.found, g.value, g.tier) for g in got.results] == [
        (True, b"x" * 4000, pb.TIER_MEMORY),
        (True, b"v0", pb.TIER_SHARED),
        (False, b"", pb.TIER_UNSPECIFIED),
        (True, b"v4", pb.TIER_SHARED),
        (True, b"v0", pb.TIER_SHARED),
    ]
    again = await b.stub.GetMany(pb.GetManyRequest(namespace="h", keys=["m0", "m4"]))
    assert [g.tier for g in again.results] == [pb.TIER_MEMORY, pb.TIER_MEMORY]


@pytest.fixture(autouse=True)
def _no_env_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WASMGRID_REDIS_URL", raising=False)
    monkeypatch.delenv("WASMGRID_CACHE_REDIS_URL", raising=False)


async def test_hostile_or_corrupt_shared_entries_are_dropped(
    start_cache: StartReplica, redis_url: str
) -> None:
    a = await start_cache(redis_url=redis_url)
    client = aioredis.from_url(redis_url)
    try:
        bomb = zstandard.ZstdCompressor().compress(b"\0" * 10_000_000)
        for key, fields in {
            "bomb": {"v": bomb, "r": 100, "c": 1, "p": 0, "t": "[]", "n": 1, "e": 0},
            "huge": {"v": b"x", "r": 1 << 40, "c": 1, "p": 0, "t": "[]", "n": 1, "e": 0},
            "garbage": {"v": b"x", "r": "nope", "c": 0, "p": 0, "t": "{", "n": 1, "e": 0},
        }.items():
            await client.hset(f"wasmgrid:cache:evil:k:{key}", mapping=fields)  # type: ignore[arg-type]
        for key in ("bomb", "huge", "garbage"):
            got = await a.stub.Get(pb.GetRequest(namespace="evil", key=key))
            assert not got.found, key
            assert not await client.exists(f"wasmgrid:cache:evil:k:{key}"), key
        await a.stub.Set(pb.SetRequest(namespace="evil", key="fine", value=b"ok"))
        assert (await a.stub.Get(pb.GetRequest(namespace="evil", key="fine"))).value == b"ok"
    finally:
        await client.aclose()


async def test_frozen_redis_is_detected_without_any_traffic(
    start_cache: StartReplica, redis_server: EmbeddedRedis, redis_url: str, poll: Poll
) -> None:
    """SIGSTOP keeps Redis's sockets open but silent (like a half-open connection): the idle
    subscription's PING goes unanswered, so the replica degrades instead of silently
    missing invalidations, and recovers after SIGCONT."""
    a = await start_cache(redis_url=redis_url, subscription_ping_seconds=0.2)
    assert (await tier_state(a)).state == CONNECTED
    assert redis_server._proc is not None  # the fixture's own child process
    pid = redis_server._proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:

        async def degraded() -> Any:
            status = await tier_state(a)
            return status if status.state == DEGRADED else None

        status = await poll(degraded, "a silent subscription to be detected", 10.0)
        assert "silent" in status.last_error or "Timeout" in status.last_error
    finally:
        os.kill(pid, signal.SIGCONT)

    async def recovered() -> bool:
        return bool((await tier_state(a)).state == CONNECTED)

    await poll(recovered, "recovery after SIGCONT", 15.0)
