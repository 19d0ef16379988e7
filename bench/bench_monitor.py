"""Monitor benchmark: OTLP spans and log records ingested per second, and alert latency.

The monitor runs in its own process (``python -m wasmgrid.monitor``) over an
embedded PostgreSQL, on loopback only. Ingestion is driven with pre-built OTLP
export requests of 512 items (the OTel SDK batch processors' default batch
size) from 4 concurrent callers. Alert latency is measured from the moment a
rule's condition has held for its ``for`` at the source (a gauge on a
/metrics endpoint served by this process, scraped every second; evaluation
every second) to the moment a real HTTP webhook receiver gets the firing
notification.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from bench.harness import Table, run_load, save_results, subprocess_server
from wasmgrid.api.monitor.v1 import monitor_pb2 as pb
from wasmgrid.api.monitor.v1 import monitor_pb2_grpc
from wasmgrid.cli.embedded import EmbeddedPostgres
from wasmgrid.common.channel import create_channel
from wasmgrid.common.testing import free_port

BATCH = 512
CONCURRENCY = 4
SECONDS = 8.0
ALERT_RUNS = 5
FOR_SECONDS = 2.0
INTERVAL = 1.0


def span_requests(n: int) -> list[trace_service_pb2.ExportTraceServiceRequest]:
    """`n` requests of BATCH spans: traces of 8 spans, like a gateway → runtime call."""
    out = []
    now = time.time_ns()
    for _ in range(n):
        req = trace_service_pb2.ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="bench"))
        spans = rs.scope_spans.add().spans
        for t in range(BATCH // 8):
            trace_id = uuid.uuid4().bytes
            for i in range(8):
                s = spans.add(
                    trace_id=trace_id,
                    span_id=(i + 1).to_bytes(8, "big"),
                    parent_span_id=i.to_bytes(8, "big") if i else b"",
                    name=f"op{i}",
                    kind=Span.SPAN_KIND_SERVER,
                    start_time_unix_nano=now + t * 1000,
                    end_time_unix_nano=now + t * 1000 + 500_000,
                )
                s.attributes.extend(
                    [
                        KeyValue(key="http.route", value=AnyValue(string_value="/v1/run/x")),
                        KeyValue(key="http.response.status_code", value=AnyValue(int_value=200)),
                    ]
                )
        out.append(req)
    return out


def log_requests(n: int) -> list[logs_service_pb2.ExportLogsServiceRequest]:
    """`n` requests of BATCH log records with a trace id and two attributes each."""
    out = []
    now = time.time_ns()
    for _ in range(n):
        req = logs_service_pb2.ExportLogsServiceRequest()
        rl = req.resource_logs.add()
        rl.resource.attributes.add(key="service.name", value=AnyValue(string_value="bench"))
        records = rl.scope_logs.add().log_records
        for i in range(BATCH):
            r = records.add(
                time_unix_nano=now + i,
                severity_number=9,
                severity_text="INFO",
                trace_id=uuid.uuid4().bytes,
                span_id=os.urandom(8),
                body=AnyValue(string_value=f"module compiled in {i} ms digest=sha256:abcdef"),
            )
            r.attributes.extend(
                [
                    KeyValue(key="code.function", value=AnyValue(string_value="compile")),
                    KeyValue(key="thread.id", value=AnyValue(int_value=i)),
                ]
            )
        out.append(req)
    return out


async def wait_serving(address: str, timeout: float = 60.0) -> None:
    channel = create_channel(address, default_timeout=2.0, tracing=False)
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                resp = await stub.Check(health_pb2.HealthCheckRequest())
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass  # still starting
            await asyncio.sleep(0.2)
    finally:
        await channel.close(None)
    raise TimeoutError(f"monitor at {address} not SERVING after {timeout}s")


async def ingest(address: str) -> dict[str, Any]:
    channel = create_channel(
        address, default_timeout=30.0, tracing=False, max_message_bytes=64 << 20
    )
    traces = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
    logs = logs_service_pb2_grpc.LogsServiceStub(channel)  # type: ignore[no-untyped-call]
    span_reqs, log_reqs = span_requests(64), log_requests(64)
    i = 0

    async def export_spans() -> None:
        nonlocal i
        i += 1
        await traces.Export(span_reqs[i % len(span_reqs)])

    async def export_logs() -> None:
        nonlocal i
        i += 1
        await logs.Export(log_reqs[i % len(log_reqs)])

    try:
        spans = await run_load(export_spans, CONCURRENCY, seconds=SECONDS, warmup=10)
        records = await run_load(export_logs, CONCURRENCY, seconds=SECONDS, warmup=10)
    finally:
        await channel.close(None)
    return {"spans": spans, "logs": records}


async def alert_latency(
    address: str, signal: Gauge, hook_times: list[tuple[float, Any]]
) -> dict[str, Any]:
    channel = create_channel(address, default_timeout=10.0, tracing=False)
    stub = monitor_pb2_grpc.MonitorServiceStub(channel)
    rule = pb.Rule(
        name="BenchSignal",
        expression=pb.Expression(
            query=pb.Query(
                metric="bench_signal", function=pb.FUNCTION_VALUE, aggregation=pb.AGGREGATION_MAX
            )
        ),
        comparator=pb.COMPARATOR_GT,
        threshold=0,
        severity=pb.SEVERITY_WARNING,
    )
    rule.for_duration.FromSeconds(int(FOR_SECONDS))
    await stub.CreateRule(pb.CreateRuleRequest(rule=rule))
    end_to_end: list[float] = []
    notify: list[float] = []

    async def wait_hook(status: str, after: int) -> tuple[float, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for t, body in hook_times[after:]:
                if body["status"] == status:
                    return t, body
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no {status} webhook within 30s")

    try:
        for _ in range(ALERT_RUNS):
            seen = len(hook_times)
            t0 = time.time()
            signal.set(1)
            t_hook, _ = await wait_hook("firing", seen)
            end_to_end.append(t_hook - (t0 + FOR_SECONDS))
            alerts = await stub.ListAlerts(pb.ListAlertsRequest(rule="BenchSignal"))
            fired = alerts.alerts[0].fired_at.ToNanoseconds() / 1e9
            notify.append(t_hook - fired)
            seen = len(hook_times)
            signal.set(0)
            await wait_hook("resolved", seen)
    finally:
        await channel.close(None)
    return {"end_to_end": end_to_end, "notify": notify}


async def run() -> dict[str, Any]:
    hook_times: list[tuple[float, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        hook_times.append((time.time(), await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    hook_runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await hook_runner.setup()
    hook_port = free_port()
    await web.TCPSite(hook_runner, "127.0.0.1", hook_port).start()

    registry = CollectorRegistry()
    signal = Gauge("bench_signal", "Benchmark alert condition.", registry=registry)
    signal_port = free_port()
    signal_server, signal_thread = start_http_server(signal_port, "127.0.0.1", registry=registry)

    tmp = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    pg = EmbeddedPostgres(tmp / "pg", free_port())
    pg.start()
    grpc_port, metrics_port = free_port(), free_port()
    env = {
        "WASMGRID_DATABASE_URL": pg.dsn,
        "WASMGRID_MONITOR_HOST": "127.0.0.1",
        "WASMGRID_MONITOR_GRPC_PORT": str(grpc_port),
        "WASMGRID_MONITOR_METRICS_PORT": str(metrics_port),
        "WASMGRID_MONITOR_TARGETS": (
            f"bench=127.0.0.1:{grpc_port}|http://127.0.0.1:{signal_port}/metrics"
        ),
        "WASMGRID_MONITOR_WEBHOOK_URLS": f"http://127.0.0.1:{hook_port}/hook",
        "WASMGRID_MONITOR_SCRAPE_INTERVAL_SECONDS": str(INTERVAL),
        "WASMGRID_MONITOR_EVALUATION_INTERVAL_SECONDS": str(INTERVAL),
        "WASMGRID_MONITOR_GROUP_INTERVAL_SECONDS": "0",
        "WASMGRID_MONITOR_RULES_FILE": "",
        "WASMGRID_MONITOR_LOG_LEVEL": "WARNING",
        "WASMGRID_MONITOR_MAX_MESSAGE_BYTES": str(64 << 20),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    }
    address = f"127.0.0.1:{grpc_port}"
    try:
        with subprocess_server([sys.executable, "-m", "wasmgrid.monitor"], grpc_port, env, 60):
            await wait_serving(address)
            loads = await ingest(address)
            alerts = await alert_latency(address, signal, hook_times)
    finally:
        pg.stop()
        signal_server.shutdown()
        signal_thread.join(5)
        await hook_runner.cleanup()
    return {**loads, **alerts}


def main() -> None:
    r = asyncio.run(run())
    spans, logs = r["spans"], r["logs"]
    table = Table(
        "monitor: OTLP ingestion (512-item exports, 4 callers) and alert latency",
        ["measure", "value", "p50 ms / call", "p99 ms / call", "errors"],
    )
    table.add(
        "spans ingested / s", f"{spans.calls_per_s * BATCH:,.0f}", f"{spans.p50_ms:.1f}",
        f"{spans.p99_ms:.1f}", str(spans.errors),
    )  # fmt: skip
    table.add(
        "log records ingested / s", f"{logs.calls_per_s * BATCH:,.0f}", f"{logs.p50_ms:.1f}",
        f"{logs.p99_ms:.1f}", str(logs.errors),
    )  # fmt: skip
    e2e, notify = sorted(r["end_to_end"]), sorted(r["notify"])
    table.add(
        f"alert latency: held for `for` at source → webhook ({ALERT_RUNS} runs, 1 s scrape+eval)",
        f"median {statistics.median(e2e):.2f} s, max {e2e[-1]:.2f} s", "", "", "0",
    )  # fmt: skip
    table.add(
        "alert latency: FIRING in the engine → webhook received",
        f"median {statistics.median(notify) * 1000:.0f} ms, max {notify[-1] * 1000:.0f} ms",
        "", "", "0",
    )  # fmt: skip
    table.print()
    save_results(
        "monitor",
        {
            "spans_per_s": spans.calls_per_s * BATCH,
            "log_records_per_s": logs.calls_per_s * BATCH,
            "span_export_p50_ms": spans.p50_ms,
            "log_export_p50_ms": logs.p50_ms,
            "alert_end_to_end_s": e2e,
            "alert_notify_s": notify,
        },
    )


if __name__ == "__main__":
    main()
