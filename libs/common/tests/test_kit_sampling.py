"""Trace sampling: the head decision by trace id and parent, the env, and the tail rules."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanKind, StatusCode

from wasmgrid.common.logs import current_trace_ids
from wasmgrid.common.sampling import (
    DEFAULT_RATIO,
    DEFAULT_SLOW_MS,
    Sampling,
    SamplingError,
)
from wasmgrid.common.spans import KEPT_ATTRIBUTE, MAX_BUFFERED, KitSpan, Tracing
from wasmgrid.common.telemetry import configure_tracing, start_span

TRACER = trace.get_tracer("wasmgrid.test")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED_PARENT = {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}
UNSAMPLED_PARENT = {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-00"}
MS = 1_000_000


class Captured:
    """Spans exported by the kit, with the tracing that sent them."""

    def __init__(self, sampling: Sampling) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracing = Tracing(sampling, SimpleSpanProcessor(self.exporter), Resource.create({}))

    def names(self) -> list[str]:
        return [s.name for s in self.exporter.get_finished_spans()]

    def by_name(self, name: str) -> ReadableSpan:
        (span,) = [s for s in self.exporter.get_finished_spans() if s.name == name]
        return span


@pytest.fixture
def capture() -> Iterator[type[Captured]]:
    """Installs the Captured made by the test (last one wins); restores afterwards."""
    previous = configure_tracing(None)

    class Installed(Captured):
        def __init__(self, sampling: Sampling) -> None:
            super().__init__(sampling)
            configure_tracing(self.tracing)

    yield Installed
    configure_tracing(previous)


# -- configuration -------------------------------------------------------------------


def test_with_nothing_set_sampling_is_parent_based_at_the_default_ratio() -> None:
    assert Sampling.from_env({}) == Sampling(
        ratio=DEFAULT_RATIO, parent_based=True, keep_errors=True, keep_slow_ms=DEFAULT_SLOW_MS
    )


@pytest.mark.parametrize(
    ("env", "ratio", "parent_based"),
    [
        ({"OTEL_TRACES_SAMPLER": "always_on"}, 1.0, False),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, 0.0, False),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}, 1.0, True),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, 0.0, True),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, 0.25, False),
        ({"OTEL_TRACES_SAMPLER": "PARENTBASED_TRACEIDRATIO"}, 1.0, True),  # the spec's default
        ({"OTEL_TRACES_SAMPLER_ARG": "0.001"}, 0.001, True),  # 0.1%
        ({"OTEL_TRACES_SAMPLER_ARG": "0"}, 0.0, True),
    ],
)
def test_samplers_and_ratios_come_from_the_standard_variables(
    env: dict[str, str], ratio: float, parent_based: bool
) -> None:
    sampling = Sampling.from_env(env)
    assert (sampling.ratio, sampling.parent_based) == (ratio, parent_based)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"OTEL_TRACES_SAMPLER": "jaeger_remote"},
            "invalid setting OTEL_TRACES_SAMPLER='jaeger_remote': must be one of always_on,"
            " always_off, traceidratio, parentbased_always_on, parentbased_always_off,"
            " parentbased_traceidratio",
        ),
        (
            {"OTEL_TRACES_SAMPLER_ARG": "2"},
            "invalid setting OTEL_TRACES_SAMPLER_ARG='2': must be a ratio from 0 to 1"
            " (0.01 records 1% of traces)",
        ),
        (
            {"OTEL_TRACES_SAMPLER_ARG": "half"},
            "invalid setting OTEL_TRACES_SAMPLER_ARG='half': must be a ratio from 0 to 1"
            " (0.01 records 1% of traces)",
        ),
        (
            {"OTEL_TRACES_SAMPLER_ARG": "nan"},
            "invalid setting OTEL_TRACES_SAMPLER_ARG='nan': must be a ratio from 0 to 1"
            " (0.01 records 1% of traces)",
        ),
        (
            {"WASMGRID_TRACE_KEEP_ERRORS": "maybe"},
            "invalid setting WASMGRID_TRACE_KEEP_ERRORS='maybe': must be true or false",
        ),
        (
            {"WASMGRID_TRACE_KEEP_SLOW_MS": "-5"},
            "invalid setting WASMGRID_TRACE_KEEP_SLOW_MS='-5': must be a number of"
            " milliseconds >= 0 (0 = off)",
        ),
    ],
)
def test_a_bad_variable_is_refused_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(SamplingError) as err:
        Sampling.from_env(env)
    assert str(err.value) == message


def test_a_service_with_a_bad_sampling_variable_stops_with_one_line() -> None:
    code = (
        "from wasmgrid.common.telemetry import setup_telemetry\nsetup_telemetry('wasmgrid-demo')\n"
    )
    env = {**os.environ, "OTEL_TRACES_SAMPLER_ARG": "1.5"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "wasmgrid: invalid setting OTEL_TRACES_SAMPLER_ARG='1.5': must be a ratio from 0 to 1"
        " (0.01 records 1% of traces)"
    ]


# -- the head decision ---------------------------------------------------------------------


def test_the_ratio_decision_is_the_sdks_for_the_same_trace_id() -> None:
    # Every service (and the SDK's own spans) decides alike for one request.
    rng = random.Random(7)
    sampling = Sampling(ratio=0.25, parent_based=False)
    sdk = TraceIdRatioBased(0.25)
    ids = [rng.getrandbits(128) for _ in range(4000)]
    ours = [sampling.sampled(INVALID_SPAN_CONTEXT, i) for i in ids]
    sdk_decisions = [sdk.should_sample(None, i, "x").decision for i in ids]
    assert ours == [d is Decision.RECORD_AND_SAMPLE for d in sdk_decisions]
    assert 0.22 < sum(ours) / len(ours) < 0.28


def test_ratio_zero_records_no_root_and_ratio_one_records_every_root(
    capture: type[Captured],
) -> None:
    captured = capture(Sampling(ratio=0.0, keep_errors=False, keep_slow_ms=0))
    for _ in range(50):
        span = start_span(TRACER, "none")
        assert not span.is_recording()
        assert not span.get_span_context().trace_flags.sampled
        span.end()
    assert captured.names() == []
    captured = capture(Sampling(ratio=1.0))
    for _ in range(50):
        span = start_span(TRACER, "all", kind=SpanKind.SERVER, attributes={"rpc.method": "Get"})
        assert span.get_span_context().trace_flags.sampled
        span.set_attribute("rpc.grpc.status_code", 0)
        span.end()
    exported = captured.exporter.get_finished_spans()
    assert len(exported) == 50
    assert len({s.context.trace_id for s in exported if s.context}) == 50
    first = exported[0]
    assert first.kind == SpanKind.SERVER
    assert first.parent is None
    assert first.attributes == {"rpc.method": "Get", "rpc.grpc.status_code": 0}
    assert first.instrumentation_scope is not None
    assert first.instrumentation_scope.name == "wasmgrid.test"
    assert first.start_time is not None
    assert first.end_time is not None
    assert first.start_time <= first.end_time


def test_a_sampled_caller_is_followed_even_at_ratio_zero(capture: type[Captured]) -> None:
    captured = capture(Sampling(ratio=0.0, keep_errors=False, keep_slow_ms=0))
    span = start_span(TRACER, "server", context=extract(SAMPLED_PARENT))
    child = start_span(TRACER, "child", context=trace.set_span_in_context(span))
    carrier: dict[str, str] = {}
    inject(carrier, context=trace.set_span_in_context(child))
    child.end()
    span.end()
    ctx = child.get_span_context()
    assert carrier["traceparent"] == f"00-{TRACE}-{ctx.span_id:016x}-01"
    assert captured.names() == ["child", "server"]
    server = captured.by_name("server")
    assert server.parent is not None
    assert server.parent.span_id == 0x00F067AA0BA902B7
    assert _parent_id(captured.by_name("child")) == span.get_span_context().span_id


def test_an_unsampled_caller_is_followed_even_at_ratio_one(capture: type[Captured]) -> None:
    captured = capture(Sampling(ratio=1.0, keep_errors=False, keep_slow_ms=0))
    span = start_span(TRACER, "server", context=extract(UNSAMPLED_PARENT))
    carrier: dict[str, str] = {}
    inject(carrier, context=trace.set_span_in_context(span))
    span.end()
    assert carrier["traceparent"].endswith("-00")
    assert captured.names() == []


def test_traceidratio_without_parent_based_ignores_the_callers_flag(
    capture: type[Captured],
) -> None:
    captured = capture(Sampling(ratio=1.0, parent_based=False, keep_errors=False, keep_slow_ms=0))
    start_span(TRACER, "server", context=extract(UNSAMPLED_PARENT)).end()
    assert captured.names() == ["server"]


def test_sdk_spans_under_a_kit_span_follow_its_decision() -> None:
    sampling = Sampling(ratio=0.0)
    tracing = Tracing(sampling, SimpleSpanProcessor(InMemorySpanExporter()), Resource.create({}))
    sdk_tracer = TracerProvider(sampler=sampling.sdk_sampler()).get_tracer("lib")
    previous = configure_tracing(tracing)
    try:
        sampled = start_span(TRACER, "s", context=extract(SAMPLED_PARENT))
        unsampled = start_span(TRACER, "u")
        under_sampled = sdk_tracer.start_span("c", context=trace.set_span_in_context(sampled))
        under_unsampled = sdk_tracer.start_span("c", context=trace.set_span_in_context(unsampled))
    finally:
        configure_tracing(previous)
    assert under_sampled.is_recording()
    assert not under_unsampled.is_recording()


def test_an_unsampled_span_still_gives_its_ids_to_logs(capture: type[Captured]) -> None:
    capture(Sampling(ratio=0.0))
    span = start_span(TRACER, "server", context=extract(UNSAMPLED_PARENT))
    with trace.use_span(span, end_on_exit=True):
        trace_id, span_id = current_trace_ids()
    assert trace_id == TRACE
    assert span_id == f"{span.get_span_context().span_id:016x}"


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    span_id: int = span.context.span_id
    return span_id


def _parent_id(span: ReadableSpan) -> int:
    assert span.parent is not None
    span_id: int = span.parent.span_id
    return span_id


# -- the tail rules --------------------------------------------------------------------


def _request(status: StatusCode | None = None, slow_ns: int = 0) -> None:
    """A server span with a child and a grandchild, like an RPC and its work."""
    root = start_span(TRACER, "server", kind=SpanKind.SERVER)
    with trace.use_span(root):
        child = start_span(TRACER, "work")
        with trace.use_span(child, end_on_exit=True):
            inner = start_span(TRACER, "inner")
            if status is not None:
                inner.set_status(status)
            inner.end()
    assert isinstance(root, KitSpan)
    root.end(end_time=root._start + slow_ns if slow_ns else None)


def test_an_unsampled_request_with_an_error_is_kept_whole(capture: type[Captured]) -> None:
    captured = capture(Sampling(ratio=0.0, keep_errors=True, keep_slow_ms=0))
    _request()
    _request(StatusCode.OK)
    assert captured.names() == []
    _request(StatusCode.ERROR)
    assert captured.names() == ["inner", "work", "server"]
    server = captured.by_name("server")
    assert server.attributes is not None
    assert server.attributes[KEPT_ATTRIBUTE] == "error"
    # One local trace: the same trace id, each span under the one that started it.
    exported = captured.exporter.get_finished_spans()
    assert len({s.context.trace_id for s in exported if s.context}) == 1
    assert _parent_id(captured.by_name("work")) == _span_id(server)
    assert _parent_id(captured.by_name("inner")) == _span_id(captured.by_name("work"))
    assert captured.by_name("inner").status.status_code == StatusCode.ERROR
    assert captured.tracing.kept == 1
    assert captured.tracing.dropped == 2


def test_an_exception_escaping_a_span_marks_it_failed_and_keeps_it(
    capture: type[Captured],
) -> None:
    captured = capture(Sampling(ratio=0.0))
    span = start_span(TRACER, "server")
    with pytest.raises(ZeroDivisionError), trace.use_span(span, end_on_exit=True):
        raise ZeroDivisionError("boom")
    exported = captured.by_name("server")
    assert exported.status.status_code == StatusCode.ERROR
    assert [e.name for e in exported.events] == ["exception"]
    assert exported.events[0].attributes is not None
    assert exported.events[0].attributes["exception.type"] == "ZeroDivisionError"


def test_errors_are_not_kept_when_the_rule_is_off(capture: type[Captured]) -> None:
    captured = capture(Sampling(ratio=0.0, keep_errors=False, keep_slow_ms=1000))
    _request(StatusCode.ERROR)
    assert captured.names() == []


def test_a_slow_unsampled_request_is_kept(capture: type[Captured]) -> None:
    captured = capture(Sampling(ratio=0.0, keep_errors=True, keep_slow_ms=50))
    _request(slow_ns=49 * MS)
    assert captured.names() == []
    _request(slow_ns=50 * MS)
    assert captured.names() == ["inner", "work", "server"]
    server = captured.by_name("server")
    assert server.attributes is not None
    assert server.attributes[KEPT_ATTRIBUTE] == "slow"


def test_a_span_ending_after_its_local_root_follows_the_roots_decision(
    capture: type[Captured],
) -> None:
    captured = capture(Sampling(ratio=0.0, keep_errors=True, keep_slow_ms=0))
    for status in (StatusCode.ERROR, None):
        root = start_span(TRACER, f"root-{status}")
        late = start_span(TRACER, f"late-{status}", context=trace.set_span_in_context(root))
        if status is not None:
            root.set_status(status)
        root.end()
        late.end()
    assert captured.names() == ["root-StatusCode.ERROR", "late-StatusCode.ERROR"]


def test_a_local_trace_holds_a_bounded_number_of_spans(capture: type[Captured]) -> None:
    captured = capture(Sampling(ratio=0.0))
    root = start_span(TRACER, "stream")
    parent = trace.set_span_in_context(root)
    for _ in range(MAX_BUFFERED + 10):
        start_span(TRACER, "message", context=parent).end()
    root.set_status(StatusCode.ERROR)
    root.end()
    assert captured.names().count("message") == MAX_BUFFERED
    assert captured.names()[-1] == "stream"
