"""The alert state machine, silences, and alert labels.

Per rule and per labelled result of its expression:

    inactive ──condition holds──▶ pending ──held for `for`──▶ firing
        ▲                           │                           │
        └──────condition stops──────┘          condition stops  ▼
                                                            resolved

A resolved alert is kept for ``resolved_retention`` seconds (so ListAlerts and
the notifier see it), then forgotten; if the condition comes back it starts a
new pending alert. When a rule cannot be evaluated (backend down), its alerts
keep their state instead of resolving: an outage of the monitor's own data
must not read as "everything is fine".
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from prometheus_client import Counter

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.monitor.anomaly import EwmaZScore, ZScore, exceeds
from wasmgrid.monitor.query import Matcher, Result, check_matcher, label_key, matches_all
from wasmgrid.monitor.rules import AnomalyMethod, Rule

ALERTS_DROPPED = Counter(
    "wasmgrid_monitor_alerts_dropped_total",
    "Alerts (or anomaly detectors) not created because WASMGRID_MONITOR_MAX_ALERTS was reached.",
)
_TEMPLATE = re.compile(r"\{\{\s*\$(value|labels\.([a-zA-Z_][a-zA-Z0-9_]*))\s*\}\}")
MAX_SILENCE_MATCHERS = 32
MAX_SILENCE_SECONDS = 90 * 86400.0


class AlertState(IntEnum):
    """Values match monitor.proto ``AlertState``."""

    PENDING = 1
    FIRING = 2
    RESOLVED = 3


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable 16-hex-digit id of a label set."""
    h = hashlib.sha256()
    for k, v in sorted(labels.items()):
        h.update(k.encode())
        h.update(b"\xff")
        h.update(v.encode())
        h.update(b"\xff")
    return h.hexdigest()[:16]


def alert_labels(rule: Rule, result_labels: Mapping[str, str]) -> dict[str, str]:
    """Result labels, overridden by the rule's labels, then alertname and severity."""
    labels = dict(result_labels)
    labels.update(rule.labels)
    labels["alertname"] = rule.name
    labels["severity"] = rule.severity.name.lower()
    return labels


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def expand(template: str, labels: Mapping[str, str], value: float) -> str:
    """Substitute ``{{ $value }}`` and ``{{ $labels.NAME }}`` (plain text, no template engine)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) == "value":
            return _format_value(value)
        return labels.get(m.group(2) or "", "")

    return _TEMPLATE.sub(sub, template)


@dataclass
class Alert:
    """One alert instance."""

    rule: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    severity: int
    value: float
    active_since: float
    fired_at: float = 0.0
    resolved_at: float = 0.0
    last_evaluated: float = 0.0
    silenced_by: list[str] = field(default_factory=list)
    #: Until then, a missing result (no data yet, e.g. just after a restart) does not
    #: resolve the alert; a result whose condition is false still does.
    hold_until: float = 0.0


@dataclass(frozen=True)
class Transition:
    """An alert that changed state during one evaluation."""

    alert: Alert
    old: AlertState | None
    new: AlertState | None  # None: forgotten (a pending alert whose condition stopped)


class AlertEngine:
    """Holds every alert and advances them with each rule evaluation."""

    def __init__(self, resolved_retention: float, max_alerts: int) -> None:
        self.resolved_retention = resolved_retention
        self.max_alerts = max_alerts
        self.alerts: dict[tuple[str, str], Alert] = {}
        self._detectors: dict[tuple[str, tuple[tuple[str, str], ...]], ZScore | EwmaZScore] = {}
        self.dropped = 0

    def conditions(self, rule: Rule, results: Sequence[Result], now: float) -> list[Result]:
        """The results for which the rule's condition holds (value = anomaly score for
        anomaly rules)."""
        if rule.anomaly is None:
            return [r for r in results if rule.comparator.holds(r.value, rule.threshold)]
        a = rule.anomaly
        out = []
        for r in results:
            key = (rule.name, label_key(r.labels))
            det = self._detectors.get(key)
            if det is None:
                if len(self._detectors) >= self.max_alerts:
                    self.dropped += 1  # bounded like the alerts themselves
                    ALERTS_DROPPED.inc()
                    continue
                det = (
                    ZScore(a.history, a.min_samples)
                    if a.method is AnomalyMethod.ZSCORE
                    else EwmaZScore(a.alpha, a.min_samples)
                )
                self._detectors[key] = det
            z = det.score(now, r.value)
            if exceeds(z, a.deviations, a.direction):
                out.append(Result(r.labels, z))
        return out

    def step(self, rule: Rule, results: Sequence[Result], now: float) -> list[Transition]:
        """Advance `rule`'s alerts given its expression's results at `now`."""
        changes: list[Transition] = []
        holding = self.conditions(rule, results, now)
        seen: set[str] = set()
        present = {fingerprint(alert_labels(rule, r.labels)) for r in results}
        for r in holding:
            labels = alert_labels(rule, r.labels)
            fp = fingerprint(labels)
            seen.add(fp)
            alert = self.alerts.get((rule.name, fp))
            annotations = {k: expand(v, labels, r.value) for k, v in rule.annotations.items()}
            if alert is None or alert.state is AlertState.RESOLVED:
                if alert is None and len(self.alerts) >= self.max_alerts:
                    self.dropped += 1
                    ALERTS_DROPPED.inc()
                    continue
                old = alert.state if alert is not None else None
                alert = Alert(
                    rule.name, fp, labels, annotations, AlertState.PENDING,
                    int(rule.severity), r.value, now,
                )  # fmt: skip
                self.alerts[(rule.name, fp)] = alert
                changes.append(Transition(alert, old, AlertState.PENDING))
            alert.value = r.value
            alert.annotations = annotations
            alert.last_evaluated = now
            if alert.state is AlertState.PENDING and now - alert.active_since >= rule.for_seconds:
                alert.state = AlertState.FIRING
                alert.fired_at = now
                changes.append(Transition(alert, AlertState.PENDING, AlertState.FIRING))
        changes += self._settle_absent(rule, seen, present, now)
        return changes

    def _settle_absent(
        self, rule: Rule, seen: set[str], present: set[str], now: float
    ) -> list[Transition]:
        """Resolve or forget `rule`'s alerts whose condition no longer holds."""
        changes: list[Transition] = []
        for key, alert in list(self.alerts.items()):
            if key[0] != rule.name or alert.fingerprint in seen:
                continue
            if now < alert.hold_until and alert.fingerprint not in present:
                continue  # no data for it yet: neither resolve nor forget
            if alert.state is AlertState.PENDING:
                del self.alerts[key]
                changes.append(Transition(alert, AlertState.PENDING, None))
            elif alert.state is AlertState.FIRING:
                alert.state = AlertState.RESOLVED
                alert.resolved_at = now
                alert.last_evaluated = now
                changes.append(Transition(alert, AlertState.FIRING, AlertState.RESOLVED))
            elif now - alert.resolved_at > self.resolved_retention:
                del self.alerts[key]
                changes.append(Transition(alert, AlertState.RESOLVED, None))
        return changes

    def forget_rule(self, name: str) -> list[Alert]:
        """Drop every alert and detector of a rule (deleted or disabled); return the alerts."""
        gone = [self.alerts.pop(k) for k in [k for k in self.alerts if k[0] == name]]
        for det_key in [k for k in self._detectors if k[0] == name]:
            del self._detectors[det_key]
        return gone

    def restore(self, alerts: Iterable[Alert], hold_until: float) -> None:
        """Load alerts saved by a previous run (before the first evaluation); until
        `hold_until` they are not resolved for lack of data."""
        for alert in alerts:
            if len(self.alerts) < self.max_alerts:
                alert.hold_until = hold_until
                self.alerts[(alert.rule, alert.fingerprint)] = alert

    def apply_silences(self, silences: Iterable[Silence], now: float) -> None:
        """Set each alert's ``silenced_by`` from the silences active at `now`."""
        active = [s for s in silences if s.active(now)]
        for alert in self.alerts.values():
            alert.silenced_by = [s.id for s in active if s.matches(alert.labels)]


class SilenceState(IntEnum):
    """Values match monitor.proto ``SilenceState``."""

    PENDING = 1
    ACTIVE = 2
    EXPIRED = 3


@dataclass(frozen=True)
class Silence:
    """Suppresses notifications of matching alerts between starts_at and ends_at."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""
    created_at: float = 0.0

    def state(self, now: float) -> SilenceState:
        """Whether it applies at `now`."""
        if now >= self.ends_at:
            return SilenceState.EXPIRED
        if now < self.starts_at:
            return SilenceState.PENDING
        return SilenceState.ACTIVE

    def active(self, now: float) -> bool:
        """Whether it applies at `now`."""
        return self.state(now) is SilenceState.ACTIVE

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every matcher accepts `labels`."""
        return matches_all(self.matchers, labels)


def new_silence(
    matchers: Sequence[Matcher],
    starts_at: float,
    ends_at: float,
    created_by: str,
    comment: str,
    now: float,
) -> Silence:
    """A validated silence with a fresh id."""
    if not matchers:
        raise InvalidArgument("matchers must hold at least one matcher")
    if len(matchers) > MAX_SILENCE_MATCHERS:
        raise InvalidArgument(
            f"matchers has {len(matchers)} entries; the limit is {MAX_SILENCE_MATCHERS}"
        )
    for i, m in enumerate(matchers):
        check_matcher(m, f"matchers[{i}]")
    if ends_at <= starts_at:
        raise InvalidArgument("ends_at must be after starts_at")
    if ends_at <= now:
        raise InvalidArgument("ends_at is in the past: the silence would never apply")
    if ends_at - starts_at > MAX_SILENCE_SECONDS:
        raise InvalidArgument(
            f"silence length {ends_at - starts_at:.0f}s exceeds the limit of"
            f" {MAX_SILENCE_SECONDS:.0f}s (90 days)"
        )
    if len(created_by) > 128:
        raise InvalidArgument(f"created_by is {len(created_by)} characters; the limit is 128")
    if len(comment) > 1024:
        raise InvalidArgument(f"comment is {len(comment)} characters; the limit is 1024")
    return Silence(str(uuid.uuid4()), tuple(matchers), starts_at, ends_at, created_by, comment, now)
