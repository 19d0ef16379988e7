"""The monitor's lifecycle: builds its parts from the settings, starts and stops them,
and registers the servicers (:mod:`.servicer`, :mod:`.receivers`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import asyncpg
import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from wasmgrid.api.monitor.v1 import monitor_pb2 as pb
from wasmgrid.api.monitor.v1 import monitor_pb2_grpc
from wasmgrid.common.db import create_pool, ping
from wasmgrid.common.migrations import migrate
from wasmgrid.common.server import Service
from wasmgrid.monitor.alerting import AlertEngine
from wasmgrid.monitor.backend import Backend, LocalBackend, PrometheusBackend
from wasmgrid.monitor.evaluator import Evaluator
from wasmgrid.monitor.fleet import Fleet, Replica, Status
from wasmgrid.monitor.leader import Leadership
from wasmgrid.monitor.logstore import LogStore
from wasmgrid.monitor.notify import Deliverer, Planner
from wasmgrid.monitor.receivers import LogsReceiver, TraceReceiver
from wasmgrid.monitor.rules import Rule, load_rules_file
from wasmgrid.monitor.scrape import Scraper
from wasmgrid.monitor.series import SeriesStore
from wasmgrid.monitor.servicer import MonitorServicer
from wasmgrid.monitor.settings import MonitorSettings
from wasmgrid.monitor.store import MIGRATIONS, SCHEMA, AlertingStore
from wasmgrid.monitor.traces import TraceStore

log = logging.getLogger(__name__)

POOL_CLOSE_SECONDS = 5.0
RESTORE_GRACE_FLOOR = 10.0


class MonitorService(Service):
    """Fleet health, metrics, alerting, traces, logs and reports."""

    name = "monitor"
    # The OTLP receivers make no spans: the monitor's own spans are exported to itself.
    untraced_prefixes = ("opentelemetry.proto.collector.",)

    def __init__(self, settings: MonitorSettings) -> None:
        s = self.settings = settings
        self.traces = TraceStore(s.max_spans, s.max_span_bytes)
        self.logs = LogStore(s.max_log_records, s.max_log_bytes)
        capacity = max(2, int(s.retention_seconds / s.scrape_interval_seconds) + 1)
        self.series = SeriesStore(
            capacity, s.max_series, staleness=max(3 * s.scrape_interval_seconds, 15.0)
        )
        self.fleet = Fleet(
            list(s.targets),
            interval=s.health_interval_seconds,
            timeout=s.health_timeout_seconds,
            failure_threshold=s.failure_threshold,
            dns_refresh=s.dns_refresh_seconds,
            history=s.status_history,
            on_check=self._record_health,
        )
        self.scraper = Scraper(
            self.fleet,
            self.series,
            interval=s.scrape_interval_seconds,
            timeout=s.scrape_timeout_seconds,
            max_bytes=s.scrape_max_bytes,
            retention=s.retention_seconds,
        )
        self.engine = AlertEngine(s.resolved_retention_seconds, s.max_alerts)
        self.file_rules: list[Rule] = []
        self.backend: Backend = LocalBackend(self.series)
        self.pool: asyncpg.Pool | None = None
        self._store: AlertingStore | None = None
        self._deliverer: Deliverer | None = None
        self._evaluator: Evaluator | None = None

    # ------------------------------------------------------------ lifecycle

    def _record_health(self, replica: Replica) -> None:
        self.series.add(
            "wasmgrid_monitor_target_serving",
            {"service": replica.service, "replica": replica.instance},
            time.time(),
            1.0 if replica.status is Status.SERVING else 0.0,
        )

    @property
    def store(self) -> AlertingStore:
        """The PostgreSQL store (after start)."""
        assert self._store is not None, "MonitorService.start() was not called"
        return self._store

    @property
    def evaluator(self) -> Evaluator:
        """The rule evaluator (after start)."""
        assert self._evaluator is not None, "MonitorService.start() was not called"
        return self._evaluator

    async def start(self) -> None:
        s = self.settings
        if s.rules_file is not None:
            self.file_rules = load_rules_file(s.rules_file)
        self.pool = await create_pool(s.database_url, wait_seconds=s.database_wait_seconds)
        await migrate(s.database_url, MIGRATIONS, schema=SCHEMA)
        self._store = AlertingStore(self.pool)
        if s.prometheus_url:
            self.backend = PrometheusBackend(s.prometheus_url, s.scrape_timeout_seconds)
        self._deliverer = Deliverer(
            self._store,
            timeout=s.notify_timeout_seconds,
            min_backoff=s.notify_min_backoff_seconds,
            max_backoff=s.notify_max_backoff_seconds,
            max_age=s.notify_max_age_seconds,
        )
        self._evaluator = Evaluator(
            backend=self.backend,
            engine=self.engine,
            store=self._store,
            deliverer=self._deliverer,
            file_rules=self.file_rules,
            interval=s.evaluation_interval_seconds,
            planner=Planner(
                s.group_by,
                s.group_wait_seconds,
                s.group_interval_seconds,
                s.repeat_interval_seconds,
            ),
            webhook_urls=s.webhook_urls,
            alertmanager_url=s.alertmanager_url,
            external_url=s.external_url,
            leadership=Leadership(s.database_url),
        )
        windows = [
            q.window
            for r in [*self.file_rules, *await self._store.list_rules()]
            for q in (r.expression.query, r.expression.denominator)
            if q is not None
        ]
        # Long enough for the first scrapes and for windowed functions to have data.
        grace = min(3600.0, max([RESTORE_GRACE_FLOOR, 3 * s.scrape_interval_seconds, *windows]))
        restored = await self._evaluator.restore(time.time(), grace)
        await self._deliverer.start()
        await self.fleet.start()
        await self.scraper.start()
        await self._evaluator.start()
        log.info(
            "monitor started",
            extra={
                "targets": len(s.targets),
                "file_rules": len(self.file_rules),
                "backend": self.backend.name,
                "webhooks": len(s.webhook_urls),
                "restored_alerts": restored,
            },
        )

    async def stop(self) -> None:
        if self._evaluator is not None:
            await self._evaluator.stop()
        await self.scraper.stop()
        await self.fleet.stop()
        if self._deliverer is not None:
            await self._deliverer.stop()
        await self.backend.close()
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), POOL_CLOSE_SECONDS)
            except TimeoutError:
                # A connection still checked out (e.g. a query cut by a cancelled readiness
                # check) would make close() wait forever; shutdown must stay bounded.
                log.warning(
                    "database pool did not close within %.0fs; terminating its connections",
                    POOL_CLOSE_SECONDS,
                )
                self.pool.terminate()

    async def check_ready(self) -> str | None:
        if self.pool is None:
            return "database pool not open"
        for part in (self.fleet, self.scraper, self._evaluator, self._deliverer):
            dead = part.dead_task() if part is not None else None
            if dead is not None:
                return f"background loop {dead!r} stopped"
        return await ping(self.pool)

    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        monitor_pb2_grpc.add_MonitorServiceServicer_to_server(MonitorServicer(self), server)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            TraceReceiver(self.traces), server
        )
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            LogsReceiver(self.logs), server
        )
        return [
            pb.DESCRIPTOR.services_by_name["MonitorService"].full_name,
            trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
            logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name,
        ]
