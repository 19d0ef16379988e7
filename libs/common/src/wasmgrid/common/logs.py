"""JSON log lines that carry the current trace and span ids."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from typing import Any, Generic, TypeVar

from opentelemetry import trace

# Attributes every LogRecord has; anything else passed via `extra=` is emitted as a field.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def current_trace_ids() -> tuple[str, str]:
    """The (trace_id, span_id) of the active span as hex, or empty strings."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return "", ""
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, trace ids, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self._second = -1
        self._stamp = ""

    def _timestamp(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # strftime once a second, not once a line
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = current_trace_ids()
        doc: dict[str, Any] = {
            "ts": self._timestamp(record),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if trace_id:
            doc["trace_id"] = trace_id
            doc["span_id"] = span_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, still with the trace id."""

    def format(self, record: logging.LogRecord) -> str:
        trace_id, _ = current_trace_ids()
        base = super().format(record)
        return f"{base} trace_id={trace_id}" if trace_id else base


def configure_logging(service: str, level: str = "INFO", *, json_lines: bool = True) -> None:
    """Route the root logger to stderr in JSON (or text) at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            TextFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old.formatter, JsonFormatter | TextFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Neither formatter prints the caller, thread or process, and the OTLP handler does
    # not export them (its code attributes are off by default): skip collecting them
    # (the logging HOWTO's "Optimization": finding the caller walks the stack on every
    # logging call, a real share of an access-log line).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    # Third-party chatter stays at WARNING unless we debug.
    for noisy in ("asyncio", "grpc", "aiohttp.access", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


K = TypeVar("K")


class Summarised(Generic[K]):
    """Counts occurrences by kind and says when a summary line is due: at most one per
    `interval` seconds, so a failure repeated on every request logs a line a second
    with the counts since the last one, not a line a request."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._counts: Counter[K] = Counter()
        self._at = float("-inf")

    def add(self, kind: K, now: float | None = None) -> Counter[K] | None:
        """Count one `kind`; when a line is due, the counts since the last one (reset)."""
        self._counts[kind] += 1
        now = time.monotonic() if now is None else now
        if now - self._at < self.interval:
            return None
        counts, self._counts = self._counts, Counter()
        self._at = now
        return counts
