"""The grpc.aio server bootstrap every service uses.

A service implements :class:`Service` (register servicers, open and close its
resources, say whether its dependencies answer). :class:`ServiceRunner` wires
the rest: health (the library HealthServicer, SERVING only while the service is
ready), reflection, every method handler instrumented (metrics, spans, logs
and error mapping: :mod:`wasmgrid.common.handlers`), message-size and
concurrency limits, the `/metrics` port, and graceful shutdown (NOT_SERVING →
drain in-flight RPCs → stop within the grace). :func:`run` is what a service's ``__main__`` calls.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from wasmgrid.common import gc_tuning
from wasmgrid.common.handlers import HandlerInstrumentation, InstrumentedServer
from wasmgrid.common.logs import configure_logging
from wasmgrid.common.metrics import EVENT_LOOP_TASKS, SERVICE_UP, MetricsServer
from wasmgrid.common.settings import ServiceSettings, load_settings
from wasmgrid.common.telemetry import setup_telemetry, shutdown_telemetry

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)
T = TypeVar("T")


#: Exit code of a process that could not start (a port taken, a resource it cannot open):
#: retrying the same command will fail the same way, so supervisors stop instead of looping.
EXIT_CANNOT_START = 3

#: grpc.health.v1 service name that answers SERVING from the moment the server serves
#: until shutdown, whatever the dependencies: a liveness probe (Kubernetes ``grpc.service``)
#: asks this one, so a database outage makes a replica unready but never restarts it.
LIVENESS_SERVICE = "liveness"


class StartupError(Exception):
    """The service cannot start; the message names what and why, for one log line."""


def bind_error(what: str, host: str, port: int, cause: BaseException | None = None) -> StartupError:
    """Why `host:port` cannot be bound, probed with a plain socket when `cause` has no errno.

    grpc only says "Failed to bind"; the probe recovers the kernel's reason (in use,
    not permitted, no such address) so the operator reads it in one line.
    """
    code = getattr(cause, "errno", None)
    if code is None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                code = exc.errno
    reason = os.strerror(code) if code else f"{cause}" if cause else "bind failed"
    hint = " (another process holds it; pick another port)" if code == errno.EADDRINUSE else ""
    return StartupError(f"cannot bind {what} {host}:{port}: {reason}{hint}")


class Service(abc.ABC):
    """One wasmgrid service as the runner sees it."""

    #: Short name: "runtime", "marketplace", … (used in logs, metrics, health).
    name: ClassVar[str]
    #: Full gRPC service-name prefixes that get no server spans (e.g. an OTLP receiver,
    #: whose own spans would otherwise be exported back to itself forever).
    untraced_prefixes: ClassVar[tuple[str, ...]] = ()
    #: Exceptions of this service's dependencies, beyond the kit's (lost connections,
    #: PostgreSQL going away), that mean "retry later": answered UNAVAILABLE, not INTERNAL.
    unavailable_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    @abc.abstractmethod
    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        """Add servicers to `server`; return their full names (for health and reflection)."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open resources (pools, clients, worker threads) before serving."""

    async def begin_shutdown(self) -> None:  # noqa: B027 - optional hook
        """Shutdown began: report not ready from now on (health turns NOT_SERVING next)."""

    async def drain(self, grace: float) -> None:  # noqa: B027 - optional hook
        """Stop listeners of the service's own (an HTTP site) and let their in-flight work
        finish within `grace`; runs after the drain delay, while the gRPC port still
        answers health checks (NOT_SERVING)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Release resources after the server has stopped."""

    async def check_ready(self) -> str | None:
        """None when every dependency answers; otherwise why the service is not ready."""
        return None


class ServiceRunner:
    """Runs one :class:`Service` on a grpc.aio server (used by `run` and by tests)."""

    def __init__(
        self,
        service: Service,
        settings: ServiceSettings,
        *,
        serve_metrics: bool = True,
        tracing: bool = True,
    ) -> None:
        self.service = service
        self.settings = settings
        self.serve_metrics = serve_metrics
        self.tracing = tracing
        self.health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self.grpc_port = 0
        self.metrics_port = 0
        self._server: grpc.aio.Server | None = None
        self._metrics: MetricsServer | None = None
        self._names: list[str] = []
        self._readiness: asyncio.Task[None] | None = None
        self._ready: bool | None = None
        self._stopping = False

    @property
    def address(self) -> str:
        """``host:port`` of the gRPC server."""
        return f"{self.settings.host}:{self.grpc_port}"

    @property
    def ready(self) -> bool:
        """Whether the service last reported SERVING."""
        return bool(self._ready)

    async def start(self) -> None:
        """Bind the ports, open the service's resources, start serving and the readiness loop.

        Ports are bound first, so a port in use fails (:class:`StartupError`) before any
        pool or client is open; a service whose own start fails is stopped again, so what
        it opened is released before the error propagates.
        """
        s = self.settings
        kit = HandlerInstrumentation(
            self.service.name,
            tracing=self.tracing,
            untraced=self.service.untraced_prefixes,
            unavailable=self.service.unavailable_errors,
        )
        server = grpc.aio.server(
            options=[
                ("grpc.max_send_message_length", s.max_message_bytes),
                ("grpc.max_receive_message_length", s.max_message_bytes),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.so_reuseport", 1 if self._reuse_port() else 0),
            ],
            maximum_concurrent_rpcs=s.max_concurrent_rpcs,
        )
        instrumented: Any = InstrumentedServer(server, kit)
        self._names = list(self.service.register(instrumented))
        # Health is added to the bare server: probes stay out of the RPC metrics.
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            [*self._names, health.SERVICE_NAME, reflection.SERVICE_NAME], instrumented
        )
        for name in ["", *self._names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        started = False
        try:
            self._bind(server)
            started = True
            await self.service.start()
        except BaseException:
            await self._abandon_start(server, stop_service=started)
            raise
        await server.start()
        self._server = server
        await self.health.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        await self._update_readiness()
        self._readiness = asyncio.create_task(self._readiness_loop())
        log.info(
            "%s serving",
            self.service.name,
            extra={"grpc_port": self.grpc_port, "metrics_port": self.metrics_port},
        )

    def _bind(self, server: grpc.aio.Server) -> None:
        s = self.settings
        try:
            self.grpc_port = server.add_insecure_port(f"{s.host}:{s.grpc_port}")
        except RuntimeError as exc:  # grpc >= 1.60 raises instead of returning 0
            raise bind_error("gRPC port", s.host, s.grpc_port, exc) from None
        if self.grpc_port == 0:
            raise bind_error("gRPC port", s.host, s.grpc_port)
        if self.serve_metrics:
            try:
                self._metrics = MetricsServer(s.host, s.metrics_port)
            except OSError as exc:
                raise bind_error("metrics port", s.host, s.metrics_port, exc) from None
            self.metrics_port = self._metrics.port

    async def _abandon_start(self, server: grpc.aio.Server, *, stop_service: bool) -> None:
        """Release what a failed start opened: the service's part, the metrics port and
        the gRPC port. A grpc.aio server that never started keeps its port until the
        process exits; started for an instant and stopped with no grace, it lets go."""
        if self.grpc_port:
            await server.start()
            await server.stop(None)
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        if stop_service:
            try:
                await self.service.stop()
            except Exception:
                log.exception("%s: releasing resources after a failed start", self.service.name)

    def _reuse_port(self) -> bool:
        return bool(getattr(self.settings, "reuse_port", False))

    async def _update_readiness(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # races with the check finishing, and stop() would then wait for the loop forever.
        try:
            async with asyncio.timeout(self.settings.readiness_interval_seconds * 2):
                reason = await self.service.check_ready()
        except (TimeoutError, OSError) as exc:
            reason = f"readiness check failed: {exc!r}"
        ready = reason is None
        if self._stopping:
            return
        if ready != self._ready:
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if ready
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in ["", *self._names]:
                await self.health.set(name, status)
            SERVICE_UP.labels(self.service.name).set(1 if ready else 0)
            if ready:
                log.info("%s ready: SERVING", self.service.name)
            else:
                log.warning("%s not ready: %s", self.service.name, reason)
            self._ready = ready

    async def _readiness_loop(self) -> None:
        while not self._stopping:
            EVENT_LOOP_TASKS.labels(self.service.name).set(len(asyncio.all_tasks()))
            gc_tuning.record_pauses()
            await asyncio.sleep(self.settings.readiness_interval_seconds)
            await self._update_readiness()

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING → drain delay → the service's own drain → stop accepting → let
        in-flight RPCs finish within grace → close."""
        if self._stopping:
            return
        self._stopping = True
        grace = self.settings.grace_seconds if grace is None else grace
        log.info(
            "%s shutting down: NOT_SERVING, drain %.1fs, then in-flight RPCs within %.1fs",
            self.service.name,
            self.settings.drain_seconds,
            grace,
        )
        if self._readiness is not None:
            self._readiness.cancel()
            # Bounded: a readiness check stuck in a dependency must not hold up shutdown.
            await asyncio.wait(
                [self._readiness], timeout=self.settings.readiness_interval_seconds * 2
            )
        await self.service.begin_shutdown()
        await self.health.enter_graceful_shutdown()
        SERVICE_UP.labels(self.service.name).set(0)
        if self.settings.drain_seconds:
            # Still serving, but NOT_SERVING: calls that arrive after server.stop() begins
            # are cancelled by grpc, so let health-checking clients move away first.
            await asyncio.sleep(self.settings.drain_seconds)
        await self.service.drain(grace)
        if self._server is not None:
            await self._server.stop(grace)
        await self.service.stop()
        if self._metrics is not None:
            self._metrics.close()
        log.info("%s stopped", self.service.name)

    async def wait_for_termination(self) -> None:
        """Block until the server stops."""
        if self._server is not None:
            await self._server.wait_for_termination()


async def serve_until_signal(runner: ServiceRunner) -> None:
    """Start `runner`, then on SIGTERM/SIGINT shut it down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runner.start()
    # What startup built lives as long as the process: out of the collector's walks.
    frozen = gc_tuning.freeze_startup_heap(runner.service.name)
    gc_tuning.watch_pauses()
    log.info("startup heap frozen: %d objects", frozen)
    await stop.wait()
    await runner.stop()


def run_on_loop(main: Coroutine[Any, Any, T], event_loop: str) -> T:
    """Run `main` to completion on a new loop of the kind `event_loop` names.

    ``uvloop`` (libuv) is the default for the services: its sockets, timers and
    callbacks cost less than asyncio's own loop, which an edge and a gRPC server
    spend most of their time in. grpc.aio only needs ``call_soon_threadsafe`` and file
    descriptor readers from the loop, which both provide.
    """
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if event_loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def run(
    name: str,
    settings_cls: type[S],
    factory: Callable[[S], Service],
    *,
    serve_metrics: bool | Callable[[S], bool] = True,
) -> None:
    """Entry point for ``python -m wasmgrid.<svc>``: settings, logging, telemetry, serve.

    `serve_metrics` says whether the kit serves ``/metrics`` on ``metrics_port``, or
    decides it from the settings.
    """
    settings = load_settings(settings_cls)
    configure_logging(name, settings.log_level, json_lines=settings.log_json)
    setup_telemetry(f"wasmgrid-{name}")
    metrics = serve_metrics(settings) if callable(serve_metrics) else serve_metrics
    with exit_on_startup_error(name):
        runner = ServiceRunner(factory(settings), settings, serve_metrics=metrics)
        run_on_loop(serve_until_signal(runner), settings.event_loop)


@contextlib.contextmanager
def exit_on_startup_error(name: str) -> Iterator[None]:
    """Around a service's main: telemetry flushed at exit, and a :class:`StartupError` as one
    error line (log and stderr) and exit code :data:`EXIT_CANNOT_START` instead of a
    traceback."""
    try:
        yield
    except StartupError as exc:
        log.error("%s cannot start: %s", name, exc)
        print(f"wasmgrid {name}: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CANNOT_START) from None
    finally:
        shutdown_telemetry()
