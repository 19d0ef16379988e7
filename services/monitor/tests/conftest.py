"""Fixtures: monitor instances on port 0 over a fresh database, tiny services to watch,
webhook receivers on real aiohttp servers, and a deadline-based poll helper."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import pytest
from aiohttp import web
from prometheus_client import Gauge

from wasmgrid.api.monitor.v1 import monitor_pb2 as pb
from wasmgrid.api.monitor.v1 import monitor_pb2_grpc
from wasmgrid.common.server import Service, ServiceRunner
from wasmgrid.common.settings import ServiceSettings
from wasmgrid.common.testing import free_port, serve
from wasmgrid.monitor.service import MonitorService
from wasmgrid.monitor.settings import MonitorSettings

T = TypeVar("T")
READINESS_INTERVAL = 60.0


@dataclass
class Monitor:
    """A running monitor and a stub to it."""

    runner: ServiceRunner
    service: MonitorService
    channel: grpc.aio.Channel
    stub: monitor_pb2_grpc.MonitorServiceAsyncStub

    @property
    def address(self) -> str:
        return self.runner.address


StartMonitor = Callable[..., Awaitable[Monitor]]


def monitor_settings(database_url: str, **overrides: Any) -> MonitorSettings:
    """Fast test settings (port 0, short intervals, no default rules)."""
    values: dict[str, Any] = {
        "WASMGRID_MONITOR_DATABASE_URL": database_url,
        "host": "127.0.0.1",
        "grpc_port": 0,
        "metrics_port": 0,
        "log_json": False,
        "rules_file": "",
        # Readiness is decided at start; no periodic re-checks. The kit's readiness loop
        # can swallow its cancellation (Python 3.11 wait_for race) and hang stop().
        "readiness_interval_seconds": READINESS_INTERVAL,
        "health_interval_seconds": 0.2,
        "health_timeout_seconds": 0.5,
        "scrape_interval_seconds": 0.2,
        "evaluation_interval_seconds": 0.2,
        "group_interval_seconds": 0.3,
        "notify_min_backoff_seconds": 0.1,
        "notify_max_backoff_seconds": 0.4,
        "notify_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return MonitorSettings(**values)


@pytest.fixture
async def start_monitor(database_url: str) -> AsyncIterator[StartMonitor]:
    """Start monitors over this test's database; all are stopped afterwards."""
    started: list[Monitor] = []

    async def start(**overrides: Any) -> Monitor:
        settings = monitor_settings(database_url, **overrides)
        service = MonitorService(settings)
        runner, channel = await serve(service, settings, timeout=10.0)
        m = Monitor(runner, service, channel, monitor_pb2_grpc.MonitorServiceStub(channel))
        started.append(m)
        return m

    yield start
    for m in started:
        await m.channel.close(None)
        await m.runner.stop(0.5)


class TinyService(Service):
    """A do-nothing service: health, reflection and /metrics from the kit."""

    name = "tiny"

    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        return []


async def start_tiny(grpc_port: int = 0, metrics_port: int = 0) -> ServiceRunner:
    """A running TinyService (its /metrics shows this process's default registry)."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "readiness_interval_seconds": READINESS_INTERVAL,
        "log_json": False,
    }
    settings = ServiceSettings(**values)
    runner = ServiceRunner(TinyService(), settings, tracing=False)
    await runner.start()
    return runner


@pytest.fixture
async def tiny() -> AsyncIterator[ServiceRunner]:
    """One running TinyService, stopped after the test."""
    runner = await start_tiny()
    yield runner
    # Bounded: a hung stop must fail this fixture, not eat the whole test timeout.
    await asyncio.wait_for(runner.stop(0.2), 15)


@dataclass
class Receiver:
    """A real HTTP server that records the JSON bodies POSTed to /hook."""

    port: int
    bodies: list[Any] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            self.bodies.append(json.loads(await request.read()))
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        app.router.add_post("/api/v2/alerts", hook)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A started webhook receiver."""
    r = Receiver(free_port())
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def idle_receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on a reserved port that is NOT listening until started."""
    r = Receiver(free_port())
    yield r
    await r.stop()


#: A signal each test drives through its own `case` label (the registry is per process).
SIGNAL = Gauge("wasmgrid_test_signal", "A value tests set to trigger alert rules.", ["case"])


def targets(tiny: ServiceRunner) -> str:
    return f"tiny={tiny.address}|http://127.0.0.1:{tiny.metrics_port}/metrics"


def signal_rule(case: str, name: str = "SignalHigh", for_seconds: float = 0.0) -> pb.Rule:
    rule = pb.Rule(
        name=name,
        expression=pb.Expression(
            query=pb.Query(
                metric="wasmgrid_test_signal",
                matchers=[pb.LabelMatcher(name="case", op=pb.MATCH_OP_IN, values=[case])],
                function=pb.FUNCTION_VALUE,
                aggregation=pb.AGGREGATION_NONE,
            )
        ),
        comparator=pb.COMPARATOR_GT,
        threshold=0,
        severity=pb.SEVERITY_CRITICAL,
        labels={"team": "core"},
        annotations={"summary": "signal is {{ $value }} on {{ $labels.case }}"},
    )
    rule.for_duration.FromMilliseconds(int(for_seconds * 1000))
    return rule


async def alerts_of(m: Monitor, rule: str, include_silenced: bool = True) -> list[pb.Alert]:
    resp = await m.stub.ListAlerts(
        pb.ListAlertsRequest(rule=rule, include_silenced=include_silenced)
    )
    return list(resp.alerts)


async def state_is(m: Monitor, rule: str, state: int) -> pb.Alert | None:
    alerts = await alerts_of(m, rule)
    return alerts[0] if alerts and alerts[0].state == state else None
