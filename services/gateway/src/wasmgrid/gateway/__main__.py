"""``python -m wasmgrid.gateway``: the HTTP edge plus its gRPC health port, one event loop.

SIGTERM/SIGINT: /readyz and grpc.health go NOT_SERVING → (optional delay so load
balancers notice) → stop accepting → in-flight HTTP requests drain within the
grace → clients close → exit 0. SIGHUP reloads the routes file.
"""

from __future__ import annotations

from wasmgrid.common import grpc_tuning, startup

startup.exit_on_sigterm()  # as PID 1, until the service's own handler is installed
grpc_tuning.apply()  # before anything imports grpc

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

import grpc
from aiohttp import web

from wasmgrid.common.logs import configure_logging
from wasmgrid.common.server import (
    Service,
    ServiceRunner,
    bind_error,
    exit_on_startup_error,
    run_on_loop,
)
from wasmgrid.common.settings import load_settings
from wasmgrid.common.telemetry import setup_telemetry
from wasmgrid.gateway.app import create_app
from wasmgrid.gateway.routes import RouteError, load_route_store
from wasmgrid.gateway.settings import GatewaySettings
from wasmgrid.gateway.state import Gateway

log = logging.getLogger("wasmgrid.gateway")


class GatewayHealth(Service):
    """The gateway's gRPC face: only grpc.health.v1, SERVING while the gateway is ready."""

    name = "gateway"

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        return []

    async def check_ready(self) -> str | None:
        return await self.gateway.check_ready()


class GatewayServer:
    """The HTTP site and the health runner, started and stopped together (also for tests)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.app = create_app(gateway)
        self.runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=gateway.settings.grace_seconds
        )
        self.health = ServiceRunner(GatewayHealth(gateway), gateway.settings, serve_metrics=False)
        self.http_port = 0

    async def start(self) -> None:
        """Listen on HTTP, then the health port; a failure closes what was opened."""
        s = self.gateway.settings
        await self.runner.setup()
        try:
            site = web.TCPSite(self.runner, s.http_host, s.http_port, backlog=1024)
            try:
                await site.start()
            except OSError as exc:
                raise bind_error("HTTP port", s.http_host, s.http_port, exc) from None
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            self.http_port = sockets[0].getsockname()[1] if sockets else s.http_port
            await self.health.start()
        except BaseException:
            await self.runner.cleanup()
            raise
        log.info(
            "gateway listening",
            extra={"http_port": self.http_port, "grpc_port": self.health.grpc_port},
        )

    async def stop(self) -> None:
        """NOT_SERVING → delay → drain HTTP within the grace → stop health → exit.

        Every step is bounded: a stuck client or upstream cannot hold the process past
        the grace (plus a few seconds for closing channels).
        """
        s = self.gateway.settings
        self.gateway.draining = True
        await self.health.health.enter_graceful_shutdown()
        if s.shutdown_delay_seconds:
            await asyncio.sleep(s.shutdown_delay_seconds)
        await self._bounded("HTTP drain", self.runner.cleanup(), s.grace_seconds + 5)
        await self._bounded("health server stop", self.health.stop(grace=1.0), 5)

    @staticmethod
    async def _bounded(what: str, step: Coroutine[Any, Any, None], seconds: float) -> None:
        try:
            await asyncio.wait_for(step, seconds)
        except TimeoutError:
            log.error("gateway shutdown: %s did not finish within %.1fs", what, seconds)


async def _serve(settings: GatewaySettings) -> None:
    try:
        routes = load_route_store(settings.routes_file or None)
    except RouteError as exc:
        print(f"wasmgrid: invalid WASMGRID_GATEWAY_ROUTES_FILE: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    server = GatewayServer(Gateway.create(settings, routes))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, routes.reload)
    await server.start()
    await stop.wait()
    log.info("gateway shutting down (grace %.1fs)", settings.grace_seconds)
    await server.stop()
    log.info("gateway stopped")


def main() -> None:
    """Entry point."""
    settings = load_settings(GatewaySettings)
    configure_logging("gateway", settings.log_level, json_lines=settings.log_json)
    setup_telemetry("wasmgrid-gateway")
    with exit_on_startup_error("gateway"):
        run_on_loop(_serve(settings), settings.event_loop)


if __name__ == "__main__":
    main()
