"""The kit's span helper without an exporter: nothing recorded, trace context intact."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.propagate import extract, inject

from wasmgrid.common.telemetry import configure_tracing, exported_log_record, start_span

TRACER = trace.get_tracer("test")
PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(autouse=True)
def no_exporter() -> Iterator[None]:
    previous = configure_tracing(None)
    yield
    configure_tracing(previous)


@pytest.mark.parametrize("flags", ["01", "00"])
def test_unrecorded_span_continues_the_callers_trace_with_a_new_span_id(flags: str) -> None:
    parent = {"traceparent": f"00-{PARENT_TRACE}-00f067aa0ba902b7-{flags}"}
    span = start_span(TRACER, "x", context=extract(parent))
    ctx = span.get_span_context()
    assert not span.is_recording()
    assert format(ctx.trace_id, "032x") == PARENT_TRACE
    assert ctx.span_id not in (0, 0x00F067AA0BA902B7)
    assert not ctx.is_remote
    # What a peer receives from inside this span: the same trace, this span as parent,
    # and the caller's sampling decision passed on (a hop that records nothing keeps it).
    carrier: dict[str, str] = {}
    inject(carrier, context=trace.set_span_in_context(span))
    assert carrier["traceparent"] == f"00-{PARENT_TRACE}-{ctx.span_id:016x}-{flags}"


def test_unrecorded_root_spans_get_fresh_valid_trace_ids() -> None:
    ids = {start_span(TRACER, "x").get_span_context().trace_id for _ in range(50)}
    assert len(ids) == 50
    assert all(0 < i < 2**128 for i in ids)


def _record(level: int) -> logging.LogRecord:
    return logging.LogRecord("wasmgrid.test", level, __file__, 1, "a line", None, None)


@pytest.mark.parametrize(
    ("flags", "level", "exported"),
    [
        ("01", logging.INFO, True),  # a sampled request: its lines go with its trace
        ("00", logging.INFO, False),  # not sampled: its INFO lines stay on stderr
        ("00", logging.WARNING, True),  # warnings and errors always go
        ("00", logging.ERROR, True),
    ],
)
def test_request_log_lines_are_exported_with_their_trace_warnings_always(
    flags: str, level: int, exported: bool
) -> None:
    parent = {"traceparent": f"00-{PARENT_TRACE}-00f067aa0ba902b7-{flags}"}
    span = start_span(TRACER, "x", context=extract(parent))
    with trace.use_span(span, end_on_exit=True):
        assert exported_log_record(_record(level)) is exported


def test_log_lines_outside_any_request_are_exported() -> None:
    assert exported_log_record(_record(logging.INFO))
    assert exported_log_record(_record(logging.DEBUG))
