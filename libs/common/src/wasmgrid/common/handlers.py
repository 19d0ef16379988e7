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
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from wasmgrid.common.errors import ServiceError
from wasmgrid.common.logs import current_trace_ids
from wasmgrid.common.lru import LruMap
from wasmgrid.common.rpcmetrics import MethodMetrics, method_metrics
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

    def _method(self, labels: tuple[str, str, str], traced: bool) -> _Method:
        return _Method(labels, method_metrics(self.service, labels), traced)

    @staticmethod
    def _start_span(
        method: _Method, context: grpc.aio.ServicerContext[Any, Any]
    ) -> tuple[Span, object]:
        carrier = {
            key: value
            for key, value in context.invocation_metadata() or ()
            if key in _PROPAGATED and isinstance(value, str)
        }
        parent = extract(carrier) if carrier else None
        span = start_span(
            _TRACER,
            method.span_name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=method.attributes,
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

    def _finish(
        self,
        method: _Method,
        start: float,
        span: tuple[Span, object] | None,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        """Record an RPC whose handler returned."""
        code = _code_of(context)
        method.metrics.end(start, code)
        if span is not None:
            self._end_span(span, code)

    async def _finish_failed(
        self,
        method: _Method,
        start: float,
        span: tuple[Span, object] | None,
        context: grpc.aio.ServicerContext[Any, Any],
        exc: BaseException,
    ) -> None:
        """Record an RPC whose handler raised `exc`, and answer a handler's own error
        (mapped to a status: raises AbortError); the caller re-raises anything else."""
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            code = grpc.StatusCode.CANCELLED
        elif isinstance(exc, grpc.aio.AbortError):
            code = _code_of(context)
        else:
            code = self.status_of(exc)
            if span is not None and code == grpc.StatusCode.INTERNAL:
                span[0].record_exception(exc)
        try:
            if isinstance(exc, Exception) and not isinstance(exc, grpc.aio.AbortError):
                # Answered (and logged) while its span is current: the log line and an
                # INTERNAL message carry the trace id.
                await self._fail(context, method.labels, exc)
        finally:
            method.metrics.end(start, code)
            if span is not None:
                self._end_span(span, code)

    def wrap_call(self, behavior: Any, service: str, method: str, kind: str) -> Any:
        """`behavior(request, context)` as one instrumented call of `service`/`method`
        (labelled `kind`), for calls that do not arrive as RPCs of their own: each call a
        stream multiplexes gets the metrics, span and error mapping of a unary RPC. Its
        context needs ``invocation_metadata``, ``code`` and ``abort`` (which must raise),
        besides what `behavior` itself uses."""
        traced = self.tracing and not service.startswith(self.untraced)
        return self._wrap_unary(behavior, (service, method, kind), traced)

    def _wrap_unary(self, behavior: Any, labels: tuple[str, str, str], traced: bool) -> Any:
        method = self._method(labels, traced)
        begin = method.metrics.begin
        start_span, finish, finish_failed = self._start_span, self._finish, self._finish_failed

        # try/except, not an async context manager: no per-call object and no
        # __aenter__/__aexit__ coroutines on the path every unary RPC takes.
        async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            start = begin()
            span = start_span(method, context) if traced else None
            try:
                response = await behavior(request, context)
            except BaseException as exc:
                await finish_failed(method, start, span, context, exc)
                raise
            finish(method, start, span, context)
            return response

        return wrapper

    def _wrap_stream(self, behavior: Any, labels: tuple[str, str, str], traced: bool) -> Any:
        if not inspect.isasyncgenfunction(behavior):
            # A coroutine that writes with context.write(): same shape as unary.
            return self._wrap_unary(behavior, labels, traced)
        method = self._method(labels, traced)

        async def wrapper(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            start = method.metrics.begin()
            span = self._start_span(method, context) if method.traced else None
            try:
                async for item in behavior(request, context):
                    yield item
            except BaseException as exc:
                await self._finish_failed(method, start, span, context, exc)
                raise
            self._finish(method, start, span, context)

        return wrapper


def _code_of(context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    code = context.code()
    if code is None:  # nothing set: the usual answer, decided without a lookup
        return grpc.StatusCode.OK
    if isinstance(code, grpc.StatusCode):
        return code
    return _CODES.get(code, grpc.StatusCode.OK)


class _Method:
    """What the wrapper of one method needs on every call, built once when it is wrapped."""

    __slots__ = ("attributes", "labels", "metrics", "span_name", "traced")

    def __init__(self, labels: tuple[str, str, str], metrics: MethodMetrics, traced: bool) -> None:
        self.labels = labels
        self.metrics = metrics
        self.traced = traced
        self.span_name = f"/{labels[0]}/{labels[1]}"
        # Shared by the method's spans: a span reads the attributes it starts with and
        # keeps those set later apart.
        self.attributes: dict[str, AttributeValue] = {
            "rpc.system": "grpc",
            "rpc.service": labels[0],
            "rpc.method": labels[1],
        }


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
