"""Alert rules through the gRPC API: the state machine, webhooks, silences, retries."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sized
from typing import Any

import grpc
import pytest

from wasmgrid.api.monitor.v1 import monitor_pb2 as pb
from wasmgrid.common.server import ServiceRunner
from wasmgrid.common.testing import poll_until

from .conftest import (
    SIGNAL,
    Monitor,
    Receiver,
    StartMonitor,
    alerts_of,
    signal_rule,
    state_is,
    targets,
)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_rule_honours_for_and_sends_the_alertmanager_webhook_payload(
    tiny: ServiceRunner, receiver: Receiver, start_monitor: StartMonitor
) -> None:
    case = uuid.uuid4().hex
    m = await start_monitor(
        targets=targets(tiny), webhook_urls=receiver.url, external_url="http://monitor.test"
    )
    await m.stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule(case, for_seconds=1.5)))
    SIGNAL.labels(case).set(5)

    pending = await poll_until(
        lambda: state_is(m, "SignalHigh", pb.ALERT_STATE_PENDING), "a pending alert"
    )
    assert receiver.bodies == []  # nothing is sent while pending
    firing = await poll_until(
        lambda: state_is(m, "SignalHigh", pb.ALERT_STATE_FIRING), "the alert to fire"
    )
    held = firing.fired_at.ToNanoseconds() - firing.active_since.ToNanoseconds()
    assert held >= 1.5e9, "fired before the condition held for `for`"
    assert firing.active_since == pending.active_since
    assert firing.value == 5

    async def bodies(n: int) -> list[Any] | None:
        return receiver.bodies if len(receiver.bodies) >= n else None

    (body,) = await poll_until(lambda: bodies(1), "the firing webhook")
    instance = f"127.0.0.1:{tiny.metrics_port}"
    labels = {
        "alertname": "SignalHigh",
        "severity": "critical",
        "team": "core",
        "case": case,
        "job": "tiny",
        "instance": instance,
    }
    alert = body["alerts"][0]
    assert RFC3339.match(alert.pop("startsAt"))
    assert re.fullmatch(r"[0-9a-f]{16}", alert.pop("fingerprint"))
    assert body == {
        "version": "4",
        "groupKey": '{}:{alertname="SignalHigh"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "wasmgrid",
        "groupLabels": {"alertname": "SignalHigh"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": f"signal is 5 on {case}"},
        "externalURL": "http://monitor.test",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"signal is 5 on {case}"},
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://monitor.test",
            }
        ],
    }

    SIGNAL.labels(case).set(0)
    await poll_until(lambda: state_is(m, "SignalHigh", pb.ALERT_STATE_RESOLVED), "resolution")
    _, resolved = await poll_until(lambda: bodies(2), "the resolved webhook")
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["status"] == "resolved"
    assert resolved["alerts"][0]["labels"] == labels
    assert RFC3339.match(resolved["alerts"][0]["endsAt"])
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


async def test_a_pending_alert_that_clears_never_fires(
    tiny: ServiceRunner, receiver: Receiver, start_monitor: StartMonitor
) -> None:
    case = uuid.uuid4().hex
    m = await start_monitor(targets=targets(tiny), webhook_urls=receiver.url)
    await m.stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule(case, for_seconds=30)))
    SIGNAL.labels(case).set(1)
    await poll_until(lambda: state_is(m, "SignalHigh", pb.ALERT_STATE_PENDING), "pending")
    SIGNAL.labels(case).set(0)
    await poll_until(lambda: _empty(alerts_of(m, "SignalHigh")), "the pending alert to disappear")
    assert receiver.bodies == []


async def _empty(coro: Awaitable[Sized]) -> bool:
    return not await coro


async def test_a_silence_suppresses_until_it_expires(
    tiny: ServiceRunner, receiver: Receiver, start_monitor: StartMonitor
) -> None:
    case = uuid.uuid4().hex
    m = await start_monitor(targets=targets(tiny), webhook_urls=receiver.url)
    req = pb.CreateSilenceRequest(
        matchers=[pb.LabelMatcher(name="case", op=pb.MATCH_OP_IN, values=[case])],
        created_by="oncall",
        comment="maintenance",
    )
    req.duration.FromSeconds(3600)
    silence = await m.stub.CreateSilence(req)
    assert silence.state == pb.SILENCE_STATE_ACTIVE
    await m.stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule(case)))
    SIGNAL.labels(case).set(1)

    firing = await poll_until(
        lambda: state_is(m, "SignalHigh", pb.ALERT_STATE_FIRING), "the silenced alert to fire"
    )
    assert list(firing.silenced_by) == [silence.id]
    assert await alerts_of(m, "SignalHigh", include_silenced=False) == []
    rounds = m.service.evaluator.rounds
    await poll_until(
        lambda: _true(m.service.evaluator.rounds >= rounds + 5), "five more evaluations"
    )
    assert receiver.bodies == [], "a silenced alert was notified"

    expired = await m.stub.ExpireSilence(pb.ExpireSilenceRequest(id=silence.id))
    assert expired.state == pb.SILENCE_STATE_EXPIRED
    await poll_until(lambda: _true(len(receiver.bodies) >= 1), "the webhook after expiry")
    assert receiver.bodies[0]["alerts"][0]["labels"]["case"] == case
    listed = await m.stub.ListSilences(pb.ListSilencesRequest(include_expired=True))
    assert [s.id for s in listed.silences] == [silence.id]
    assert (await m.stub.ListSilences(pb.ListSilencesRequest())).silences == []


async def _true(value: bool) -> bool:
    return value


async def test_a_notification_to_a_receiver_that_is_down_is_delivered_when_it_returns(
    tiny: ServiceRunner, idle_receiver: Receiver, start_monitor: StartMonitor
) -> None:
    case = uuid.uuid4().hex
    m = await start_monitor(targets=targets(tiny), webhook_urls=idle_receiver.url)
    await m.stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule(case)))
    SIGNAL.labels(case).set(1)

    async def retrying() -> pb.Notification | None:
        resp = await m.stub.ListNotifications(pb.ListNotificationsRequest())
        for n in resp.notifications:
            if n.state == pb.NOTIFICATION_STATE_PENDING and n.attempts >= 2:
                return n
        return None

    pending = await poll_until(retrying, "failed delivery attempts")
    assert pending.last_error, "the delivery error is recorded"
    assert pending.receiver == idle_receiver.url

    await idle_receiver.start()
    await poll_until(lambda: _true(len(idle_receiver.bodies) >= 1), "delivery after recovery")
    body = idle_receiver.bodies[0]
    assert body["status"] == "firing"
    assert body["alerts"][0]["labels"]["case"] == case

    async def delivered() -> bool:
        resp = await m.stub.ListNotifications(
            pb.ListNotificationsRequest(states=[pb.NOTIFICATION_STATE_DELIVERED])
        )
        return any(n.id == pending.id for n in resp.notifications)

    await poll_until(delivered, "the notification to be marked delivered")


async def _code(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details() or ""


async def test_rule_crud_and_validation(start_monitor: StartMonitor) -> None:
    m = await start_monitor()
    stub = m.stub
    created = await stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule("x", "Custom", 60)))
    assert created.version == 1
    assert created.source == pb.RULE_SOURCE_API
    assert created.for_duration.seconds == 60

    code, msg = await _code(stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule("x", "Custom"))))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert "Custom" in msg

    bad_name = signal_rule("x", "9 bad name")
    code, msg = await _code(stub.CreateRule(pb.CreateRuleRequest(rule=bad_name)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "rule.name" in msg

    no_window = signal_rule("x", "NoWindow")
    no_window.expression.query.function = pb.FUNCTION_RATE
    code, msg = await _code(stub.CreateRule(pb.CreateRuleRequest(rule=no_window)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "rule.expression.query.window" in msg

    no_cmp = signal_rule("x", "NoComparator")
    no_cmp.comparator = pb.COMPARATOR_UNSPECIFIED
    code, msg = await _code(stub.CreateRule(pb.CreateRuleRequest(rule=no_cmp)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "comparator" in msg

    bad_metric = signal_rule("x", "BadMetric")
    bad_metric.expression.query.metric = "not a metric{}"
    code, msg = await _code(stub.CreateRule(pb.CreateRuleRequest(rule=bad_metric)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "metric" in msg

    got = await stub.GetRule(pb.GetRuleRequest(name="Custom"))
    assert got.expression == created.expression
    assert got.threshold == 0

    changed = signal_rule("x", "Custom", 10)
    changed.threshold = 3
    updated = await stub.UpdateRule(pb.UpdateRuleRequest(rule=changed, expected_version=1))
    assert updated.version == 2
    assert updated.threshold == 3
    code, msg = await _code(stub.UpdateRule(pb.UpdateRuleRequest(rule=changed, expected_version=1)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "version 2" in msg

    listed = await stub.ListRules(pb.ListRulesRequest())
    assert [r.name for r in listed.rules] == ["Custom"]

    await stub.DeleteRule(pb.DeleteRuleRequest(name="Custom"))
    code, _ = await _code(stub.DeleteRule(pb.DeleteRuleRequest(name="Custom")))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await _code(stub.GetRule(pb.GetRuleRequest(name="Custom")))
    assert code == grpc.StatusCode.NOT_FOUND


async def test_shipped_rules_are_loaded_and_read_only(start_monitor: StartMonitor) -> None:
    from wasmgrid.monitor.settings import DEFAULT_RULES_FILE

    m = await start_monitor(rules_file=str(DEFAULT_RULES_FILE))
    listed = await m.stub.ListRules(pb.ListRulesRequest(source=pb.RULE_SOURCE_FILE))
    names = {r.name for r in listed.rules}
    assert {
        "ServiceDown",
        "HighErrorRatio",
        "HighP99Latency",
        "RuntimeTimeoutsOrFuelExhaustion",
        "LowCacheHitRatio",
        "RateLimitRejectionSpike",
    } <= names
    spike = next(r for r in listed.rules if r.name == "RateLimitRejectionSpike")
    assert spike.anomaly.method == pb.ANOMALY_METHOD_EWMA_ZSCORE
    code, msg = await _code(m.stub.DeleteRule(pb.DeleteRuleRequest(name="ServiceDown")))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "rules file" in msg
    code, _ = await _code(
        m.stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule("x", "ServiceDown")))
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS


def test_every_shipped_ratio_rule_groups_both_sides_alike() -> None:
    """A ratio matches series with equal labels (here and in PromQL): a numerator grouped by
    more labels than its denominator matches nothing, and the rule could never fire."""
    from wasmgrid.monitor.rules import load_rules_file
    from wasmgrid.monitor.settings import DEFAULT_RULES_FILE

    ratios = [r for r in load_rules_file(DEFAULT_RULES_FILE) if r.expression.denominator]
    assert ratios
    for rule in ratios:
        denominator = rule.expression.denominator
        assert denominator is not None
        assert set(rule.expression.query.group_by) == set(denominator.group_by), rule.name


async def test_silence_validation(start_monitor: StartMonitor) -> None:
    m = await start_monitor()
    code, msg = await _code(m.stub.CreateSilence(pb.CreateSilenceRequest(comment="no matchers")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    req = pb.CreateSilenceRequest(
        matchers=[pb.LabelMatcher(name="alertname", op=pb.MATCH_OP_IN, values=["X"])]
    )
    code, msg = await _code(m.stub.CreateSilence(req))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "ends_at" in msg
    req.duration.FromSeconds(200 * 86400)
    code, msg = await _code(m.stub.CreateSilence(req))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "90 days" in msg
    code, msg = await _code(m.stub.GetSilence(pb.GetSilenceRequest(id="not-a-uuid")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "UUID" in msg
    code, _ = await _code(m.stub.ExpireSilence(pb.ExpireSilenceRequest(id=str(uuid.uuid4()))))
    assert code == grpc.StatusCode.NOT_FOUND


async def test_alerts_are_pushed_in_alertmanager_api_v2_format(
    tiny: ServiceRunner, receiver: Receiver, start_monitor: StartMonitor
) -> None:
    import datetime as dt

    case = uuid.uuid4().hex
    m = await start_monitor(
        targets=targets(tiny),
        alertmanager_url=f"http://127.0.0.1:{receiver.port}",
        external_url="http://monitor.test",
    )
    await m.stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule(case)))
    SIGNAL.labels(case).set(2)

    async def pushed() -> list[Any] | None:
        return receiver.bodies[0] if receiver.bodies else None

    body = await poll_until(pushed, "a POST /api/v2/alerts")
    assert isinstance(body, list)
    assert len(body) == 1
    (alert,) = body
    assert set(alert) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    assert alert["labels"]["alertname"] == "SignalHigh"
    assert alert["labels"]["case"] == case
    assert alert["annotations"] == {"summary": f"signal is 2 on {case}"}
    ends = dt.datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))
    assert ends > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)  # re-pushed before then
    SIGNAL.labels(case).set(0)

    async def resolved() -> Any:
        for b in receiver.bodies[1:]:
            ends = dt.datetime.fromisoformat(b[0]["endsAt"].replace("Z", "+00:00"))
            if ends <= dt.datetime.now(dt.UTC):
                return b
        return None

    await poll_until(resolved, "the resolution pushed with endsAt in the past")


async def test_expiring_a_future_silence_ends_it(start_monitor: StartMonitor) -> None:
    import time

    m = await start_monitor()
    req = pb.CreateSilenceRequest(
        matchers=[pb.LabelMatcher(name="alertname", op=pb.MATCH_OP_NOT_IN, values=["X"])]
    )
    req.starts_at.FromSeconds(int(time.time()) + 3600)
    req.duration.FromSeconds(600)
    created = await m.stub.CreateSilence(req)
    assert created.state == pb.SILENCE_STATE_PENDING
    expired = await m.stub.ExpireSilence(pb.ExpireSilenceRequest(id=created.id))
    assert expired.state == pb.SILENCE_STATE_EXPIRED
    again = await m.stub.GetSilence(pb.GetSilenceRequest(id=created.id))
    assert again.state == pb.SILENCE_STATE_EXPIRED
    assert again.ends_at == expired.ends_at


async def test_only_one_replica_notifies_and_another_takes_over(
    tiny: ServiceRunner, receiver: Receiver, start_monitor: StartMonitor
) -> None:
    case = uuid.uuid4().hex
    a = await start_monitor(targets=targets(tiny), webhook_urls=receiver.url)
    b = await start_monitor(targets=targets(tiny), webhook_urls=receiver.url)
    await a.stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule(case)))
    SIGNAL.labels(case).set(1)
    for m in (a, b):  # both replicas evaluate the shared rule
        await poll_until(_firing(m), "firing on both replicas")
    await poll_until(lambda: _true(len(receiver.bodies) >= 1), "the first notification")
    rounds = [m.service.evaluator.rounds for m in (a, b)]
    await poll_until(
        lambda: _true(
            all(m.service.evaluator.rounds >= r + 5 for m, r in zip((a, b), rounds, strict=True))
        ),
        "five more evaluations on both replicas",
    )
    assert len(receiver.bodies) == 1, "both replicas notified"
    leader = a if a.service.evaluator.leadership and a.service.evaluator.leadership.leader else b
    await leader.runner.stop(0.2)
    await poll_until(lambda: _true(len(receiver.bodies) >= 2), "the other replica to take over")
    assert receiver.bodies[1]["alerts"][0]["labels"]["case"] == case


def _firing(m: Monitor) -> Callable[[], Awaitable[pb.Alert | None]]:
    return lambda: state_is(m, "SignalHigh", pb.ALERT_STATE_FIRING)


async def test_firing_alerts_survive_a_restart_without_waiting_for_again(
    tiny: ServiceRunner, receiver: Receiver, start_monitor: StartMonitor
) -> None:
    case = uuid.uuid4().hex
    first = await start_monitor(targets=targets(tiny), webhook_urls=receiver.url)
    await first.stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule(case, for_seconds=1)))
    SIGNAL.labels(case).set(1)
    before = await poll_until(lambda: state_is(first, "SignalHigh", pb.ALERT_STATE_FIRING), "fire")
    await poll_until(lambda: _true(len(receiver.bodies) >= 1), "the notification")
    await first.runner.stop(0.2)

    second = await start_monitor(targets=targets(tiny), webhook_urls=receiver.url)
    (after,) = await alerts_of(second, "SignalHigh")  # restored before the first evaluation
    assert after.state == pb.ALERT_STATE_FIRING
    assert after.active_since == before.active_since
    assert after.fired_at == before.fired_at
    rounds = second.service.evaluator.rounds
    await poll_until(
        lambda: _true(second.service.evaluator.rounds >= rounds + 5), "five evaluations"
    )
    assert len(receiver.bodies) == 1, "a restored alert was notified again"
    SIGNAL.labels(case).set(0)
    await poll_until(lambda: _true(len(receiver.bodies) >= 2), "the resolution")
    assert receiver.bodies[1]["status"] == "resolved"
