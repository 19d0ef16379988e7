"""A bounded in-memory trace store fed by OTLP exports.

Spans are kept serialized (their OTLP bytes) beside the few fields the queries
need, so the memory bound is honest: every span costs ``len(bytes)`` plus a
fixed overhead, and the oldest traces (by arrival of their first span) are
evicted whole when either the span count or the byte budget is exceeded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as OtlpStatus

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.monitor.otlp import service_name

#: Python object overhead charged per stored span on top of its serialized size.
SPAN_OVERHEAD_BYTES = 200
_ERROR = OtlpStatus.STATUS_CODE_ERROR


@dataclass(slots=True, eq=False)
class StoredSpan:
    """One span: the queried fields plus its serialized OTLP form."""

    span_id: bytes
    parent_id: bytes
    service: str
    scope: str
    name: str
    start: int
    end: int
    error: bool
    kind: int
    raw: bytes

    def decode(self) -> OtlpSpan:
        """The full OTLP span."""
        return OtlpSpan.FromString(self.raw)


@dataclass
class TraceEntry:
    """Every stored span of one trace, and a running summary."""

    trace_id: bytes
    spans: list[StoredSpan] = field(default_factory=list)
    start: int = 0
    end: int = 0
    errors: int = 0
    bytes: int = 0
    services: set[str] = field(default_factory=set)
    root: StoredSpan | None = None

    def add(self, span: StoredSpan) -> None:
        """Append a span and update the summary."""
        if not self.spans or span.start < self.start:
            self.start = span.start
        if span.end > self.end:
            self.end = span.end
        self.spans.append(span)
        self.errors += span.error
        self.services.add(span.service)
        if not span.parent_id and self.root is None:
            self.root = span
        self.bytes += len(span.raw) + SPAN_OVERHEAD_BYTES

    @property
    def duration(self) -> int:
        """Latest end minus earliest start, in nanoseconds."""
        return max(0, self.end - self.start)

    @property
    def head(self) -> StoredSpan:
        """The root span, or the earliest span when the root has not arrived."""
        if self.root is not None:
            return self.root
        return min(self.spans, key=lambda s: s.start)


@dataclass(frozen=True)
class TraceQuery:
    """Filters of a trace search; zero values mean "any"."""

    service: str = ""
    span_name: str = ""
    min_duration_ns: int = 0
    errors_only: bool = False
    start_ns: int = 0
    end_ns: int = 0
    limit: int = 20


def parse_trace_id(text: str) -> bytes:
    """32 hex digits → 16 bytes, or InvalidArgument naming the field."""
    if len(text) != 32:
        raise InvalidArgument(f"trace_id {text!r} must be 32 hex digits (got {len(text)} chars)")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InvalidArgument(f"trace_id {text!r} is not hexadecimal") from None
    if raw == bytes(16):
        raise InvalidArgument("trace_id must not be all zeros")
    return raw


class TraceStore:
    """Traces by id, in arrival order, bounded by span count and bytes."""

    def __init__(self, max_spans: int, max_bytes: int) -> None:
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self._traces: OrderedDict[bytes, TraceEntry] = OrderedDict()
        self.span_count = 0
        self.bytes = 0
        self.evicted_traces = 0

    def __len__(self) -> int:
        return len(self._traces)

    def ingest(self, request: ExportTraceServiceRequest) -> tuple[int, int, str]:
        """Store the request's spans; return (accepted, rejected, why the rejected were)."""
        accepted = rejected = 0
        why = ""
        traces = self._traces
        for rs in request.resource_spans:
            service = service_name(rs.resource)
            for ss in rs.scope_spans:
                scope = ss.scope.name
                for span in ss.spans:
                    trace_id = span.trace_id
                    if len(trace_id) != 16 or len(span.span_id) != 8:
                        rejected += 1
                        why = "trace_id must be 16 bytes and span_id 8 bytes"
                        continue
                    stored = StoredSpan(
                        span.span_id,
                        span.parent_span_id,
                        service,
                        scope,
                        span.name,
                        span.start_time_unix_nano,
                        max(span.end_time_unix_nano, span.start_time_unix_nano),
                        span.status.code == _ERROR,
                        span.kind,
                        span.SerializeToString(),
                    )
                    entry = traces.get(trace_id)
                    if entry is None:
                        entry = traces[trace_id] = TraceEntry(trace_id)
                    before = entry.bytes
                    entry.add(stored)
                    self.bytes += entry.bytes - before
                    self.span_count += 1
                    accepted += 1
        self._evict()
        return accepted, rejected, why

    def _evict(self) -> None:
        traces = self._traces
        while traces and (self.span_count > self.max_spans or self.bytes > self.max_bytes):
            _, old = traces.popitem(last=False)
            self.span_count -= len(old.spans)
            self.bytes -= old.bytes
            self.evicted_traces += 1

    def get(self, trace_id: bytes) -> TraceEntry | None:
        """The trace, or None."""
        return self._traces.get(trace_id)

    def search(self, query: TraceQuery) -> tuple[list[TraceEntry], bool]:
        """Matching traces, newest arrival first, and whether more matched than the limit."""
        found: list[TraceEntry] = []
        needle = query.span_name.lower()
        for entry in reversed(self._traces.values()):
            if query.errors_only and not entry.errors:
                continue
            if query.service and query.service not in entry.services:
                continue
            if query.min_duration_ns and entry.duration < query.min_duration_ns:
                continue
            if query.start_ns and entry.start < query.start_ns:
                continue
            if query.end_ns and entry.start >= query.end_ns:
                continue
            if needle and not any(needle in s.name.lower() for s in entry.spans):
                continue
            if len(found) == query.limit:
                return found, True
            found.append(entry)
        return found, False

    def spans_since(self, start_ns: int) -> Iterator[tuple[TraceEntry, StoredSpan]]:
        """Every stored span that started at or after `start_ns` (for reports)."""
        for entry in self._traces.values():
            if entry.end < start_ns:
                continue
            for span in entry.spans:
                if span.start >= start_ns:
                    yield entry, span
