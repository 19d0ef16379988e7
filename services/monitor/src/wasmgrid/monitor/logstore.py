"""A bounded in-memory log store fed by OTLP log exports.

Records are appended in arrival order and evicted oldest first when the record
count or the byte budget is exceeded. Text search is a case-insensitive
substring match: user input is never compiled as a pattern.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord

from wasmgrid.monitor.otlp import any_value_text, service_name

#: Python object overhead charged per stored record on top of its serialized size.
RECORD_OVERHEAD_BYTES = 300
#: Longest body kept for search and display.
MAX_BODY_CHARS = 16 * 1024


def level_of(severity_number: int) -> int:
    """OTLP severity number (1..24) → LogLevel (1 TRACE .. 6 FATAL); 0 when unset."""
    if severity_number <= 0:
        return 0
    return min(6, (severity_number - 1) // 4 + 1)


@dataclass(slots=True, eq=False)
class StoredLog:
    """One record: the queried fields plus its serialized OTLP form."""

    time: int
    level: int
    service: str
    scope: str
    trace_id: bytes
    span_id: bytes
    body: str
    raw: bytes

    def decode(self) -> OtlpLogRecord:
        """The full OTLP record."""
        return OtlpLogRecord.FromString(self.raw)


@dataclass(frozen=True)
class LogQuery:
    """Filters of a log search; zero values mean "any"."""

    trace_id: bytes = b""
    service: str = ""
    min_level: int = 0
    start_ns: int = 0
    end_ns: int = 0
    text: str = ""
    limit: int = 100


class LogStore:
    """Log records in arrival order, bounded by count and bytes."""

    def __init__(self, max_records: int, max_bytes: int) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._records: deque[StoredLog] = deque()
        self.bytes = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._records)

    def ingest(self, request: ExportLogsServiceRequest) -> int:
        """Store the request's records; return how many were accepted."""
        records = self._records
        added = 0
        size = 0
        for rl in request.resource_logs:
            service = service_name(rl.resource)
            for sl in rl.scope_logs:
                scope = sl.scope.name
                for rec in sl.log_records:
                    body = rec.body
                    text = (
                        body.string_value
                        if body.WhichOneof("value") == "string_value"
                        else any_value_text(body)
                    )
                    if len(text) > MAX_BODY_CHARS:
                        text = text[:MAX_BODY_CHARS]
                    raw = rec.SerializeToString()
                    records.append(
                        StoredLog(
                            rec.time_unix_nano or rec.observed_time_unix_nano,
                            level_of(rec.severity_number),
                            service,
                            scope,
                            rec.trace_id,
                            rec.span_id,
                            text,
                            raw,
                        )
                    )
                    size += len(raw) + len(text) + RECORD_OVERHEAD_BYTES
                    added += 1
        self.bytes += size
        while records and (len(records) > self.max_records or self.bytes > self.max_bytes):
            old = records.popleft()
            self.bytes -= len(old.raw) + len(old.body) + RECORD_OVERHEAD_BYTES
            self.evicted += 1
        return added

    def search(self, query: LogQuery) -> tuple[list[StoredLog], bool]:
        """Matching records, newest first, and whether more matched than the limit."""
        found: list[StoredLog] = []
        needle = query.text.lower()
        for rec in reversed(self._records):
            if query.trace_id and rec.trace_id != query.trace_id:
                continue
            if query.service and rec.service != query.service:
                continue
            if query.min_level and rec.level < query.min_level:
                continue
            if query.start_ns and rec.time < query.start_ns:
                continue
            if query.end_ns and rec.time >= query.end_ns:
                continue
            if needle and needle not in rec.body.lower():
                continue
            if len(found) == query.limit:
                return found, True
            found.append(rec)
        return found, False
