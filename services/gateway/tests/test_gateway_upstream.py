"""The runtime pool's connections, against real gRPC servers on loopback."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import grpc
import pytest

from wasmgrid.api.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from wasmgrid.gateway.upstream import (
    CachedResponse,
    RuntimeReplica,
    cacheable,
    response_cache_key,
    worker_groups,
)


class _Worker(runtime_pb2_grpc.RuntimeServiceServicer):
    """Answers GetStats with its own instance id and counts the connections it saw."""

    def __init__(self) -> None:
        self.instance = uuid.uuid4().hex
        self.peers: set[str] = set()
        self.calls = 0

    async def GetStats(
        self, request: runtime_pb2.GetStatsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> runtime_pb2.GetStatsResponse:
        self.peers.add(context.peer())
        self.calls += 1
        return runtime_pb2.GetStatsResponse(instance_id=self.instance)


def _worker() -> _Worker:
    return _Worker()  # type: ignore[abstract]  # only GetStats is served


async def _serve(worker: _Worker, port: int = 0) -> tuple[grpc.aio.Server, int]:
    # SO_REUSEPORT, as the runtime's worker processes share one port.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    runtime_pb2_grpc.add_RuntimeServiceServicer_to_server(worker, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


def test_connections_are_grouped_by_worker() -> None:
    assert worker_groups(["a", "b", "a", "a"]) == [[0, 2, 3], [1]]
    assert worker_groups(["a", "a", "a"]) == [[0, 1, 2]]
    assert worker_groups([None, "a", None]) == [[0], [1], [2]]  # unknown: each on its own


async def test_a_replica_opens_distinct_connections() -> None:
    worker = _worker()
    server, port = await _serve(worker)
    replica = RuntimeReplica(f"127.0.0.1:{port}", 3)
    try:
        # Three calls at once: the idle connections are used before a busy one.
        picks = [replica.acquire() for _ in range(3)]
        await asyncio.gather(
            *(c.stub.GetStats(runtime_pb2.GetStatsRequest(), timeout=5) for _, c in picks)
        )
        for conn, _ in picks:
            replica.release(conn)
        # Three TCP connections (one per channel, not one shared subchannel).
        assert len(worker.peers) == 3
        assert replica.load == [0, 0, 0]
    finally:
        await replica.close(None)
        await server.stop(None)


async def test_load_is_balanced_by_worker_and_one_worker_serves_a_light_load() -> None:
    a, b = _worker(), _worker()
    server_a, port = await _serve(a)
    server_b, _ = await _serve(b, port)
    try:
        # The kernel assigns connections to the two listeners at random; retry the rare
        # draw that puts all 8 on one worker (p = 1/128).
        for _ in range(5):
            replica = RuntimeReplica(f"127.0.0.1:{port}", 8)
            await replica.learn_workers(timeout=5)
            if len(set(replica.workers)) == 2:
                break
            await replica.close(None)
        assert set(replica.workers) == {a.instance, b.instance}
        first = a if replica.workers[replica.groups[0][0]] == a.instance else b

        async def call() -> None:
            conn, connection = replica.acquire()
            try:
                await connection.stub.GetStats(runtime_pb2.GetStatsRequest(), timeout=5)
            finally:
                replica.release(conn)

        # One call at a time: always the same worker (warm, no idle process woken).
        before = (a.calls, b.calls, first.calls)
        for _ in range(10):
            await call()
        assert first.calls - before[2] == 10
        # Forty at once: an even split whatever the connection split (e.g. 5:3).
        before = (a.calls, b.calls, first.calls)
        await asyncio.gather(*(call() for _ in range(40)))
        assert (a.calls - before[0], b.calls - before[1]) == (20, 20)
        assert sum(replica.load) == 0
        await replica.close(None)
    finally:
        await server_a.stop(None)
        await server_b.stop(None)


def test_response_cache_key_separates_every_part() -> None:
    base = ("a" * 64, "POST", "/x", "q=1", b"body", [("Accept", "text/plain")])
    key = response_cache_key(*base)
    assert key == response_cache_key(*base)
    assert key.startswith("r:" + "a" * 16 + ":")
    lower = response_cache_key("a" * 64, "post", "/x", "q=1", b"body", [("accept", "text/plain")])
    assert lower == key
    variants = [
        ("b" * 64, "POST", "/x", "q=1", b"body", [("Accept", "text/plain")]),
        ("a" * 64, "GET", "/x", "q=1", b"body", [("Accept", "text/plain")]),
        ("a" * 64, "POST", "/y", "q=1", b"body", [("Accept", "text/plain")]),
        ("a" * 64, "POST", "/x", "q=2", b"body", [("Accept", "text/plain")]),
        ("a" * 64, "POST", "/x", "q=1", b"bodz", [("Accept", "text/plain")]),
        ("a" * 64, "POST", "/x", "q=1", b"body", [("Accept", "text/html")]),
        ("a" * 64, "POST", "/x", "q=1", b"body", []),
        # The same bytes split differently between path and query: another request.
        ("a" * 64, "POST", "/xq", "=1", b"body", [("Accept", "text/plain")]),
    ]
    keys = {response_cache_key(*v) for v in variants}
    assert len(keys) == len(variants)
    assert key not in keys


def test_only_plain_successes_within_the_limit_are_cacheable() -> None:
    text = [("Content-Type", "text/plain")]
    assert cacheable(200, text, b"ok", 2)
    assert cacheable(204, [], b"", 0)
    assert not cacheable(200, text, b"big", 2)  # over the size limit
    assert not cacheable(206, text, b"ok", 2)  # a part of something
    assert not cacheable(404, text, b"ok", 2)
    assert not cacheable(302, [("Location", "/x")], b"", 2)
    assert not cacheable(200, [("Set-Cookie", "a=1")], b"", 2)
    for veto in ("no-store", "Private", "max-age=60, no-cache"):
        assert not cacheable(200, [("cache-control", veto)], b"", 2), veto
    assert cacheable(200, [("Cache-Control", "max-age=60, public")], b"", 2)


def test_a_cached_response_round_trips_and_foreign_bytes_are_a_miss() -> None:
    entry = CachedResponse(418, [("X-Tea", "green"), ("X-Tea", "black")], b"\x00body")
    assert CachedResponse.decode(entry.encode()) == entry
    for foreign in (b"", b"\x00\x00\x00\x09{}", b"\x00\x00\x00\x02[]rest", b"plain text"):
        assert CachedResponse.decode(foreign) is None


async def test_a_call_every_replica_refuses_as_full_is_asked_again_after_a_pause() -> None:
    from wasmgrid.common.errors import Busy
    from wasmgrid.gateway.settings import GatewaySettings
    from wasmgrid.gateway.upstream import RuntimePool

    busy = Busy("all 8 execution slots are busy", "execution-slots")
    full = grpc.aio.AioRpcError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*busy.trailers),
        busy.message,
        busy.message,
    )
    values: dict[str, Any] = {"runtime_targets": "127.0.0.1:1", "marketplace_addr": "127.0.0.1:2"}
    settings = GatewaySettings(**values)
    pool = RuntimePool(settings)
    for _ in range(50):  # the retry budget fills (0.2 per request)
        pool.budget.record_request()
    asked: list[float] = []

    async def refused_once(stub: Any, timeout: float, metadata: Any) -> str:
        asked.append(time.monotonic())
        if len(asked) == 1:
            raise full
        return "ran"

    try:
        ran = await pool.call("Invoke", refused_once, key="k", deadline=time.monotonic() + 5)
        assert ran == "ran"
        # The only replica, asked again after its pause instead of answering 503.
        assert len(asked) == 2
        assert asked[1] - asked[0] >= 0.02
        asked.clear()

        async def always_full(stub: Any, timeout: float, metadata: Any) -> str:
            asked.append(time.monotonic())
            raise full

        # Still full after every attempt: the refusal itself, within MAX_ATTEMPTS tries.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pool.call("Invoke", always_full, key="k", deadline=time.monotonic() + 5)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert len(asked) == settings.max_attempts
        # Near the deadline no pause is taken that would outlast it.
        asked.clear()
        await pool.call("Invoke", refused_once, key="k", deadline=time.monotonic() + 0.05)
        assert len(asked) == 2
        assert asked[1] - asked[0] < 0.02
    finally:
        await pool.close()
