"""scripts/k8s_generate.py: the monitor's rules as Prometheus alerts."""

from __future__ import annotations

from scripts import k8s_generate
from wasmgrid.monitor.query import Aggregation, Expression, Function, Query
from wasmgrid.monitor.rules import Anomaly, AnomalyMethod, Comparator, Rule, Severity


def test_durations_read_as_prometheus_writes_them() -> None:
    assert [k8s_generate.duration(s) for s in (30, 60, 90, 300, 3600, 5400)] == [
        "30s", "1m", "90s", "5m", "1h", "90m",
    ]  # fmt: skip


def test_a_threshold_rule_keeps_its_comparison() -> None:
    q = Query("up", Function.VALUE, aggregation=Aggregation.NONE)
    rule = Rule("Down", Expression(q), Comparator.LE, 0.5, severity=Severity.CRITICAL)
    alert = k8s_generate.alert(rule)
    assert alert["expr"] == "up{} <= 0.5"
    assert alert["labels"] == {"severity": "critical"}
    assert "for" not in alert


def test_an_anomaly_rule_is_a_z_score_over_its_history_with_its_minimum_samples() -> None:
    q = Query("x", Function.VALUE, aggregation=Aggregation.NONE)
    anomaly = Anomaly(AnomalyMethod.EWMA_ZSCORE, 3600.0, 4.0, 0.05, 30, "both")
    rule = Rule("Spike", Expression(q), anomaly=anomaly, for_seconds=60)
    alert = k8s_generate.alert(rule)
    z = "((x{}) - avg_over_time((x{})[1h:1m])) / stddev_over_time((x{})[1h:1m])"
    assert alert["expr"] == f"(abs({z}) > 4) and count_over_time((x{{}})[1h:1m]) >= 30"
    assert alert["for"] == "1m"
    assert alert["labels"]["wasmgrid_anomaly"] == "ewma_zscore-as-zscore"


def test_the_committed_files_are_fresh() -> None:
    assert k8s_generate.main(["--check"]) == 0
