"""The production integrations against the real servers: Prometheus (queries and rules
evaluated through its HTTP API) and Alertmanager (API v2 push, routed to a webhook).

Skipped when the binaries are not installed (Debian: `prometheus`,
`prometheus-alertmanager`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
import pytest

from wasmgrid.api.monitor.v1 import monitor_pb2 as pb
from wasmgrid.common.server import ServiceRunner
from wasmgrid.common.testing import free_port, poll_until

from .conftest import (
    SIGNAL,
    Receiver,
    StartMonitor,
    signal_rule,
    state_is,
    targets,
)

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@contextlib.contextmanager
def _process(args: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _ready(url: str) -> None:
    async def ok() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(url) as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    await poll_until(ok, f"{url} to answer", timeout=30)


def _missing(package: str) -> NoReturn:
    """Skip on a developer machine without the Debian package; in CI its absence fails."""
    message = f"{package} is not installed (apt-get install {package}; .ci/run does this)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def prometheus(tmp_path: Path, tiny: ServiceRunner) -> AsyncIterator[str]:
    """A real Prometheus scraping the tiny service every 2 s; yields its URL.

    The tiny service exposes this test process's whole registry: late in a full run that
    is hundreds of KB, rendered by a thread that shares the GIL with the busy test loop
    (seen over 1 s under coverage). The scrape's timeout is its interval, so 2 s, plus
    a poll that does not hammer the loop, leave room for that.
    """
    if PROMETHEUS is None:
        _missing("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: tiny\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{tiny.metrics_port}']}}]\n"
    )
    args = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with _process(args):
        url = f"http://127.0.0.1:{port}"
        await _ready(f"{url}/-/ready")
        yield url


async def test_queries_and_rules_are_evaluated_by_a_real_prometheus(
    prometheus: str, tiny: ServiceRunner, receiver: Receiver, start_monitor: StartMonitor
) -> None:
    case = uuid.uuid4().hex
    SIGNAL.labels(case).set(7)
    m = await start_monitor(
        targets=targets(tiny), prometheus_url=prometheus, webhook_urls=receiver.url
    )
    query = pb.QueryMetricRequest(
        expression=pb.Expression(
            query=pb.Query(
                metric="wasmgrid_test_signal",
                function=pb.FUNCTION_MAX_OVER_TIME,
                aggregation=pb.AGGREGATION_SUM,
                group_by=["case"],
                matchers=[
                    pb.LabelMatcher(name="case", op=pb.MATCH_OP_IN, values=[case, "a.b|c"]),
                    pb.LabelMatcher(name="job", op=pb.MATCH_OP_NOT_IN, values=["other"]),
                ],
            )
        )
    )
    query.expression.query.window.FromSeconds(30)

    async def answered() -> pb.QueryMetricResponse | None:
        resp = await m.stub.QueryMetric(query)
        return resp if resp.samples else None

    try:
        resp = await poll_until(
            answered, "Prometheus to have scraped the signal", timeout=60, interval=0.25
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; Prometheus's targets: {await _targets(prometheus)}") from None
    assert resp.backend == "prometheus"
    assert [(dict(s.labels), s.value) for s in resp.samples] == [({"case": case}, 7.0)]

    chart = pb.QueryMetricRangeRequest(expression=query.expression)
    now = time.time()  # after the instant answer: the last instant has the sample too
    chart.start.FromNanoseconds(int((now - 10) * 1e9))
    chart.end.FromNanoseconds(int(now * 1e9))
    chart.step.FromSeconds(5)
    ranged = await m.stub.QueryMetricRange(chart)
    assert ranged.backend == "prometheus"
    (series,) = ranged.series
    assert dict(series.labels) == {"case": case}
    assert series.points[-1].time.ToNanoseconds() / 1e9 == pytest.approx(now, abs=1e-3)
    assert {p.value for p in series.points} == {7.0}

    p99 = pb.QueryMetricRequest(
        expression=pb.Expression(
            query=pb.Query(
                metric="wasmgrid_monitor_scrape_seconds",
                function=pb.FUNCTION_HISTOGRAM_QUANTILE,
                quantile=0.99,
                group_by=["job"],
            )
        )
    )
    p99.expression.query.window.FromSeconds(60)
    await m.stub.QueryMetric(p99)  # valid PromQL: no error (results may still be empty)

    await m.stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule(case)))
    firing = await poll_until(
        lambda: state_is(m, "SignalHigh", pb.ALERT_STATE_FIRING), "firing via Prometheus"
    )
    assert firing.labels["case"] == case
    assert firing.labels["job"] == "tiny"
    await poll_until(lambda: _at_least(receiver, 1), "the webhook")


async def _targets(url: str) -> list[dict[str, Any]]:
    """What Prometheus says of its scrapes (health, last error, duration): why a sample
    never arrived, when it did not."""
    async with aiohttp.ClientSession() as s, s.get(f"{url}/api/v1/targets") as resp:
        body = await resp.json()
    keys = ("scrapeUrl", "health", "lastError", "lastScrapeDuration", "scrapeTimeout")
    return [{k: t.get(k) for k in keys} for t in body["data"]["activeTargets"]]


async def _at_least(receiver: Receiver, n: int) -> bool:
    return len(receiver.bodies) >= n


async def test_alerts_reach_a_real_alertmanager_and_its_webhook(
    tmp_path: Path, tiny: ServiceRunner, receiver: Receiver, start_monitor: StartMonitor
) -> None:
    if ALERTMANAGER is None:
        _missing("prometheus-alertmanager")
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: hook\n"
        "  group_by: [alertname]\n"
        "  group_wait: 1s\n"
        "  group_interval: 1s\n"
        "receivers:\n"
        "  - name: hook\n"
        f"    webhook_configs: [{{url: '{receiver.url}'}}]\n"
    )
    args = [
        ALERTMANAGER,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'am'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    case = uuid.uuid4().hex
    with _process(args):
        url = f"http://127.0.0.1:{port}"
        await _ready(f"{url}/-/ready")
        m = await start_monitor(targets=targets(tiny), alertmanager_url=url)
        await m.stub.CreateRule(pb.CreateRuleRequest(rule=signal_rule(case)))
        SIGNAL.labels(case).set(3)

        async def delivered() -> Any:
            for body in receiver.bodies:
                if body["alerts"] and body["alerts"][0]["labels"].get("case") == case:
                    return body
            return None

        body = await poll_until(delivered, "Alertmanager to forward the alert", timeout=30)
        assert body["status"] == "firing"
        assert body["receiver"] == "hook"
        assert body["alerts"][0]["annotations"] == {"summary": f"signal is 3 on {case}"}
        listed = await m.stub.ListNotifications(pb.ListNotificationsRequest())
        assert any(
            n.receiver_kind == "alertmanager" and n.state == pb.NOTIFICATION_STATE_DELIVERED
            for n in listed.notifications
        )
