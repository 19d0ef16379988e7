"""The OTLP/gRPC receivers: spans and log records exported to the monitor."""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from prometheus_client import Counter

from wasmgrid.monitor.logstore import LogStore
from wasmgrid.monitor.traces import TraceStore

SPANS_RECEIVED = Counter(
    "wasmgrid_monitor_spans_received_total", "OTLP spans received, by result.", ["result"]
)
LOGS_RECEIVED = Counter("wasmgrid_monitor_log_records_received_total", "OTLP log records received.")
Ctx = grpc.aio.ServicerContext[Any, Any]


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """OTLP/gRPC TraceService: stores exported spans."""

    def __init__(self, store: TraceStore) -> None:
        self.store = store

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Ctx
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        accepted, rejected, why = self.store.ingest(request)
        SPANS_RECEIVED.labels("accepted").inc(accepted)
        resp = trace_service_pb2.ExportTraceServiceResponse()
        if rejected:
            SPANS_RECEIVED.labels("rejected").inc(rejected)
            resp.partial_success.rejected_spans = rejected
            resp.partial_success.error_message = why
        return resp


class LogsReceiver(logs_service_pb2_grpc.LogsServiceServicer):
    """OTLP/gRPC LogsService: stores exported log records."""

    def __init__(self, store: LogStore) -> None:
        self.store = store

    async def Export(
        self, request: logs_service_pb2.ExportLogsServiceRequest, context: Ctx
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        LOGS_RECEIVED.inc(self.store.ingest(request))
        return logs_service_pb2.ExportLogsServiceResponse()
