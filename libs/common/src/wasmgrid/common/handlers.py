"""Each gRPC method handler of a service, wrapped once with what every RPC gets.

Metrics (started, handled by code, latency, in flight), a server span continuing the
caller's W3C trace context, a log line for each failed RPC, and the mapping of
exceptions to status codes: a :class:`ServiceError` to its code, a lost dependency to
UNAVAILABLE, anything else to INTERNAL with the trace id (and a traceback in the log).

The handlers are wrapped at registration, not by a grpc.aio interceptor: the
interceptor machinery costs about a third of a small RPC's throughput on every call.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from wasmgrid.common.errors import ServiceError
from wasmgrid.common.logs import current_trace_ids
from wasmgrid.common.lru import LruMap
from wasmgrid.common.metrics import GRPC_HANDLED, GRPC_IN_FLIGHT, GRPC_LATENCY, GRPC_STARTED
from wasmgrid.common.telemetry import start_span

log = logging.getLogger("wasmgrid.common.server")

#: Failures of a dependency (database, peer service) rather than of the request: a client
#: may retry them elsewhere or later, so they are UNAVAILABLE, not INTERNAL. A service
#: adds its own (:attr:`Service.unavailable_errors`).
DEPENDENCY_DOWN: tuple[type[BaseException], ...] = (
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,  # a query in flight when PostgreSQL is stopped
    # A pooled connection whose server went away mid-teardown: asyncpg's protocol then
    # refuses the next statement ("cannot switch to state 15; another operation is in
    # progress"), seen once per PostgreSQL restart under publishes in `make reliability`.
    asyncpg.InternalClientError,
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


#: Status codes by their numeric value (a handler may set an int with set_code).
_CODES = {status.value[0]: status for status in grpc.StatusCode}


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


class HandlerInstrumentation:
    """Wraps one service's method handlers (see the module docstring); each handler is
    wrapped once, when grpc first asks for it, not on every call."""

    def __init__(
        self,
        service: str,
        *,
        tracing: bool,
        untraced: tuple[str, ...] = (),
        unavailable: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.service = service
        self.tracing = tracing
        self.untraced = untraced
        self.unavailable = DEPENDENCY_DOWN + unavailable
        # method -> (the service's handler, our wrapper). Bounded though method names
        # come from the registry: generic handlers see whatever name a client sends.
        self._wrapped: LruMap[str, tuple[Any, Any]] = LruMap(10_000)

    def wrapped(self, handler: Any, full: str) -> Any:
        """`handler` of method `full`, wrapped (None stays None: no such method)."""
        if handler is None:
            return handler
        cached = self._wrapped.get(full)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, full)
        self._wrapped.put(full, (handler, wrapped))
        return wrapped

    def status_of(self, exc: BaseException) -> grpc.StatusCode:
        """The status code an exception from a handler is answered with."""
        if isinstance(exc, self.unavailable):
            return grpc.StatusCode.UNAVAILABLE
        if isinstance(exc, ServiceError):
            return exc.code
        return grpc.StatusCode.INTERNAL

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
        if isinstance(exc, self.unavailable):
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
        if code is None:  # nothing set: the usual answer, decided without a lookup
            return grpc.StatusCode.OK
        if isinstance(code, grpc.StatusCode):
            return code
        return _CODES.get(code, grpc.StatusCode.OK)

    def wrap_call(self, behavior: Any, service: str, method: str, kind: str) -> Any:
        """`behavior(request, context)` as one instrumented call of `service`/`method`
        (labelled `kind`), for calls that do not arrive as RPCs of their own: each call a
        stream multiplexes gets the metrics, span and error mapping of a unary RPC. Its
        context needs ``invocation_metadata``, ``code`` and ``abort`` (which must raise),
        besides what `behavior` itself uses."""
        traced = self.tracing and not service.startswith(self.untraced)
        return self._wrap_unary(behavior, (service, method, kind), traced)

    def _wrap_unary(self, behavior: Any, labels: tuple[str, str, str], traced: bool) -> Any:
        metrics = self._metrics(labels)

        async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            async with _Call(self, metrics, labels, context, traced):
                return await behavior(request, context)

        return wrapper

    def _wrap_stream(self, behavior: Any, labels: tuple[str, str, str], traced: bool) -> Any:
        if not inspect.isasyncgenfunction(behavior):
            # A coroutine that writes with context.write(): same shape as unary.
            return self._wrap_unary(behavior, labels, traced)
        metrics = self._metrics(labels)

        async def wrapper(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            async with _Call(self, metrics, labels, context, traced):
                async for item in behavior(request, context):
                    yield item

        return wrapper


class _Call:
    """One RPC as the wrapper sees it: counted and traced from entry to exit; on exit its
    status is recorded and a handler's own error is answered (mapped to a status)."""

    __slots__ = ("context", "kit", "labels", "metrics", "span", "start", "traced")

    def __init__(
        self,
        kit: HandlerInstrumentation,
        metrics: _MethodMetrics,
        labels: tuple[str, str, str],
        context: grpc.aio.ServicerContext[Any, Any],
        traced: bool,
    ) -> None:
        self.kit = kit
        self.metrics = metrics
        self.labels = labels
        self.context = context
        self.traced = traced

    async def __aenter__(self) -> None:
        self.start = self.metrics.begin()
        self.span = self.kit._start_span(self.labels, self.context) if self.traced else None

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        kit, context, span = self.kit, self.context, self.span
        if exc is None:
            code = kit._code_of(context)
        elif isinstance(exc, asyncio.CancelledError | GeneratorExit):
            code = grpc.StatusCode.CANCELLED
        elif isinstance(exc, grpc.aio.AbortError):
            code = kit._code_of(context)
        else:
            code = kit.status_of(exc)
            if span is not None and code == grpc.StatusCode.INTERNAL:
                span[0].record_exception(exc)
        try:
            if isinstance(exc, Exception) and not isinstance(exc, grpc.aio.AbortError):
                # Answered (and logged) while its span is current: the log line and an
                # INTERNAL message carry the trace id. Raises AbortError.
                await kit._fail(context, self.labels, exc)
        finally:
            self.metrics.end(self.start, code)
            if span is not None:
                kit._end_span(span, code)


class _WrappedGenericHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    def __init__(self, inner: Any, kit: HandlerInstrumentation) -> None:
        self.inner = inner
        self.kit = kit

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = self.inner.service(handler_call_details)
        return self.kit.wrapped(handler, handler_call_details.method)


class _MethodTable(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Every method registered by name, wrapped, behind one dictionary lookup."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        return self.handlers.get(handler_call_details.method)


class InstrumentedServer:
    """What `Service.register` sees: the server, with every handler it adds wrapped.

    Methods registered by name (what generated code and reflection do) are served from
    one generic handler, a dictionary, instead of grpc's registered methods: grpc.aio's
    server loop keeps one pending request per registered method and waits on all of
    them again for every call it accepts, about 60k instructions of a small RPC's 540k
    (callgrind, docs/benchmarks.md). Shutdown is the same either way: once
    ``server.stop(grace)`` begins, new connections are refused and calls already
    received but not yet handed to Python are cancelled, which is why the kit drains
    (NOT_SERVING first) before it stops. Health stays registered (``ServiceRunner``).
    """

    def __init__(self, server: grpc.aio.Server, kit: HandlerInstrumentation) -> None:
        self._server = server
        self._kit = kit
        self._table = _MethodTable()
        server.add_generic_rpc_handlers((self._table,))

    @property
    def kit(self) -> HandlerInstrumentation:
        """What wraps this server's handlers (for calls multiplexed on a stream)."""
        return self._kit

    def add_generic_rpc_handlers(self, handlers: Sequence[Any]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_WrappedGenericHandler(h, self._kit) for h in handlers)
        )

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        for name, handler in handlers.items():
            full = f"/{service}/{name}"
            self._table.handlers[full] = self._kit.wrapped(handler, full)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)
