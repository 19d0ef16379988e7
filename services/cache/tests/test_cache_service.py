"""CacheService through gRPC on a real in-process server (memory only)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from wasmgrid.api.cache.v1 import cache_pb2, cache_pb2_grpc
from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.common.testing import Poll, expect_rpc_error

from .conftest import StartReplica

pb = cache_pb2


async def test_set_get_delete_roundtrip(start_cache: StartReplica) -> None:
    r = await start_cache()
    stub = r.stub
    miss = await stub.Get(pb.GetRequest(namespace="web", key="a"))
    assert not miss.found
    assert miss.key == "a"
    assert miss.value == b""

    out = await stub.Set(
        pb.SetRequest(namespace="web", key="a", value=b"hello", priority=3, tags=["x", "y"])
    )
    assert out.admitted
    assert not out.shared
    assert out.version >= 1
    assert out.stored_bytes > 5

    got = await stub.Get(pb.GetRequest(namespace="web", key="a"))
    assert got.found
    assert got.value == b"hello"
    assert got.priority == 3
    assert list(got.tags) == ["x", "y"]
    assert got.tier == pb.TIER_MEMORY
    assert got.version == out.version
    assert got.ttl_remaining_ms == 0

    again = await stub.Set(pb.SetRequest(namespace="web", key="a", value=b"world"))
    assert again.version > out.version
    assert (await stub.Get(pb.GetRequest(namespace="web", key="a"))).value == b"world"

    assert (await stub.Delete(pb.DeleteRequest(namespace="web", key="a"))).deleted
    assert not (await stub.Delete(pb.DeleteRequest(namespace="web", key="a"))).deleted
    assert not (await stub.Get(pb.GetRequest(namespace="web", key="a"))).found

    stats = (await stub.Stats(pb.StatsRequest(namespace="web"))).stats
    assert (stats.hits, stats.misses, stats.sets) == (2, 2, 2)
    assert stats.evictions.explicit == 1
    assert stats.entries == 0
    assert stats.hit_ratio == pytest.approx(0.5)
    assert stats.get_latency.samples == 4
    assert stats.get_latency.p99_us > 0


async def test_ttl_expiry_and_namespace_default_ttl(start_cache: StartReplica, poll: Poll) -> None:
    r = await start_cache()
    stub = r.stub
    await stub.Set(pb.SetRequest(namespace="t", key="short", value=b"v", ttl_ms=150))
    await stub.Set(pb.SetRequest(namespace="t", key="long", value=b"v", ttl_ms=60_000))
    got = await stub.Get(pb.GetRequest(namespace="t", key="short"))
    assert got.found
    assert 0 < got.ttl_remaining_ms <= 150

    async def expired() -> bool:
        return not (await stub.Get(pb.GetRequest(namespace="t", key="short"))).found

    await poll(expired, "the 150 ms entry to expire", 5.0)
    assert (await stub.Get(pb.GetRequest(namespace="t", key="long"))).found

    # The sweeper removes expired entries nobody reads, counted as expiry evictions.
    await stub.Set(pb.SetRequest(namespace="t", key="unread", value=b"v", ttl_ms=50))

    async def swept() -> bool:
        stats = (await stub.Stats(pb.StatsRequest(namespace="t"))).stats
        return bool(stats.evictions.expiry >= 2 and stats.entries == 1)

    await poll(swept, "the sweeper to remove the unread expired entry", 5.0)

    cfg = await stub.ConfigureNamespace(
        pb.ConfigureNamespaceRequest(config=pb.NamespaceConfig(name="d", default_ttl_ms=100))
    )
    assert cfg.created
    assert cfg.config.default_ttl_ms == 100
    await stub.Set(pb.SetRequest(namespace="d", key="k", value=b"v"))
    got = await stub.Get(pb.GetRequest(namespace="d", key="k"))
    assert got.found
    assert 0 < got.ttl_remaining_ms <= 100

    async def default_expired() -> bool:
        return not (await stub.Get(pb.GetRequest(namespace="d", key="k"))).found

    await poll(default_expired, "the default TTL to expire the entry", 5.0)


async def test_bad_input_names_field_and_limit(start_cache: StartReplica) -> None:
    r = await start_cache(max_key_bytes=64, max_value_bytes=4096, max_batch=3)
    stub = r.stub
    bad = grpc.StatusCode.INVALID_ARGUMENT
    await expect_rpc_error(bad, stub.Get(pb.GetRequest(namespace="Bad NS", key="k")), "namespace")
    await expect_rpc_error(bad, stub.Get(pb.GetRequest(namespace="ok", key="")), "key", "empty")
    await expect_rpc_error(
        bad, stub.Get(pb.GetRequest(namespace="ok", key="k" * 65)), "key", "65", "64"
    )
    await expect_rpc_error(
        bad,
        stub.Set(pb.SetRequest(namespace="ok", key="k", value=b"x" * 4097)),
        "value",
        "4097",
        "max_value_bytes 4096",
    )
    await expect_rpc_error(
        bad,
        stub.Set(pb.SetRequest(namespace="ok", key="k", value=b"x", priority=8)),
        "priority",
        "8",
    )
    await expect_rpc_error(
        bad,
        stub.Set(pb.SetRequest(namespace="ok", key="k", value=b"x", tags=["t"] * 17)),
        "tags",
        "16",
    )
    await expect_rpc_error(
        bad,
        stub.Set(pb.SetRequest(namespace="ok", key="k", value=b"x", tags=["a", "a"])),
        "duplicate",
    )
    await expect_rpc_error(
        bad,
        stub.Set(pb.SetRequest(namespace="ok", key="k", value=b"x", ttl_ms=10**15)),
        "ttl_ms",
        "max_ttl_ms",
    )
    await expect_rpc_error(bad, stub.GetMany(pb.GetManyRequest(namespace="ok")), "keys", "empty")
    await expect_rpc_error(
        bad,
        stub.GetMany(pb.GetManyRequest(namespace="ok", keys=["a", "b", "c", "d"])),
        "keys",
        "max_batch 3",
    )
    await expect_rpc_error(
        bad,
        stub.InvalidateByPrefix(pb.InvalidateByPrefixRequest(namespace="ok", prefix="")),
        "prefix",
    )
    await expect_rpc_error(
        bad,
        stub.ConfigureNamespace(
            pb.ConfigureNamespaceRequest(config=pb.NamespaceConfig(name="ok", zstd_level=40))
        ),
        "config.zstd_level",
        "40",
    )
    await expect_rpc_error(
        bad,
        stub.ConfigureNamespace(
            pb.ConfigureNamespaceRequest(config=pb.NamespaceConfig(name="ok", max_bytes=10))
        ),
        "config.max_bytes",
    )
    await expect_rpc_error(bad, stub.ConfigureNamespace(pb.ConfigureNamespaceRequest()), "config")
    await expect_rpc_error(
        grpc.StatusCode.NOT_FOUND, stub.Stats(pb.StatsRequest(namespace="never-used")), "never-used"
    )
    # Still serving after all of that.
    await stub.Set(pb.SetRequest(namespace="ok", key="k", value=b"fine"))
    assert (await stub.Get(pb.GetRequest(namespace="ok", key="k"))).value == b"fine"


async def test_batches_keep_order_and_validate_all_first(start_cache: StartReplica) -> None:
    r = await start_cache(max_key_bytes=32)
    stub = r.stub
    items = [pb.SetItem(key=f"k{i}", value=f"v{i}".encode(), priority=i % 8) for i in range(10)]
    out = await stub.SetMany(pb.SetManyRequest(namespace="b", items=items))
    assert [x.key for x in out.results] == [f"k{i}" for i in range(10)]
    assert all(x.admitted for x in out.results)

    got = await stub.GetMany(pb.GetManyRequest(namespace="b", keys=["k3", "nope", "k3", "k9"]))
    assert [(g.key, g.found, g.value) for g in got.results] == [
        ("k3", True, b"v3"),
        ("nope", False, b""),
        ("k3", True, b"v3"),
        ("k9", True, b"v9"),
    ]
    bad_items = [
        pb.SetItem(key="new1", value=b"a"),
        pb.SetItem(key="new2", value=b"b", priority=9),
    ]
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.SetMany(pb.SetManyRequest(namespace="b", items=bad_items)),
        "items[1].priority",
    )
    assert not (await stub.Get(pb.GetRequest(namespace="b", key="new1"))).found


async def test_invalidate_by_prefix_and_tag(start_cache: StartReplica) -> None:
    r = await start_cache()
    stub = r.stub
    for key, tags in [
        ("user:1:profile", ["user-1"]),
        ("user:1:feed", ["user-1", "feeds"]),
        ("user:2:feed", ["user-2", "feeds"]),
        ("user:*:x", []),
        ("other", ["feeds"]),
    ]:
        await stub.Set(pb.SetRequest(namespace="inv", key=key, value=b"v", tags=tags))
    # The prefix is literal: "*" is not a wildcard.
    res = await stub.InvalidateByPrefix(
        pb.InvalidateByPrefixRequest(namespace="inv", prefix="user:*")
    )
    assert res.invalidated == 1
    assert res.shared_invalidated == 0
    res = await stub.InvalidateByPrefix(
        pb.InvalidateByPrefixRequest(namespace="inv", prefix="user:1:")
    )
    assert res.invalidated == 2
    res = await stub.InvalidateByTag(pb.InvalidateByTagRequest(namespace="inv", tag="feeds"))
    assert res.invalidated == 2
    left = await stub.GetMany(
        pb.GetManyRequest(
            namespace="inv", keys=["user:1:profile", "user:1:feed", "user:2:feed", "other"]
        )
    )
    assert [g.found for g in left.results] == [False, False, False, False]
    stats = (await stub.Stats(pb.StatsRequest(namespace="inv"))).stats
    assert stats.evictions.explicit == 5
    assert stats.entries == 0


async def test_capacity_bound_priorities_and_compression(start_cache: StartReplica) -> None:
    r = await start_cache()
    stub = r.stub
    cfg = (
        await stub.ConfigureNamespace(
            pb.ConfigureNamespaceRequest(
                config=pb.NamespaceConfig(
                    name="small",
                    max_bytes=64 * 1024,
                    policy=pb.EVICTION_POLICY_LRU,
                    compression=pb.COMPRESSION_MODE_NONE,
                )
            )
        )
    ).config
    assert cfg.max_bytes == 64 * 1024
    assert cfg.policy == pb.EVICTION_POLICY_LRU
    # Ten high-priority entries, then far more low-priority data than fits.
    for i in range(10):
        await stub.Set(
            pb.SetRequest(namespace="small", key=f"keep{i}", value=b"k" * 1000, priority=7)
        )
    for i in range(200):
        await stub.Set(pb.SetRequest(namespace="small", key=f"low{i}", value=b"l" * 1000))
    stats = (await stub.Stats(pb.StatsRequest(namespace="small"))).stats
    assert stats.charged_bytes <= 64 * 1024
    assert stats.evictions.capacity > 100
    kept = await stub.GetMany(
        pb.GetManyRequest(namespace="small", keys=[f"keep{i}" for i in range(10)])
    )
    assert all(g.found for g in kept.results), "priority 7 entries were evicted before priority 0"
    # LRU within the low class: the oldest low-priority keys went first.
    first = await stub.Get(pb.GetRequest(namespace="small", key="low0"))
    last = await stub.Get(pb.GetRequest(namespace="small", key="low199"))
    assert not first.found
    assert last.found
    # A value bigger than the whole namespace is refused by L1 (not an error).
    big = await stub.Set(pb.SetRequest(namespace="small", key="huge", value=b"h" * 70_000))
    assert not big.admitted

    doc = json.dumps(
        [
            {"id": i, "name": f"user-{i}", "email": f"u{i}@example.com", "active": True}
            for i in range(200)
        ]
    ).encode()
    await stub.Set(pb.SetRequest(namespace="json", key="doc", value=doc))
    await stub.Set(pb.SetRequest(namespace="json", key="tiny", value=b"{}"))
    assert (await stub.Get(pb.GetRequest(namespace="json", key="doc"))).value == doc
    js = (await stub.Stats(pb.StatsRequest(namespace="json"))).stats
    assert js.config.compression == pb.COMPRESSION_MODE_ADAPTIVE
    assert js.raw_bytes == len(doc) + 2
    assert js.compression_ratio > 4, js.compression_ratio


async def test_configure_list_and_budget(start_cache: StartReplica) -> None:
    r = await start_cache(max_total_bytes=1 << 20, default_max_bytes=128 * 1024, max_namespaces=5)
    stub = r.stub
    for name in ["b", "a", "c"]:
        out = await stub.ConfigureNamespace(
            pb.ConfigureNamespaceRequest(config=pb.NamespaceConfig(name=name))
        )
        assert out.created
        assert out.config.max_bytes == 128 * 1024
        assert out.config.policy == pb.EVICTION_POLICY_W_TINYLFU
        assert out.config.zstd_level == 3
        assert out.config.min_compress_bytes == 512
    again = await stub.ConfigureNamespace(
        pb.ConfigureNamespaceRequest(
            config=pb.NamespaceConfig(name="a", max_bytes=256 * 1024, policy=pb.EVICTION_POLICY_LFU)
        )
    )
    assert not again.created
    assert again.config.policy == pb.EVICTION_POLICY_LFU

    page1 = await stub.ListNamespaces(
        pb.ListNamespacesRequest(page=common_pb2.PageRequest(limit=2))
    )
    assert [n.config.name for n in page1.namespaces] == ["a", "b"]
    assert page1.page.next_cursor
    assert page1.shared_tier.state == pb.SHARED_TIER_STATE_DISABLED
    page2 = await stub.ListNamespaces(
        pb.ListNamespacesRequest(
            page=common_pb2.PageRequest(limit=2, cursor=page1.page.next_cursor)
        )
    )
    assert [n.config.name for n in page2.namespaces] == ["c"]
    assert page2.page.next_cursor == ""
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.ListNamespaces(pb.ListNamespacesRequest(page=common_pb2.PageRequest(cursor="b"))),
        "page.cursor is not a cursor issued by this service",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.ListNamespaces(pb.ListNamespacesRequest(page=common_pb2.PageRequest(limit=5000))),
        "page.limit 5000 is outside 1..1000",
    )

    # 256 + 128 + 128 KiB reserved of 1 MiB: 600 KiB more does not fit.
    await expect_rpc_error(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        stub.ConfigureNamespace(
            pb.ConfigureNamespaceRequest(config=pb.NamespaceConfig(name="d", max_bytes=600 * 1024))
        ),
        "max_total_bytes",
    )
    await stub.Set(pb.SetRequest(namespace="d", key="k", value=b"v"))  # auto-created: 128 KiB
    await stub.Set(pb.SetRequest(namespace="e", key="k", value=b"v"))
    await expect_rpc_error(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        stub.Set(pb.SetRequest(namespace="f", key="k", value=b"v")),
        "max_namespaces 5",
    )


async def test_metrics_exported(start_cache: StartReplica, poll: Poll) -> None:
    r = await start_cache()
    await r.stub.Set(pb.SetRequest(namespace="m", key="k", value=b"v"))
    await r.stub.Get(pb.GetRequest(namespace="m", key="k"))
    await r.stub.Get(pb.GetRequest(namespace="m", key="missing"))

    async def scraped() -> str | None:
        url = f"http://127.0.0.1:{r.runner.metrics_port}/metrics"
        text = await asyncio.to_thread(_fetch_text, url)
        wanted = 'wasmgrid_cache_operations_total{namespace="m",op="get",result="miss"} 1.0'
        return text if wanted in text else None

    text = await poll(scraped, "the sweeper to export the namespace counters", 5.0)
    assert 'wasmgrid_cache_entries{namespace="m"} 1.0' in text
    assert 'grpc_server_handled_total{grpc_code="OK",grpc_method="Get"' in text


async def test_health_is_serving(start_cache: StartReplica, poll: Poll) -> None:
    r = await start_cache()
    health = health_pb2_grpc.HealthStub(r.channel)

    async def serving() -> bool:
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service="wasmgrid.api.cache.v1.CacheService")
        )
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    await poll(serving, "the cache service to report SERVING", 5.0)


@pytest.mark.integration
def test_bad_setting_stops_with_one_line_naming_the_variable() -> None:
    env = {**os.environ, "WASMGRID_CACHE_MAX_BATCH": "0", "WASMGRID_CACHE_GRPC_PORT": "0"}
    out = subprocess.run(
        [sys.executable, "-m", "wasmgrid.cache"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "WASMGRID_CACHE_MAX_BATCH='0'" in out.stderr, out.stderr


async def test_untraced_variant_serves_the_same_api(start_cache: StartReplica) -> None:
    r = await start_cache(trace_rpcs=False)
    assert r.service.untraced_prefixes == ("wasmgrid.api.cache.v1.CacheService",)
    await r.stub.Set(pb.SetRequest(namespace="u", key="k", value=b"v"))
    assert (await r.stub.Get(pb.GetRequest(namespace="u", key="k"))).value == b"v"


@pytest.mark.integration
async def test_python_dash_m_serves(poll: Poll) -> None:
    """The real entry point: `python -m wasmgrid.cache` starts, serves, and stops on SIGTERM."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "WASMGRID_CACHE_GRPC_PORT": str(port),
        "WASMGRID_CACHE_METRICS_PORT": "0",
        "WASMGRID_CACHE_REDIS_URL": "",
        "WASMGRID_REDIS_URL": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wasmgrid.cache"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = cache_pb2_grpc.CacheServiceStub(channel)

            async def answers() -> bool:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                try:
                    await stub.Set(pb.SetRequest(namespace="m", key="k", value=b"v"), timeout=1)
                except grpc.aio.AioRpcError:
                    return False
                return True

            await poll(answers, "python -m wasmgrid.cache to answer", 30.0)
            assert (await stub.Get(pb.GetRequest(namespace="m", key="k"))).value == b"v"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"cache stopped" in err


def _fetch_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        text: str = resp.read().decode()
        return text
