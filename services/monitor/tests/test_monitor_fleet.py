"""Fleet health and metric scraping against real in-process services."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

import grpc
import pytest

from wasmgrid.api.monitor.v1 import monitor_pb2 as pb
from wasmgrid.common.server import Service, ServiceRunner
from wasmgrid.common.testing import free_port, poll_until

from .conftest import (
    READINESS_INTERVAL,
    Monitor,
    StartMonitor,
    start_tiny,
)


async def target_status(m: Monitor, service: str = "tiny") -> pb.TargetHealth | None:
    resp = await m.stub.GetFleetHealth(pb.GetFleetHealthRequest(service=service))
    return resp.targets[0] if resp.targets else None


async def test_fleet_health_flips_when_a_service_stops_and_recovers_when_it_returns(
    start_monitor: StartMonitor,
) -> None:
    tiny = await start_tiny()
    port, metrics_port = tiny.grpc_port, tiny.metrics_port
    m = await start_monitor(
        targets=f"tiny={tiny.address}|http://127.0.0.1:{metrics_port}/metrics",
        failure_threshold=2,
    )

    async def status_is(status: int) -> pb.TargetHealth | None:
        t = await target_status(m)
        return t if t is not None and t.status == status else None

    serving = await poll_until(lambda: status_is(pb.SERVING_STATUS_SERVING), "SERVING")
    assert serving.instance == tiny.address
    assert serving.consecutive_failures == 0
    health = await m.stub.GetFleetHealth(pb.GetFleetHealthRequest())
    assert health.overall == pb.SERVING_STATUS_SERVING
    assert [(s.service, s.replicas, s.replicas_serving) for s in health.services] == [
        ("tiny", 1, 1)
    ]
    await poll_until(lambda: _metrics_up(m), "a successful scrape")

    await tiny.stop(0.1)
    down = await poll_until(lambda: status_is(pb.SERVING_STATUS_UNREACHABLE), "UNREACHABLE")
    assert down.consecutive_failures >= 2
    assert "UNAVAILABLE" in down.reason or "DEADLINE" in down.reason
    health = await m.stub.GetFleetHealth(pb.GetFleetHealthRequest())
    assert health.overall == pb.SERVING_STATUS_NOT_SERVING
    assert health.services[0].replicas_serving == 0

    tiny = await start_tiny(grpc_port=port, metrics_port=metrics_port)
    try:
        back = await poll_until(lambda: status_is(pb.SERVING_STATUS_SERVING), "SERVING again")
        assert back.since.ToNanoseconds() > down.since.ToNanoseconds()
        history = await m.stub.GetFleetHealth(pb.GetFleetHealthRequest(service="tiny"))
        flips = [(c.from_status, c.to_status) for c in reversed(history.changes)]
        assert all(a == b for (_, a), (b, _) in itertools.pairwise(flips))
        path = [flips[0][0], *(to for _, to in flips)]
        # A graceful stop may be seen as NOT_SERVING before its port closes.
        assert path in (
            [
                pb.SERVING_STATUS_UNKNOWN,
                pb.SERVING_STATUS_SERVING,
                pb.SERVING_STATUS_UNREACHABLE,
                pb.SERVING_STATUS_SERVING,
            ],
            [
                pb.SERVING_STATUS_UNKNOWN,
                pb.SERVING_STATUS_SERVING,
                pb.SERVING_STATUS_NOT_SERVING,
                pb.SERVING_STATUS_UNREACHABLE,
                pb.SERVING_STATUS_SERVING,
            ],
        ), flips
        assert all(c.instance == f"127.0.0.1:{port}" for c in history.changes)
    finally:
        await tiny.stop(0.1)


async def _metrics_up(m: Monitor) -> bool:
    t = await target_status(m)
    return t is not None and t.metrics_up


class Sick(Service):
    """A service whose dependency is down: health says NOT_SERVING, with the kit's loop."""

    name = "sick"

    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        return []

    async def check_ready(self) -> str | None:
        return "database unreachable"


async def test_not_serving_is_reported_with_its_reason(start_monitor: StartMonitor) -> None:
    from wasmgrid.common.settings import ServiceSettings

    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "grpc_port": 0,
        "metrics_port": 0,
        "log_json": False,
        "readiness_interval_seconds": READINESS_INTERVAL,
    }
    sick = ServiceRunner(Sick(), ServiceSettings(**values), tracing=False, serve_metrics=False)
    await sick.start()
    try:
        m = await start_monitor(targets=f"sick={sick.address}")

        async def not_serving() -> pb.TargetHealth | None:
            t = await target_status(m, "sick")
            return t if t is not None and t.status == pb.SERVING_STATUS_NOT_SERVING else None

        t = await poll_until(not_serving, "NOT_SERVING")
        assert "NOT_SERVING" in t.reason
        assert not t.metrics_up
        assert t.metrics_url == ""
    finally:
        await sick.stop(0.1)


async def test_scraped_metrics_are_queryable(start_monitor: StartMonitor) -> None:
    tiny = await start_tiny()
    try:
        m = await start_monitor(
            targets=f"tiny={tiny.address}|http://127.0.0.1:{tiny.metrics_port}/metrics"
        )
        query = pb.QueryMetricRequest(
            expression=pb.Expression(
                query=pb.Query(
                    metric="up",
                    function=pb.FUNCTION_VALUE,
                    aggregation=pb.AGGREGATION_NONE,
                    matchers=[pb.LabelMatcher(name="job", op=pb.MATCH_OP_IN, values=["tiny"])],
                )
            )
        )

        async def up() -> pb.QueryMetricResponse | None:
            resp = await m.stub.QueryMetric(query)
            return resp if resp.samples else None

        resp = await poll_until(up, "the up series")
        assert resp.backend == "local"
        (sample,) = resp.samples
        assert sample.value == 1
        assert dict(sample.labels) == {"job": "tiny", "instance": f"127.0.0.1:{tiny.metrics_port}"}

        # A counter scraped from the target's exposition, as a rate summed by job.
        rate = pb.QueryMetricRequest(
            expression=pb.Expression(
                query=pb.Query(
                    metric="wasmgrid_monitor_scrapes_total",
                    function=pb.FUNCTION_RATE,
                    group_by=["job"],
                )
            )
        )
        rate.expression.query.window.FromSeconds(30)

        async def positive_rate() -> pb.QueryMetricResponse | None:
            resp = await m.stub.QueryMetric(rate)
            return resp if resp.samples and resp.samples[0].value > 0 else None

        resp = await poll_until(positive_rate, "a positive scrape rate")
        assert dict(resp.samples[0].labels) == {"job": "tiny"}

        bad = pb.QueryMetricRequest(
            expression=pb.Expression(
                query=pb.Query(metric="up", function=pb.FUNCTION_HISTOGRAM_QUANTILE, quantile=2)
            )
        )
        bad.expression.query.window.FromSeconds(60)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await m.stub.QueryMetric(bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "quantile" in (err.value.details() or "")
    finally:
        await tiny.stop(0.1)


def _range(start: float, end: float | None, step: float) -> pb.QueryMetricRangeRequest:
    req = pb.QueryMetricRangeRequest(
        expression=pb.Expression(
            query=pb.Query(
                metric="up",
                function=pb.FUNCTION_VALUE,
                matchers=[pb.LabelMatcher(name="job", op=pb.MATCH_OP_IN, values=["tiny"])],
            )
        )
    )
    req.start.FromNanoseconds(int(start * 1e9))
    if end is not None:
        req.end.FromNanoseconds(int(end * 1e9))
    req.step.FromNanoseconds(int(step * 1e9))
    return req


async def test_a_range_query_charts_scraped_series_and_names_bad_bounds(
    start_monitor: StartMonitor,
) -> None:
    tiny = await start_tiny()
    try:
        m = await start_monitor(
            targets=f"tiny={tiny.address}|http://127.0.0.1:{tiny.metrics_port}/metrics"
        )
        began = time.time()

        async def two_points() -> pb.QueryMetricRangeResponse | None:
            resp = await m.stub.QueryMetricRange(_range(began, None, 1))
            return resp if resp.series and len(resp.series[0].points) >= 2 else None

        resp = await poll_until(two_points, "two instants of the up series")
        assert resp.backend == "local"
        (series,) = resp.series
        assert dict(series.labels) == {}  # summed: no group_by
        times = [p.time.ToNanoseconds() / 1e9 for p in series.points]
        assert times == sorted(times)
        assert all(t >= began - 1e-6 for t in times)
        assert all(p.value == 1 for p in series.points)
        assert [round(b - a, 6) for a, b in itertools.pairwise(times)] == [1.0] * (len(times) - 1)

        for req, field in (
            (_range(began, began - 10, 1), "end"),
            (_range(began, began + 10, 0.5), "step"),
            (_range(began - 3600, began, 1), "limit is 1000"),
            (pb.QueryMetricRangeRequest(expression=_range(0, 1, 1).expression), "start"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await m.stub.QueryMetricRange(req)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in (err.value.details() or "")
    finally:
        await tiny.stop(0.1)


async def test_replicas_are_discovered_through_dns(start_monitor: StartMonitor) -> None:
    tiny = await start_tiny()
    try:
        m = await start_monitor(
            targets=f"tiny=dns:localhost:{tiny.grpc_port}|http://{{host}}:{tiny.metrics_port}/metrics"
        )

        async def discovered() -> pb.TargetHealth | None:
            resp = await m.stub.GetFleetHealth(pb.GetFleetHealthRequest(service="tiny"))
            for t in resp.targets:
                if t.instance == tiny.address and t.status == pb.SERVING_STATUS_SERVING:
                    return t
            return None

        t = await poll_until(discovered, "the 127.0.0.1 replica behind localhost SERVING")
        assert t.metrics_url == f"http://127.0.0.1:{tiny.metrics_port}/metrics"
    finally:
        await tiny.stop(0.1)


async def test_bad_expositions_are_reported_not_stored(start_monitor: StartMonitor) -> None:
    from aiohttp import web

    big = "x_total 1\n" * 2000

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="this is { not an exposition\n")

    async def huge(request: web.Request) -> web.Response:
        return web.Response(text=big)

    app = web.Application()
    app.router.add_get("/garbage", garbage)
    app.router.add_get("/huge", huge)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    tiny = await start_tiny()
    try:
        base = f"http://127.0.0.1:{port}"
        m = await start_monitor(
            targets=f"bad={tiny.address}|{base}/garbage,big={tiny.address}|{base}/huge",
            scrape_max_bytes=4096,
        )

        async def errors() -> dict[str, str] | None:
            resp = await m.stub.GetFleetHealth(pb.GetFleetHealthRequest())
            errs = {t.service: t.metrics_error for t in resp.targets}
            return errs if all(errs.values()) and len(errs) == 2 else None

        errs = await poll_until(errors, "both scrapes to fail")
        assert "does not parse" in errs["bad"]
        assert "WASMGRID_MONITOR_SCRAPE_MAX_BYTES=4096" in errs["big"]
        health = await m.stub.GetFleetHealth(pb.GetFleetHealthRequest())
        assert all(t.status == pb.SERVING_STATUS_SERVING for t in health.targets)
    finally:
        await tiny.stop(0.1)
        await runner.cleanup()
