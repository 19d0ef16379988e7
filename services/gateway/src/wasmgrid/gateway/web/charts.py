"""Chart geometry for inline SVG: plain values in, coordinates and labels out.

The pages draw charts as SVG in the HTML itself (no chart library, nothing from a
CDN, no inline style: colours come from CSS classes). Everything here is pure, so
the scales, ticks and segments are tested without a browser.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: The drawing area of every chart, in SVG user units (scaled to the page width by CSS).
WIDTH = 640.0
HEIGHT = 200.0
#: Room for the y-axis labels on the left and the x-axis labels below.
LEFT = 56.0
BOTTOM = 24.0
TOP = 8.0
RIGHT = 8.0


@dataclass(frozen=True)
class Tick:
    """One axis label at a position in user units."""

    at: float
    label: str


@dataclass(frozen=True)
class Line:
    """One series as an SVG polyline, with its points for the hover readout."""

    name: str
    css: str  # colour class: series-0 … series-5
    points: str  # "x,y x,y …"
    data: str  # "t:v;t:v…" for the chart script (unix seconds, values)
    last: str  # the last value, formatted


@dataclass(frozen=True)
class LineChart:
    """A time series chart: lines, axes and an accessible summary."""

    title: str
    unit: str
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    summary: str
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT
    bottom: float = HEIGHT - BOTTOM
    top: float = TOP
    right: float = WIDTH - RIGHT

    @property
    def empty(self) -> bool:
        """Whether there is nothing to draw."""
        return not self.lines


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^n at or above `value` (1 for nothing)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exp = math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = m * 10.0**exp
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exp + 1)  # pragma: no cover - 10 × 10^exp always fits


def count_max(value: float) -> float:
    """An axis top for counts: 4 × a 1, 2, 2.5 or 5 × 10^n step, every tick whole."""
    exp = math.floor(math.log10(max(value, 1) / 4)) if value > 4 else 0
    for m in (1, 2, 2.5, 5, 10):
        step = m * 10**exp
        if step == int(step) and 4 * step >= value:
            return float(4 * step)
    return float(40 * 10**exp)  # pragma: no cover - 10 × 10^exp always fits


def format_value(value: float, unit: str = "") -> str:
    """A short human number: 0.25, 12.5, 1.2k, 3.4M; durations as µs/ms/s."""
    if unit == "s":
        if value == 0:
            return "0"
        if value < 1e-3:
            return f"{value * 1e6:.3g} µs"
        if value < 1:
            return f"{value * 1e3:.3g} ms"
        return f"{value:.3g} s"
    suffix = f" {unit}" if unit else ""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M{suffix}"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k{suffix}"
    if magnitude >= 100 or value == int(value):
        return f"{value:.0f}{suffix}"
    return f"{value:.3g}{suffix}"


def _clock(t: float) -> str:
    return time.strftime("%H:%M", time.gmtime(t))


def line_chart(
    title: str,
    unit: str,
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    start: float,
    end: float,
    colours: Mapping[str, int] | None = None,
) -> LineChart:
    """Lines for `series` (name, [(unix time, value)]) over [start, end], y from 0.

    `colours` pins a series to a colour index by name (so 5xx is always red).
    """
    plot_w = WIDTH - RIGHT - LEFT
    plot_h = HEIGHT - BOTTOM - TOP
    span = max(end - start, 1e-9)
    values = [v for _, pts in series for _, v in pts if math.isfinite(v)]
    top = nice_max(max(values, default=0.0))
    lines: list[Line] = []
    for i, (name, pts) in enumerate(series):
        finite = [(t, v) for t, v in pts if math.isfinite(v) and start <= t <= end]
        if not finite:
            continue
        xy = " ".join(
            f"{LEFT + (t - start) / span * plot_w:.1f},{TOP + plot_h - v / top * plot_h:.1f}"
            for t, v in finite
        )
        data = ";".join(f"{t:.0f}:{v:.6g}" for t, v in finite)
        colour = (colours or {}).get(name, i) % 6
        lines.append(Line(name, f"series-{colour}", xy, data, format_value(finite[-1][1], unit)))
    y_ticks = [
        Tick(TOP + plot_h - k / 4 * plot_h, format_value(top * k / 4, unit)) for k in range(5)
    ]
    x_ticks = [Tick(LEFT + k / 4 * plot_w, _clock(start + span * k / 4)) for k in range(5)]
    if lines:
        latest = ", ".join(f"{ln.name} {ln.last}" for ln in lines)
        summary = f"{title} from {_clock(start)} to {_clock(end)} UTC; latest: {latest}."
    else:
        summary = f"{title}: no data between {_clock(start)} and {_clock(end)} UTC."
    return LineChart(title, unit, lines, y_ticks, x_ticks, summary)


@dataclass(frozen=True)
class Bar:
    """One stacked bar: a label and segments (css class, y, height, value)."""

    label: str
    x: float
    width: float
    segments: list[tuple[str, float, float, int]]
    total: int


@dataclass(frozen=True)
class BarChart:
    """Daily counts as stacked bars."""

    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[tuple[str, str]]  # (css class, name)
    summary: str
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT
    bottom: float = HEIGHT - BOTTOM
    right: float = WIDTH - RIGHT


def bar_chart(
    days: Sequence[tuple[str, Sequence[int]]], names: Sequence[str], what: str
) -> BarChart:
    """Stacked bars, one per (date, counts per name), oldest first."""
    plot_w = WIDTH - RIGHT - LEFT
    plot_h = HEIGHT - BOTTOM - TOP
    top = count_max(max((sum(c) for _, c in days), default=0))
    slot = plot_w / max(len(days), 1)
    bars: list[Bar] = []
    for i, (label, counts) in enumerate(days):
        y = TOP + plot_h
        segments = []
        for k, count in enumerate(counts):
            h = count / top * plot_h
            y -= h
            segments.append((f"series-{k}", round(y, 1), round(h, 1), int(count)))
        x = round(LEFT + i * slot + slot * 0.15, 1)
        bars.append(Bar(label, x, round(slot * 0.7, 1), segments, sum(counts)))
    y_ticks = [Tick(TOP + plot_h - k / 4 * plot_h, format_value(top * k / 4)) for k in range(5)]
    step = max(1, len(days) // 5)
    x_ticks = [Tick(LEFT + i * slot + slot / 2, label[5:]) for i, (label, _) in enumerate(days)][
        ::step
    ]
    totals = [sum(col) for col in zip(*(c for _, c in days), strict=True)] if days else []
    parts = ", ".join(f"{n} {t:,}" for n, t in zip(names, totals, strict=False))
    first, last = (days[0][0], days[-1][0]) if days else ("", "")
    summary = f"{what} per day from {first} to {last}: {parts}." if days else f"No {what} yet."
    legend = [(f"series-{k}", n) for k, n in enumerate(names)]
    return BarChart(bars, y_ticks, x_ticks, legend, summary)


# ------------------------------------------------------------------ health history


@dataclass(frozen=True)
class Segment:
    """A stretch of one status on a timeline, in user units of a 0..1000 wide bar."""

    status: str  # serving, not_serving, unreachable, unknown
    x: float
    width: float
    label: str


@dataclass(frozen=True)
class Change:
    """One status change of one replica (the monitor's StatusChange, as plain values)."""

    at: float
    from_status: str
    to_status: str


def timeline(
    changes: Sequence[Change],
    current: str,
    since: float,
    start: float,
    end: float,
) -> list[Segment]:
    """Segments of [start, end] from a replica's changes (any order) and its current status.

    Before the earliest change the status is that change's `from_status`; with no change
    at all, `current` holds from `since` (earlier than that nothing is known).
    """
    span = max(end - start, 1e-9)
    ordered = sorted((c for c in changes if c.at <= end), key=lambda c: c.at)
    stretches: list[tuple[float, float, str]] = []
    if ordered:
        stretches.append((start, ordered[0].at, ordered[0].from_status))
        for prev, nxt in itertools.pairwise(ordered):
            stretches.append((prev.at, nxt.at, prev.to_status))
        stretches.append((ordered[-1].at, end, current))
    else:
        if since > start:
            stretches.append((start, since, "unknown"))
        stretches.append((max(since, start), end, current))
    out: list[Segment] = []
    for first, last, status in stretches:
        a, b = max(first, start), min(last, end)
        if b <= a:
            continue
        if out and out[-1].status == status:  # one stretch, not two touching ones
            a = start + out.pop().x / 1000 * span
        label = f"{status.replace('_', ' ')} {_clock(a)}–{_clock(b)} UTC"
        x, width = round((a - start) / span * 1000, 2), round((b - a) / span * 1000, 2)
        out.append(Segment(status, x, width, label))
    return out


# ------------------------------------------------------------------ trace waterfall


@dataclass(frozen=True)
class SpanBar:
    """One span row of a waterfall: depth, and a bar in a 0..1000 wide track."""

    index: int
    depth: int
    x: float
    width: float
    offset_s: float
    duration_s: float


@dataclass
class _Node:
    index: int
    parent: str
    start: float
    children: list[int] = field(default_factory=list)


def waterfall(
    spans: Sequence[tuple[str, str, float, float]],
) -> tuple[list[SpanBar], float]:
    """Rows in tree order for (span id, parent id, start, duration) and the trace length.

    Children follow their parent, by start time; spans whose parent was not received
    are roots. Bars are at least 2 units wide so a 10 µs span stays visible.
    """
    if not spans:
        return [], 0.0
    t0 = min(s[2] for s in spans)
    t1 = max(s[2] + s[3] for s in spans)
    total = max(t1 - t0, 1e-9)
    ids = {s[0]: i for i, s in enumerate(spans)}
    nodes = [_Node(i, s[1], s[2]) for i, s in enumerate(spans)]
    roots: list[int] = []
    for node in nodes:
        parent = ids.get(node.parent) if node.parent else None
        if parent is None or parent == node.index:
            roots.append(node.index)
        else:
            nodes[parent].children.append(node.index)
    rows: list[SpanBar] = []
    seen: set[int] = set()
    by_start = sorted(range(len(spans)), key=lambda i: nodes[i].start, reverse=True)
    # Spans in a parent cycle (bad input) are reachable from no root: drawn as roots last.
    stack = [(i, 0) for i in by_start if i not in roots]
    stack += [(i, 0) for i in by_start if i in roots]
    while stack:
        i, depth = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        _, _, start, duration = spans[i]
        x = min((start - t0) / total * 1000, 998.0)
        width = min(max(duration / total * 1000, 2.0), 1000 - x)
        rows.append(SpanBar(i, depth, round(x, 2), round(width, 2), start - t0, duration))
        kids = sorted(nodes[i].children, key=lambda k: nodes[k].start, reverse=True)
        stack.extend((k, depth + 1) for k in kids)
    return rows, t1 - t0
