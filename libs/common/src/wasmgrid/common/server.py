"""The grpc.aio server bootstrap every service uses.

A service implements :class:`Service` (register servicers, open and close its
resources, say whether its dependencies answer). :class:`ServiceRunner` wires
the rest: health (the library HealthServicer, SERVING only while the service is
ready), reflection, metrics/logging/error-mapping interceptors, tracing,
message-size and concurrency limits, the `/metrics` port, and graceful
shutdown (NOT_SERVING → drain in-flight RPCs → stop within the grace).
:func:`run` is what a service's ``__main__`` calls.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import errno
import inspect
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

import asyncpg
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from wasmgrid.common.errors import ServiceError
from wasmgrid.common.logs import configure_logging, current_trace_ids
from wasmgrid.common.metrics import (
    GRPC_HANDLED,
    GRPC_IN_FLIGHT,
    GRPC_LATENCY,
    GRPC_STARTED,
    SERVICE_UP,
    MetricsServer,
)
from wasmgrid.common.settings import ServiceSettings, load_settings
from wasmgrid.common.telemetry import setup_telemetry, shutdown_telemetry, start_span

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

    @abc.abstractmethod
    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        """Add servicers to `server`; return their full names (for health and reflection)."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open resources (pools, clients, worker threads) before serving."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Release resources after the server has stopped."""

    async def check_ready(self) -> str | None:
        """None when every dependency answers; otherwise why the service is not ready."""
        return None


#: Failures of a dependency (database, peer service) rather than of the request: a client
#: may retry them elsewhere or later, so they are UNAVAILABLE, not INTERNAL.
_DEPENDENCY_DOWN = (
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,  # a query in flight when PostgreSQL is stopped
)


_TRACER = trace.get_tracer("wasmgrid.common.server")
#: Metadata keys carrying the W3C trace context from the caller.
_PROPAGATED = frozenset({"traceparent", "tracestate", "baggage"})
#: Codes that mark a server span as failed (OpenTelemetry's RPC conventions).
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def _status_of(exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, _DEPENDENCY_DOWN):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(exc, ServiceError):
        return exc.code
    return grpc.StatusCode.INTERNAL


def _split_method(full: str) -> tuple[str, str]:
    _, _, rest = full.partition("/")
    service, _, method = rest.partition("/")
    return service or "unknown", method or "unknown"


class _MethodMetrics:
    """One method's metric children, resolved once instead of by label on every call."""

    def __init__(self, labels: tuple[str, str, str], in_flight: Any) -> None:
        self.labels = labels
        self.started = GRPC_STARTED.labels(*labels)
        self.latency = GRPC_LATENCY.labels(*labels)
        self.in_flight = in_flight
        self.handled: dict[grpc.StatusCode, Any] = {}

    def begin(self) -> float:
        self.started.inc()
        self.in_flight.inc()
        return time.perf_counter()

    def end(self, start: float, code: grpc.StatusCode) -> None:
        self.in_flight.dec()
        self.latency.observe(time.perf_counter() - start)
        handled = self.handled.get(code)
        if handled is None:
            handled = self.handled[code] = GRPC_HANDLED.labels(*self.labels, code.name)
        handled.inc()


class _KitInterceptor:
    """Metrics, a server span, a log line per failed RPC, and ServiceError → status mapping.

    Applied by wrapping each method handler once at registration (see
    :class:`_WrappingServer`), not as a grpc.aio interceptor: the interceptor machinery
    costs about a third of a small RPC's throughput on every call.
    """

    def __init__(self, service: str, *, tracing: bool, untraced: tuple[str, ...] = ()) -> None:
        self.service = service
        self.tracing = tracing
        self.untraced = untraced
        # method -> (the service's handler, our wrapper): built once, not on every call.
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    def wrapped(self, handler: Any, full: str) -> Any:
        """`handler` of method `full` with the kit around it (built once per method)."""
        if handler is None:
            return handler
        cached = self._wrapped.get(full)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, full)
        if len(self._wrapped) < 10_000:  # bounded: method names come from the registry
            self._wrapped[full] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: Any, full: str) -> Any:
        svc, method = _split_method(full)
        if svc.startswith("grpc."):
            return handler  # health and reflection: no wrapping, no metrics noise
        kind = (
            ("bidi_stream" if handler.response_streaming else "client_stream")
            if handler.request_streaming
            else ("server_stream" if handler.response_streaming else "unary")
        )
        labels = (svc, method, kind)
        traced = self.tracing and not svc.startswith(self.untraced)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, labels, traced),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, labels, traced),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, labels, traced),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(handler.stream_stream, labels, traced),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _metrics(self, labels: tuple[str, str, str]) -> _MethodMetrics:
        return _MethodMetrics(labels, GRPC_IN_FLIGHT.labels(self.service))

    @staticmethod
    def _start_span(
        labels: tuple[str, str, str], context: grpc.aio.ServicerContext[Any, Any]
    ) -> tuple[Span, object]:
        carrier = {
            key: value
            for key, value in context.invocation_metadata() or ()
            if key in _PROPAGATED and isinstance(value, str)
        }
        parent = extract(carrier) if carrier else None
        span = start_span(
            _TRACER,
            f"/{labels[0]}/{labels[1]}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": labels[0], "rpc.method": labels[1]},
        )
        return span, otel_context.attach(trace.set_span_in_context(span, parent))

    @staticmethod
    def _end_span(traced: tuple[Span, object], code: grpc.StatusCode) -> None:
        span, token = traced
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code in _SERVER_ERRORS:
            span.set_status(Status(StatusCode.ERROR, code.name))
        span.end()
        otel_context.detach(token)  # type: ignore[arg-type]

    async def _fail(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        labels: tuple[str, str, str],
        exc: BaseException,
    ) -> grpc.StatusCode:
        if isinstance(exc, _DEPENDENCY_DOWN):
            log.warning("rpc %s/%s: dependency unavailable: %r", labels[0], labels[1], exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"a dependency is unavailable: {exc}")
        if isinstance(exc, ServiceError):
            log.info(
                "rpc %s/%s refused: %s",
                labels[0],
                labels[1],
                exc.message,
                extra={"grpc_code": exc.code.name},
            )
            await context.abort(exc.code, exc.message, trailing_metadata=exc.trailers)
        trace_id, _ = current_trace_ids()
        log.error("rpc %s/%s failed", labels[0], labels[1], exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (trace id {trace_id})")
        raise AssertionError("unreachable")  # abort always raises

    @staticmethod
    def _code_of(context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
        code = context.code()
        if isinstance(code, grpc.StatusCode):
            return code
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return status
        return grpc.StatusCode.OK

    def _wrap_unary(self, behavior: Any, labels: tuple[str, str, str], traced: bool) -> Any:
        metrics = self._metrics(labels)

        async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            start = metrics.begin()
            span = self._start_span(labels, context) if traced else None
            code = grpc.StatusCode.UNKNOWN
            try:
                result = await behavior(request, context)
                code = self._code_of(context)
                return result
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except grpc.aio.AbortError:
                code = self._code_of(context)
                raise
            except Exception as exc:  # mapped to a status, logged with its traceback
                code = _status_of(exc)
                if span is not None and code == grpc.StatusCode.INTERNAL:
                    span[0].record_exception(exc)
                await self._fail(context, labels, exc)
            finally:
                metrics.end(start, code)
                if span is not None:
                    self._end_span(span, code)

        return wrapper

    def _wrap_stream(self, behavior: Any, labels: tuple[str, str, str], traced: bool) -> Any:
        if not inspect.isasyncgenfunction(behavior):
            # A coroutine that writes with context.write(): same shape as unary.
            return self._wrap_unary(behavior, labels, traced)
        metrics = self._metrics(labels)

        async def wrapper(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            start = metrics.begin()
            span = self._start_span(labels, context) if traced else None
            code = grpc.StatusCode.UNKNOWN
            try:
                async for item in behavior(request, context):
                    yield item
                code = self._code_of(context)
            except (asyncio.CancelledError, GeneratorExit):
                code = grpc.StatusCode.CANCELLED
                raise
            except grpc.aio.AbortError:
                code = self._code_of(context)
                raise
            except Exception as exc:  # mapped to a status, logged with its traceback
                code = _status_of(exc)
                if span is not None and code == grpc.StatusCode.INTERNAL:
                    span[0].record_exception(exc)
                await self._fail(context, labels, exc)
            finally:
                metrics.end(start, code)
                if span is not None:
                    self._end_span(span, code)

        return wrapper


class _WrappedGenericHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    def __init__(self, inner: Any, kit: _KitInterceptor) -> None:
        self.inner = inner
        self.kit = kit

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = self.inner.service(handler_call_details)
        return self.kit.wrapped(handler, handler_call_details.method)


class _WrappingServer:
    """What `Service.register` sees: the server, with every handler it adds wrapped."""

    def __init__(self, server: grpc.aio.Server, kit: _KitInterceptor) -> None:
        self._server = server
        self._kit = kit

    def add_generic_rpc_handlers(self, handlers: Sequence[Any]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_WrappedGenericHandler(h, self._kit) for h in handlers)
        )

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        wrapped = {m: self._kit.wrapped(h, f"/{service}/{m}") for m, h in handlers.items()}
        self._server.add_registered_method_handlers(service, wrapped)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


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
        kit = _KitInterceptor(
            self.service.name, tracing=self.tracing, untraced=self.service.untraced_prefixes
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
        self._names = list(self.service.register(_WrappingServer(server, kit)))  # type: ignore[arg-type]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            [*self._names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
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
            await asyncio.sleep(self.settings.readiness_interval_seconds)
            await self._update_readiness()

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING → stop accepting → let in-flight RPCs finish within grace → close."""
        if self._stopping:
            return
        self._stopping = True
        grace = self.settings.grace_seconds if grace is None else grace
        log.info("%s shutting down (grace %.1fs)", self.service.name, grace)
        if self._readiness is not None:
            self._readiness.cancel()
            # Bounded: a readiness check stuck in a dependency must not hold up shutdown.
            await asyncio.wait(
                [self._readiness], timeout=self.settings.readiness_interval_seconds * 2
            )
        await self.health.enter_graceful_shutdown()
        SERVICE_UP.labels(self.service.name).set(0)
        if self.settings.drain_seconds:
            # Still serving, but NOT_SERVING: calls that arrive after server.stop() begins
            # are cancelled by grpc, so let health-checking clients move away first.
            await asyncio.sleep(self.settings.drain_seconds)
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
    serve_metrics: bool = True,
) -> None:
    """Entry point for ``python -m wasmgrid.<svc>``: settings, logging, telemetry, serve."""
    settings = load_settings(settings_cls)
    configure_logging(name, settings.log_level, json_lines=settings.log_json)
    setup_telemetry(f"wasmgrid-{name}")
    runner = ServiceRunner(factory(settings), settings, serve_metrics=serve_metrics)
    with exit_on_startup_error(name):
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
