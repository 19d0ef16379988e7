"""The monitor's gRPC servicer: thin, proto ⇄ domain over the parts MonitorService owns."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import grpc

from wasmgrid.api.monitor.v1 import monitor_pb2 as pb
from wasmgrid.api.monitor.v1 import monitor_pb2_grpc
from wasmgrid.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServiceError,
)
from wasmgrid.common.paging import page_limit
from wasmgrid.monitor import convert
from wasmgrid.monitor.alerting import AlertState, new_silence
from wasmgrid.monitor.fleet import Replica, Status, aggregate, overall
from wasmgrid.monitor.logstore import LogQuery
from wasmgrid.monitor.notify import NotificationState
from wasmgrid.monitor.query import (
    Aggregation,
    Expression,
    Function,
    Matcher,
    MatchOp,
    Query,
    check_expression,
    check_matcher,
    matches_all,
)
from wasmgrid.monitor.report import Report, RpcStats, analyse_spans, recommend, rpc_stats
from wasmgrid.monitor.rules import Rule, RuleSource, check_rule
from wasmgrid.monitor.series import MAX_RANGE_POINTS
from wasmgrid.monitor.traces import TraceQuery, parse_trace_id

if TYPE_CHECKING:
    from wasmgrid.monitor.service import MonitorService

log = logging.getLogger(__name__)

SERVER_ERROR_CODES = ("UNKNOWN", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "DEADLINE_EXCEEDED")
Ctx = grpc.aio.ServicerContext[Any, Any]

_STATE_ORDER = {AlertState.FIRING: 0, AlertState.PENDING: 1, AlertState.RESOLVED: 2}


class MonitorServicer(monitor_pb2_grpc.MonitorServiceServicer):
    """wasmgrid.api.monitor.v1.MonitorService."""

    def __init__(self, svc: MonitorService) -> None:
        self.svc = svc

    # ------------------------------------------------------------ fleet, metrics

    async def GetFleetHealth(
        self, request: pb.GetFleetHealthRequest, context: Ctx
    ) -> pb.GetFleetHealthResponse:
        limit = page_limit(request.changes_limit, default=50, maximum=1000, field="changes_limit")
        fleet = self.svc.fleet
        replicas = sorted(
            (
                r
                for r in fleet.replicas.values()
                if not request.service or r.service == request.service
            ),
            key=lambda r: (r.service, r.instance),
        )
        if request.service and not replicas:
            known = sorted({s.service for s in fleet.specs})
            raise NotFound(f"service {request.service!r} is not polled (polled: {known})")
        by_service: dict[str, list[Replica]] = {}
        for r in replicas:
            by_service.setdefault(r.service, []).append(r)
        services = [
            pb.ServiceHealth(
                service=name,
                status=int(aggregate(r.status for r in reps)),  # type: ignore[arg-type]
                replicas=len(reps),
                replicas_serving=sum(r.status is Status.SERVING for r in reps),
            )
            for name, reps in sorted(by_service.items())
        ]
        fleet_status = overall(Status(int(s.status)) for s in services)
        changes = [
            c
            for c in reversed(fleet.changes)
            if not request.service or c.service == request.service
        ][:limit]
        return pb.GetFleetHealthResponse(
            overall=int(fleet_status),  # type: ignore[arg-type]
            services=services,
            targets=[convert.replica_to_pb(r) for r in replicas],
            changes=[convert.change_to_pb(c) for c in changes],
            generated_at=convert.ts(time.time()),
        )

    async def QueryMetric(
        self, request: pb.QueryMetricRequest, context: Ctx
    ) -> pb.QueryMetricResponse:
        if not request.HasField("expression"):
            raise InvalidArgument("expression must be set")
        expr = convert.expression_from_pb(request.expression)
        check_expression(expr)
        now = time.time()
        results = await self.svc.backend.evaluate(expr, now)
        return pb.QueryMetricResponse(
            samples=[pb.Sample(labels=dict(r.labels), value=r.value) for r in results],
            evaluated_at=convert.ts(now),
            backend=self.svc.backend.name,
        )

    async def QueryMetricRange(
        self, request: pb.QueryMetricRangeRequest, context: Ctx
    ) -> pb.QueryMetricRangeResponse:
        if not request.HasField("expression"):
            raise InvalidArgument("expression must be set")
        expr = convert.expression_from_pb(request.expression)
        check_expression(expr)
        if not request.HasField("start"):
            raise InvalidArgument("start must be set")
        start = convert.unix_of(request.start)
        end = convert.unix_of(request.end) if request.HasField("end") else time.time()
        if end < start:
            raise InvalidArgument(f"end {end:.3f} is before start {start:.3f}")
        step = convert.seconds_of(request.step, "step")
        if not 1.0 <= step <= 86400.0:
            raise InvalidArgument(f"step {step:g}s must be between 1s and 86400s")
        instants = int((end - start) / step + 1e-9) + 1
        if instants > MAX_RANGE_POINTS:
            raise InvalidArgument(
                f"start..end every {step:g}s is {instants} instants; the limit is"
                f" {MAX_RANGE_POINTS} (widen step)"
            )
        series = await self.svc.backend.evaluate_range(expr, start, end, step)
        return pb.QueryMetricRangeResponse(
            series=[
                pb.RangeSeries(
                    labels=labels,
                    points=[pb.Point(time=convert.ts(t), value=v) for t, v in points],
                )
                for labels, points in series
            ],
            backend=self.svc.backend.name,
        )

    # ------------------------------------------------------------ alerts

    async def ListAlerts(
        self, request: pb.ListAlertsRequest, context: Ctx
    ) -> pb.ListAlertsResponse:
        limit = page_limit(request.limit, default=500, maximum=5000, field="limit")
        matchers = [convert.matcher_from_pb(m) for m in request.matchers]
        for i, m in enumerate(matchers):
            check_matcher(m, f"matchers[{i}]")
        states = {AlertState(s) for s in request.states if s in (1, 2, 3)}
        if len(states) != len(set(request.states)):
            raise InvalidArgument(f"states {list(request.states)} holds an unknown alert state")
        alerts = [
            a
            for a in self.svc.engine.alerts.values()
            if (not states or a.state in states)
            and (not request.rule or a.rule == request.rule)
            and a.severity >= request.min_severity
            and (request.include_silenced or not a.silenced_by)
            and matches_all(matchers, a.labels)
        ]
        alerts.sort(key=lambda a: (_STATE_ORDER[a.state], -a.severity, a.rule, a.fingerprint))
        return pb.ListAlertsResponse(
            alerts=[convert.alert_to_pb(a) for a in alerts[:limit]], truncated=len(alerts) > limit
        )

    # ------------------------------------------------------------ rules

    def _rule_pb(self, rule: Rule) -> pb.Rule:
        return convert.rule_to_pb(rule, self.svc.evaluator.errors.get(rule.name, ""))

    def _file_rule(self, name: str) -> Rule | None:
        return next((r for r in self.svc.file_rules if r.name == name), None)

    async def CreateRule(self, request: pb.CreateRuleRequest, context: Ctx) -> pb.Rule:
        rule = convert.rule_from_pb(request.rule)
        check_rule(rule)
        if self._file_rule(rule.name) is not None:
            raise AlreadyExists(f"rule {rule.name!r} already exists in the rules file")
        created = await self.svc.store.create_rule(rule)
        await self.svc.evaluator.evaluate_once()
        return self._rule_pb(created)

    async def GetRule(self, request: pb.GetRuleRequest, context: Ctx) -> pb.Rule:
        rule = self._file_rule(request.name) or await self.svc.store.get_rule(request.name)
        if rule is None:
            raise NotFound(f"rule {request.name!r} does not exist")
        return self._rule_pb(rule)

    async def ListRules(self, request: pb.ListRulesRequest, context: Ctx) -> pb.ListRulesResponse:
        rules: list[Rule] = []
        if request.source in (0, RuleSource.FILE):
            rules += self.svc.file_rules
        if request.source in (0, RuleSource.API):
            rules += await self.svc.store.list_rules()
        rules.sort(key=lambda r: r.name)
        return pb.ListRulesResponse(rules=[self._rule_pb(r) for r in rules])

    async def UpdateRule(self, request: pb.UpdateRuleRequest, context: Ctx) -> pb.Rule:
        rule = convert.rule_from_pb(request.rule)
        check_rule(rule)
        if self._file_rule(rule.name) is not None:
            raise FailedPrecondition(
                f"rule {rule.name!r} comes from the rules file; edit the file instead"
            )
        updated = await self.svc.store.update_rule(rule, request.expected_version)
        self.svc.evaluator.forget_rule(rule.name)  # a changed rule starts its alerts afresh
        await self.svc.evaluator.evaluate_once()
        return self._rule_pb(updated)

    async def DeleteRule(
        self, request: pb.DeleteRuleRequest, context: Ctx
    ) -> pb.DeleteRuleResponse:
        if self._file_rule(request.name) is not None:
            raise FailedPrecondition(
                f"rule {request.name!r} comes from the rules file; edit the file instead"
            )
        if not await self.svc.store.delete_rule(request.name):
            raise NotFound(f"rule {request.name!r} does not exist")
        await self.svc.evaluator.evaluate_once()
        return pb.DeleteRuleResponse()

    # ------------------------------------------------------------ silences

    async def CreateSilence(self, request: pb.CreateSilenceRequest, context: Ctx) -> pb.Silence:
        now = time.time()
        starts = convert.unix_of(request.starts_at) if request.HasField("starts_at") else now
        has_end, has_duration = request.HasField("ends_at"), request.HasField("duration")
        if has_end == has_duration:
            raise InvalidArgument("exactly one of ends_at and duration must be set")
        if has_end:
            ends = convert.unix_of(request.ends_at)
        else:
            ends = starts + convert.seconds_of(request.duration, "duration")
        matchers = [convert.matcher_from_pb(m) for m in request.matchers]
        silence = new_silence(matchers, starts, ends, request.created_by, request.comment, now)
        stored = await self.svc.store.create_silence(silence)
        await self.svc.evaluator.evaluate_once()
        return convert.silence_to_pb(stored, time.time())

    async def GetSilence(self, request: pb.GetSilenceRequest, context: Ctx) -> pb.Silence:
        return convert.silence_to_pb(await self.svc.store.get_silence(request.id), time.time())

    async def ListSilences(
        self, request: pb.ListSilencesRequest, context: Ctx
    ) -> pb.ListSilencesResponse:
        limit = page_limit(request.limit, default=200, maximum=1000, field="limit")
        silences = await self.svc.store.list_silences(request.include_expired, limit)
        now = time.time()
        return pb.ListSilencesResponse(silences=[convert.silence_to_pb(s, now) for s in silences])

    async def ExpireSilence(self, request: pb.ExpireSilenceRequest, context: Ctx) -> pb.Silence:
        silence = await self.svc.store.expire_silence(request.id)
        await self.svc.evaluator.evaluate_once()
        return convert.silence_to_pb(silence, time.time())

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: Ctx
    ) -> pb.ListNotificationsResponse:
        limit = page_limit(request.limit, default=100, maximum=1000, field="limit")
        states: list[NotificationState] = []
        for i, number in enumerate(request.states):
            state = convert.NOTIFICATION_STATES.from_proto(number, f"states[{i}]")
            if state is None:
                raise InvalidArgument(f"states[{i}]: 0 (unspecified) is not a notification state")
            states.append(state)
        found = await self.svc.store.list_notifications(states, limit)
        return pb.ListNotificationsResponse(
            notifications=[convert.notification_to_pb(n) for n in found]
        )

    # ------------------------------------------------------------ traces, logs

    async def GetTrace(self, request: pb.GetTraceRequest, context: Ctx) -> pb.Trace:
        entry = self.svc.traces.get(parse_trace_id(request.trace_id.lower()))
        if entry is None:
            raise NotFound(f"trace {request.trace_id!r} is not in the store")
        return convert.trace_to_pb(entry)

    async def SearchTraces(
        self, request: pb.SearchTracesRequest, context: Ctx
    ) -> pb.SearchTracesResponse:
        limit = page_limit(request.limit, default=20, maximum=1000, field="limit")
        query = TraceQuery(
            service=request.service,
            span_name=request.span_name,
            min_duration_ns=int(convert.seconds_of(request.min_duration, "min_duration") * 1e9),
            errors_only=request.errors_only,
            start_ns=request.start_time.ToNanoseconds() if request.HasField("start_time") else 0,
            end_ns=request.end_time.ToNanoseconds() if request.HasField("end_time") else 0,
            limit=limit,
        )
        found, truncated = self.svc.traces.search(query)
        return pb.SearchTracesResponse(
            traces=[convert.trace_summary(e) for e in found], truncated=truncated
        )

    async def SearchLogs(
        self, request: pb.SearchLogsRequest, context: Ctx
    ) -> pb.SearchLogsResponse:
        limit = page_limit(request.limit, default=100, maximum=5000, field="limit")
        if request.min_level not in range(0, 7):
            raise InvalidArgument(f"min_level {request.min_level} is not a log level")
        if len(request.text) > 1024:
            raise InvalidArgument(f"text is {len(request.text)} characters; the limit is 1024")
        query = LogQuery(
            trace_id=parse_trace_id(request.trace_id.lower()) if request.trace_id else b"",
            service=request.service,
            min_level=request.min_level,
            start_ns=request.start_time.ToNanoseconds() if request.HasField("start_time") else 0,
            end_ns=request.end_time.ToNanoseconds() if request.HasField("end_time") else 0,
            text=request.text,
            limit=limit,
        )
        found, truncated = self.svc.logs.search(query)
        return pb.SearchLogsResponse(
            records=[convert.log_to_pb(r) for r in found], truncated=truncated
        )

    # ------------------------------------------------------------ reports

    async def GetPerformanceReport(
        self, request: pb.GetPerformanceReportRequest, context: Ctx
    ) -> pb.PerformanceReport:
        window = convert.seconds_of(request.window, "window") or 900.0
        if not 60.0 <= window <= 86400.0:
            raise InvalidArgument(f"window {window:g}s must be between 60s and 86400s")
        min_count = request.min_count or 20
        now = time.time()
        spans = (s for _, s in self.svc.traces.spans_since(int((now - window) * 1e9)))
        routes, modules, analysed = analyse_spans(spans)
        report = Report(routes=routes, modules=modules, spans_analysed=analysed)
        try:
            report.rpcs = await self._rpc_stats(window, now)
        except ServiceError as exc:
            log.warning("performance report without RPC statistics: %s", exc.message)
        report.recommendations = recommend(report, min_count)
        return convert.report_to_pb(report, now, window)

    async def _rpc_stats(self, window: float, now: float) -> list[RpcStats]:
        by = ("job", "grpc_service", "grpc_method")
        backend = self.svc.backend

        def q(metric: str, fn: Function, quantile: float = 0.0, errors: bool = False) -> Expression:
            matchers = (Matcher("grpc_code", MatchOp.IN, SERVER_ERROR_CODES),) if errors else ()
            return Expression(Query(metric, fn, matchers, window, quantile, Aggregation.SUM, by))

        counts = await backend.evaluate(q("grpc_server_handled_total", Function.INCREASE), now)
        errors = await backend.evaluate(
            q("grpc_server_handled_total", Function.INCREASE, errors=True), now
        )
        quantiles = [
            await backend.evaluate(
                q("grpc_server_handling_seconds", Function.HISTOGRAM_QUANTILE, p), now
            )
            for p in (0.5, 0.95, 0.99)
        ]
        return rpc_stats(counts, errors, *quantiles)
