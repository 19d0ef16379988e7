"""gRPC clients for the services behind the gateway.

- :class:`RuntimePool`: runtime replicas (static list or DNS), active grpc.health.v1
  checks, a :class:`~wasmgrid.gateway.balancer.Balancer`, passive outlier ejection,
  and retries on UNAVAILABLE for calls that never reached a replica, within a
  retry budget and the caller's deadline.
- :class:`Registry`: the marketplace, with a short-lived resolve cache
  (``ns/name@req`` → digest) and a token cache for route auth.
- :class:`ResponseCache`: the cache service, fronted by a small in-process near cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.propagate import inject
from prometheus_client import Counter, Gauge, Histogram

from wasmgrid.api.cache.v1 import cache_pb2, cache_pb2_grpc
from wasmgrid.api.marketplace.v1 import marketplace_pb2, marketplace_pb2_grpc
from wasmgrid.api.monitor.v1 import monitor_pb2_grpc
from wasmgrid.api.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from wasmgrid.common.channel import create_channel
from wasmgrid.common.errors import COMPILING_TRAILER, RETRY_AFTER_TRAILER
from wasmgrid.common.lru import LruMap
from wasmgrid.common.metrics import LATENCY_BUCKETS, child
from wasmgrid.common.singleflight import SingleFlight
from wasmgrid.common.tasks import cancel_and_wait
from wasmgrid.gateway.balancer import Balancer, Endpoint, OutlierConfig, RetryBudget, snapshot
from wasmgrid.gateway.settings import GatewaySettings, parse_targets

log = logging.getLogger(__name__)

UPSTREAM_LATENCY = Histogram(
    "wasmgrid_gateway_upstream_seconds",
    "Latency of gRPC calls from the gateway, by upstream service, method and gRPC code.",
    ["upstream", "method", "code"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_RETRIES = Counter(
    "wasmgrid_gateway_upstream_retries_total",
    "Runtime calls retried on another replica, by result (retried, budget_exhausted).",
    ["result"],
)
RUNTIME_ENDPOINTS = Gauge(
    "wasmgrid_gateway_runtime_endpoints",
    "Runtime replicas known to the balancer, by state (healthy, unhealthy, ejected).",
    ["state"],
)
RESOLVE_CACHE = Counter(
    "wasmgrid_gateway_resolve_cache_total",
    "Module resolutions, by result (hit, miss).",
    ["result"],
)
RESPONSE_CACHE = Counter(
    "wasmgrid_gateway_response_cache_total",
    "Response cache lookups, by result (hit, miss, error) and tier (near, service).",
    ["result", "tier"],
)
# Children on the per-request path, resolved once.
_RESOLVE_HIT = RESOLVE_CACHE.labels("hit")
_RESOLVE_MISS = RESOLVE_CACHE.labels("miss")
_NEAR_HIT = RESPONSE_CACHE.labels("hit", "near")

T = TypeVar("T")

#: Token lookups (by fingerprint) remembered for ``TOKEN_CACHE_TTL_SECONDS``.
MAX_CACHED_TOKENS = 10_000

#: Details of an UNAVAILABLE that prove the call never reached a replica's handler.
_NOT_SENT_MARKERS = (
    "failed to connect",
    "connection refused",
    "connections to all backends failing",
    "dns resolution failed",
    "no route to host",
    "name resolution",
    "marketplace",  # the runtime could not fetch the module: nothing ran
)


def not_executed(err: grpc.aio.AioRpcError) -> bool:
    """Whether a failed runtime call certainly did not run the module (safe to retry)."""
    if err.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    text = f"{err.details() or ''} {err.debug_error_string() or ''}".lower()
    return any(marker in text for marker in _NOT_SENT_MARKERS)


def compiling_seconds(err: grpc.aio.AioRpcError) -> float | None:
    """How long the runtime has been compiling the module, when that is why it answered
    UNAVAILABLE (its trailer says so); None for any other error."""
    if err.code() != grpc.StatusCode.UNAVAILABLE:
        return None
    value = _trailer(err, COMPILING_TRAILER)
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def retry_after_hint(err: grpc.aio.AioRpcError, default: int = 1) -> int:
    """The runtime's retry hint in whole seconds (at least 1)."""
    value = _trailer(err, RETRY_AFTER_TRAILER)
    return max(1, int(value)) if value is not None and value.isdigit() else default


def _trailer(err: grpc.aio.AioRpcError, name: str) -> str | None:
    metadata: Any = err.trailing_metadata() or ()
    for key, value in metadata:
        if key == name:
            return str(value)
    return None


def _transport_failure(err: grpc.aio.AioRpcError) -> bool:
    # A replica still compiling a module is healthy: not a reason to eject it.
    return err.code() == grpc.StatusCode.UNAVAILABLE and compiling_seconds(err) is None


async def timed(upstream: str, method: str, call: Awaitable[T]) -> T:
    """Await a gRPC call, recording its latency by upstream, method and code."""
    start = time.perf_counter()
    code = "OK"
    try:
        return await call
    except grpc.aio.AioRpcError as err:
        code = err.code().name
        raise
    finally:
        # Bounded: fixed upstreams, methods and status codes.
        child(UPSTREAM_LATENCY, upstream, method, code).observe(time.perf_counter() - start)


def token_fingerprint(authorization: str) -> str:
    """A short, non-reversible stand-in for a credential, for cache and rate-limit keys:
    the credential itself never appears in memory keys, Redis or logs."""
    return hashlib.sha256(authorization.encode()).hexdigest()[:32]


class NoReplica(Exception):
    """No runtime replica is known (nothing configured or DNS found nothing)."""


class RuntimeReplica:
    """One runtime address: a few connections (one per worker process reached), in turn."""

    def __init__(self, address: str, connections: int) -> None:
        # Distinct channel args keep grpc from sharing one subchannel (one TCP
        # connection) between the channels; the kernel spreads the connections over
        # the runtime's worker processes.
        self.channels = [
            create_channel(
                address,
                default_timeout=None,
                tracing=False,
                options=[("wasmgrid.connection", i)],
            )
            for i in range(connections)
        ]
        self.stubs = [runtime_pb2_grpc.RuntimeServiceStub(c) for c in self.channels]
        self.health = health_pb2_grpc.HealthStub(self.channels[0])
        #: The worker process (its instance id) behind each connection, when known.
        self.workers: list[str | None] = [None] * connections
        #: Connection indexes grouped by the worker behind them (see `learn_workers`).
        self.groups: list[list[int]] = [[i] for i in range(connections)]
        #: Calls in flight on each connection.
        self.load = [0] * connections

    def acquire(self) -> tuple[int, runtime_pb2_grpc.RuntimeServiceAsyncStub]:
        """(connection, stub) for a call: the worker with the fewest calls in flight.

        Ties go to the first worker, so a lightly loaded gateway keeps using one worker
        (its caches stay warm and no idle process is woken for each call), while under
        load calls spread evenly over every worker reached, whatever the split of
        connections. Pair with `release`.
        """
        load = self.load
        group = min(self.groups, key=lambda members: sum(load[i] for i in members))
        conn = min(group, key=load.__getitem__)
        load[conn] += 1
        return conn, self.stubs[conn]

    def release(self, conn: int) -> None:
        """The call that `acquire` put on connection `conn` ended."""
        self.load[conn] -= 1

    async def learn_workers(self, timeout: float) -> None:
        """Ask each connection which worker process serves it (for `acquire`).

        The kernel hands each connection to one of the runtime's worker processes at
        random, so 4 connections over 2 workers split 3:1 half the time; balancing by
        worker rather than by connection keeps the workers evenly loaded anyway.
        """

        async def worker_of(stub: runtime_pb2_grpc.RuntimeServiceAsyncStub) -> str | None:
            try:
                stats = await stub.GetStats(runtime_pb2.GetStatsRequest(top_n=1), timeout=timeout)
            except grpc.aio.AioRpcError:
                return None
            return str(stats.instance_id) or f"pid:{stats.pid}"

        self.workers = list(await asyncio.gather(*(worker_of(stub) for stub in self.stubs)))
        self.groups = worker_groups(self.workers)

    async def close(self, grace: float | None) -> None:
        await asyncio.gather(*(c.close(grace) for c in self.channels))


def worker_groups(workers: Sequence[str | None]) -> list[list[int]]:
    """Connection indexes grouped by worker, in order of first appearance (an unknown
    worker is a group of its own): ``[A, B, A, None]`` → ``[[0, 2], [1], [3]]``."""
    groups: dict[object, list[int]] = {}
    for i, worker in enumerate(workers):
        groups.setdefault(worker if worker is not None else ("unknown", i), []).append(i)
    return list(groups.values())


class RuntimePool:
    """Balances runtime calls over replicas, with health checks and retries."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.dns_name, static = parse_targets(settings.runtime_targets)
        self.balancer = Balancer(
            settings.balancer_policy,
            outlier=OutlierConfig(
                consecutive_failures=settings.outlier_consecutive_failures,
                base_ejection_seconds=settings.outlier_base_ejection_seconds,
                max_ejection_seconds=settings.outlier_max_ejection_seconds,
                max_ejection_percent=settings.outlier_max_ejection_percent,
            ),
        )
        self.budget = RetryBudget(settings.retry_budget_ratio)
        self._replicas: dict[str, RuntimeReplica] = {}
        self._tasks: list[asyncio.Task[None]] = []
        if static:
            self._apply(static)

    def _apply(self, targets: Sequence[tuple[str, int]]) -> None:
        wanted = {addr for addr, _ in targets}
        for addr in list(self._replicas):
            if addr not in wanted:
                replica = self._replicas.pop(addr)
                asyncio.get_event_loop().create_task(replica.close(grace=5))
        for addr, _ in targets:
            if addr not in self._replicas:
                # The hot path: no client interceptors (grpc.aio interceptors cost more
                # than the call itself here); every call passes its own timeout and the
                # W3C trace context as metadata instead (see `call`).
                self._replicas[addr] = RuntimeReplica(addr, self.settings.runtime_connections)
        self.balancer.set_endpoints(targets)
        self._export_gauges()

    async def start(self) -> None:
        """Resolve DNS (if configured), run one round of health checks, start the loops."""
        if self.dns_name is not None:
            await self._resolve_dns()
            self._tasks.append(asyncio.create_task(self._dns_loop()))
        await self.check_health()
        self._tasks.append(asyncio.create_task(self._health_loop()))

    async def close(self) -> None:
        """Stop the loops and close every channel."""
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()
        await asyncio.gather(*(r.close(None) for r in self._replicas.values()))
        self._replicas.clear()

    async def _resolve_dns(self) -> None:
        assert self.dns_name is not None
        host, _, port = self.dns_name.rpartition(":")
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        except OSError as exc:
            log.warning(
                "runtime DNS lookup of %s failed, keeping %d replicas: %s",
                self.dns_name,
                len(self._replicas),
                exc,
            )
            return
        addrs = sorted(
            {
                (f"[{info[4][0]}]:{port}" if info[0] == socket.AF_INET6 else f"{info[4][0]}:{port}")
                for info in infos
            }
        )
        if addrs != sorted(self._replicas):
            log.info("runtime replicas from DNS %s: %s", self.dns_name, ", ".join(addrs))
            self._apply([(a, 1) for a in addrs])

    async def _dns_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.dns_refresh_seconds)
            await self._resolve_dns()

    async def _check_one(self, addr: str, replica: RuntimeReplica) -> None:
        try:
            resp = await replica.health.Check(
                health_pb2.HealthCheckRequest(service=""),
                timeout=self.settings.health_check_timeout_seconds,
            )
            healthy = resp.status == health_pb2.HealthCheckResponse.SERVING
        except grpc.aio.AioRpcError:
            healthy = False
        before = self.balancer.endpoints.get(addr)
        if before is not None and before.healthy != healthy:
            log.warning("runtime %s is now %s", addr, "healthy" if healthy else "unhealthy")
        self.balancer.set_health(addr, healthy)

    async def check_health(self) -> None:
        """One round of active health checks over every replica (and of who serves which
        connection: a restarted worker changes it)."""
        timeout = self.settings.health_check_timeout_seconds
        replicas = list(self._replicas.items())
        await asyncio.gather(
            *(self._check_one(a, r) for a, r in replicas),
            *(r.learn_workers(timeout) for _, r in replicas if len(r.stubs) > 1),
        )
        self._export_gauges()

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_check_interval_seconds)
            await self.check_health()

    def _export_gauges(self) -> None:
        now = self.balancer.clock()
        eps = list(self.balancer.endpoints.values())
        RUNTIME_ENDPOINTS.labels("healthy").set(sum(e.healthy and not e.ejected(now) for e in eps))
        RUNTIME_ENDPOINTS.labels("unhealthy").set(sum(not e.healthy for e in eps))
        RUNTIME_ENDPOINTS.labels("ejected").set(sum(e.ejected(now) for e in eps))

    def healthy_count(self) -> int:
        """Replicas whose last health check said SERVING."""
        return sum(1 for e in self.balancer.endpoints.values() if e.healthy)

    def describe(self) -> dict[str, Any]:
        """The balancer state for ``/v1/health``."""
        snap = snapshot(self.balancer)
        return {
            "policy": snap.policy,
            "endpoints": snap.endpoints,
            "retry_budget": {
                "ratio": self.budget.ratio,
                "requests": self.budget.requests,
                "retries": self.budget.retries,
            },
        }

    async def call(
        self,
        method: str,
        fn: Callable[
            [runtime_pb2_grpc.RuntimeServiceAsyncStub, float, tuple[tuple[str, str], ...]],
            Awaitable[T],
        ],
        *,
        key: str,
        deadline: float,
    ) -> T:
        """Run `fn(stub, timeout, metadata)` on a picked replica, retrying where safe.

        `deadline` is a ``time.monotonic()`` instant; every attempt gets the time left
        as its gRPC timeout. Retries happen only for UNAVAILABLE errors that prove the
        module never ran, on a replica not tried yet, while the retry budget allows.
        """
        self.budget.record_request()
        carrier: dict[str, str] = {}
        inject(carrier)  # traceparent/tracestate of the current span
        metadata = tuple(carrier.items())
        tried: list[str] = []
        last_error: grpc.aio.AioRpcError | None = None
        attempt = 0
        while True:
            attempt += 1
            ep: Endpoint | None = self.balancer.pick(key, exclude=tried)
            if ep is None:
                if last_error is not None:
                    raise last_error
                raise NoReplica("no runtime replica is configured or resolvable")
            replica = self._replicas[ep.address]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline passed before the runtime call")
            self.balancer.on_start(ep)
            ok = True
            conn, stub = replica.acquire()
            try:
                return await timed("runtime", method, fn(stub, remaining, metadata))
            except grpc.aio.AioRpcError as err:
                ok = not _transport_failure(err)
                if (
                    not not_executed(err)
                    or attempt >= self.settings.max_attempts
                    or deadline - time.monotonic() <= 0
                ):
                    raise
                if not self.budget.try_retry():
                    UPSTREAM_RETRIES.labels("budget_exhausted").inc()
                    raise
                UPSTREAM_RETRIES.labels("retried").inc()
                tried.append(ep.address)
                last_error = err
                log.info(
                    "retrying %s on another runtime after %s: %s", method, ep.address, err.details()
                )
            finally:
                replica.release(conn)
                self.balancer.on_finish(ep, ok=ok)
                if not ok:
                    self._export_gauges()


@dataclass
class Resolved:
    """A module version resolved from ``ns/name@req``."""

    name: str
    version: str
    digest: str
    kind: int


class Registry:
    """The marketplace client with short-lived resolve and token caches."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.channel = create_channel(
            settings.marketplace_addr, default_timeout=settings.upstream_timeout_seconds
        )
        self.stub = marketplace_pb2_grpc.MarketplaceServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self._resolved: LruMap[tuple[str, str], Resolved] = LruMap(
            settings.resolve_cache_max_entries, ttl_seconds=settings.resolve_cache_ttl_seconds
        )
        self._resolving: SingleFlight[tuple[str, str], Resolved] = SingleFlight("resolve")
        self._tokens: LruMap[str, marketplace_pb2.WhoAmIResponse] = LruMap(
            MAX_CACHED_TOKENS, ttl_seconds=settings.token_cache_ttl_seconds
        )

    async def close(self) -> None:
        await self.channel.close(None)

    async def serving(self) -> str | None:
        """None when the marketplace reports SERVING, else why not."""
        try:
            resp = await self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.aio.AioRpcError as err:
            return f"marketplace unreachable: {err.code().name}"
        if resp.status != health_pb2.HealthCheckResponse.SERVING:
            return "marketplace not serving"
        return None

    async def resolve(
        self, name: str, requirement: str, metadata: Sequence[tuple[str, str]] = ()
    ) -> Resolved:
        """``ns/name`` + requirement → exact version and digest, reused for the cache TTL.

        Concurrent resolutions of one key share one RPC. With TTL t a publish or yank
        is visible to new calls at most t seconds later.
        """
        key = (name.lower(), requirement)
        hit = self._resolved.get(key)
        if hit is not None or self._resolving.running(key):
            _RESOLVE_HIT.inc()
        else:
            _RESOLVE_MISS.inc()
        if hit is not None:
            return hit

        async def fetch() -> Resolved:
            resp = await timed(
                "marketplace",
                "Resolve",
                self.stub.Resolve(
                    marketplace_pb2.ResolveRequest(name=name, requirement=requirement),
                    metadata=tuple(metadata) or None,
                ),
            )
            result = Resolved(resp.name, resp.version, resp.digest, resp.kind)
            self._resolved.put(key, result)
            return result

        return await self._resolving.run(key, fetch)

    async def whoami(self, authorization: str) -> marketplace_pb2.WhoAmIResponse:
        """The token's user and scopes, cached briefly by the token's fingerprint."""
        key = token_fingerprint(authorization)
        hit = self._tokens.get(key)
        if hit is not None:
            return hit
        resp: marketplace_pb2.WhoAmIResponse = await timed(
            "marketplace",
            "WhoAmI",
            self.stub.WhoAmI(
                marketplace_pb2.WhoAmIRequest(), metadata=(("authorization", authorization),)
            ),
        )
        self._tokens.put(key, resp)
        return resp


@dataclass
class CachedResponse:
    """A response as stored in the cache service."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def encode(self) -> bytes:
        meta = json.dumps({"s": self.status, "h": self.headers}, separators=(",", ":")).encode()
        return struct.pack(">I", len(meta)) + meta + self.body

    @classmethod
    def decode(cls, data: bytes) -> CachedResponse | None:
        """None for bytes that are not an entry we wrote (treated as a miss)."""
        try:
            (n,) = struct.unpack(">I", data[:4])
            meta = json.loads(data[4 : 4 + n])
            headers = [(str(k), str(v)) for k, v in meta["h"]]
            return cls(int(meta["s"]), headers, data[4 + n :])
        except (struct.error, ValueError, KeyError, TypeError):
            return None


def response_cache_key(
    digest: str,
    method: str,
    path: str,
    query: str,
    body: bytes,
    vary: Sequence[tuple[str, str]],
) -> str:
    """The cache key: digest + method + path + query + body + vary headers, hashed.

    One SHA-256 over the parts, each preceded by its length (so no two different
    requests frame to the same bytes), the body included as is.
    """
    parts = [digest.encode(), method.upper().encode(), path.encode(), query.encode(), body]
    parts.extend(f"{name.lower()}={value}".encode() for name, value in vary)
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return f"r:{digest[:16]}:{h.hexdigest()}"


class ResponseCache:
    """Cached module responses in the cache service, with an in-process near cache.

    The near cache keeps a copy for at most ``near_cache_max_ttl_seconds`` (and never
    past the entry's own TTL), so a hot key costs no RPC while replicas still agree
    within a second. Cache-service failures are misses, never request failures.
    """

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.namespace = settings.cache_namespace
        self.channel: grpc.aio.Channel | None = None
        self.stub: cache_pb2_grpc.CacheServiceAsyncStub | None = None
        if settings.cache_addr:
            self.channel = create_channel(settings.cache_addr, default_timeout=1.0)
            self.stub = cache_pb2_grpc.CacheServiceStub(self.channel)
        self._near: LruMap[str, CachedResponse] = LruMap(settings.near_cache_entries)
        self._fetching: SingleFlight[str, CachedResponse | None] = SingleFlight("cache-get")

    @property
    def enabled(self) -> bool:
        return self.stub is not None

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close(None)

    def _near_put(self, key: str, value: CachedResponse, ttl: float) -> None:
        self._near.put(key, value, ttl_seconds=min(ttl, self.settings.near_cache_max_ttl_seconds))

    async def get(self, key: str) -> CachedResponse | None:
        """The cached response for `key`, or None (a miss; errors are misses too).

        Concurrent lookups of one key share one RPC, so a hot key whose near-cache copy
        just expired costs one call to the cache service, not one per request.
        """
        near = self._near.get(key)
        if near is not None:
            _NEAR_HIT.inc()
            return near
        if self.stub is None:
            return None
        return await self._fetching.run(key, lambda: self._fetch(key))

    async def _fetch(self, key: str) -> CachedResponse | None:
        assert self.stub is not None
        try:
            resp = await timed(
                "cache",
                "Get",
                self.stub.Get(cache_pb2.GetRequest(namespace=self.namespace, key=key)),
            )
        except grpc.aio.AioRpcError as err:
            RESPONSE_CACHE.labels("error", "service").inc()
            log.warning("response cache get failed: %s %s", err.code().name, err.details())
            return None
        if not resp.found:
            RESPONSE_CACHE.labels("miss", "service").inc()
            return None
        value = CachedResponse.decode(resp.value)
        if value is None:
            RESPONSE_CACHE.labels("miss", "service").inc()
            return None
        RESPONSE_CACHE.labels("hit", "service").inc()
        if resp.ttl_remaining_ms:
            self._near_put(key, value, resp.ttl_remaining_ms / 1000)
        return value

    async def put(self, key: str, value: CachedResponse, ttl: float) -> None:
        if self.stub is None:
            return
        self._near_put(key, value, ttl)
        try:
            await timed(
                "cache",
                "Set",
                self.stub.Set(
                    cache_pb2.SetRequest(
                        namespace=self.namespace,
                        key=key,
                        value=value.encode(),
                        ttl_ms=max(1, int(ttl * 1000)),
                    )
                ),
            )
        except grpc.aio.AioRpcError as err:
            log.warning("response cache set failed: %s %s", err.code().name, err.details())


class Monitor:
    """The monitor client (fleet health, alerts, traces)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.channel: grpc.aio.Channel | None = None
        self.stub: monitor_pb2_grpc.MonitorServiceAsyncStub | None = None
        if settings.monitor_addr:
            self.channel = create_channel(
                settings.monitor_addr, default_timeout=settings.upstream_timeout_seconds
            )
            self.stub = monitor_pb2_grpc.MonitorServiceStub(self.channel)

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close(None)
