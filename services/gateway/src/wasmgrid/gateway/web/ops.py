"""The operator pages: ``/status`` (health, alerts, charts, recent traces) and one trace."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from aiohttp import web

from wasmgrid.api.monitor.v1 import monitor_pb2 as pb
from wasmgrid.api.monitor.v1 import monitor_pb2_grpc
from wasmgrid.gateway.problem import Problem, upstream_problem
from wasmgrid.gateway.state import GATEWAY, Gateway
from wasmgrid.gateway.upstream import timed
from wasmgrid.gateway.web.charts import Change, LineChart, line_chart, timeline, waterfall
from wasmgrid.gateway.web.render import html

T = TypeVar("T")

#: What the status page's charts and health history may cover: (seconds, chart step).
WINDOWS = {"5m": (300, 5), "15m": (900, 10), "30m": (1800, 15), "1h": (3600, 30)}
DEFAULT_WINDOW = "30m"
#: Root spans of traces the status page lists: requests to the gateway's API, not its
#: pages, assets or the services' own health checks and polling.
_API_REQUEST = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (?!page_|asset$)")
RECENT_TRACES = 15
#: Status classes in fixed colours (charts.py's series-N): 2xx blue, 4xx orange, 5xx red.
STATUS_COLOURS = {"2xx": 0, "3xx": 3, "4xx": 1, "5xx": 4}
#: The rate window of the charts' rate and quantile functions.
RATE_WINDOW_SECONDS = 60
#: Routes left out of the traffic charts: the probes and the monitor's own scrapes.
PROBE_ROUTES = ("healthz", "readyz", "metrics")
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")

#: ServingStatus → (css class, words): colour is never the only signal.
STATUS = {
    pb.SERVING_STATUS_SERVING: ("up", "Serving"),
    pb.SERVING_STATUS_NOT_SERVING: ("down", "Not serving"),
    pb.SERVING_STATUS_UNREACHABLE: ("down", "Unreachable"),
    pb.SERVING_STATUS_UNKNOWN: ("unknown", "Unknown"),
    pb.SERVING_STATUS_UNSPECIFIED: ("unknown", "Unknown"),
}
_TIMELINE = {
    pb.SERVING_STATUS_SERVING: "serving",
    pb.SERVING_STATUS_NOT_SERVING: "not_serving",
    pb.SERVING_STATUS_UNREACHABLE: "unreachable",
}


def monitor_stub(gw: Gateway) -> monitor_pb2_grpc.MonitorServiceAsyncStub:
    """The monitor client, or a 503 naming the setting that leaves it out."""
    if gw.monitor.stub is None:
        raise Problem(
            503, "monitor service not configured (WASMGRID_GATEWAY_MONITOR_ADDR is empty)"
        )
    return gw.monitor.stub


async def call(method: str, pending: Awaitable[T]) -> T:
    """A monitor call, timed; its failure becomes the problem naming the monitor."""
    try:
        return await timed("monitor", method, pending)
    except grpc.aio.AioRpcError as err:
        raise upstream_problem(err, "monitor") from None


@dataclass(frozen=True)
class Section:
    """A part of the status page that loaded, or the reason it did not."""

    data: Any = None
    error: str = ""


async def _section(pending: Awaitable[Any]) -> Section:
    try:
        return Section(await pending)
    except Problem as problem:
        return Section(error=problem.detail)


def _query(metric: str, **fields: Any) -> pb.Query:
    query = pb.Query(
        metric=metric,
        matchers=[pb.LabelMatcher(name="route", op=pb.MATCH_OP_NOT_IN, values=PROBE_ROUTES)],
        **fields,
    )
    query.window.FromSeconds(RATE_WINDOW_SECONDS)
    return query


def _range(query: pb.Query, start: float, end: float, step: int) -> pb.QueryMetricRangeRequest:
    req = pb.QueryMetricRangeRequest(expression=pb.Expression(query=query))
    req.start.FromNanoseconds(int(start * 1e9))
    req.end.FromNanoseconds(int(end * 1e9))
    req.step.FromSeconds(step)
    return req


def _points(series: pb.RangeSeries) -> list[tuple[float, float]]:
    return [(p.time.seconds + p.time.nanos / 1e9, p.value) for p in series.points]


async def _rate_chart(
    stub: monitor_pb2_grpc.MonitorServiceAsyncStub, start: float, end: float, step: int
) -> LineChart:
    query = _query(
        "wasmgrid_gateway_http_requests_total",
        function=pb.FUNCTION_RATE,
        aggregation=pb.AGGREGATION_SUM,
        group_by=["status_class"],
    )
    resp = await call("QueryMetricRange", stub.QueryMetricRange(_range(query, start, end, step)))
    series = [(s.labels.get("status_class", "all"), _points(s)) for s in resp.series]
    return line_chart("Requests per second by status", "/s", series, start, end, STATUS_COLOURS)


async def _latency_chart(
    stub: monitor_pb2_grpc.MonitorServiceAsyncStub, start: float, end: float, step: int
) -> LineChart:
    async def quantile(q: float) -> tuple[str, list[tuple[float, float]]]:
        query = _query(
            "wasmgrid_gateway_http_request_seconds",
            function=pb.FUNCTION_HISTOGRAM_QUANTILE,
            quantile=q,
            aggregation=pb.AGGREGATION_SUM,
        )
        ranged = stub.QueryMetricRange(_range(query, start, end, step))
        resp = await call("QueryMetricRange", ranged)
        points = _points(resp.series[0]) if resp.series else []
        return f"p{q * 100:g}", points

    series = await asyncio.gather(quantile(0.5), quantile(0.95), quantile(0.99))
    return line_chart("Gateway latency", "s", series, start, end)


def _health(resp: pb.GetFleetHealthResponse, start: float, end: float) -> dict[str, Any]:
    by_instance: dict[tuple[str, str], list[Change]] = {}
    for c in resp.changes:
        by_instance.setdefault((c.service, c.instance), []).append(
            Change(
                c.at.seconds + c.at.nanos / 1e9,
                _TIMELINE.get(c.from_status, "unknown"),
                _TIMELINE.get(c.to_status, "unknown"),
            )
        )
    targets = []
    for t in resp.targets:
        css, words = STATUS[t.status]
        targets.append(
            {
                "service": t.service,
                "instance": t.instance,
                "css": css,
                "words": words,
                "since": t.since,
                "reason": t.reason,
                "failures": t.consecutive_failures,
                "segments": timeline(
                    by_instance.get((t.service, t.instance), []),
                    _TIMELINE.get(t.status, "unknown"),
                    t.since.seconds + t.since.nanos / 1e9,
                    start,
                    end,
                ),
            }
        )
    services = []
    for s in resp.services:
        css, words = STATUS[s.status]
        services.append(
            {
                "name": s.service,
                "css": css,
                "words": words,
                "replicas": s.replicas,
                "serving": s.replicas_serving,
                "targets": [t for t in targets if t["service"] == s.service],
            }
        )
    overall_css, overall_words = STATUS[resp.overall]
    return {"services": services, "css": overall_css, "words": overall_words}


async def status_page(request: web.Request) -> web.Response:
    """GET /status: the fleet's health and history, alerts, traffic charts, recent traces."""
    gw = request.app[GATEWAY]
    window = request.query.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        raise Problem(400, f"window {window[:16]!r} is not one of {', '.join(WINDOWS)}")
    seconds, step = WINDOWS[window]
    end = time.time()
    start = end - seconds
    context: dict[str, Any] = {
        "nav": "status",
        "gateway": {"runtime_healthy": gw.pool.healthy_count(), "routes": len(gw.routes.table)},
        "window": window,
        "windows": list(WINDOWS),
    }
    if gw.monitor.stub is None:
        return html(
            "status.html",
            monitor_error="no monitor configured (WASMGRID_GATEWAY_MONITOR_ADDR is empty)",
            health=None,
            **context,
        )
    stub = gw.monitor.stub
    alerts_req = pb.ListAlertsRequest(
        states=[pb.ALERT_STATE_FIRING, pb.ALERT_STATE_PENDING], limit=100
    )
    health, alerts, rate, latency, traces = await asyncio.gather(
        _section(
            call(
                "GetFleetHealth",
                stub.GetFleetHealth(pb.GetFleetHealthRequest(changes_limit=1000)),
            )
        ),
        _section(call("ListAlerts", stub.ListAlerts(alerts_req))),
        _section(_rate_chart(stub, start, end, step)),
        _section(_latency_chart(stub, start, end, step)),
        _section(call("SearchTraces", stub.SearchTraces(pb.SearchTracesRequest(limit=200)))),
    )
    if traces.data is not None:
        requests = [t for t in traces.data.traces if _API_REQUEST.match(t.root_name)]
        traces = Section(requests[:RECENT_TRACES])
    return html(
        "status.html",
        monitor_error=health.error,
        health=_health(health.data, start, end) if health.data is not None else None,
        alerts=alerts,
        severity=lambda s: pb.Severity.Name(s).removeprefix("SEVERITY_").lower(),
        alert_state=lambda s: pb.AlertState.Name(s).removeprefix("ALERT_STATE_").lower(),
        rate=rate,
        latency=latency,
        traces=traces,
        **context,
    )


async def trace_page(request: web.Request) -> web.Response:
    """GET /traces/{trace_id}: the trace's waterfall, span details and its log lines."""
    gw = request.app[GATEWAY]
    trace_id = request.match_info["trace_id"]
    if not _TRACE_ID.match(trace_id):
        raise Problem(400, f"trace id {trace_id[:64]!r} is not 32 hex digits")
    trace_id = trace_id.lower()
    stub = monitor_stub(gw)
    got, logs = await asyncio.gather(
        call("GetTrace", stub.GetTrace(pb.GetTraceRequest(trace_id=trace_id))),
        _section(
            call(
                "SearchLogs",
                stub.SearchLogs(pb.SearchLogsRequest(trace_id=trace_id, limit=200)),
            )
        ),
    )
    spans = list(got.spans)
    rows, total = waterfall(
        [
            (
                s.span_id,
                s.parent_span_id,
                s.start_time.seconds + s.start_time.nanos / 1e9,
                s.duration.seconds + s.duration.nanos / 1e9,
            )
            for s in spans
        ]
    )
    services = sorted({s.service for s in spans})
    return html(
        "trace.html",
        nav="status",
        trace_id=trace_id,
        summary=got.summary,
        rows=[
            {
                "bar": row,
                "span": spans[row.index],
                "service_css": f"svc-{services.index(spans[row.index].service) % 6}",
                "error": spans[row.index].status == pb.SPAN_STATUS_ERROR,
                "kind": pb.SpanKind.Name(spans[row.index].kind).removeprefix("SPAN_KIND_").lower(),
                "attributes": sorted(spans[row.index].attributes.items()),
            }
            for row in rows
        ],
        total=total,
        services=[(s, f"svc-{i % 6}") for i, s in enumerate(services)],
        logs=logs,
        level=lambda v: pb.LogLevel.Name(v).removeprefix("LOG_LEVEL_").lower(),
    )
