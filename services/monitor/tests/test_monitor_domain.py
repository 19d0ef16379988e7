"""Unit tests of the monitor's pure domain modules (no gRPC, no database)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.monitor.alerting import AlertEngine, AlertState, Silence, expand, fingerprint
from wasmgrid.monitor.anomaly import EwmaZScore, ZScore, exceeds
from wasmgrid.monitor.fleet import (
    Replica,
    Status,
    aggregate,
    apply_check,
    overall,
    parse_targets,
)
from wasmgrid.monitor.logstore import LogQuery, LogStore, level_of
from wasmgrid.monitor.notify import Planner, backoff, webhook_payload
from wasmgrid.monitor.query import (
    Aggregation,
    Expression,
    Function,
    Matcher,
    MatchOp,
    Query,
    Result,
    to_promql,
)
from wasmgrid.monitor.report import Report, analyse_spans, recommend
from wasmgrid.monitor.rules import (
    Anomaly,
    AnomalyMethod,
    Comparator,
    Rule,
    RuleSource,
    Severity,
    load_rules_file,
    rule_from_dict,
    rule_to_dict,
)
from wasmgrid.monitor.series import (
    Series,
    SeriesStore,
    bucket_quantile,
    evaluate,
    evaluate_range,
    increase,
    range_instants,
)
from wasmgrid.monitor.settings import DEFAULT_RULES_FILE
from wasmgrid.monitor.traces import TraceQuery, TraceStore, parse_trace_id

# ---------------------------------------------------------------- series and queries


def test_ring_keeps_the_newest_samples_in_order() -> None:
    s = Series({}, capacity=3)
    for t in range(5):
        s.add(float(t), float(t * 10))
    assert len(s) == 3
    assert s.since(0) == [(2.0, 20.0), (3.0, 30.0), (4.0, 40.0)]
    assert s.since(3.5) == [(4.0, 40.0)]
    assert s.last_value == 40.0
    assert s.last_time == 4.0


def test_ring_reads_between_two_instants_across_its_wrap() -> None:
    s = Series({}, capacity=4)
    for t in range(7):  # keeps 3, 4, 5, 6 with the oldest in the middle of the ring
        s.add(float(t), float(t * 10))
    assert s.between(3.5, 5.0) == [(4.0, 40.0), (5.0, 50.0)]
    assert s.between(0.0, 100.0) == [(3.0, 30.0), (4.0, 40.0), (5.0, 50.0), (6.0, 60.0)]
    assert s.at(5.5) == (5.0, 50.0)
    assert s.at(6.0) == (6.0, 60.0)
    assert s.at(2.9) is None


def test_a_range_is_evaluated_at_each_instant_without_later_samples() -> None:
    store = _store()
    total = Query("reqs_total", Function.RATE, (), window=10, group_by=("job",))
    instants = range_instants(20, 60, 20)
    assert instants == [20, 40, 60]
    assert evaluate_range(store, Expression(total), instants) == [
        ({"job": "a"}, [(20, 11.0), (40, 11.0), (60, 11.0)]),
        ({"job": "b"}, [(20, 4.0), (40, 4.0), (60, 4.0)]),
    ]
    value = Query("reqs_total", Function.VALUE, (Matcher("job", MatchOp.IN, ("a",)),))
    # At t=22 the newest sample is t=20's (no peeking at t=25's), summed over codes.
    assert evaluate_range(store, Expression(value), [22]) == [({}, [(22, 20 * 11.0)])]
    # Before the first sample there is nothing; the instant is left out, not zero.
    assert evaluate_range(store, Expression(value), [-5, 0]) == [({}, [(0, 0.0)])]


def test_increase_handles_counter_resets() -> None:
    assert increase([(0, 10), (1, 15), (2, 3), (3, 8)]) == 5 + 3 + 5


def test_bucket_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    assert bucket_quantile(0.5, buckets) == pytest.approx(0.1)
    assert bucket_quantile(0.7, buckets) == pytest.approx(0.1 + 0.4 * (20 / 40))
    assert bucket_quantile(0.99, buckets) == pytest.approx(0.5 + 0.5 * 9 / 10)
    assert math.isnan(bucket_quantile(0.5, [(0.1, 1.0)]))  # no +Inf bucket
    assert math.isnan(bucket_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]))


def _store() -> SeriesStore:
    store = SeriesStore(capacity=100, max_series=50, staleness=15)
    for t in range(0, 61, 5):
        for job, ok_rate, err_rate in (("a", 10, 1), ("b", 4, 0)):
            store.add("reqs_total", {"job": job, "code": "OK"}, t, ok_rate * t)
            store.add("reqs_total", {"job": job, "code": "ERR"}, t, err_rate * t)
            for le, frac in (("0.1", 0.5), ("1", 0.9), ("+Inf", 1.0)):
                store.add("lat_bucket", {"job": job, "le": le}, t, frac * ok_rate * t)
    return store


def test_rate_ratio_and_histogram_quantile_over_the_local_store() -> None:
    store = _store()
    err = Query(
        "reqs_total",
        Function.RATE,
        (Matcher("code", MatchOp.IN, ("ERR",)),),
        window=30,
        group_by=("job",),
    )
    total = Query("reqs_total", Function.RATE, (), window=30, group_by=("job",))
    ratio = evaluate(store, Expression(err, total), now=60)
    assert [(dict(r.labels), round(r.value, 6)) for r in ratio] == [
        ({"job": "a"}, round(1 / 11, 6)),
        ({"job": "b"}, 0.0),
    ]
    with_zero = evaluate(store, Expression(total), now=60)
    assert {r.labels["job"]: r.value for r in with_zero} == {"a": 11, "b": 4}
    p50 = Query("lat", Function.HISTOGRAM_QUANTILE, window=30, quantile=0.5, group_by=("job",))
    assert [round(r.value, 6) for r in evaluate(store, Expression(p50), now=60)] == [0.1, 0.1]
    none = Query("reqs_total", Function.VALUE, aggregation=Aggregation.NONE)
    assert len(evaluate(store, Expression(none), now=60)) == 4
    assert evaluate(store, Expression(none), now=60 + 16) == []  # stale


def test_series_limit_refuses_new_series() -> None:
    store = SeriesStore(capacity=10, max_series=2, staleness=15)
    assert store.add("m", {"a": "1"}, 0, 1)
    assert store.add("m", {"a": "2"}, 0, 1)
    assert not store.add("m", {"a": "3"}, 0, 1)
    assert store.add("m", {"a": "1"}, 1, 2)  # existing series still accept samples
    assert store.drop_older_than(0.5) == 1
    assert store.count == 1


def test_promql_translation_escapes_values() -> None:
    q = Query(
        "grpc_server_handled_total",
        Function.RATE,
        (
            Matcher("grpc_code", MatchOp.NOT_IN, ("OK",)),
            Matcher("job", MatchOp.IN, ("a.b", 'q"x')),
        ),
        window=300,
        group_by=("job",),
    )
    assert to_promql(Expression(q)) == (
        'sum by (job) (rate(grpc_server_handled_total{grpc_code!="OK",'
        'job=~"a\\\\.b|q\\"x"}[300000ms]))'
    )
    h = Query("lat", Function.HISTOGRAM_QUANTILE, window=60, quantile=0.99, group_by=("job",))
    assert to_promql(Expression(h)) == (
        "histogram_quantile(0.99, sum by (job, le) (rate(lat_bucket{}[60000ms])))"
    )


# ---------------------------------------------------------------- rules and alerts


def _rule(for_seconds: float = 10, **kw: object) -> Rule:
    return Rule(
        name="High",
        expression=Expression(Query("m", aggregation=Aggregation.NONE)),
        comparator=Comparator.GT,
        threshold=1,
        for_seconds=for_seconds,
        severity=Severity.CRITICAL,
        annotations={"summary": "{{ $labels.job }} at {{$value}}"},
        **kw,  # type: ignore[arg-type]
    )


def test_state_machine_honours_for() -> None:
    engine = AlertEngine(resolved_retention=60, max_alerts=100)
    rule = _rule(for_seconds=10)
    high = [Result({"job": "a"}, 5)]
    changes = engine.step(rule, high, now=100)
    assert [(c.old, c.new) for c in changes] == [(None, AlertState.PENDING)]
    assert engine.step(rule, high, now=109.9) == []
    (fired,) = engine.step(rule, high, now=110)
    assert fired.new is AlertState.FIRING
    assert fired.alert.fired_at == 110
    alert = fired.alert
    assert alert.labels == {"job": "a", "alertname": "High", "severity": "critical"}
    assert alert.annotations == {"summary": "a at 5"}
    (resolved,) = engine.step(rule, [Result({"job": "a"}, 0)], now=120)
    assert resolved.new is AlertState.RESOLVED
    assert alert.resolved_at == 120
    assert engine.step(rule, [], now=170) == []
    assert len(engine.alerts) == 1  # kept 60 s
    engine.step(rule, [], now=181)
    assert engine.alerts == {}


def test_pending_that_clears_is_forgotten_and_restarts_its_clock() -> None:
    engine = AlertEngine(60, 100)
    rule = _rule(for_seconds=10)
    engine.step(rule, [Result({}, 5)], now=0)
    (gone,) = engine.step(rule, [], now=5)
    assert gone.new is None
    assert engine.alerts == {}
    engine.step(rule, [Result({}, 5)], now=6)
    assert engine.step(rule, [Result({}, 5)], now=15) == []  # 9 s since it came back
    assert engine.step(rule, [Result({}, 5)], now=16)[0].new is AlertState.FIRING


def test_anomaly_rule_fires_on_a_spike() -> None:
    engine = AlertEngine(60, 100)
    rule = _rule(
        for_seconds=0,
        anomaly=Anomaly(AnomalyMethod.EWMA_ZSCORE, 3600, 4.0, 0.1, 10, "up"),
    )
    for t in range(30):
        assert engine.step(rule, [Result({}, 10.0 + (t % 3) * 0.5)], now=t) == []
    changes = engine.step(rule, [Result({}, 40.0)], now=31)
    assert [c.new for c in changes] == [AlertState.PENDING, AlertState.FIRING]
    assert changes[-1].alert.value > 4  # the value is the score


def test_detectors() -> None:
    z = ZScore(history=100, min_samples=3)
    assert math.isnan(z.score(0, 1))
    for t, v in ((1, 2), (2, 1), (3, 2)):
        z.score(t, v)
    assert z.score(4, 10) > 10
    e = EwmaZScore(alpha=0.5, min_samples=2)
    for t, v in enumerate((5, 5, 6, 5)):
        e.score(t, v)
    assert abs(e.score(5, 5.2)) < 1
    assert exceeds(-5, 3, "down")
    assert not exceeds(-5, 3, "up")
    assert exceeds(-5, 3, "both")


def test_silences_and_templates() -> None:
    s = Silence("id", (Matcher("job", MatchOp.IN, ("a",)),), starts_at=10, ends_at=20)
    assert not s.active(5)
    assert s.active(10)
    assert not s.active(20)
    assert s.matches({"job": "a"})
    assert not s.matches({"job": "b"})
    assert expand("{{ $value }} {{ $labels.x }}{{ $labels.missing }}", {"x": "y"}, 0.25) == (
        "0.25 y"
    )
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1b"}) != fingerprint({"a1": "b"})


def test_planner_groups_throttles_repeats_and_skips_silenced() -> None:
    engine = AlertEngine(600, 100)
    rule = _rule(for_seconds=0)
    planner = Planner(["alertname"], group_wait=0, group_interval=30, repeat_interval=3600)
    engine.step(rule, [Result({"job": "a"}, 5), Result({"job": "b"}, 5)], now=0)
    (n,) = planner.plan(engine.alerts.values(), now=0)
    assert n.status == "firing"
    assert len(n.alerts) == 2
    assert n.labels == {"alertname": "High"}
    assert planner.plan(engine.alerts.values(), now=1) == []  # nothing changed
    engine.step(rule, [Result({"job": "b"}, 5)], now=10)  # a resolves
    assert planner.plan(engine.alerts.values(), now=10) == []  # group_interval not over
    (n,) = planner.plan(engine.alerts.values(), now=30)
    assert sorted((a.labels["job"], a.status) for a in n.alerts) == [
        ("a", "resolved"),
        ("b", "firing"),
    ]
    payload = webhook_payload(n, "")
    assert payload["status"] == "firing"
    assert payload["commonLabels"] == {"alertname": "High", "severity": "critical"}
    assert planner.plan(engine.alerts.values(), now=31) == []
    (again,) = planner.plan(engine.alerts.values(), now=30 + 3600)  # repeat_interval
    assert [a.labels["job"] for a in again.alerts] == ["b"]
    for alert in engine.alerts.values():
        alert.silenced_by = ["s"]
    assert planner.plan(engine.alerts.values(), now=4000) == []  # silenced: no "resolved"


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, 1, 10) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


# ---------------------------------------------------------------- rules file


def test_shipped_rules_file_loads_and_round_trips() -> None:
    rules = load_rules_file(DEFAULT_RULES_FILE)
    assert len(rules) >= 6
    for rule in rules:
        assert rule.source is RuleSource.FILE
        again = rule_from_dict(rule_to_dict(rule), "round trip")
        assert again == rule


def test_rules_file_errors_name_the_rule_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: Bad\n    expr: {metric: m, function: rate}\n")
    with pytest.raises(InvalidArgument, match=r"rules\[0\] \(Bad\).*condition"):
        load_rules_file(path)
    path.write_text(
        "rules:\n  - name: Bad\n    expr: {metric: m, function: rate}\n    condition: '> 1'\n"
    )
    with pytest.raises(InvalidArgument, match=r"Bad.*window"):
        load_rules_file(path)
    path.write_text(
        "rules:\n  - name: Late\n    expr: {metric: m}\n    condition: '> 1'\n    for: soon\n"
    )
    with pytest.raises(InvalidArgument, match=r"Late.*for: 'soon' is not a duration"):
        load_rules_file(path)
    path.write_text(
        "rules:\n  - name: Late\n    expr: {metric: m}\n    condition: '> 1'\n    for: 90m\n"
    )
    assert load_rules_file(path)[0].for_seconds == 5400


# ---------------------------------------------------------------- fleet


def test_targets_parse_and_refuse_bad_entries() -> None:
    specs = parse_targets(
        "gateway=127.0.0.1:50050|http://127.0.0.1:8080/metrics,"
        " runtime=dns:runtime.svc:50051|http://{host}:9091/metrics"
    )
    assert [(s.service, s.health, s.metrics_url) for s in specs] == [
        ("gateway", "127.0.0.1:50050", "http://127.0.0.1:8080/metrics"),
        ("runtime", "dns:runtime.svc:50051", "http://{host}:9091/metrics"),
    ]
    assert specs[1].dns_name == ("runtime.svc", 50051)
    for bad, named in (
        ("gateway", "gateway"),
        ("gw=nohost", "nohost"),
        ("gw=1.2.3.4:99999", "1.2.3.4:99999"),
        ("gw=h:1|ftp://x", "ftp://x"),
        ("Bad!=h:1", "Bad!=h:1"),
    ):
        with pytest.raises(ValueError, match=re.escape(repr(named))):
            parse_targets(bad)


def test_health_threshold_and_recovery() -> None:
    r = Replica("s", "h:1", "")
    assert apply_check(r, Status.SERVING, "SERVING", 1, 0.001, 2) is not None
    assert apply_check(r, None, "UNAVAILABLE", 2, 0.001, 2) is None  # 1 failure: no flip
    change = apply_check(r, None, "UNAVAILABLE", 3, 0.001, 2)
    assert change is not None
    assert change.to_status is Status.UNREACHABLE
    assert r.consecutive_failures == 2
    assert r.since == 3
    back = apply_check(r, Status.SERVING, "SERVING", 4, 0.001, 2)
    assert back is not None
    assert back.from_status is Status.UNREACHABLE
    assert aggregate([Status.UNREACHABLE, Status.SERVING]) is Status.SERVING
    assert aggregate([Status.UNREACHABLE, Status.NOT_SERVING]) is Status.NOT_SERVING


def test_the_fleet_serves_only_when_every_service_does_and_is_unknown_without_one() -> None:
    assert overall([Status.SERVING, Status.SERVING]) is Status.SERVING
    assert overall([Status.SERVING, Status.UNREACHABLE]) is Status.NOT_SERVING
    assert overall([Status.SERVING, Status.NOT_SERVING]) is Status.NOT_SERVING
    assert overall([Status.SERVING, Status.UNKNOWN]) is Status.UNKNOWN
    assert overall([]) is Status.UNKNOWN


# ---------------------------------------------------------------- traces, logs, reports


def _export(spans: list[Span], service: str = "svc") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
    rs.scope_spans.add().spans.extend(spans)
    return req


def _span(trace: int, span: int, name: str = "op", ms: int = 1, **attrs: object) -> Span:
    s = Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=span.to_bytes(8, "big"),
        name=name,
        start_time_unix_nano=10**18,
        end_time_unix_nano=10**18 + ms * 10**6,
        kind=Span.SPAN_KIND_SERVER,
    )
    for k, v in attrs.items():
        value = (
            AnyValue(string_value=v)
            if isinstance(v, str)
            else AnyValue(bool_value=v)
            if isinstance(v, bool)
            else AnyValue(int_value=int(v))  # type: ignore[call-overload]
        )
        s.attributes.append(KeyValue(key=k, value=value))
    return s


def test_trace_store_evicts_whole_oldest_traces() -> None:
    store = TraceStore(max_spans=4, max_bytes=10**9)
    for trace in range(1, 4):
        store.ingest(_export([_span(trace, 1), _span(trace, 2)]))
    assert len(store) == 2
    assert store.span_count == 4
    assert store.evicted_traces == 1
    assert store.get((1).to_bytes(16, "big")) is None
    found, truncated = store.search(TraceQuery(limit=1))
    assert found[0].trace_id == (3).to_bytes(16, "big")
    assert truncated
    accepted, rejected, why = store.ingest(_export([Span(trace_id=b"x", span_id=b"y")]))
    assert (accepted, rejected) == (0, 1)
    assert "16 bytes" in why
    with pytest.raises(InvalidArgument):
        parse_trace_id("xyz")


def test_log_store_bounds_and_levels() -> None:
    store = LogStore(max_records=3, max_bytes=10**9)
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for i in range(5):
        record = sl.log_records.add(time_unix_nano=i, body=AnyValue(string_value=f"msg {i}"))
        record.severity_number = 9 + 4 * (i % 2)  # type: ignore[assignment]
    assert store.ingest(req) == 5
    assert len(store) == 3
    assert store.evicted == 2
    found, _ = store.search(LogQuery(min_level=4))
    assert [r.body for r in found] == ["msg 3"]
    assert [level_of(n) for n in (0, 1, 4, 5, 9, 13, 17, 21, 24)] == [0, 1, 1, 2, 3, 4, 5, 6, 6]


def test_report_recommends_caching_and_fuel_limits() -> None:
    spans = []
    for i in range(100):
        spans.append(
            _span(
                1000 + i,
                1,
                "GET /v1/run",
                5,
                **{
                    "http.route": "/v1/run/{ns}/{name}",
                    "http.response.status_code": 200,
                    "wasmgrid.cache.hit": False,
                    "wasmgrid.request.digest": f"req{i % 5}",
                    "wasmgrid.response.digest": f"resp{i % 5}",
                },
            )
        )
        spans.append(
            _span(
                1000 + i,
                2,
                "wasm.invoke",
                2,
                **{
                    "wasm.module": "demo/loop@1.0.0",
                    "wasm.outcome": "FUEL_EXHAUSTED" if i % 8 == 0 else "OK",
                    "wasm.fuel_consumed": 1000,
                    "wasm.fuel_limit": 1000 if i % 8 == 0 else 10_000,
                },
            )
        )
    store = TraceStore(10_000, 10**9)
    store.ingest(_export(spans))
    routes, modules, analysed = analyse_spans(s for _, s in store.spans_since(0))
    assert analysed == 200
    (route,) = routes
    assert route.latency.count == 100
    assert route.latency.p99 == pytest.approx(0.005)
    assert route.identical_ratio == pytest.approx(0.95)
    assert route.cache_hit_ratio == 0
    (module,) = modules
    assert module.fuel_exhausted_ratio == pytest.approx(0.13)
    report = Report(routes=routes, modules=modules)
    messages = [r.message for r in recommend(report, min_count=20)]
    assert any("route /v1/run/{ns}/{name}: 95% of responses identical" in m for m in messages)
    assert any(
        "module demo/loop@1.0.0 hits its fuel limit in 13% of 100 calls" in m for m in messages
    )


def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from wasmgrid.common.settings import load_settings
    from wasmgrid.monitor.settings import MonitorSettings

    monkeypatch.setenv("WASMGRID_DATABASE_URL", "postgresql://localhost/x")
    monkeypatch.setenv("WASMGRID_MONITOR_TARGETS", "gateway=nohost")
    with pytest.raises(SystemExit):
        load_settings(MonitorSettings)
    err = capsys.readouterr().err
    assert "WASMGRID_MONITOR_TARGETS" in err
    assert "host:port" in err
    monkeypatch.setenv("WASMGRID_MONITOR_TARGETS", "gateway=127.0.0.1:50050")
    monkeypatch.setenv("WASMGRID_MONITOR_WEBHOOK_URLS", "ftp://hook")
    with pytest.raises(SystemExit):
        load_settings(MonitorSettings)
    assert "WASMGRID_MONITOR_WEBHOOK_URLS" in capsys.readouterr().err
    monkeypatch.setenv("WASMGRID_MONITOR_WEBHOOK_URLS", "http://a/1, http://b/2")
    s = load_settings(MonitorSettings)
    assert s.webhook_urls == ["http://a/1", "http://b/2"]
    assert s.grpc_port == 50054
    assert s.metrics_port == 9094


def test_restored_alerts_wait_for_data_before_resolving() -> None:
    first = AlertEngine(60, 100)
    rule = _rule(for_seconds=0)
    first.step(rule, [Result({"job": "a"}, 5)], now=0)
    saved = list(first.alerts.values())
    engine = AlertEngine(60, 100)
    engine.restore(saved, hold_until=30)
    assert engine.step(rule, [], now=10) == []  # no data yet: still firing
    assert saved[0].state is AlertState.FIRING
    (change,) = engine.step(rule, [Result({"job": "a"}, 0)], now=11)  # data says it's over
    assert change.new is AlertState.RESOLVED
    engine.restore(saved[:0], hold_until=0)
    again = AlertEngine(60, 100)
    again.restore([saved[0]], hold_until=30)
    saved[0].state = AlertState.FIRING
    (late,) = again.step(rule, [], now=31)  # grace over and still no data
    assert late.new is AlertState.RESOLVED
