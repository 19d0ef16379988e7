"""The aiohttp application: the edge around every route, the fixed API, probes and custom routes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import grpc
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import AbstractResource
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from wasmgrid.common.errors import ServiceError
from wasmgrid.common.lru import LruMap
from wasmgrid.common.metrics import LATENCY_BUCKETS
from wasmgrid.common.tasks import cancel_and_wait
from wasmgrid.common.telemetry import start_span
from wasmgrid.gateway.api import OPERATIONS, json_response
from wasmgrid.gateway.invoke import Target, serve, target_for_route
from wasmgrid.gateway.openapi import Operation, build_document
from wasmgrid.gateway.problem import Problem, service_problem, upstream_problem
from wasmgrid.gateway.routes import RESERVED_PAGES, RESERVED_PREFIXES, RouteTable
from wasmgrid.gateway.state import GATEWAY, Gateway
from wasmgrid.gateway.web import PAGES

log = logging.getLogger(__name__)
access_log = logging.getLogger("wasmgrid.gateway.access")
tracer = trace.get_tracer("wasmgrid.gateway")

HTTP_REQUESTS = Counter(
    "wasmgrid_gateway_http_requests_total",
    "HTTP requests, by route name, method and status class.",
    ["route", "method", "status_class"],
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
#: The catch-all resource behind which the routes file's routes are matched.
CUSTOM_ROUTES = web.AppKey("custom_routes", AbstractResource)
#: The metrics/log label of a request matched to a custom route.
ROUTE_LABEL = web.RequestKey("route_label", str)
#: The catch-all aiohttp path behind which the routes file's routes are matched.
CUSTOM_ROUTES_PATH = "/{custom_route_path:.*}"


def _package_version() -> str:
    try:
        return version("wasmgrid-gateway")
    except PackageNotFoundError:
        return "0.0.0"


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: a healthy runtime and a SERVING marketplace are reachable, not draining."""
    reason = await request.app[GATEWAY].check_ready()
    if reason is not None:
        return Problem(503, reason, headers={"Retry-After": "1"}).response()
    return json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition of this process's registry."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of exactly what this gateway serves now."""
    gw = request.app[GATEWAY]
    doc = build_document(ALL_OPERATIONS, gw.routes.table, version=_package_version())
    return json_response(doc)


PROBE_OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/healthz", "healthz", "Liveness", healthz, "probes"),
    Operation("GET", "/readyz", "readyz", "Readiness (runtime and marketplace)", readyz, "probes"),
    Operation(
        "GET", "/metrics", "metrics", "Prometheus metrics", metrics, "probes", response="text"
    ),
    Operation("GET", "/openapi.json", "openapi", "This document", openapi, "probes"),
)
ALL_OPERATIONS: tuple[Operation, ...] = OPERATIONS + PROBE_OPERATIONS


_RESERVED = tuple(p.rstrip("/") for p in RESERVED_PREFIXES)
_PAGES = frozenset(RESERVED_PAGES) | {p + "/" for p in RESERVED_PAGES}


def _reserved(path: str) -> bool:
    return path.startswith(_RESERVED) or path in _PAGES


async def _reserved_miss(request: web.Request) -> web.HTTPException:
    """404 or 405 for a path under a reserved prefix that no fixed operation serves."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is request.app[CUSTOM_ROUTES]:
            continue
        match, methods = await resource.resolve(request)
        if match is not None:
            return web.HTTPNotFound()  # pragma: no cover - the router would have matched
        allowed |= methods
    if allowed:
        return web.HTTPMethodNotAllowed(request.method, allowed)
    return web.HTTPNotFound()


def _route_target(table: RouteTable, host: str, method: str, path: str) -> tuple[Target, str]:
    """The target and metric label of the route for host/method/path, or 404/405."""
    result = table.match(host, method, path)
    if result.match is None:
        if result.allowed:
            allowed = ", ".join(sorted(result.allowed))
            raise Problem(
                405,
                f"method {method} is not allowed on {path}; allowed: {allowed}",
                headers={"Allow": allowed},
            )
        raise Problem(404, f"no route matches {method} {path}")
    m = result.match
    target = target_for_route(m.route, m.params, m.path_info, m.script_name)
    found = (target, "route:" + m.route.name)
    if not m.params and not m.path_info:  # static: worth remembering (the table's memo)
        table.memo.put((host, method, path), found)
    return found


async def _custom_route(request: web.Request, gw: Gateway) -> tuple[web.StreamResponse, str]:
    table = gw.routes.table
    key = (request.host or "", request.method, request.path)
    target, label = table.memo.get(key) or _route_target(table, *key)
    request[ROUTE_LABEL] = label
    return await serve(gw, request, target), label


async def _dispatch(
    request: web.Request, handler: Handler | None, name: str, gw: Gateway
) -> tuple[web.StreamResponse, str]:
    route = "unmatched" if handler is None else name
    try:
        if handler is None:  # the catch-all: the routes file, or a reserved path's 404/405
            if not _reserved(request.path):
                return await _custom_route(request, gw)
            raise await _reserved_miss(request)
        return await handler(request), route
    except Problem as problem:
        return problem.response(request.path), request.get(ROUTE_LABEL, route)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        if exc.status == 404:
            detail = f"no route matches {request.method} {request.path}"
        elif exc.status == 405:
            detail = f"method {request.method} is not allowed on {request.path}"
        elif exc.status == 413:
            detail = f"request body exceeds the {gw.settings.max_body_bytes}-byte limit"
        return Problem(exc.status, detail, headers=headers).response(request.path), route
    except ServiceError as exc:  # refused by the gateway's own checks (kit errors)
        return service_problem(exc).response(request.path), request.get(ROUTE_LABEL, route)
    except grpc.aio.AioRpcError as err:  # a call not wrapped in upstream_errors: still mapped
        return upstream_problem(err, "upstream").response(), route
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:  # any bug: a 500 problem, logged with its traceback and trace id
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return Problem(500, "internal gateway error; see the gateway log").response(), route


class _RequestMetrics:
    """Metric children by (route, method, status class), resolved once (bounded: a routes
    file may hold thousands of routes)."""

    def __init__(self, limit: int = 4096) -> None:
        self._children: LruMap[tuple[str, str, int], tuple[Any, Any]] = LruMap(limit)

    def observe(self, route: str, method: str, status: int, elapsed: float) -> None:
        key = (route, method, status // 100)
        children = self._children.get(key)
        if children is None:
            children = (
                HTTP_REQUESTS.labels(route, method, f"{key[2]}xx"),
                HTTP_LATENCY.labels(route, method),
            )
            self._children.put(key, children)
        children[0].inc()
        children[1].observe(elapsed)


_REQUEST_METRICS = _RequestMetrics()


def edge(handler: Handler | None, name: str) -> Handler:
    """`handler` (operation `name`; None: the custom-routes catch-all) inside the edge:
    tracing, overload shedding, error → problem+json, metrics and the access log.

    A wrapper per route rather than an aiohttp middleware: a middleware, even an empty
    one, costs a large share of a small request (docs/benchmarks.md).
    """

    async def edge_handler(request: web.Request) -> web.StreamResponse:
        return await _edge(request, handler, name)

    return edge_handler


async def _edge(request: web.Request, handler: Handler | None, name: str) -> web.StreamResponse:
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
        if not probe and gw.in_flight >= gw.settings.max_in_flight:
            HTTP_OVERLOAD.inc()
            response: web.StreamResponse = Problem(
                503,
                f"gateway overloaded: {gw.settings.max_in_flight} requests already in flight",
                headers={"Retry-After": "1"},
            ).response()
            route = "overload"
        else:
            gw.in_flight += 1
            try:
                response, route = await _dispatch(request, handler, name, gw)
            finally:
                gw.in_flight -= 1
        elapsed = time.perf_counter() - start
        method = request.method if request.method in _METHODS else "OTHER"
        _REQUEST_METRICS.observe(route, method, response.status, elapsed)
        if span is not None:
            ctx = span.get_span_context()
            if ctx.is_valid:
                response.headers["X-Trace-Id"] = format(ctx.trace_id, "032x")
            if span.is_recording():
                span.update_name(f"{request.method} {route}")
                span.set_attribute("http.request.method", request.method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", response.status)
                if response.status >= 500:
                    span.set_status(trace.Status(trace.StatusCode.ERROR))
        if gw.settings.access_log and not probe and access_log.isEnabledFor(logging.INFO):
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


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    gw = app[GATEWAY]
    await gw.start()
    watcher = None
    if gw.routes.path is not None:
        watcher = asyncio.create_task(gw.routes.watch(gw.settings.routes_poll_seconds))
    try:
        yield
    finally:
        await cancel_and_wait(watcher)
        await gw.close()


def create_app(gw: Gateway) -> web.Application:
    """The aiohttp app for `gw`: every operation of :data:`ALL_OPERATIONS`, nothing else."""
    app = web.Application(client_max_size=gw.settings.max_body_bytes)
    app[GATEWAY] = gw
    # Read at scrape time: no locked gauge update on every request.
    HTTP_IN_FLIGHT.set_function(lambda: gw.in_flight)
    for op in ALL_OPERATIONS:
        app.router.add_route(op.method, op.path, edge(op.handler, op.name))
    for pg in PAGES:
        app.router.add_get(pg.path, edge(pg.handler, pg.name))  # and HEAD
    # After every fixed operation, so an unmatched path costs no 404 exception in
    # aiohttp's router before the routes file is consulted.
    catch_all = app.router.add_route("*", CUSTOM_ROUTES_PATH, edge(None, "unmatched"))
    assert catch_all.resource is not None
    app[CUSTOM_ROUTES] = catch_all.resource
    app.cleanup_ctx.append(_lifecycle)
    return app
