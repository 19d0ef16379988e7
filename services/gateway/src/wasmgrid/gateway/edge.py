"""The edge around every HTTP route: a server span, overload admission, errors as
problem+json, metrics and the access log.

A wrapper per route rather than an aiohttp middleware: a middleware, even an empty
one, costs a large share of a small request (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web
from aiohttp.typedefs import Handler
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from prometheus_client import Counter, Gauge, Histogram

from wasmgrid.common.errors import ServiceError
from wasmgrid.common.lru import LruMap
from wasmgrid.common.metrics import LATENCY_BUCKETS
from wasmgrid.common.telemetry import start_span
from wasmgrid.gateway.admission import REFUSED, Refused
from wasmgrid.gateway.invoke.middleware import client_ip
from wasmgrid.gateway.problem import FAULT, Problem, fault_of, service_problem, upstream_problem
from wasmgrid.gateway.state import GATEWAY, Gateway

log = logging.getLogger(__name__)
access_log = logging.getLogger("wasmgrid.gateway.access")
tracer = trace.get_tracer("wasmgrid.gateway")

HTTP_REQUESTS = Counter(
    "wasmgrid_gateway_http_requests_total",
    "HTTP requests, by route name, method, status class and fault (none, client, guest:"
    " the module failed, platform: the gateway or a service behind it failed, overload:"
    " refused at once because the gateway was saturated).",
    ["route", "method", "status_class", "fault"],
)
HTTP_LATENCY = Histogram(
    "wasmgrid_gateway_http_request_seconds",
    "HTTP request latency in the gateway, by route name and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge("wasmgrid_gateway_http_in_flight", "HTTP requests being handled now.")
HTTP_OVERLOAD = Counter(
    "wasmgrid_gateway_overload_rejections_total",
    "Requests refused with 503 because max in-flight was reached.",
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
#: The metrics/log label of a request matched to a custom route (set by the catch-all).
ROUTE_LABEL = web.RequestKey("route_label", str)

#: A handler that names the metrics label of what it served (the custom-routes catch-all).
LabelledHandler = Callable[[web.Request], Awaitable[tuple[web.StreamResponse, str]]]


def admission(gw: Gateway) -> Problem | None:
    """None when a request may start now; else the 503 that refuses it at once."""
    if gw.in_flight < gw.settings.max_in_flight:
        return None
    HTTP_OVERLOAD.inc()
    return Problem(
        503,
        f"gateway overloaded: {gw.settings.max_in_flight} requests already in flight",
        headers={"Retry-After": "1"},
        fault="overload",
    )


def edge(handler: Handler, name: str, *, shed: bool = False) -> Handler:
    """`handler` (operation `name`, also its metrics label) inside the edge; with `shed`
    (a module call of the fixed API) refused first when admission would refuse it."""

    async def edge_handler(request: web.Request) -> web.StreamResponse:
        return await _edge(request, handler, None, name)

    async def shedding_edge_handler(request: web.Request) -> web.StreamResponse:
        # Not `or`: a response is a mapping (its own keys), false when it holds none.
        shed = _shed(request, name)
        return shed if shed is not None else await _edge(request, handler, None, name)

    return shedding_edge_handler if shed else edge_handler


def _shed(request: web.Request, name: str) -> web.Response | None:
    """The refusal of a ``/v1/run`` or ``/v1/call`` request that admission would refuse
    anyway (the fixed API's calls have no middleware, so their deadline is the gateway's
    and no cached answer could spare them a slot), answered before the server span, the
    dispatch and the route's own checks. Under overload a client that does not wait its
    ``Retry-After`` is back at once, and the refusals' cost is taken from the admitted
    calls: this way a refusal costs little more than aiohttp's own request handling.
    Counted (metrics, admission counters, the once-a-second summary) like any refusal;
    a request that carries a ``traceparent`` takes the whole edge, so that a traced
    caller finds its refusal's span."""
    if "traceparent" in request.headers:
        return None
    gw = request.app[GATEWAY]
    start = time.perf_counter()
    try:
        gw.admission.check(time.monotonic() + gw.settings.invoke_timeout_seconds)
    except Refused as refused:
        response = refused.response(request.path)
        method = request.method if request.method in _METHODS else "OTHER"
        _REQUEST_METRICS.observe(name, method, 503, "overload", time.perf_counter() - start)
        return response
    return None


def labelled_edge(handler: LabelledHandler, name: str) -> Handler:
    """`handler`, which names its own label (`name` when it fails first), inside the edge."""

    async def edge_handler(request: web.Request) -> web.StreamResponse:
        return await _edge(request, None, handler, name)

    return edge_handler


async def _dispatch(
    request: web.Request,
    handler: Handler | None,
    labelled: LabelledHandler | None,
    name: str,
    gw: Gateway,
) -> tuple[web.StreamResponse, str]:
    """The handler's response and label; any failure as its problem+json."""
    try:
        if labelled is not None:
            return await labelled(request)
        assert handler is not None
        return await handler(request), name
    except Problem as problem:
        return problem.response(request.path), request.get(ROUTE_LABEL, name)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_problem(request, exc, gw).response(request.path), name
    except ServiceError as exc:  # refused by the gateway's own checks (kit errors)
        return service_problem(exc).response(request.path), request.get(ROUTE_LABEL, name)
    except grpc.aio.AioRpcError as err:  # a call not wrapped in upstream_errors: still mapped
        return upstream_problem(err, "upstream").response(), name
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:  # any bug: a 500 problem, logged with its traceback and trace id
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return Problem(500, "internal gateway error; see the gateway log").response(), name


def _http_problem(request: web.Request, exc: web.HTTPException, gw: Gateway) -> Problem:
    """aiohttp's own 4xx/5xx (no route, method not allowed, body too large) as a problem."""
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
    if exc.status == 404:
        detail = f"no route matches {request.method} {request.path}"
    elif exc.status == 405:
        detail = f"method {request.method} is not allowed on {request.path}"
    elif exc.status == 413:
        detail = f"request body exceeds the {gw.settings.max_body_bytes}-byte limit"
    return Problem(exc.status, detail, headers=headers)


class _RequestMetrics:
    """Metric children by (route, method, status class, fault), resolved once (bounded: a
    routes file may hold thousands of routes)."""

    def __init__(self, limit: int = 4096) -> None:
        self._children: LruMap[tuple[str, str, int, str], tuple[Any, Any]] = LruMap(limit)

    def observe(self, route: str, method: str, status: int, fault: str, elapsed: float) -> None:
        key = (route, method, status // 100, fault)
        children = self._children.get(key)
        if children is None:
            children = (
                HTTP_REQUESTS.labels(route, method, f"{key[2]}xx", fault),
                HTTP_LATENCY.labels(route, method),
            )
            self._children.put(key, children)
        children[0].inc()
        children[1].observe(elapsed)


_REQUEST_METRICS = _RequestMetrics()


def _client(request: web.Request, gw: Gateway) -> str:
    return client_ip(request, gw.settings.trust_forwarded_for)


async def _edge(  # noqa: C901 - the request's whole edge: admission, dispatch, metrics, log
    request: web.Request,
    handler: Handler | None,
    labelled: LabelledHandler | None,
    name: str,
) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    start = time.perf_counter()
    path = request.path
    probe = path in _PROBES
    span: trace.Span | None = None
    token: object = None
    if not probe:
        headers = request.headers
        parent = extract(headers) if "traceparent" in headers or "baggage" in headers else None
        # Named "METHOD route" once the route is known.
        span = start_span(tracer, "HTTP", context=parent, kind=trace.SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
    try:
        refused = None if probe else admission(gw)
        route = "overload"
        if refused is None and "Authorization" in request.headers:
            refused = gw.auth_guard.refusal(_client(request, gw))
            route = "auth_blocked"
        if refused is not None:
            response: web.StreamResponse = refused.response()
        else:
            gw.in_flight += 1
            try:
                response, route = await _dispatch(request, handler, labelled, name, gw)
            finally:
                gw.in_flight -= 1
        if response.status == 401:
            await gw.auth_guard.failed(_client(request, gw))
        elapsed = time.perf_counter() - start
        method = request.method if request.method in _METHODS else "OTHER"
        fault = response.get(FAULT) or fault_of(response.status)
        # A module call refused by admission: counted, but neither an error trace kept at
        # the tail nor an access-log line each (the admission logs a summary once a second).
        shed = response.get(REFUSED)
        _REQUEST_METRICS.observe(route, method, response.status, fault, elapsed)
        if span is not None:
            ctx = span.get_span_context()
            if ctx.is_valid:
                response.headers["X-Trace-Id"] = format(ctx.trace_id, "032x")
            if span.is_recording():
                span.update_name(f"{request.method} {route}")
                span.set_attribute("http.request.method", request.method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", response.status)
                if shed is not None:
                    span.set_attribute("wasmgrid.refused", shed)
                elif response.status >= 500:
                    span.set_attribute("wasmgrid.fault", fault)
                    span.set_status(trace.Status(trace.StatusCode.ERROR))
        if (
            gw.settings.access_log
            and not probe
            and shed is None
            and access_log.isEnabledFor(logging.INFO)
        ):
            access_log.info(
                "%s %s %d",
                request.method,
                path,
                response.status,
                extra={
                    "http_method": request.method,
                    "path": path[:256],
                    "route": route,
                    "status": response.status,
                    "fault": fault,
                    "duration_ms": round(elapsed * 1000, 3),
                    "bytes": response.content_length,
                    "remote": request.remote,
                    "x_cache": response.headers.get("X-Cache"),
                },
            )
        return response
    finally:
        if span is not None:
            span.end()
            otel_context.detach(token)  # type: ignore[arg-type]
