"""The runtime replicas: a pool balanced by a :class:`~wasmgrid.gateway.balancer.Balancer`.

Replicas come from a static list or DNS; grpc.health.v1 (a Watch stream per replica, so
a replica that starts draining leaves the rotation at once, and periodic checks, which
also catch a hung one) and passive outlier ejection keep the balancer's view; calls
that certainly never reached a replica are retried on another one, within a retry
budget and the caller's deadline.
Each replica is reached over a few connections, one per runtime worker process.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.propagate import inject
from prometheus_client import Counter, Gauge

from wasmgrid.api.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from wasmgrid.common.channel import create_channel
from wasmgrid.common.tasks import cancel_and_wait
from wasmgrid.gateway.balancer import Balancer, Endpoint, OutlierConfig, RetryBudget, snapshot
from wasmgrid.gateway.settings import GatewaySettings, parse_targets
from wasmgrid.gateway.upstream.calls import compiling_seconds, refused_busy, timed
from wasmgrid.gateway.upstream.callstream import RuntimeConnection

log = logging.getLogger(__name__)

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

T = TypeVar("T")

#: First pause before a broken health Watch is opened again; it doubles up to the
#: health-check interval while the replica stays unreachable.
WATCH_RETRY_SECONDS = 0.1
#: A call every replica refused as full is asked again after this many seconds times
#: its attempt number (so 25 ms, then 50 ms with the default three attempts) ...
BUSY_PAUSE_SECONDS = 0.025
#: ... unless that would leave less than this before the call's deadline.
BUSY_PAUSE_MARGIN_SECONDS = 0.1
_SERVING = health_pb2.HealthCheckResponse.SERVING

#: One attempt of a runtime call: ``fn(connection, timeout, metadata)`` → its answer.
RuntimeCall = Callable[[RuntimeConnection, float, tuple[tuple[str, str], ...]], Awaitable[T]]

#: Details of an UNAVAILABLE that prove the call never reached a replica's handler.
_NOT_SENT_MARKERS = (
    "failed to connect",
    "connection refused",
    "connections to all backends failing",
    "dns resolution failed",
    "no route to host",
    "name resolution",
    "marketplace",  # the runtime could not fetch the module: nothing ran
    "was not started",  # a draining runtime refused it, or ended its stream before it ran
)


#: Details of an UNAVAILABLE that gRPC's client transport reports when the connection to
#: a replica is refused, reset or closed (its process is gone or going), as opposed to
#: an UNAVAILABLE the replica itself answered (a dependency down, still compiling).
_CONNECTION_LOST_MARKERS = (
    "failed to connect",
    "connection refused",
    "connection reset",
    "socket closed",
    "stream removed",
    "broken pipe",
    "goaway",
    "transport closed",
    "keepalive watchdog timeout",
)


def _mentions(err: grpc.aio.AioRpcError, markers: Sequence[str]) -> bool:
    text = f"{err.details() or ''} {err.debug_error_string() or ''}".lower()
    return any(marker in text for marker in markers)


def connection_lost(err: grpc.aio.AioRpcError) -> bool:
    """Whether a failed runtime call found its replica unreachable (see the markers)."""
    return err.code() == grpc.StatusCode.UNAVAILABLE and _mentions(err, _CONNECTION_LOST_MARKERS)


def not_executed(err: grpc.aio.AioRpcError) -> bool:
    """Whether a failed runtime call certainly did not run the module (safe to retry):
    it never reached a replica, or the replica refused it unstarted, all slots busy."""
    if err.code() == grpc.StatusCode.UNAVAILABLE:
        return _mentions(err, _NOT_SENT_MARKERS)
    return refused_busy(err)


def _transport_failure(err: grpc.aio.AioRpcError) -> bool:
    # A replica still compiling a module is healthy: not a reason to eject it.
    return err.code() == grpc.StatusCode.UNAVAILABLE and compiling_seconds(err) is None


class NoReplica(Exception):
    """No runtime replica is known (nothing configured or DNS found nothing)."""


class RuntimeReplica:
    """One runtime address: a few connections (one per worker process reached), in turn."""

    def __init__(self, address: str, connections: int, *, streams: bool = True) -> None:
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
        #: Invoke and Call go on each connection's call stream (`streams`), the rest unary.
        self.connections = [RuntimeConnection(address, c, streams=streams) for c in self.channels]
        self.health = health_pb2_grpc.HealthStub(self.channels[0])
        #: The worker process (its instance id) behind each connection, when known.
        self.workers: list[str | None] = [None] * connections
        #: Connection indexes grouped by the worker behind them (see `learn_workers`).
        self.groups: list[list[int]] = [[i] for i in range(connections)]
        #: Calls in flight on each connection.
        self.load = [0] * connections

    def acquire(self) -> tuple[int, RuntimeConnection]:
        """(index, connection) for a call: the worker with the fewest calls in flight.

        Ties go to the first worker, so a lightly loaded gateway keeps using one worker
        (its caches stay warm and no idle process is woken for each call), while under
        load calls spread evenly over every worker reached, whatever the split of
        connections. Pair with `release`.
        """
        load = self.load
        group = min(self.groups, key=lambda members: sum(load[i] for i in members))
        conn = min(group, key=load.__getitem__)
        load[conn] += 1
        return conn, self.connections[conn]

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

        self.workers = list(await asyncio.gather(*(worker_of(c.stub) for c in self.connections)))
        self.groups = worker_groups(self.workers)

    async def close(self, grace: float | None) -> None:
        await asyncio.gather(*(c.close() for c in self.connections))
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
            hash_balance_factor=settings.hash_balance_factor,
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
        #: Health checks run at once for replicas a call found unreachable, by address.
        self._rechecks: dict[str, asyncio.Task[None]] = {}
        #: Each replica's health Watch, by address (from `start` on).
        self._watches: dict[str, asyncio.Task[None]] = {}
        self._started = False
        if static:
            self._apply(static)

    def _apply(self, targets: Sequence[tuple[str, int]]) -> None:
        wanted = {addr for addr, _ in targets}
        for addr in list(self._replicas):
            if addr not in wanted:
                replica = self._replicas.pop(addr)
                watch = self._watches.pop(addr, None)
                if watch is not None:
                    watch.cancel()
                asyncio.get_event_loop().create_task(replica.close(grace=5))
        for addr, _ in targets:
            if addr not in self._replicas:
                # The hot path: no client interceptors (grpc.aio interceptors cost more
                # than the call itself here); every call passes its own timeout and the
                # W3C trace context as metadata instead (see `call`).
                self._replicas[addr] = RuntimeReplica(
                    addr, self.settings.runtime_connections, streams=self.settings.runtime_streams
                )
                if self._started:
                    self._start_watch(addr)
        self.balancer.set_endpoints(targets)
        self._export_gauges()

    async def start(self) -> None:
        """Resolve DNS (if configured), run one round of health checks, start the loops."""
        if self.dns_name is not None:
            await self._resolve_dns()
            self._tasks.append(asyncio.create_task(self._dns_loop()))
        await self.check_health()
        self._tasks.append(asyncio.create_task(self._health_loop()))
        self._started = self.settings.health_watch
        if self._started:
            for addr in self._replicas:
                self._start_watch(addr)

    async def close(self) -> None:
        """Stop the loops and close every channel."""
        self._started = False
        await cancel_and_wait(*self._tasks, *self._rechecks.values(), *self._watches.values())
        self._tasks.clear()
        self._rechecks.clear()
        self._watches.clear()
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
        sent = self.balancer.clock()
        try:
            resp = await replica.health.Check(
                health_pb2.HealthCheckRequest(service=""),
                timeout=self.settings.health_check_timeout_seconds,
            )
            healthy = resp.status == _SERVING
        except grpc.aio.AioRpcError:
            healthy = False
        self._health_result(addr, healthy, sent, "check")

    def _health_result(self, addr: str, healthy: bool, as_of: float, source: str) -> None:
        """Apply one health answer (a check sent at `as_of`, or a Watch message)."""
        ep = self.balancer.endpoints.get(addr)
        was = ep is not None and ep.healthy
        if self.balancer.set_health(addr, healthy, as_of=as_of) and was != healthy:
            log.warning(
                "runtime %s is now %s (health %s)",
                addr,
                "healthy" if healthy else "unhealthy",
                source,
            )
            self._export_gauges()

    def _start_watch(self, addr: str) -> None:
        self._watches[addr] = asyncio.create_task(self._watch(addr), name=f"health watch {addr}")

    async def _watch(self, addr: str) -> None:
        """Follow `addr`'s grpc.health.v1 Watch: its status as soon as it changes.

        A replica that starts draining says NOT_SERVING on the stream, and no new call
        picks it from that instant (the periodic checks alone learn it up to an interval
        plus a check's timeout later). A broken stream is opened again after a pause
        that doubles up to the check interval; a stream lost with the connection takes
        the replica out as a failed call would. A replica without Watch (UNIMPLEMENTED)
        is left to the periodic checks.
        """
        pause = WATCH_RETRY_SECONDS
        while (replica := self._replicas.get(addr)) is not None:
            try:
                async for resp in replica.health.Watch(health_pb2.HealthCheckRequest(service="")):
                    pause = WATCH_RETRY_SECONDS
                    self._health_result(
                        addr, resp.status == _SERVING, self.balancer.clock(), "watch"
                    )
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                    log.info("runtime %s does not serve health Watch: checks only", addr)
                    return
                ep = self.balancer.endpoints.get(addr)
                if ep is not None and connection_lost(err):
                    self._lost(ep, err)
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.settings.health_check_interval_seconds)

    def _lost(self, ep: Endpoint, err: grpc.aio.AioRpcError) -> None:
        """A call found `ep` unreachable: no call picks it until a health check, sent now
        rather than at the next interval, finds it serving again."""
        if ep.healthy:
            log.warning("runtime %s is now unhealthy: %s", ep.address, err.details())
        self.balancer.on_connection_lost(ep)
        replica = self._replicas.get(ep.address)
        pending = self._rechecks.get(ep.address)
        if replica is not None and (pending is None or pending.done()):
            self._rechecks[ep.address] = asyncio.create_task(
                self._check_one(ep.address, replica), name=f"recheck {ep.address}"
            )

    async def check_health(self) -> None:
        """One round of active health checks over every replica (and of who serves which
        connection: a restarted worker changes it)."""
        timeout = self.settings.health_check_timeout_seconds
        replicas = list(self._replicas.items())
        await asyncio.gather(
            *(self._check_one(a, r) for a, r in replicas),
            *(r.learn_workers(timeout) for _, r in replicas if len(r.connections) > 1),
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

    def _retry_allowed(self) -> bool:
        """Whether the retry budget has a retry to spend (counted when it has not)."""
        if self.budget.try_retry():
            return True
        UPSTREAM_RETRIES.labels("budget_exhausted").inc()
        return False

    def _before_retry(
        self,
        method: str,
        err: grpc.aio.AioRpcError,
        address: str,
        tried: list[str],
        attempt: int,
        deadline: float,
    ) -> float:
        """The pause before trying a refused call again: none when another replica may
        take it (`address` joins `tried`); when every replica left is full, a short one,
        since a slot frees within milliseconds when calls are short."""
        if refused_busy(err) and not self.balancer.available(exclude=[*tried, address]):
            left = deadline - time.monotonic() - BUSY_PAUSE_MARGIN_SECONDS
            pause = max(0.0, min(BUSY_PAUSE_SECONDS * attempt, left))
            log.info(
                "%s refused by a full runtime %s: again in %.0f ms", method, address, pause * 1e3
            )
            return pause
        tried.append(address)
        log.info("retrying %s on another runtime after %s: %s", method, address, err.details())
        return 0.0

    async def call(
        self,
        method: str,
        fn: RuntimeCall[T],
        *,
        key: str,
        deadline: float,
    ) -> T:
        """Run `fn(connection, timeout, metadata)` on a picked replica, retrying where safe.

        `deadline` is a ``time.monotonic()`` instant; every attempt gets the time left
        as its gRPC timeout. Retries happen only for errors that prove the module never ran
        (unreachable, or refused unstarted by a full replica), on a replica not tried
        yet, while the retry budget allows; when every replica left is full, on the same
        ones after a short pause.
        """
        self.budget.record_request()
        carrier: dict[str, str] = {}
        inject(carrier)  # traceparent/tracestate of the current span
        metadata = tuple(carrier.items())
        tried: list[str] = []
        last_error: grpc.aio.AioRpcError | None = None
        attempt = 0
        pause = 0.0
        while True:
            attempt += 1
            if pause:
                await asyncio.sleep(pause)
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
            conn, connection = replica.acquire()
            try:
                return await timed("runtime", method, fn(connection, remaining, metadata))
            except grpc.aio.AioRpcError as err:
                ok = not _transport_failure(err)
                if connection_lost(err):
                    self._lost(ep, err)
                if (
                    not not_executed(err)
                    or attempt >= self.settings.max_attempts
                    or deadline - time.monotonic() <= 0
                    or not self._retry_allowed()
                ):
                    raise
                UPSTREAM_RETRIES.labels("retried").inc()
                last_error = err
                pause = self._before_retry(method, err, ep.address, tried, attempt, deadline)
            finally:
                replica.release(conn)
                self.balancer.on_finish(ep, ok=ok)
                if not ok:
                    self._export_gauges()
