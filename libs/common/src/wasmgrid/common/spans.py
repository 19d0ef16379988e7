"""The kit's recording spans: exported when sampled at the head, kept at the tail on error
or slowness, dropped otherwise.

A :class:`KitSpan` records what the OpenTelemetry API gives it (attributes, events,
status, links) into plain Python objects and builds the SDK's span record only when
it is exported, so a span that ends up dropped costs little more than a non-recording
one. Its trace flags carry the head decision, so spans the SDK makes under it
(instrumentation libraries, through a parent-based sampler) and peers that receive its
``traceparent`` follow the same decision.

An unsampled span joins the *local trace* of its parent when the parent is an unsampled
kit span of this process, else it starts one as its local root. Spans of a local trace
that end before its root wait in the root (at most :data:`MAX_BUFFERED`); when the root
ends, the whole local trace is exported if one of its spans ended with an error status
(``keep_errors``) or the root lasted at least ``keep_slow_ms``, and dropped otherwise.
The decision is local: a process that answered well and fast does not learn that its
caller later failed, so a kept trace shows every process that saw the error or the
delay, each one whole. The exported root carries ``wasmgrid.trace.kept`` = ``error``
or ``slow``.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util import types

from wasmgrid.common.sampling import Sampling

#: Ended spans a local trace holds until its root ends; more are dropped (a long stream).
MAX_BUFFERED = 64
#: Attributes, events and links kept per exported span (the SDK's default limits).
MAX_ATTRIBUTES = 128
MAX_EVENTS = 128
#: Attribute on an exported local root saying which tail rule kept it.
KEPT_ATTRIBUTE = "wasmgrid.trace.kept"
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_LOW_64 = (1 << 64) - 1


class Tracing:
    """Where a process's kit spans go: its sampling rules, span processor and resource."""

    def __init__(self, sampling: Sampling, processor: SpanProcessor, resource: Resource) -> None:
        self.sampling = sampling
        self.processor = processor
        self.resource = resource
        #: Local traces kept and spans exported, by the tail rules (for tests and stats).
        self.kept = 0
        self.dropped = 0

    def export(self, span: KitSpan, kept: str | None = None) -> None:
        """Hand one ended span to the processor (OTLP export)."""
        self.processor.on_end(span.readable(self.resource, kept))


class UnrecordedSpan(trace.NonRecordingSpan):
    """A span that records nothing and carries trace context; its SpanContext is built on
    first use (most are never asked: only logs and outgoing calls read it)."""

    def __init__(
        self, trace_id: int, span_id: int, flags: TraceFlags, trace_state: TraceState | None
    ) -> None:
        self._ids = (trace_id, span_id, flags, trace_state)
        self._built: SpanContext | None = None

    def get_span_context(self) -> SpanContext:
        built = self._built
        if built is None:
            trace_id, span_id, flags, state = self._ids
            built = self._built = SpanContext(
                trace_id, span_id, is_remote=False, trace_flags=flags, trace_state=state
            )
        return built

    def __repr__(self) -> str:
        return f"UnrecordedSpan(trace_id={self._ids[0]:032x}, span_id={self._ids[1]:016x})"


@functools.lru_cache(maxsize=256)
def _scope(tracer: trace.Tracer) -> InstrumentationScope:
    info = getattr(tracer, "instrumentation_info", None)  # the SDK's tracer
    name = getattr(info, "name", None) or getattr(tracer, "_instrumenting_module_name", None)
    return InstrumentationScope(name or "wasmgrid")


class KitSpan(trace.Span):
    """A span recorded in plain objects; see the module docstring."""

    __slots__ = (
        "_attributes",
        "_buffer",
        "_context",
        "_end",
        "_events",
        "_given",
        "_keep",
        "_kept",
        "_kind",
        "_links",
        "_name",
        "_parent",
        "_root",
        "_sampled",
        "_span_id",
        "_start",
        "_status",
        "_trace_id",
        "_trace_state",
        "_tracer",
        "_tracing",
    )

    def __init__(  # noqa: PLR0913 - every field of a span, set once
        self,
        tracing: Tracing,
        tracer: trace.Tracer,
        name: str,
        trace_id: int,
        span_id: int,
        parent: SpanContext | None,
        trace_state: TraceState | None,
        kind: SpanKind,
        attributes: Mapping[str, types.AttributeValue] | None,
        sampled: bool,
        root: KitSpan | None,
    ) -> None:
        self._tracing = tracing
        self._tracer = tracer
        self._name = name
        self._trace_id = trace_id
        self._span_id = span_id
        self._parent = parent
        self._trace_state = trace_state
        self._kind = kind
        # The mapping given at the start is read when the span is exported, not copied.
        self._given = attributes
        self._attributes: dict[str, types.AttributeValue] | None = None
        self._events: list[Event] | None = None
        self._links: list[Link] | None = None
        self._status: Status | None = None
        self._start = time.time_ns()
        self._end: int | None = None
        self._context: SpanContext | None = None
        self._sampled = sampled
        # The local trace: its root (self when this span starts one; None when sampled),
        # the spans that ended before the root, why it is kept, and whether it was.
        self._root = self if root is None and not sampled else root
        self._buffer: list[KitSpan] | None = None
        self._keep: str | None = None
        self._kept = False

    # -- the API -----------------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        context = self._context
        if context is None:  # built on first use: most spans are never asked
            context = self._context = SpanContext(
                self._trace_id,
                self._span_id,
                is_remote=False,
                trace_flags=_SAMPLED if self._sampled else _NOT_SAMPLED,
                trace_state=self._trace_state,
            )
        return context

    def is_recording(self) -> bool:
        return self._end is None

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if self._end is None:
            if self._attributes is None:
                self._attributes = {}
            self._attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        if self._end is None:
            if self._events is None:
                self._events = []
            if len(self._events) < MAX_EVENTS:
                self._events.append(Event(name, attributes, timestamp or time.time_ns()))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._end is None and context.is_valid:
            if self._links is None:
                self._links = []
            self._links.append(Link(context, attributes))

    def update_name(self, name: str) -> None:
        if self._end is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # As the SDK: OK is final, UNSET is ignored.
        if self._end is not None or (
            self._status is not None and self._status.status_code is StatusCode.OK
        ):
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        kind = type(exception)
        module = kind.__module__
        recorded: dict[str, types.AttributeValue] = {
            "exception.type": kind.__qualname__
            if module in ("builtins", "")
            else f"{module}.{kind.__qualname__}",
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            recorded.update(attributes)
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end is not None:
            return
        self._end = end_time or time.time_ns()
        if self._sampled:
            self._tracing.export(self)
            return
        root = self._root
        assert root is not None
        sampling = self._tracing.sampling
        failed = self._status is not None and self._status.status_code is StatusCode.ERROR
        if failed and sampling.keep_errors:
            root._keep = "error"
        if root is not self:
            self._child_ended(root)
            return
        slow = sampling.keep_slow_ns
        if self._keep is None and slow and self._end - self._start >= slow:
            self._keep = "slow"
        buffered, self._buffer = self._buffer or [], None
        if self._keep is None:
            self._tracing.dropped += 1
            return
        self._kept = True
        self._tracing.kept += 1
        for span in buffered:
            self._tracing.export(span)
        self._tracing.export(self, self._keep)

    def _child_ended(self, root: KitSpan) -> None:
        if root._end is None:
            if root._buffer is None:
                root._buffer = []
            if len(root._buffer) < MAX_BUFFERED:
                root._buffer.append(self)
        elif root._kept:  # ended after its root (a task left running): follow the root
            self._tracing.export(self)

    # -- export --------------------------------------------------------------------

    def readable(self, resource: Resource, kept: str | None = None) -> ReadableSpan:
        """The SDK's record of this ended span, flagged sampled (it is being exported)."""
        attributes: dict[str, types.AttributeValue] = {
            **(self._given or {}),
            **(self._attributes or {}),
        }
        if kept is not None:
            attributes[KEPT_ATTRIBUTE] = kept
        events: Sequence[Event] = tuple(self._events or ())
        return ReadableSpan(
            name=self._name,
            context=SpanContext(
                self._trace_id,
                self._span_id,
                is_remote=False,
                trace_flags=_SAMPLED,
                trace_state=self._trace_state,
            ),
            parent=self._parent,
            resource=resource,
            attributes=BoundedAttributes(MAX_ATTRIBUTES, attributes, immutable=True),
            events=events,
            links=tuple(self._links or ()),
            kind=self._kind,
            status=self._status or Status(StatusCode.UNSET),
            start_time=self._start,
            end_time=self._end,
            instrumentation_scope=_scope(self._tracer),
        )

    def __repr__(self) -> str:
        return f"KitSpan({self._name!r}, trace_id={self._trace_id:032x}, sampled={self._sampled})"


def start_kit_span(  # noqa: PLR0913 - the span's identity and its place in a trace
    tracing: Tracing,
    tracer: trace.Tracer,
    name: str,
    current: trace.Span,
    trace_id: int,
    span_id: int,
    kind: SpanKind,
    attributes: Mapping[str, types.AttributeValue] | None,
) -> trace.Span:
    """A span under `current` (the parent span, maybe invalid) following `tracing`'s rules."""
    parent = current.get_span_context()
    sampling = tracing.sampling
    if sampling.parent_based and parent.is_valid:
        sampled = parent.trace_flags.sampled
    else:
        sampled = (trace_id & _LOW_64) < sampling.bound
    state = parent.trace_state if parent.is_valid else None
    if not sampled and not sampling.keeps:
        return UnrecordedSpan(trace_id, span_id, _NOT_SAMPLED, state)
    root: Any = None
    if not sampled and type(current) is KitSpan and not current._sampled:
        root = current._root
    return KitSpan(
        tracing,
        tracer,
        name,
        trace_id,
        span_id,
        parent if parent.is_valid else None,
        state,
        kind,
        attributes,
        sampled,
        root,
    )
