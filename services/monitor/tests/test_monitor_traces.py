"""OTLP receivers fed by the real OTel SDK exporters, queried through MonitorService."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import warnings

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from wasmgrid.api.monitor.v1 import monitor_pb2 as pb
from wasmgrid.common.testing import poll_until

from .conftest import Monitor, StartMonitor


def _provider(service: str, address: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=address, insecure=True))
    )
    return provider


def _two_service_trace(address: str, fail: bool, runtime_ms: float) -> str:
    """A gateway span calling a runtime span across a traceparent header (run in a thread:
    the SDK exporter blocks, and the receiver runs on the test's event loop)."""
    gateway, runtime = (
        _provider("wasmgrid-gateway", address),
        _provider("wasmgrid-runtime", address),
    )
    propagator = TraceContextTextMapPropagator()
    carrier: dict[str, str] = {}
    try:
        with gateway.get_tracer("gw").start_as_current_span(
            "POST /v1/run/{ns}/{name}", kind=SpanKind.SERVER, attributes={"http.route": "/v1/run"}
        ) as root:
            trace_id = format(root.get_span_context().trace_id, "032x")
            with gateway.get_tracer("gw").start_as_current_span(
                "wasmgrid.runtime.v1.RuntimeService/Invoke", kind=SpanKind.CLIENT
            ):
                propagator.inject(carrier)
            ctx = propagator.extract(carrier)
            with runtime.get_tracer("rt").start_as_current_span(
                "wasm.invoke", context=ctx, kind=SpanKind.SERVER
            ) as span:
                span.set_attribute("wasm.module", "demo/upper@1.0.0")
                time.sleep(runtime_ms / 1000)
                if fail:
                    span.set_status(Status(StatusCode.ERROR, "trap"))
    finally:
        gateway.shutdown()
        runtime.shutdown()
    return trace_id


async def test_trace_from_two_services_is_assembled(start_monitor: StartMonitor) -> None:
    m = await start_monitor()
    trace_id = await asyncio.to_thread(_two_service_trace, m.address, False, 1)

    async def complete() -> pb.Trace | None:
        try:
            t = await m.stub.GetTrace(pb.GetTraceRequest(trace_id=trace_id))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND  # noqa: PT017 - polled
            return None
        return t if len(t.spans) == 3 else None

    trace = await poll_until(complete, "the 3 spans of the trace")
    assert trace.summary.has_root
    assert trace.summary.root_service == "wasmgrid-gateway"
    assert list(trace.summary.services) == ["wasmgrid-gateway", "wasmgrid-runtime"]
    root, client, server = trace.spans
    assert root.parent_span_id == ""
    assert client.parent_span_id == root.span_id
    assert server.parent_span_id == client.span_id  # linked across the traceparent header
    assert server.service == "wasmgrid-runtime"
    assert server.attributes["wasm.module"] == "demo/upper@1.0.0"
    assert server.kind == pb.SPAN_KIND_SERVER
    assert all(s.trace_id == trace_id for s in trace.spans)


async def test_search_traces_by_service_duration_and_error(start_monitor: StartMonitor) -> None:
    m = await start_monitor()
    fast_ok = await asyncio.to_thread(_two_service_trace, m.address, False, 1)
    slow_err = await asyncio.to_thread(_two_service_trace, m.address, True, 600)

    async def found(req: pb.SearchTracesRequest) -> list[str]:
        resp = await m.stub.SearchTraces(req)
        return [t.trace_id for t in resp.traces]

    await poll_until(
        lambda: _has(found(pb.SearchTracesRequest(limit=10)), {fast_ok, slow_err}), "both traces"
    )
    errors = await found(pb.SearchTracesRequest(errors_only=True))
    assert errors == [slow_err]
    slow = pb.SearchTracesRequest()
    slow.min_duration.FromMilliseconds(500)  # the fast one includes SDK export time
    assert await found(slow) == [slow_err]
    assert set(await found(pb.SearchTracesRequest(service="wasmgrid-runtime"))) == {
        fast_ok,
        slow_err,
    }
    assert await found(pb.SearchTracesRequest(service="nobody")) == []
    assert set(await found(pb.SearchTracesRequest(span_name="WASM.INV"))) == {fast_ok, slow_err}
    one = await m.stub.SearchTraces(pb.SearchTracesRequest(limit=1))
    assert len(one.traces) == 1
    assert one.truncated
    assert one.traces[0].trace_id == slow_err  # newest first
    assert one.traces[0].error_count == 1


async def _has(coro: object, wanted: set[str]) -> bool:
    got = await coro  # type: ignore[misc]
    return wanted <= set(got)


async def test_bad_trace_ids_are_refused(start_monitor: StartMonitor) -> None:
    m = await start_monitor()
    for bad in ("", "abc", "zz" * 16, "0" * 32):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await m.stub.GetTrace(pb.GetTraceRequest(trace_id=bad))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "trace_id" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await m.stub.GetTrace(pb.GetTraceRequest(trace_id="ab" * 16))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await m.stub.SearchTraces(pb.SearchTracesRequest(limit=100_000))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limit" in (err.value.details() or "")


def _emit_logs(address: str, marker: str) -> str:
    """Log through a LoggingHandler with the OTLP exporter, inside a span; return its trace id."""
    resource = Resource.create({"service.name": "wasmgrid-runtime"})
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=address, insecure=True))
    )
    tracer_provider = TracerProvider(resource=resource)
    with warnings.catch_warnings():
        # The kit exports logs through this same handler (telemetry.py); 1.45 deprecates it.
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.DEBUG, logger_provider=logger_provider)
    logger = logging.getLogger(f"wasmgrid.test.{marker}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        with tracer_provider.get_tracer("t").start_as_current_span("work") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            logger.debug("debug detail %s", marker)
            logger.info("module compiled %s", marker)
            logger.error("module trapped: Unreachable %s", marker)
        logger.warning("outside any span %s", marker)
    finally:
        logger.removeHandler(handler)
        logger_provider.shutdown()
        tracer_provider.shutdown()
    return trace_id


async def test_logs_are_received_and_searchable(start_monitor: StartMonitor) -> None:
    m: Monitor = await start_monitor()
    marker = uuid.uuid4().hex[:8]
    trace_id = await asyncio.to_thread(_emit_logs, m.address, marker)

    async def search(**kw: object) -> list[pb.LogRecord]:
        resp = await m.stub.SearchLogs(pb.SearchLogsRequest(**kw))  # type: ignore[arg-type]
        return list(resp.records)

    records = await poll_until(
        lambda: _at_least(search(text=marker), 4), "the 4 log records", timeout=20
    )
    assert {r.service for r in records} == {"wasmgrid-runtime"}
    in_trace = await search(trace_id=trace_id)
    assert [r.body for r in in_trace] == [
        f"module trapped: Unreachable {marker}",
        f"module compiled {marker}",
        f"debug detail {marker}",
    ]  # newest first
    errors = await search(text=marker, min_level=pb.LOG_LEVEL_ERROR)
    assert len(errors) == 1
    assert errors[0].level == pb.LOG_LEVEL_ERROR
    assert errors[0].trace_id == trace_id
    assert len(errors[0].span_id) == 16
    warn_up = await search(text=marker, min_level=pb.LOG_LEVEL_WARN)
    assert {r.level for r in warn_up} == {pb.LOG_LEVEL_WARN, pb.LOG_LEVEL_ERROR}
    assert await search(text="UNREACHABLE " + marker.upper()) != []  # case-insensitive
    assert await search(text=marker, service="wasmgrid-gateway") == []
    limited = await m.stub.SearchLogs(pb.SearchLogsRequest(text=marker, limit=2))
    assert len(limited.records) == 2
    assert limited.truncated
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await m.stub.SearchLogs(pb.SearchLogsRequest(trace_id="nothex"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def _at_least(coro: object, n: int) -> list[pb.LogRecord] | None:
    got: list[pb.LogRecord] = await coro  # type: ignore[misc]
    return got if len(got) >= n else None


async def test_performance_report_from_exported_spans(start_monitor: StartMonitor) -> None:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

    m = await start_monitor()
    now = time.time_ns()
    req = trace_service_pb2.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="wasmgrid-runtime"))
    spans = rs.scope_spans.add().spans
    for i in range(50):
        span = spans.add(
            trace_id=uuid.uuid4().bytes,
            span_id=(i + 1).to_bytes(8, "big"),
            name="wasm.invoke",
            kind=OtlpSpan.SPAN_KIND_SERVER,
            start_time_unix_nano=now,
            end_time_unix_nano=now + 3_000_000,
        )
        outcome = "FUEL_EXHAUSTED" if i % 10 == 0 else "OK"
        span.attributes.extend(
            [
                KeyValue(key="wasm.module", value=AnyValue(string_value="demo/spin@2.0.0")),
                KeyValue(key="wasm.outcome", value=AnyValue(string_value=outcome)),
            ]
        )
    stub = trace_service_pb2_grpc.TraceServiceStub(m.channel)  # type: ignore[no-untyped-call]
    await stub.Export(req)
    report = await m.stub.GetPerformanceReport(pb.GetPerformanceReportRequest(min_count=10))
    (module,) = report.modules
    assert module.module == "demo/spin@2.0.0"
    assert module.stats.count == 50
    assert module.fuel_exhausted_ratio == pytest.approx(0.1)
    assert module.stats.p50_seconds == pytest.approx(0.003)
    assert [r.kind for r in report.recommendations] == ["raise_fuel_limit"]
    assert "hits its fuel limit in 10% of 50 calls" in report.recommendations[0].message
    bad = pb.GetPerformanceReportRequest()
    bad.window.FromSeconds(5)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await m.stub.GetPerformanceReport(bad)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "window" in (err.value.details() or "")
