"""The aiohttp application: the fixed operations, the web pages, the probes and the
custom routes behind a catch-all, each inside the :mod:`~wasmgrid.gateway.edge`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wasmgrid.common.tasks import cancel_and_wait
from wasmgrid.gateway.api import OPERATIONS, json_response
from wasmgrid.gateway.edge import HTTP_IN_FLIGHT, ROUTE_LABEL, edge, labelled_edge
from wasmgrid.gateway.invoke import Target, serve, target_for_route
from wasmgrid.gateway.openapi import Operation, build_document
from wasmgrid.gateway.problem import Problem
from wasmgrid.gateway.routes import RESERVED_PAGES, RESERVED_PREFIXES, RouteTable
from wasmgrid.gateway.state import GATEWAY, Gateway
from wasmgrid.gateway.web import PAGES

#: The catch-all resource behind which the routes file's routes are matched.
CUSTOM_ROUTES = web.AppKey("custom_routes", AbstractResource)
#: The catch-all aiohttp path behind which the routes file's routes are matched;
#: ``[\s\S]``, not ``.``: a path may hold a newline (%0A), which ``.`` does not match,
#: and aiohttp would answer its own text/plain 404 instead of a problem document.
CUSTOM_ROUTES_PATH = "/{custom_route_path:[\\s\\S]*}"


def _package_version() -> str:
    try:
        return version("wasmgrid-gateway")
    except PackageNotFoundError:
        return "0.0.0"


# ------------------------------------------------------------------ probes


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
    """Prometheus exposition of this process's registry, rendered in a worker thread: it
    takes 4-29 ms with a loaded gateway's series (measured under overload, 2026-12-06),
    and on the event loop that would be a stall of every request in flight; in a thread
    the loop gets the GIL back at least every switch interval (5 ms)."""
    body = await asyncio.to_thread(generate_latest)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


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


# ------------------------------------------------------------------ custom routes

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


async def custom_routes(request: web.Request) -> tuple[web.StreamResponse, str]:
    """The catch-all: a route of the routes file, or a reserved path's 404/405.

    Registered after every fixed operation, so the fixed API keeps its own 404/405
    answers and a routes file cannot shadow it.
    """
    if _reserved(request.path):
        raise await _reserved_miss(request)
    gw = request.app[GATEWAY]
    table = gw.routes.table
    key = (request.host or "", request.method, request.path)
    target, label = table.memo.get(key) or _route_target(table, *key)
    request[ROUTE_LABEL] = label
    return await serve(gw, request, target), label


# ------------------------------------------------------------------ the app


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
    """The aiohttp app for `gw`: every operation of :data:`ALL_OPERATIONS`, the pages and
    the custom routes, nothing else."""
    app = web.Application(client_max_size=gw.settings.max_body_bytes)
    app[GATEWAY] = gw
    # Read at scrape time: no locked gauge update on every request.
    HTTP_IN_FLIGHT.set_function(lambda: gw.in_flight)
    for op in ALL_OPERATIONS:
        app.router.add_route(op.method, op.path, edge(op.handler, op.name, shed=op.shed_first))
    for pg in PAGES:
        app.router.add_get(pg.path, edge(pg.handler, pg.name))  # and HEAD
    # After every fixed operation, so an unmatched path costs no 404 exception in
    # aiohttp's router before the routes file is consulted.
    catch_all = app.router.add_route(
        "*", CUSTOM_ROUTES_PATH, labelled_edge(custom_routes, "unmatched")
    )
    assert catch_all.resource is not None
    app[CUSTOM_ROUTES] = catch_all.resource
    app.cleanup_ctx.append(_lifecycle)
    return app
