"""The gateway as the kit runs it: the HTTP edge, plus a gRPC port that serves health.

:class:`GatewayService` is a kit :class:`~wasmgrid.common.server.Service` whose gRPC
side registers nothing of its own (grpc.health.v1 and reflection come from the kit),
so the dev stack, the monitor and Kubernetes probe all five services the same way.
The kit's shutdown drives the HTTP side too: /readyz turns 503 as health turns
NOT_SERVING, the drain delay lets load balancers notice, then the HTTP listener
closes and in-flight requests finish within the grace.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

import grpc
from aiohttp import web

from wasmgrid.common.server import Service, bind_error
from wasmgrid.gateway.app import create_app
from wasmgrid.gateway.routes import RouteError, RouteStore, load_route_store
from wasmgrid.gateway.settings import GatewaySettings
from wasmgrid.gateway.state import Gateway

log = logging.getLogger("wasmgrid.gateway")
#: The longest request line (method, path and query) the HTTP parser reads. Past it,
#: aiohttp answers its own text/plain 400 before any handler runs, so it must hold every
#: query the OpenAPI document allows at its maximum lengths, percent-encoded (up to 12
#: bytes a character): a search with a 1024-character cursor is 18 KiB. aiohttp's
#: default is 8190; Envoy's header limit is 60 KiB.
MAX_REQUEST_LINE_BYTES = 32 * 1024

#: Beyond the grace: time for the HTTP drain to close connections and clients.
DRAIN_MARGIN_SECONDS = 5.0


class GatewayService(Service):
    """The HTTP site and the gateway's clients, started and stopped with the service."""

    name = "gateway"

    def __init__(
        self, settings: GatewaySettings, routes: RouteStore, *, reload_on_sighup: bool = False
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.reload_on_sighup = reload_on_sighup
        #: Set by `start`: the process state every handler sees, and the aiohttp app.
        self.gateway: Gateway | None = None
        self.app: web.Application | None = None
        self.http_port = 0
        self._runner: web.AppRunner | None = None

    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        return []

    async def start(self) -> None:
        """Open the clients (first runtime health round included), then listen on HTTP."""
        s = self.settings
        self.gateway = Gateway.create(s, self.routes)
        self.app = create_app(self.gateway)
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            shutdown_timeout=s.grace_seconds,
            max_line_size=MAX_REQUEST_LINE_BYTES,
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, s.http_host, s.http_port, backlog=1024, reuse_port=s.reuse_port or None
        )
        try:
            await site.start()
        except OSError as exc:
            raise bind_error("HTTP port", s.http_host, s.http_port, exc) from None
        sockets = getattr(getattr(site, "_server", None), "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else s.http_port
        if self.reload_on_sighup:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.routes.reload)
        log.info("gateway listening", extra={"http_port": self.http_port})

    async def check_ready(self) -> str | None:
        return "starting" if self.gateway is None else await self.gateway.check_ready()

    async def begin_shutdown(self) -> None:
        """/readyz answers 503 from now on, as grpc.health turns NOT_SERVING."""
        if self.gateway is not None:
            self.gateway.draining = True

    async def drain(self, grace: float) -> None:
        """Stop accepting HTTP, let in-flight requests finish within `grace`, close the
        clients. Bounded: a stuck client or upstream cannot hold the process."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            await asyncio.wait_for(runner.cleanup(), grace + DRAIN_MARGIN_SECONDS)
        except TimeoutError:
            log.error(
                "gateway shutdown: the HTTP drain did not finish within %.1fs",
                grace + DRAIN_MARGIN_SECONDS,
            )

    async def stop(self) -> None:
        """Release what is still open (after a failed start, the HTTP side too)."""
        if self.reload_on_sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await self.drain(self.settings.grace_seconds)


def create_service(settings: GatewaySettings) -> GatewayService:
    """The service ``python -m wasmgrid.gateway`` runs: its routes file is loaded first,
    and an invalid one stops the gateway with one line (exit 2, like a bad setting)."""
    try:
        routes = load_route_store(settings.routes_file or None)
    except RouteError as exc:
        print(f"wasmgrid: invalid WASMGRID_GATEWAY_ROUTES_FILE: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return GatewayService(settings, routes, reload_on_sighup=True)
