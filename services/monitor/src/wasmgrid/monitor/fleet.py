"""Fleet health: which replicas exist (static or DNS) and whether they serve.

Every replica is polled over grpc.health.v1. A SERVING or NOT_SERVING answer is
authoritative and applied at once; failed RPCs flip a replica to UNREACHABLE
only after ``failure_threshold`` consecutive failures, so one lost packet does
not page anyone. Every status change is kept in a bounded history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import Gauge

from wasmgrid.common.channel import create_channel
from wasmgrid.monitor.loops import every

log = logging.getLogger(__name__)

TARGET_SERVING = Gauge(
    "wasmgrid_monitor_target_serving",
    "1 when the polled replica answers SERVING, else 0.",
    ["service", "replica"],
)

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_HOSTPORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


class Status(IntEnum):
    """Replica status; values match ``ServingStatus`` in monitor.proto."""

    UNKNOWN = 1
    SERVING = 2
    NOT_SERVING = 3
    UNREACHABLE = 4


@dataclass(frozen=True)
class TargetSpec:
    """One configured service: a health address (static or ``dns:``) and a metrics URL."""

    service: str
    health: str
    metrics_url: str = ""

    @property
    def dns_name(self) -> tuple[str, int] | None:
        """(name, port) when the replicas come from DNS, else None."""
        if not self.health.startswith("dns:"):
            return None
        host, port = _split_hostport(self.health.removeprefix("dns:").lstrip("/"))
        return host, port


def _split_hostport(text: str) -> tuple[str, int]:
    m = _HOSTPORT.match(text)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ValueError(f"address {text!r} is not host:port")
    return m.group(1).strip("[]"), int(m.group(2))


def parse_targets(text: str) -> list[TargetSpec]:
    """Parse ``name=HEALTH[|METRICS_URL]`` entries separated by commas or whitespace.

    HEALTH is ``host:port`` or ``dns:NAME:PORT`` (one replica per A/AAAA record);
    METRICS_URL may contain ``{host}``, replaced by each replica's address.
    """
    specs: list[TargetSpec] = []
    seen: set[tuple[str, str]] = set()
    for entry in re.split(r"[,\s]+", text.strip()):
        if not entry:
            continue
        name, sep, rest = entry.partition("=")
        if not sep or not _SERVICE_NAME.match(name):
            raise ValueError(f"target {entry!r} is not name=HOST:PORT[|METRICS_URL]")
        health, _, metrics = rest.partition("|")
        if health.startswith("dns:"):
            _split_hostport(health.removeprefix("dns:").lstrip("/"))
        else:
            _split_hostport(health)
        if metrics and not metrics.startswith(("http://", "https://")):
            raise ValueError(f"target {entry!r}: metrics URL {metrics!r} is not http(s)://")
        if (name, health) in seen:
            raise ValueError(f"target {entry!r} is listed twice")
        seen.add((name, health))
        specs.append(TargetSpec(name, health, metrics))
    return specs


@dataclass
class Replica:
    """One polled replica and its current state."""

    service: str
    instance: str
    metrics_url: str
    status: Status = Status.UNKNOWN
    since: float = field(default_factory=time.time)
    reason: str = "not checked yet"
    last_check: float = 0.0
    check_latency: float = 0.0
    consecutive_failures: int = 0
    metrics_up: bool = False
    metrics_error: str = ""
    last_scrape: float = 0.0


@dataclass(frozen=True)
class StatusChange:
    """One transition of one replica."""

    service: str
    instance: str
    from_status: Status
    to_status: Status
    at: float
    reason: str


def apply_check(
    replica: Replica,
    answer: Status | None,
    reason: str,
    now: float,
    latency: float,
    failure_threshold: int,
) -> StatusChange | None:
    """Fold one health-check result into `replica`; return the change it caused, if any.

    `answer` is SERVING / NOT_SERVING for an answer, None for a failed RPC.
    """
    replica.last_check = now
    replica.check_latency = latency
    if answer is None:
        replica.consecutive_failures += 1
        new = (
            Status.UNREACHABLE
            if replica.consecutive_failures >= failure_threshold
            else replica.status
        )
    else:
        replica.consecutive_failures = 0 if answer is Status.SERVING else 1
        new = answer
    if new == replica.status:
        replica.reason = reason
        return None
    change = StatusChange(replica.service, replica.instance, replica.status, new, now, reason)
    replica.status = new
    replica.since = now
    replica.reason = reason
    return change


def aggregate(statuses: Iterable[Status]) -> Status:
    """A service's status over its replicas: SERVING if any serves, else the best other."""
    order = (Status.SERVING, Status.NOT_SERVING, Status.UNREACHABLE, Status.UNKNOWN)
    found = set(statuses)
    for status in order:
        if status in found:
            return status
    return Status.UNKNOWN


def overall(statuses: Iterable[Status]) -> Status:
    """The fleet's status over its services: SERVING only if every service serves; UNKNOWN
    with no service or any service unknown; else NOT_SERVING."""
    found = list(statuses)
    if not found or Status.UNKNOWN in found:
        return Status.UNKNOWN
    if all(s is Status.SERVING for s in found):
        return Status.SERVING
    return Status.NOT_SERVING


HealthListener = Callable[[Replica], None]


class Fleet:
    """Discovers replicas and polls their grpc.health.v1 endpoints."""

    def __init__(  # noqa: PLR0913 - keyword-only settings
        self,
        specs: list[TargetSpec],
        *,
        interval: float,
        timeout: float,
        failure_threshold: int,
        dns_refresh: float,
        history: int,
        on_check: HealthListener | None = None,
    ) -> None:
        self.specs = specs
        self.interval = interval
        self.timeout = timeout
        self.failure_threshold = failure_threshold
        self.dns_refresh = dns_refresh
        self.replicas: dict[tuple[str, str], Replica] = {}
        self.changes: deque[StatusChange] = deque(maxlen=history)
        self.rounds = 0
        self._on_check = on_check
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Discover once, then poll in the background."""
        await self.discover()
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="fleet-poll"))
        if any(s.dns_name for s in self.specs):
            self._tasks.append(asyncio.create_task(self._dns_loop(), name="fleet-dns"))

    async def stop(self) -> None:
        """Stop polling and close the channels."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()

    async def discover(self) -> None:
        """Refresh the replica set from the specs (DNS names are resolved now)."""
        wanted: dict[tuple[str, str], str] = {}
        for spec in self.specs:
            wanted.update(await self._wanted(spec))
        for key in list(self.replicas):
            if key not in wanted:
                gone = self.replicas.pop(key)
                log.info("replica %s/%s no longer discovered", gone.service, gone.instance)
                channel = self._channels.pop(gone.instance, None)
                if channel is not None:
                    await channel.close(None)
                with contextlib.suppress(KeyError):
                    TARGET_SERVING.remove(gone.service, gone.instance)
        for key, metrics_url in wanted.items():
            if key not in self.replicas:
                self.replicas[key] = Replica(key[0], key[1], metrics_url)

    async def _wanted(self, spec: TargetSpec) -> dict[tuple[str, str], str]:
        """The replicas `spec` names now, (service, instance) → metrics URL."""
        dns = spec.dns_name
        if dns is None:
            host = spec.health.rpartition(":")[0]
            return {(spec.service, spec.health): spec.metrics_url.replace("{host}", host)}
        host, port = dns
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            log.warning("cannot resolve %s for %s: %s", host, spec.service, exc)
            # Keep the replicas we knew: a DNS hiccup is not a fleet change.
            return {k: r.metrics_url for k, r in self.replicas.items() if k[0] == spec.service}
        wanted = {}
        for info in infos:
            addr = str(info[4][0])
            shown = f"[{addr}]" if ":" in addr else addr
            wanted[(spec.service, f"{shown}:{port}")] = spec.metrics_url.replace("{host}", shown)
        return wanted

    async def _dns_loop(self) -> None:
        await asyncio.sleep(self.dns_refresh)
        await every("dns", self.dns_refresh, self.discover)

    async def _poll_loop(self) -> None:
        await every("health", self.interval, self.poll_once)

    def dead_task(self) -> str | None:
        """The name of a background task that ended (it should run forever), if any."""
        return next((t.get_name() for t in self._tasks if t.done()), None)

    async def poll_once(self) -> None:
        """Check every replica once, concurrently."""
        replicas = list(self.replicas.values())
        await asyncio.gather(*(self._check(r) for r in replicas))
        self.rounds += 1

    def _channel(self, instance: str) -> grpc.aio.Channel:
        channel = self._channels.get(instance)
        if channel is None:
            # No tracing: a poll every couple of seconds per replica would flood the traces.
            channel = create_channel(instance, default_timeout=self.timeout, tracing=False)
            self._channels[instance] = channel
        return channel

    async def _check(self, replica: Replica) -> None:
        stub = health_pb2_grpc.HealthStub(self._channel(replica.instance))
        t0 = time.perf_counter()
        answer: Status | None
        try:
            resp = await stub.Check(health_pb2.HealthCheckRequest(), timeout=self.timeout)
            if resp.status == health_pb2.HealthCheckResponse.SERVING:
                answer, reason = Status.SERVING, "SERVING"
            else:
                name = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
                answer, reason = Status.NOT_SERVING, f"health answered {name}"
        except grpc.aio.AioRpcError as exc:
            answer = None
            reason = f"health check failed: {exc.code().name}: {exc.details() or ''}".rstrip(": ")
        latency = time.perf_counter() - t0
        change = apply_check(replica, answer, reason, time.time(), latency, self.failure_threshold)
        if change is not None:
            self.changes.append(change)
            log.log(
                logging.INFO if change.to_status is Status.SERVING else logging.WARNING,
                "replica %s/%s is now %s: %s",
                change.service,
                change.instance,
                change.to_status.name,
                change.reason,
                extra={"service_name": change.service, "instance": change.instance},
            )
        TARGET_SERVING.labels(replica.service, replica.instance).set(
            1 if replica.status is Status.SERVING else 0
        )
        if self._on_check is not None:
            self._on_check(replica)
