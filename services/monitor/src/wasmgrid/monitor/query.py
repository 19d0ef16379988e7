"""Metric expressions: a selector, a function over a window, an aggregation, a ratio.

This is the small subset of PromQL that alert rules and reports need. The
monitor evaluates it itself over scraped series (:mod:`wasmgrid.monitor.series`)
or translates it to PromQL for a real Prometheus (:func:`to_promql`). Label
matchers compare exact values only, so user input never becomes a regex here;
for Prometheus the values are regex-escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from wasmgrid.common.errors import InvalidArgument

_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,127}$")
_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$")
MAX_MATCHERS = 32
MAX_VALUES = 64
MAX_GROUP_BY = 16
MIN_WINDOW = 1.0
MAX_WINDOW = 24 * 3600.0


class MatchOp(IntEnum):
    """Values match monitor.proto ``MatchOp``."""

    IN = 1
    NOT_IN = 2


class Function(IntEnum):
    """Values match monitor.proto ``Function``."""

    VALUE = 1
    RATE = 2
    INCREASE = 3
    AVG_OVER_TIME = 4
    MAX_OVER_TIME = 5
    MIN_OVER_TIME = 6
    HISTOGRAM_QUANTILE = 7


class Aggregation(IntEnum):
    """Values match monitor.proto ``Aggregation`` (UNSPECIFIED is SUM)."""

    NONE = 1
    SUM = 2
    AVG = 3
    MAX = 4
    MIN = 5
    COUNT = 6


WINDOWED = frozenset(Function) - {Function.VALUE}


@dataclass(frozen=True)
class Matcher:
    """name IN values / name NOT_IN values (a missing label counts as "")."""

    name: str
    op: MatchOp
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy this matcher."""
        found = labels.get(self.name, "") in self.values
        return found if self.op is MatchOp.IN else not found


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher accepts `labels`."""
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True)
class Query:
    """One selector with a function and an aggregation."""

    metric: str
    function: Function = Function.VALUE
    matchers: tuple[Matcher, ...] = ()
    window: float = 0.0
    quantile: float = 0.0
    aggregation: Aggregation = Aggregation.SUM
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Expression:
    """A query, optionally divided by another one."""

    query: Query
    denominator: Query | None = None


@dataclass(frozen=True)
class Result:
    """One labelled value."""

    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0.0


def check_matcher(m: Matcher, where: str) -> None:
    """InvalidArgument unless `m` is well formed."""
    if not _LABEL.match(m.name):
        raise InvalidArgument(f"{where}.name {m.name!r} is not a label name [a-zA-Z_][a-zA-Z0-9_]*")
    if m.op not in (MatchOp.IN, MatchOp.NOT_IN):
        raise InvalidArgument(f"{where}.op must be MATCH_OP_IN or MATCH_OP_NOT_IN")
    if not m.values:
        raise InvalidArgument(f"{where}.values must hold at least one value")
    if len(m.values) > MAX_VALUES:
        raise InvalidArgument(
            f"{where}.values has {len(m.values)} values; the limit is {MAX_VALUES}"
        )


def check_query(q: Query, where: str) -> None:
    """InvalidArgument naming the field unless `q` can be evaluated."""
    if not _METRIC.match(q.metric):
        raise InvalidArgument(f"{where}.metric {q.metric!r} is not a Prometheus metric name")
    if q.function not in Function.__members__.values():
        raise InvalidArgument(f"{where}.function must be set")
    if len(q.matchers) > MAX_MATCHERS:
        raise InvalidArgument(
            f"{where}.matchers has {len(q.matchers)} matchers; the limit is {MAX_MATCHERS}"
        )
    for i, m in enumerate(q.matchers):
        check_matcher(m, f"{where}.matchers[{i}]")
    if q.function in WINDOWED and not MIN_WINDOW <= q.window <= MAX_WINDOW:
        raise InvalidArgument(
            f"{where}.window {q.window:g}s must be between {MIN_WINDOW:g}s and {MAX_WINDOW:g}s"
            f" for {q.function.name}"
        )
    if q.function is Function.HISTOGRAM_QUANTILE and not 0.0 <= q.quantile <= 1.0:
        raise InvalidArgument(f"{where}.quantile {q.quantile:g} must be within [0, 1]")
    if len(q.group_by) > MAX_GROUP_BY:
        raise InvalidArgument(
            f"{where}.group_by has {len(q.group_by)} labels; limit {MAX_GROUP_BY}"
        )
    for name in q.group_by:
        if not _LABEL.match(name):
            raise InvalidArgument(f"{where}.group_by label {name!r} is not a label name")


def check_expression(e: Expression, where: str = "expression") -> None:
    """InvalidArgument naming the field unless `e` can be evaluated."""
    check_query(e.query, f"{where}.query")
    if e.denominator is not None:
        check_query(e.denominator, f"{where}.denominator")


def _selector(metric: str, matchers: Sequence[Matcher]) -> str:
    parts = []
    for m in matchers:
        if len(m.values) == 1:
            op = "=" if m.op is MatchOp.IN else "!="
            parts.append(f'{m.name}{op}"{_escape_string(m.values[0])}"')
        else:
            op = "=~" if m.op is MatchOp.IN else "!~"
            alternation = "|".join(_escape_string(re.escape(v)) for v in m.values)
            parts.append(f'{m.name}{op}"{alternation}"')
    return f"{metric}{{{','.join(parts)}}}"


def _escape_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


_AGG = {
    Aggregation.SUM: "sum",
    Aggregation.AVG: "avg",
    Aggregation.MAX: "max",
    Aggregation.MIN: "min",
    Aggregation.COUNT: "count",
}
_OVER_TIME = {
    Function.AVG_OVER_TIME: "avg_over_time",
    Function.MAX_OVER_TIME: "max_over_time",
    Function.MIN_OVER_TIME: "min_over_time",
    Function.RATE: "rate",
    Function.INCREASE: "increase",
}


def query_to_promql(q: Query) -> str:
    """The PromQL equivalent of one query."""
    by = f" by ({', '.join(q.group_by)})" if q.group_by else ""
    if q.function is Function.HISTOGRAM_QUANTILE:
        rate = f"rate({_selector(q.metric + '_bucket', q.matchers)}[{_duration(q.window)}])"
        if q.aggregation is Aggregation.NONE:
            return f"histogram_quantile({q.quantile:g}, {rate})"
        keep = ", ".join([*q.group_by, "le"])
        return f"histogram_quantile({q.quantile:g}, sum by ({keep}) ({rate}))"
    inner = _selector(q.metric, q.matchers)
    if q.function is not Function.VALUE:
        inner = f"{_OVER_TIME[q.function]}({inner}[{_duration(q.window)}])"
    if q.aggregation is Aggregation.NONE:
        return inner
    return f"{_AGG[q.aggregation]}{by} ({inner})"


def to_promql(e: Expression) -> str:
    """The PromQL equivalent of an expression."""
    text = query_to_promql(e.query)
    if e.denominator is None:
        return text
    return f"({text}) / ({query_to_promql(e.denominator)})"


def label_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A hashable, ordered form of a label set."""
    return tuple(sorted(labels.items()))


def divide(numerator: Sequence[Result], denominator: Sequence[Result]) -> list[Result]:
    """numerator / denominator matched on identical labels; 0 or missing denominators dropped."""
    by_labels = {label_key(r.labels): r.value for r in denominator}
    out: list[Result] = []
    for r in numerator:
        d = by_labels.get(label_key(r.labels))
        if d:
            out.append(Result(r.labels, r.value / d))
    return out
