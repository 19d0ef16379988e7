"""Translation between monitor.proto messages and the domain types."""

from __future__ import annotations

import math
from collections.abc import Sequence

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from wasmgrid.api.monitor.v1 import monitor_pb2 as pb
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.monitor.alerting import Alert, Silence
from wasmgrid.monitor.fleet import Replica, StatusChange
from wasmgrid.monitor.logstore import StoredLog
from wasmgrid.monitor.notify import NotificationRecord, NotificationState
from wasmgrid.monitor.otlp import attributes_text
from wasmgrid.monitor.query import (
    Aggregation,
    Expression,
    Function,
    Matcher,
    MatchOp,
    Query,
)
from wasmgrid.monitor.report import Latency, Report
from wasmgrid.monitor.rules import (
    Anomaly,
    AnomalyMethod,
    Comparator,
    Rule,
    RuleSource,
    Severity,
)
from wasmgrid.monitor.traces import StoredSpan, TraceEntry

_DIRECTIONS = ("up", "down", "both")
NOTIFICATION_STATES = ProtoEnum.members(pb.NotificationState, NotificationState)


def ts(t: float) -> Timestamp:
    """Unix seconds → Timestamp (empty for 0)."""
    out = Timestamp()
    if t:
        out.FromNanoseconds(int(t * 1e9))
    return out


def ts_ns(t: int) -> Timestamp:
    """Unix nanoseconds → Timestamp."""
    out = Timestamp()
    out.FromNanoseconds(t)
    return out


def dur(seconds: float) -> Duration:
    """Seconds → Duration."""
    out = Duration()
    out.FromNanoseconds(int(seconds * 1e9))
    return out


def dur_ns(ns: int) -> Duration:
    """Nanoseconds → Duration."""
    out = Duration()
    out.FromNanoseconds(ns)
    return out


def seconds_of(d: Duration, where: str) -> float:
    """Duration → seconds; negative durations are refused."""
    value = d.seconds + d.nanos / 1e9
    if value < 0:
        raise InvalidArgument(f"{where} {value:g}s must not be negative")
    return value


def unix_of(t: Timestamp) -> float:
    """Timestamp → unix seconds (0 when unset)."""
    return t.seconds + t.nanos / 1e9


# ------------------------------------------------------------------ queries


def matcher_from_pb(m: pb.LabelMatcher) -> Matcher:
    """A proto matcher (validated later)."""
    if m.op not in (1, 2):
        raise InvalidArgument(f"matcher on {m.name!r}: op must be MATCH_OP_IN or MATCH_OP_NOT_IN")
    return Matcher(m.name, MatchOp(m.op), tuple(m.values))


def matcher_to_pb(m: Matcher) -> pb.LabelMatcher:
    """A domain matcher as proto."""
    return pb.LabelMatcher(name=m.name, op=int(m.op), values=list(m.values))  # type: ignore[arg-type]


def query_from_pb(q: pb.Query, where: str) -> Query:
    """A proto query (validated later, except the enum ranges checked here)."""
    fn = int(q.function)
    if fn == 0:
        raise InvalidArgument(f"{where}.function must be set")
    if fn not in {int(f) for f in Function}:
        raise InvalidArgument(f"{where}.function {fn} is not a known function")
    if int(q.aggregation) not in {0, *(int(a) for a in Aggregation)}:
        raise InvalidArgument(f"{where}.aggregation {q.aggregation} is not a known aggregation")
    return Query(
        metric=q.metric,
        function=Function(fn),
        matchers=tuple(matcher_from_pb(m) for m in q.matchers),
        window=seconds_of(q.window, f"{where}.window"),
        quantile=q.quantile,
        aggregation=Aggregation(q.aggregation) if q.aggregation else Aggregation.SUM,
        group_by=tuple(q.group_by),
    )


def query_to_pb(q: Query) -> pb.Query:
    """A domain query as proto."""
    return pb.Query(
        metric=q.metric,
        matchers=[matcher_to_pb(m) for m in q.matchers],
        function=int(q.function),  # type: ignore[arg-type]
        window=dur(q.window),
        quantile=q.quantile,
        aggregation=int(q.aggregation),  # type: ignore[arg-type]
        group_by=list(q.group_by),
    )


def expression_from_pb(e: pb.Expression, where: str = "expression") -> Expression:
    """A proto expression."""
    if not e.HasField("query"):
        raise InvalidArgument(f"{where}.query must be set")
    return Expression(
        query_from_pb(e.query, f"{where}.query"),
        query_from_pb(e.denominator, f"{where}.denominator") if e.HasField("denominator") else None,
    )


def expression_to_pb(e: Expression) -> pb.Expression:
    """A domain expression as proto."""
    out = pb.Expression(query=query_to_pb(e.query))
    if e.denominator is not None:
        out.denominator.CopyFrom(query_to_pb(e.denominator))
    return out


# ------------------------------------------------------------------ rules


def rule_from_pb(r: pb.Rule) -> Rule:
    """A proto rule (output-only fields ignored), not yet validated."""
    anomaly = None
    if r.HasField("anomaly"):
        a = r.anomaly
        if a.method not in (1, 2):
            raise InvalidArgument("rule.anomaly.method must be ZSCORE or EWMA_ZSCORE")
        direction = a.direction or "both"
        if direction not in _DIRECTIONS:
            raise InvalidArgument(
                f"rule.anomaly.direction {a.direction!r} must be 'up', 'down' or 'both'"
            )
        anomaly = Anomaly(
            method=AnomalyMethod(a.method),
            history=seconds_of(a.history, "rule.anomaly.history"),
            deviations=a.deviations,
            alpha=a.alpha or 0.1,
            min_samples=a.min_samples or 10,
            direction=direction,
        )
        comparator = Comparator.GT
    else:
        if int(r.comparator) not in {int(c) for c in Comparator}:
            raise InvalidArgument("rule.comparator must be set for a threshold rule")
        comparator = Comparator(r.comparator)
    if r.severity not in (0, *Severity.__members__.values()):
        raise InvalidArgument(f"rule.severity {r.severity} is not a severity")
    if not r.HasField("expression"):
        raise InvalidArgument("rule.expression must be set")
    return Rule(
        name=r.name,
        expression=expression_from_pb(r.expression, "rule.expression"),
        comparator=comparator,
        threshold=r.threshold,
        anomaly=anomaly,
        for_seconds=seconds_of(r.for_duration, "rule.for_duration"),
        severity=Severity(r.severity) if r.severity else Severity.WARNING,
        labels=dict(r.labels),
        annotations=dict(r.annotations),
        disabled=r.disabled,
        source=RuleSource.API,
    )


def rule_to_pb(rule: Rule, last_error: str = "") -> pb.Rule:
    """A domain rule as proto."""
    out = pb.Rule(
        name=rule.name,
        expression=expression_to_pb(rule.expression),
        for_duration=dur(rule.for_seconds),
        severity=int(rule.severity),  # type: ignore[arg-type]
        labels=dict(rule.labels),
        annotations=dict(rule.annotations),
        disabled=rule.disabled,
        source=int(rule.source),  # type: ignore[arg-type]
        version=rule.version,
        created_at=ts(rule.created_at),
        updated_at=ts(rule.updated_at),
        last_error=last_error,
    )
    if rule.anomaly is None:
        out.comparator = int(rule.comparator)  # type: ignore[assignment]
        out.threshold = rule.threshold
    else:
        a = rule.anomaly
        out.anomaly.CopyFrom(
            pb.Anomaly(
                method=int(a.method),  # type: ignore[arg-type]
                history=dur(a.history),
                deviations=a.deviations,
                alpha=a.alpha,
                min_samples=a.min_samples,
                direction=a.direction,
            )
        )
    return out


# ------------------------------------------------------------------ alerts, silences


def alert_to_pb(a: Alert) -> pb.Alert:
    """An alert as proto."""
    return pb.Alert(
        rule=a.rule,
        fingerprint=a.fingerprint,
        labels=a.labels,
        annotations=a.annotations,
        state=int(a.state),  # type: ignore[arg-type]
        severity=a.severity,  # type: ignore[arg-type]
        value=a.value if math.isfinite(a.value) else 0.0,
        active_since=ts(a.active_since),
        fired_at=ts(a.fired_at),
        resolved_at=ts(a.resolved_at),
        last_evaluated=ts(a.last_evaluated),
        silenced_by=a.silenced_by,
    )


def silence_to_pb(s: Silence, now: float) -> pb.Silence:
    """A silence as proto, with its state at `now`."""
    return pb.Silence(
        id=s.id,
        matchers=[matcher_to_pb(m) for m in s.matchers],
        starts_at=ts(s.starts_at),
        ends_at=ts(s.ends_at),
        created_by=s.created_by,
        comment=s.comment,
        created_at=ts(s.created_at),
        state=int(s.state(now)),  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------ fleet


def replica_to_pb(r: Replica) -> pb.TargetHealth:
    """A replica as proto."""
    return pb.TargetHealth(
        service=r.service,
        instance=r.instance,
        metrics_url=r.metrics_url,
        status=int(r.status),  # type: ignore[arg-type]
        since=ts(r.since),
        reason=r.reason,
        last_check=ts(r.last_check),
        check_latency=dur(r.check_latency),
        consecutive_failures=r.consecutive_failures,
        metrics_up=r.metrics_up,
        metrics_error=r.metrics_error,
        last_scrape=ts(r.last_scrape),
    )


def change_to_pb(c: StatusChange) -> pb.StatusChange:
    """A status change as proto."""
    return pb.StatusChange(
        service=c.service,
        instance=c.instance,
        from_status=int(c.from_status),  # type: ignore[arg-type]
        to_status=int(c.to_status),  # type: ignore[arg-type]
        at=ts(c.at),
        reason=c.reason,
    )


# ------------------------------------------------------------------ traces, logs


def span_to_pb(trace_id: str, stored: StoredSpan) -> pb.Span:
    """A stored span, decoded, as proto."""
    span = stored.decode()
    return pb.Span(
        trace_id=trace_id,
        span_id=stored.span_id.hex(),
        parent_span_id=stored.parent_id.hex(),
        name=stored.name,
        service=stored.service,
        kind=span.kind,  # type: ignore[arg-type]
        start_time=ts_ns(stored.start),
        duration=dur_ns(stored.end - stored.start),
        status=span.status.code,  # type: ignore[arg-type]
        status_message=span.status.message,
        attributes=attributes_text(span.attributes),
        events=[
            pb.SpanEvent(
                name=e.name, time=ts_ns(e.time_unix_nano), attributes=attributes_text(e.attributes)
            )
            for e in span.events
        ],
        scope=stored.scope,
    )


def trace_summary(entry: TraceEntry) -> pb.TraceSummary:
    """A trace's summary as proto."""
    head = entry.head
    return pb.TraceSummary(
        trace_id=entry.trace_id.hex(),
        root_service=head.service,
        root_name=head.name,
        start_time=ts_ns(entry.start),
        duration=dur_ns(entry.duration),
        span_count=len(entry.spans),
        error_count=entry.errors,
        services=sorted(entry.services),
        has_root=entry.root is not None,
    )


def _span_order(spans: Sequence[StoredSpan]) -> list[StoredSpan]:
    depth: dict[bytes, int] = {}
    by_id = {s.span_id: s for s in spans}

    def depth_of(s: StoredSpan) -> int:
        seen = 0
        cur: StoredSpan | None = s
        while cur is not None and cur.parent_id and seen < 256:
            cur = by_id.get(cur.parent_id)
            seen += 1
        return seen

    for s in spans:
        depth[s.span_id] = depth_of(s)
    return sorted(spans, key=lambda s: (s.start, depth[s.span_id]))


def trace_to_pb(entry: TraceEntry) -> pb.Trace:
    """A whole trace as proto, spans by start time, parents first on ties."""
    tid = entry.trace_id.hex()
    return pb.Trace(
        trace_id=tid,
        spans=[span_to_pb(tid, s) for s in _span_order(entry.spans)],
        summary=trace_summary(entry),
    )


def log_to_pb(rec: StoredLog) -> pb.LogRecord:
    """A stored log record as proto."""
    full = rec.decode()
    return pb.LogRecord(
        time=ts_ns(rec.time),
        level=rec.level,  # type: ignore[arg-type]
        severity_text=full.severity_text,
        body=rec.body,
        service=rec.service,
        trace_id=rec.trace_id.hex() if rec.trace_id.strip(b"\0") else "",
        span_id=rec.span_id.hex() if rec.span_id.strip(b"\0") else "",
        attributes=attributes_text(full.attributes),
        scope=rec.scope,
    )


# ------------------------------------------------------------------ reports


def latency_to_pb(lat: Latency) -> pb.LatencyStats:
    """Latency stats as proto."""
    return pb.LatencyStats(
        count=lat.count,
        p50_seconds=lat.p50,
        p95_seconds=lat.p95,
        p99_seconds=lat.p99,
        error_ratio=lat.error_ratio,
    )


def report_to_pb(report: Report, generated_at: float, window: float) -> pb.PerformanceReport:
    """A report as proto."""
    return pb.PerformanceReport(
        generated_at=ts(generated_at),
        window=dur(window),
        routes=[
            pb.RouteReport(
                route=r.route,
                stats=latency_to_pb(r.latency),
                cache_hit_ratio=r.cache_hit_ratio,
                identical_response_ratio=r.identical_ratio,
            )
            for r in report.routes
        ],
        modules=[
            pb.ModuleReport(
                module=m.module,
                stats=latency_to_pb(m.latency),
                fuel_exhausted_ratio=m.fuel_exhausted_ratio,
                fuel_near_limit_ratio=m.fuel_near_ratio,
                timeout_ratio=m.timeout_ratio,
            )
            for m in report.modules
        ],
        rpcs=[
            pb.RpcReport(
                service=s.service,
                grpc_service=s.grpc_service,
                grpc_method=s.grpc_method,
                stats=latency_to_pb(s.latency),
            )
            for s in report.rpcs
        ],
        recommendations=[
            pb.Recommendation(
                subject_kind=r.subject_kind,
                subject=r.subject,
                kind=r.kind,
                severity=int(r.severity),  # type: ignore[arg-type]
                message=r.message,
            )
            for r in report.recommendations
        ],
        spans_analysed=report.spans_analysed,
    )


def notification_to_pb(n: NotificationRecord) -> pb.Notification:
    """A queued notification as the API shows it."""
    return pb.Notification(
        id=n.id,
        receiver_kind=n.receiver_kind,
        receiver=n.receiver,
        group_key=n.group_key,
        status=n.status,
        alerts=n.alert_count,
        state=NOTIFICATION_STATES.to_proto(n.state),
        attempts=n.attempts,
        last_error=n.last_error,
        created_at=ts(n.created_at),
        next_attempt_at=ts(n.next_attempt_at),
        delivered_at=ts(n.delivered_at),
    )
