"""Scraped time series in bounded ring buffers, and local evaluation of expressions.

Each series keeps at most ``retention / scrape_interval`` samples in two
``array('d')`` rings (16 bytes per sample), so one hour at 5 s costs about
11.5 KB per series. New series beyond ``max_series`` are refused and counted,
never silently: that is how an exporter with a label explosion shows up.

Rates are computed like Prometheus's ``rate()`` with counter resets, but
without extrapolation to the window edges: over a 60 s window sampled every
5 s they cover the 55 s between the first and last sample.
"""

from __future__ import annotations

import itertools
import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from wasmgrid.monitor.query import (
    Aggregation,
    Expression,
    Function,
    Matcher,
    Query,
    Result,
    divide,
    label_key,
    matches_all,
)

SERIES = Gauge("wasmgrid_monitor_series", "Series held by the local series store.")
SERIES_REFUSED = Counter(
    "wasmgrid_monitor_series_refused_total",
    "Samples of new series refused because the series limit was reached.",
)

LabelKey = tuple[tuple[str, str], ...]


class Series:
    """A ring of (time, value) samples, oldest overwritten first."""

    __slots__ = ("_head", "_times", "_values", "capacity", "labels")

    def __init__(self, labels: Mapping[str, str], capacity: int) -> None:
        self.labels = dict(labels)
        self.capacity = capacity
        self._times = array("d")
        self._values = array("d")
        self._head = 0  # index of the oldest sample once the ring is full

    def __len__(self) -> int:
        return len(self._times)

    def add(self, t: float, v: float) -> None:
        """Append a sample (samples must come in time order)."""
        if len(self._times) < self.capacity:
            self._times.append(t)
            self._values.append(v)
            return
        self._times[self._head] = t
        self._values[self._head] = v
        self._head = (self._head + 1) % self.capacity

    @property
    def last_time(self) -> float:
        """Time of the newest sample (0 when empty)."""
        if not self._times:
            return 0.0
        return self._times[self._head - 1]

    @property
    def last_value(self) -> float:
        """Value of the newest sample (NaN when empty)."""
        if not self._values:
            return math.nan
        return self._values[self._head - 1]

    def _segments(self) -> tuple[tuple[int, int], ...]:
        """Index ranges of the ring in time order (each one sorted by time)."""
        n = len(self._times)
        if self._head == 0:
            return ((0, n),)
        return ((self._head, n), (0, self._head))

    def between(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """Samples with t0 <= time <= t1, oldest first (binary search: no scan of the ring)."""
        out: list[tuple[float, float]] = []
        for lo, hi in self._segments():
            i = bisect_left(self._times, t0, lo, hi)
            j = bisect_right(self._times, t1, lo, hi)
            out.extend(zip(self._times[i:j], self._values[i:j], strict=True))
        return out

    def since(self, t0: float) -> list[tuple[float, float]]:
        """Samples with time >= t0, oldest first."""
        return self.between(t0, math.inf)

    def at(self, t: float) -> tuple[float, float] | None:
        """The newest sample at or before `t`, or None."""
        for lo, hi in reversed(self._segments()):
            j = bisect_right(self._times, t, lo, hi)
            if j > lo:
                return self._times[j - 1], self._values[j - 1]
        return None


class SeriesStore:
    """Series by metric name and label set."""

    def __init__(self, capacity: int, max_series: int, staleness: float) -> None:
        self.capacity = capacity
        self.max_series = max_series
        self.staleness = staleness
        self._metrics: dict[str, dict[LabelKey, Series]] = {}
        self.count = 0

    def add(self, name: str, labels: Mapping[str, str], t: float, v: float) -> bool:
        """Record one sample; False if it would create a series beyond the limit."""
        by_labels = self._metrics.get(name)
        if by_labels is None:
            by_labels = self._metrics[name] = {}
        key = label_key(labels)
        series = by_labels.get(key)
        if series is None:
            if self.count >= self.max_series:
                SERIES_REFUSED.inc()
                return False
            series = by_labels[key] = Series(labels, self.capacity)
            self.count += 1
            SERIES.set(self.count)
        series.add(t, v)
        return True

    def select(self, name: str, matchers: Iterable[Matcher]) -> Iterator[Series]:
        """Series of metric `name` whose labels satisfy every matcher."""
        ms = list(matchers)
        for series in self._metrics.get(name, {}).values():
            if matches_all(ms, series.labels):
                yield series

    def drop_older_than(self, t: float) -> int:
        """Forget series whose newest sample is older than `t`; return how many."""
        dropped = 0
        for name in list(self._metrics):
            by_labels = self._metrics[name]
            for key in [k for k, s in by_labels.items() if s.last_time < t]:
                del by_labels[key]
                dropped += 1
            if not by_labels:
                del self._metrics[name]
        self.count -= dropped
        SERIES.set(self.count)
        return dropped


def increase(samples: list[tuple[float, float]]) -> float:
    """Counter increase across the samples, treating any decrease as a reset."""
    total = 0.0
    for (_, a), (_, b) in itertools.pairwise(samples):
        total += b - a if b >= a else b
    return total


def series_value(
    series: Series, fn: Function, window: float, now: float, staleness: float
) -> float:
    """One function applied to one series at `now` (samples after it ignored); NaN when
    there is not enough data."""
    if fn is Function.VALUE:
        sample = series.at(now)
        if sample is None or now - sample[0] > staleness:
            return math.nan
        return sample[1]
    samples = series.between(now - window, now)
    if not samples:
        return math.nan
    values = [v for _, v in samples]
    if fn is Function.AVG_OVER_TIME:
        return sum(values) / len(values)
    if fn is Function.MAX_OVER_TIME:
        return max(values)
    if fn is Function.MIN_OVER_TIME:
        return min(values)
    if len(samples) < 2:
        return math.nan
    inc = increase(samples)
    if fn is Function.INCREASE:
        return inc
    span = samples[-1][0] - samples[0][0]
    return inc / span if span > 0 else math.nan


@dataclass
class _Bucket:
    upper: float
    count: float


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile over (upper bound, cumulative count) buckets."""
    if len(buckets) < 2:
        return math.nan
    bs = sorted((_Bucket(u, c) for u, c in buckets), key=lambda b: b.upper)
    if not math.isinf(bs[-1].upper):
        return math.nan
    for i in range(1, len(bs)):  # rates of separately scraped buckets can be non-monotonic
        bs[i].count = max(bs[i].count, bs[i - 1].count)
    total = bs[-1].count
    if total <= 0:
        return math.nan
    if q <= 0:
        return -math.inf if q < 0 else bs[0].upper if bs[0].upper <= 0 else 0.0
    rank = q * total
    b = next(i for i, bucket in enumerate(bs) if bucket.count >= rank)
    if b == len(bs) - 1:
        return bs[-2].upper
    if b == 0 and bs[0].upper <= 0:
        return bs[0].upper
    start = 0.0 if b == 0 else bs[b - 1].upper
    count = bs[b].count - (bs[b - 1].count if b > 0 else 0.0)
    below = bs[b - 1].count if b > 0 else 0.0
    if count <= 0:
        return bs[b].upper
    return start + (bs[b].upper - start) * ((rank - below) / count)


def _group_key(labels: Mapping[str, str], q: Query, drop: str = "") -> LabelKey:
    if q.aggregation is Aggregation.NONE:
        return label_key({k: v for k, v in labels.items() if k != drop})
    return tuple((name, labels.get(name, "")) for name in q.group_by)


def _aggregate(values: list[float], how: Aggregation) -> float:
    if how is Aggregation.AVG:
        return sum(values) / len(values)
    if how is Aggregation.MAX:
        return max(values)
    if how is Aggregation.MIN:
        return min(values)
    if how is Aggregation.COUNT:
        return float(len(values))
    return sum(values)  # SUM, and NONE groups hold one series each


def evaluate_query(store: SeriesStore, q: Query, now: float) -> list[Result]:
    """One query over the local store at `now`."""
    groups: dict[LabelKey, list[float]] = {}
    if q.function is Function.HISTOGRAM_QUANTILE:
        hist: dict[LabelKey, list[tuple[float, float]]] = {}
        for series in store.select(q.metric + "_bucket", q.matchers):
            le = series.labels.get("le")
            if le is None:
                continue
            rate = series_value(series, Function.RATE, q.window, now, store.staleness)
            if math.isnan(rate):
                continue
            key = _group_key(series.labels, q, drop="le")
            hist.setdefault(key, []).append((float(le), rate))
        # Buckets with the same le from several series (replicas) are summed first.
        out: list[Result] = []
        for key, pairs in hist.items():
            merged: dict[float, float] = {}
            for le_value, rate in pairs:
                merged[le_value] = merged.get(le_value, 0.0) + rate
            value = bucket_quantile(q.quantile, list(merged.items()))
            if not math.isnan(value):
                out.append(Result(dict(key), value))
        return sorted(out, key=lambda r: label_key(r.labels))
    for series in store.select(q.metric, q.matchers):
        value = series_value(series, q.function, q.window, now, store.staleness)
        if math.isnan(value):
            continue
        groups.setdefault(_group_key(series.labels, q), []).append(value)
    results = [Result(dict(key), _aggregate(vals, q.aggregation)) for key, vals in groups.items()]
    return sorted(results, key=lambda r: label_key(r.labels))


def evaluate(store: SeriesStore, e: Expression, now: float) -> list[Result]:
    """An expression over the local store at `now`."""
    results = evaluate_query(store, e.query, now)
    if e.denominator is None:
        return results
    return divide(results, evaluate_query(store, e.denominator, now))


#: Instants one range query may evaluate (Prometheus allows 11 000; a chart needs far fewer).
MAX_RANGE_POINTS = 1000


def range_instants(start: float, end: float, step: float) -> list[float]:
    """start, start + step, … up to end (included when on a step)."""
    count = int((end - start) / step + 1e-9) + 1
    return [start + i * step for i in range(count)]


def evaluate_range(
    store: SeriesStore, e: Expression, instants: Iterable[float]
) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    """An expression at each instant, gathered per label set and ordered by labels."""
    by_labels: dict[LabelKey, list[tuple[float, float]]] = {}
    for t in instants:
        for r in evaluate(store, e, t):
            by_labels.setdefault(label_key(r.labels), []).append((t, r.value))
    return [(dict(key), points) for key, points in sorted(by_labels.items())]
