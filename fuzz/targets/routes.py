"""Fuzz target: the gateway's routes file (`parse_routes`) and the table it builds.

The input is the file's text (UTF-8, undecodable bytes replaced: the gateway refuses a
file that is not UTF-8 before parsing). The only error a caller handles is
:class:`RouteError` (the store keeps the previous table and logs why). Properties:

- ``routes.describe``: ``GET /v1/routes`` can serialise every route to JSON.
- ``routes.unreachable``: a request built from a route's own host, method and path
  matches a route (the route itself, or a more specific one).
"""

from __future__ import annotations

import json

from fuzz.oracle import require
from wasmgrid.gateway.routes import Route, RouteError, RouteTable, parse_routes


def _request_for(route: Route) -> tuple[str, str, str]:
    """A (host, method, path) the route matches."""
    host = "any.example"
    if route.host is not None:
        host = "a" + route.host[1:] if route.host.startswith("*.") else route.host
    method = min(route.methods) if route.methods else "GET"
    parts = ["p" if s.startswith("{") else s for s in route.path.segments]
    path = "/" + "/".join(parts)
    if route.path.prefix:
        path = path.rstrip("/") + "/rest"
    return host, method, path


def check(data: bytes) -> None:
    """Load `data` as a routes file; match a request for each route it accepts."""
    try:
        table: RouteTable = parse_routes(data.decode("utf-8", "replace"))
    except RouteError as exc:
        require(bool(str(exc)), "routes.error-message", "a RouteError without a message")
        return
    try:
        json.dumps([r.describe() for r in table.routes])
    except (TypeError, ValueError) as exc:
        require(False, "routes.describe", f"GET /v1/routes cannot serialise: {exc}")
    for route in table.routes:
        host, method, path = _request_for(route)
        found = table.match(host, method, path)
        require(
            found.match is not None,
            "routes.unreachable",
            f"{method} {host}{path} matches no route, though route {route.name!r} accepts it",
        )
