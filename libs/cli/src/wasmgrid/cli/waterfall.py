"""A trace as a waterfall: one row per span, children under their parent, bars on a time axis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wasmgrid.client import Span, Trace


@dataclass(frozen=True)
class Row:
    """One span placed on the waterfall."""

    span: Span
    depth: int
    #: Start, in cells from the left edge of the timeline.
    offset: int
    #: Length in cells (at least 1, so the shortest span stays visible).
    length: int
    #: Start relative to the trace's first span, in seconds.
    start: float

    def bar(self, width: int) -> str:
        """The timeline cell string: spaces, then the bar."""
        return " " * self.offset + "█" * self.length + " " * (width - self.offset - self.length)


def _start(span: Span, fallback: datetime) -> datetime:
    return span.start_time or fallback


def layout(trace: Trace, width: int) -> list[Row]:
    """The spans depth-first (parents before children, siblings by start) on `width` cells.

    A span whose parent was not received is drawn as a root, so a partial trace
    still shows everything that arrived.
    """
    spans = list(trace.spans)
    if not spans:
        return []
    starts = [s.start_time for s in spans if s.start_time is not None]
    origin = min(starts) if starts else datetime.now().astimezone()
    end = max(
        ((_start(s, origin) - origin).total_seconds() + s.duration for s in spans), default=0.0
    )
    total = end or 1e-9
    ids = {s.span_id for s in spans}
    children: dict[str, list[Span]] = {}
    roots: list[Span] = []
    for span in spans:
        parent = span.parent_span_id
        if parent and parent in ids and parent != span.span_id:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    rows: list[Row] = []
    seen: set[str] = set()

    def visit(span: Span, depth: int) -> None:
        if span.span_id in seen:  # a malformed trace must not loop
            return
        seen.add(span.span_id)
        start = (_start(span, origin) - origin).total_seconds()
        offset = min(width - 1, int(start / total * width))
        length = max(1, min(width - offset, round(span.duration / total * width)))
        rows.append(Row(span, depth, offset, length, start))
        for child in sorted(children.get(span.span_id, ()), key=lambda s: _start(s, origin)):
            visit(child, depth + 1)

    for root in sorted(roots, key=lambda s: _start(s, origin)):
        visit(root, 0)
    for span in spans:  # spans in a parent cycle have no root above them
        visit(span, 0)
    return rows


def duration_text(seconds: float) -> str:
    """``850µs``, ``12.3ms``, ``1.20s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f}ms"
    return f"{seconds:.2f}s"
