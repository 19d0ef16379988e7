"""OpenTelemetry setup: a tracer provider per process, OTLP export when configured.

OTLP export is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces/logs
specific variable) is set; the standard OTEL_* variables configure the exporter.
W3C ``traceparent`` is OTel's default propagator, so nothing else is needed.

Which requests are traced is :mod:`wasmgrid.common.sampling` (head sampling by trace
id, tail rules for errors and slow requests); the spans services make through
:func:`start_span` are :mod:`wasmgrid.common.spans`. With no exporter nothing is
recorded, and trace context still flows (ids in logs, ``traceparent`` to peers).
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Span, SpanKind, TraceFlags
from opentelemetry.util.types import AttributeValue

from wasmgrid.common.sampling import Sampling, SamplingError
from wasmgrid.common.spans import Tracing, UnrecordedSpan, start_kit_span

log = logging.getLogger(__name__)

_provider: TracerProvider | None = None
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
#: Where kit spans go; None: nothing is recorded (no exporter).
_tracing: Tracing | None = None


def otlp_endpoint(signal: str) -> str | None:
    """The OTLP endpoint configured for `signal` ("traces" or "logs"), if any."""
    return os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )


def setup_telemetry(service: str) -> TracerProvider:
    """Install the process-wide tracer provider (idempotent) and OTLP exporters if configured.

    A bad sampling variable prints one line naming it and exits with status 2, like a
    bad setting (:func:`wasmgrid.common.settings.load_settings`).
    """
    global _provider
    if _provider is not None:
        return _provider
    try:
        sampling = Sampling.from_env(os.environ)
    except SamplingError as exc:
        print(f"wasmgrid: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    resource = Resource.create({"service.name": service, "service.namespace": "wasmgrid"})
    exporting = bool(otlp_endpoint("traces"))
    # With nowhere to send spans, record none: trace context still flows through (ids in
    # logs, traceparent to peers) and a small RPC stays cheaper.
    provider = TracerProvider(
        resource=resource, sampler=sampling.sdk_sampler() if exporting else ALWAYS_OFF
    )
    if exporting:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
        provider.add_span_processor(processor)
        configure_tracing(Tracing(sampling, processor, resource))
    trace.set_tracer_provider(provider)
    if otlp_endpoint("logs"):
        _setup_log_export(resource)
    _provider = provider
    return provider


def configure_tracing(tracing: Tracing | None) -> Tracing | None:
    """Send this process's kit spans to `tracing` (None: record none); returns the previous.

    :func:`setup_telemetry` calls it when an exporter is configured; tests use it to
    capture spans with an in-memory exporter and restore what was there.
    """
    global _tracing
    previous, _tracing = _tracing, tracing
    return previous


def start_span(
    tracer: trace.Tracer,
    name: str,
    *,
    context: otel_context.Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Span:
    """A span that is not yet current, under the span of `context` (or the current one).

    With an exporter it follows the sampling rules (:mod:`wasmgrid.common.spans`):
    sampled, or recorded cheaply until the tail rules decide. Without one it is a
    non-recording span with the parent's trace id (or a new one), its sampled flag and a
    fresh span id, made for a fraction of what the SDK's costs, so the trace id in logs,
    ``X-Trace-Id`` and the ``traceparent`` sent to peers are the same either way.
    """
    current = trace.get_current_span(context)
    parent = current.get_span_context()
    valid = parent.is_valid
    trace_id = parent.trace_id if valid else random.getrandbits(128) or 1
    span_id = random.getrandbits(64) or 1
    tracing = _tracing
    if tracing is not None:
        return start_kit_span(tracing, tracer, name, current, trace_id, span_id, kind, attributes)
    if valid:
        return UnrecordedSpan(trace_id, span_id, parent.trace_flags, parent.trace_state)
    return UnrecordedSpan(trace_id, span_id, _NOT_SAMPLED, None)


#: The handler exporting log records over OTLP, when logs are exported.
_log_handler: logging.Handler | None = None


def _setup_log_export(resource: Resource) -> None:
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    set_logger_provider(logger_provider)
    global _log_handler
    _log_handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    _log_handler.addFilter(exported_log_record)
    logging.getLogger().addHandler(_log_handler)


def exported_log_record(record: logging.LogRecord) -> bool:
    """Whether a log record goes to the OTLP collector (it goes to stderr regardless):
    warnings and errors always, lines outside any trace (startup, shutdown) always, and
    an INFO line of a request only when that request's trace is sampled, so the collector
    holds the log lines of the traces it holds. Exporting every request's access-log
    line instead cost the gateway about 150 µs of CPU per request (its worker thread
    turning each into a protobuf message), half again what the rest of an invoke costs."""
    if record.levelno >= logging.WARNING:
        return True
    ctx = trace.get_current_span().get_span_context()
    return not ctx.is_valid or ctx.trace_flags.sampled


def shutdown_telemetry(timeout: float = 3.0) -> None:
    """Flush and stop exporters at process exit, waiting at most `timeout` seconds.

    An exporter whose collector is gone retries with backoff; a stopping service must
    not wait for that, so the flush runs in a daemon thread that exit does not join.
    """

    # Log lines from here on (this function's own warning, objects finalized at exit) go
    # to stdout only: an exporting handler whose provider is shut down, or whose modules
    # are being torn down, turns each into a traceback.
    if _log_handler is not None:
        logging.getLogger().removeHandler(_log_handler)

    def flush() -> None:
        from opentelemetry._logs import get_logger_provider

        if _provider is not None:
            _provider.shutdown()
        shutdown = getattr(get_logger_provider(), "shutdown", None)
        if callable(shutdown):
            shutdown()

    worker = threading.Thread(target=flush, name="otel-shutdown", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        log.warning("telemetry not flushed within %.1fs; exiting without it", timeout)
