"""OpenTelemetry setup: a tracer provider per process, OTLP export when configured.

OTLP export is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces/logs
specific variable) is set; the standard OTEL_* variables configure the exporter.
W3C ``traceparent`` is OTel's default propagator, so nothing else is needed.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.util.types import AttributeValue

log = logging.getLogger(__name__)

_provider: TracerProvider | None = None


def otlp_endpoint(signal: str) -> str | None:
    """The OTLP endpoint configured for `signal` ("traces" or "logs"), if any."""
    return os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )


def setup_telemetry(service: str) -> TracerProvider:
    """Install the process-wide tracer provider (idempotent) and OTLP exporters if configured."""
    global _provider
    if _provider is not None:
        return _provider
    resource = Resource.create({"service.name": service, "service.namespace": "wasmgrid"})
    exporting = bool(otlp_endpoint("traces"))
    # With nowhere to send spans, record none: trace context still flows through (ids in
    # logs, traceparent to peers) and a small RPC stays about 20% cheaper.
    sampler = ParentBased(ALWAYS_ON) if exporting else ALWAYS_OFF
    provider = TracerProvider(resource=resource, sampler=sampler)
    if exporting:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    if otlp_endpoint("logs"):
        _setup_log_export(resource)
    _provider = provider
    return provider


def spans_recorded() -> bool:
    """False when our provider records no span (no OTLP endpoint): ids still flow."""
    return getattr(trace.get_tracer_provider(), "sampler", None) is not ALWAYS_OFF


def start_span(
    tracer: trace.Tracer,
    name: str,
    *,
    context: otel_context.Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
    recorded: bool | None = None,
) -> Span:
    """A span that is not yet current: the SDK's when spans are recorded, else a cheap one.

    With nothing recorded, the SDK still samples, builds attributes and wraps a
    non-recording span; this makes the same non-recording span with the parent's
    trace id (or a new one) and a fresh span id for a fraction of that, so the trace id in
    logs, ``X-Trace-Id`` and the ``traceparent`` sent to peers are unchanged.
    `recorded` overrides the detection (:func:`spans_recorded`).
    """
    if spans_recorded() if recorded is None else recorded:
        return tracer.start_span(name, context=context, kind=kind, attributes=attributes)
    parent = trace.get_current_span(context).get_span_context()
    trace_id = parent.trace_id if parent.is_valid else random.getrandbits(128) or 1
    return NonRecordingSpan(
        SpanContext(
            trace_id,
            random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.DEFAULT),
            trace_state=parent.trace_state,
        )
    )


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
    logging.getLogger().addHandler(_log_handler)


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
