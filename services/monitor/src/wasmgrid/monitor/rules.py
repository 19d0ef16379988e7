"""Alert rules: the model, its validation, and the YAML rules file.

A rule is an :class:`~wasmgrid.monitor.query.Expression`, a condition (a
threshold comparison, or an anomaly detector over the expression's own
history), a ``for`` duration, a severity, labels and annotations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.units import parse_duration
from wasmgrid.monitor.query import (
    Aggregation,
    Expression,
    Function,
    Matcher,
    MatchOp,
    Query,
    check_expression,
)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_:.-]{0,127}$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,127}$")
MAX_FOR = 24 * 3600.0
MAX_LABELS = 32
MAX_ANNOTATIONS = 32
MAX_LABEL_VALUE = 1024
MAX_ANNOTATION_VALUE = 4096
MIN_HISTORY = 60.0
MAX_HISTORY = 24 * 3600.0


class Severity(IntEnum):
    """Values match monitor.proto ``Severity``."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3


class Comparator(IntEnum):
    """Values match monitor.proto ``Comparator``."""

    GT = 1
    GE = 2
    LT = 3
    LE = 4
    EQ = 5
    NE = 6

    def holds(self, value: float, threshold: float) -> bool:
        """Whether `value` <op> `threshold`."""
        if math.isnan(value):
            return False
        return {
            Comparator.GT: value > threshold,
            Comparator.GE: value >= threshold,
            Comparator.LT: value < threshold,
            Comparator.LE: value <= threshold,
            Comparator.EQ: value == threshold,
            Comparator.NE: value != threshold,
        }[self]


class AnomalyMethod(IntEnum):
    """Values match monitor.proto ``AnomalyMethod``."""

    ZSCORE = 1
    EWMA_ZSCORE = 2


class RuleSource(IntEnum):
    """Values match monitor.proto ``RuleSource``."""

    FILE = 1
    API = 2


@dataclass(frozen=True)
class Anomaly:
    """An anomaly condition: |deviation| of the value from its history > `deviations`."""

    method: AnomalyMethod
    history: float
    deviations: float
    alpha: float = 0.1
    min_samples: int = 10
    direction: str = "both"


@dataclass(frozen=True)
class Rule:
    """One alert rule."""

    name: str
    expression: Expression
    comparator: Comparator = Comparator.GT
    threshold: float = 0.0
    anomaly: Anomaly | None = None
    for_seconds: float = 0.0
    severity: Severity = Severity.WARNING
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    disabled: bool = False
    source: RuleSource = RuleSource.API
    version: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0


def check_rule(rule: Rule) -> None:
    """InvalidArgument naming the field unless `rule` is valid."""
    if not _NAME.match(rule.name):
        raise InvalidArgument(
            f"rule.name {rule.name!r} must match [A-Za-z][A-Za-z0-9_:.-]{{0,127}}"
        )
    check_expression(rule.expression, "rule.expression")
    if rule.anomaly is None:
        if rule.comparator not in Comparator.__members__.values():
            raise InvalidArgument("rule.comparator must be set for a threshold rule")
        if not math.isfinite(rule.threshold):
            raise InvalidArgument(f"rule.threshold {rule.threshold} must be a finite number")
    else:
        _check_anomaly(rule.anomaly)
    if not 0 <= rule.for_seconds <= MAX_FOR:
        raise InvalidArgument(
            f"rule.for_duration {rule.for_seconds:g}s must be between 0 and {MAX_FOR:g}s"
        )
    if rule.severity not in Severity.__members__.values():
        raise InvalidArgument(f"rule.severity {rule.severity} is not a severity")
    _check_map(rule.labels, "rule.labels", MAX_LABELS, MAX_LABEL_VALUE, label_names=True)
    _check_map(rule.annotations, "rule.annotations", MAX_ANNOTATIONS, MAX_ANNOTATION_VALUE)
    for reserved in ("alertname", "severity"):
        if reserved in rule.labels:
            raise InvalidArgument(f"rule.labels must not set {reserved!r}: the monitor sets it")


def _check_anomaly(a: Anomaly) -> None:
    if a.method not in AnomalyMethod.__members__.values():
        raise InvalidArgument("rule.anomaly.method must be ZSCORE or EWMA_ZSCORE")
    if not MIN_HISTORY <= a.history <= MAX_HISTORY:
        raise InvalidArgument(
            f"rule.anomaly.history {a.history:g}s must be between"
            f" {MIN_HISTORY:g}s and {MAX_HISTORY:g}s"
        )
    if not (math.isfinite(a.deviations) and a.deviations > 0):
        raise InvalidArgument(f"rule.anomaly.deviations {a.deviations:g} must be > 0")
    if not 0 < a.alpha <= 1:
        raise InvalidArgument(f"rule.anomaly.alpha {a.alpha:g} must be in (0, 1]")
    if not 2 <= a.min_samples <= 100_000:
        raise InvalidArgument(
            f"rule.anomaly.min_samples {a.min_samples} must be between 2 and 100000"
        )
    if a.direction not in ("up", "down", "both"):
        raise InvalidArgument(
            f"rule.anomaly.direction {a.direction!r} must be 'up', 'down' or 'both'"
        )


def _check_map(
    values: Mapping[str, str], where: str, limit: int, max_len: int, *, label_names: bool = False
) -> None:
    if len(values) > limit:
        raise InvalidArgument(f"{where} has {len(values)} entries; the limit is {limit}")
    for key, value in values.items():
        if not _LABEL.match(key):
            kind = "label" if label_names else "annotation"
            raise InvalidArgument(f"{where} key {key!r} is not a valid {kind} name")
        if len(value) > max_len:
            raise InvalidArgument(
                f"{where}[{key!r}] is {len(value)} characters; the limit is {max_len}"
            )


def _enum(kind: type[IntEnum], value: Any, where: str) -> Any:
    try:
        return kind[str(value).upper()]
    except KeyError:
        names = ", ".join(m.name.lower() for m in kind)
        raise InvalidArgument(f"{where} {value!r} is not one of: {names}") from None


def _matchers(items: Any, where: str) -> tuple[Matcher, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise InvalidArgument(f"{where} must be a list of {{name, in|not_in}}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "name" not in item:
            raise InvalidArgument(
                f"{where}[{i}] must be a mapping with 'name' and 'in' or 'not_in'"
            )
        op = MatchOp.NOT_IN if "not_in" in item else MatchOp.IN
        values = item.get("not_in" if op is MatchOp.NOT_IN else "in")
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list):
            raise InvalidArgument(f"{where}[{i}] needs 'in' or 'not_in' with a list of values")
        out.append(Matcher(str(item["name"]), op, tuple(str(v) for v in values)))
    return tuple(out)


def query_from_dict(doc: Any, where: str) -> Query:
    """A query from its YAML form."""
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{where} must be a mapping with at least 'metric'")
    fn = _enum(Function, doc.get("function", "value"), f"{where}.function")
    window = doc.get("window")
    return Query(
        metric=str(doc.get("metric", "")),
        function=fn,
        matchers=_matchers(doc.get("matchers"), f"{where}.matchers"),
        window=parse_duration(window, f"{where}.window") if window is not None else 0.0,
        quantile=float(doc.get("quantile", 0.0)),
        aggregation=_enum(Aggregation, doc.get("aggregation", "sum"), f"{where}.aggregation"),
        group_by=tuple(str(g) for g in doc.get("group_by", ()) or ()),
    )


_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([-+0-9.eE]+|[-+]?inf)\s*$")
_OPS = {
    ">": Comparator.GT,
    ">=": Comparator.GE,
    "<": Comparator.LT,
    "<=": Comparator.LE,
    "==": Comparator.EQ,
    "!=": Comparator.NE,
}


def rule_from_dict(doc: Any, where: str, *, source: RuleSource = RuleSource.FILE) -> Rule:
    """A rule from its YAML form (see default_rules/default.yaml), validated."""
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{where} must be a mapping")
    name = str(doc.get("name", ""))
    where = f"{where} ({name})" if name else where
    denominator = doc.get("denominator")
    expression = Expression(
        query_from_dict(doc.get("expr"), f"{where}.expr"),
        query_from_dict(denominator, f"{where}.denominator") if denominator else None,
    )
    comparator, threshold = Comparator.GT, 0.0
    anomaly = None
    if "anomaly" in doc:
        a = doc["anomaly"]
        if not isinstance(a, dict):
            raise InvalidArgument(f"{where}.anomaly must be a mapping")
        anomaly = Anomaly(
            method=_enum(AnomalyMethod, a.get("method", "zscore"), f"{where}.anomaly.method"),
            history=parse_duration(a.get("history", "30m"), f"{where}.anomaly.history"),
            deviations=float(a.get("deviations", 3.0)),
            alpha=float(a.get("alpha", 0.1)),
            min_samples=int(a.get("min_samples", 10)),
            direction=str(a.get("direction", "both")),
        )
    else:
        m = _CONDITION.match(str(doc.get("condition", "")))
        if not m:
            raise InvalidArgument(
                f"{where}.condition {doc.get('condition')!r} must look like '> 0.05'"
            )
        comparator, threshold = _OPS[m.group(1)], float(m.group(2))
    rule = Rule(
        name=name,
        expression=expression,
        comparator=comparator,
        threshold=threshold,
        anomaly=anomaly,
        for_seconds=parse_duration(doc.get("for", 0), f"{where}.for"),
        severity=_enum(Severity, doc.get("severity", "warning"), f"{where}.severity"),
        labels={str(k): str(v) for k, v in (doc.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (doc.get("annotations") or {}).items()},
        disabled=bool(doc.get("disabled", False)),
        source=source,
    )
    try:
        check_rule(rule)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: {exc.message}") from None
    return rule


def load_rules_file(path: Path) -> list[Rule]:
    """Every rule in a YAML rules file (``rules: [...]``); InvalidArgument on any error."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"rules file {path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise InvalidArgument(f"rules file {path}: top level must be a mapping with 'rules: [...]'")
    rules = [rule_from_dict(r, f"{path.name}: rules[{i}]") for i, r in enumerate(doc["rules"])]
    names = [r.name for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidArgument(f"rules file {path}: duplicate rule names {dupes}")
    return rules


def with_version(rule: Rule, version: int, created_at: float, updated_at: float) -> Rule:
    """A copy of `rule` with its stored bookkeeping fields."""
    return replace(rule, version=version, created_at=created_at, updated_at=updated_at)


def _query_to_dict(q: Query) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "metric": q.metric,
        "function": q.function.name.lower(),
        "aggregation": q.aggregation.name.lower(),
    }
    if q.matchers:
        doc["matchers"] = [
            {"name": m.name, "in" if m.op is MatchOp.IN else "not_in": list(m.values)}
            for m in q.matchers
        ]
    if q.window:
        doc["window"] = q.window
    if q.function is Function.HISTOGRAM_QUANTILE:
        doc["quantile"] = q.quantile
    if q.group_by:
        doc["group_by"] = list(q.group_by)
    return doc


_OP_TEXT = {v: k for k, v in _OPS.items()}


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The YAML/JSON form of a rule (inverse of :func:`rule_from_dict`)."""
    doc: dict[str, Any] = {"name": rule.name, "expr": _query_to_dict(rule.expression.query)}
    if rule.expression.denominator is not None:
        doc["denominator"] = _query_to_dict(rule.expression.denominator)
    if rule.anomaly is not None:
        a = rule.anomaly
        doc["anomaly"] = {
            "method": a.method.name.lower(),
            "history": a.history,
            "deviations": a.deviations,
            "alpha": a.alpha,
            "min_samples": a.min_samples,
            "direction": a.direction,
        }
    else:
        doc["condition"] = f"{_OP_TEXT[rule.comparator]} {rule.threshold!r}"
    doc["for"] = rule.for_seconds
    doc["severity"] = rule.severity.name.lower()
    doc["labels"] = dict(rule.labels)
    doc["annotations"] = dict(rule.annotations)
    doc["disabled"] = rule.disabled
    return doc
