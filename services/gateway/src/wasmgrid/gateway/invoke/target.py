"""What one request runs (:class:`Target`) and the call being served (:class:`Call`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from aiohttp import web

from wasmgrid.gateway.problem import Problem
from wasmgrid.gateway.routes import NO_MIDDLEWARE, Middleware, ModuleRef, Route, format_args
from wasmgrid.gateway.state import Gateway
from wasmgrid.gateway.upstream import Resolved


@dataclass
class Target:
    """What to run for one request: a module, how, and the route that chose it (if any)."""

    ref: ModuleRef
    mode: str = "command"
    function: str | None = None
    route: Route | None = None
    params: dict[str, str] = field(default_factory=dict)
    path_info: str = ""
    script_name: str = ""
    args: list[str] = field(default_factory=list)

    @property
    def middleware(self) -> Middleware:
        """The route's middleware; none for the fixed ``/v1/run`` and ``/v1/call``."""
        return self.route.middleware if self.route else NO_MIDDLEWARE


@dataclass(slots=True)
class Call:
    """One module call being served, once its middleware admitted it and it is resolved."""

    gw: Gateway
    request: web.Request
    target: Target
    #: The method, query and body the module sees (a local redirect is a bodiless GET).
    method: str
    query: str
    body: bytes
    #: The token's user when the route has auth, else "".
    user: str
    #: ``time.monotonic()`` instant by which the answer is due.
    deadline: float
    resolved: Resolved
    #: ``ns/name@version``, as problems and the ``X-Wasmgrid-Module`` header name it.
    label: str


def parse_module_ref(ns: str, module: str) -> ModuleRef:
    """``{ns}`` and ``{name}[@{req}]`` path segments → ModuleRef (400 naming the segment)."""
    try:
        return ModuleRef.parse(f"{ns}/{unquote(module)}")
    except ValueError as exc:
        raise Problem(400, f"module path segment: {exc}") from None


def target_for_route(route: Route, params: dict[str, str], path_info: str, script: str) -> Target:
    """A Target for a matched custom route."""
    return Target(
        route.module,
        mode=route.mode,
        function=route.function,
        route=route,
        params=params,
        path_info=path_info,
        script_name=script,
        args=format_args(route.args, params),
    )


def target_for_path(gw: Gateway, host: str, method: str, path: str) -> Target | None:
    """The target a gateway-local path names: ``/v1/run/…`` or a custom route."""
    if path.startswith("/v1/run/"):
        parts = path[len("/v1/run/") :].split("/", 2)
        if len(parts) < 2:
            return None
        ref = parse_module_ref(parts[0], parts[1])
        rest = "/" + parts[2] if len(parts) == 3 else ""
        return Target(
            ref,
            path_info=rest,
            script_name=f"/v1/run/{parts[0]}/{parts[1]}",
            args=[],
        )
    result = gw.routes.table.match(host, method, path)
    if result.match is None:
        return None
    m = result.match
    return target_for_route(m.route, m.params, m.path_info, m.script_name)
