"""The gateway under stress and shutdown: an upstream down, overload and admission, failed
authentications limited, a graceful stop that drains, probes during the shutdown delay."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from wasmgrid.common.testing import Poll
from wasmgrid.gateway.web import PAGES

from .conftest import Infra, RunningGateway, StartGateway, bearer, read_problem

PROBLEM = "application/problem+json"
PAGE_PATHS = {p.path for p in PAGES}


async def test_upstream_down_is_503_and_readyz_reflects_it(
    start_gateway: StartGateway, infra: Infra, poll: Poll
) -> None:
    gw = await start_gateway(runtime_targets="127.0.0.1:1", marketplace_addr="127.0.0.1:2")
    async with gw.http.get(gw.url("/v1/run/examples/hello")) as resp:
        doc = await read_problem(resp, 503)
        assert doc["detail"].startswith("marketplace service:")
        assert resp.headers["Retry-After"] == "1"
    async with gw.http.get(gw.url("/readyz")) as resp:
        await read_problem(resp, 503)
    async with gw.http.get(gw.url("/healthz")) as resp:
        assert resp.status == 200
    healthy = await start_gateway()

    async def ready() -> bool:
        async with healthy.http.get(healthy.url("/readyz")) as resp:
            return bool(resp.status == 200)

    await poll(ready, "the gateway to report ready")
    async with gw.http.get(gw.url("/v1/health")) as resp:
        assert "WASMGRID_GATEWAY_MONITOR_ADDR" in (await read_problem(resp, 503))["detail"]


async def test_overload_is_503_at_once(start_gateway: StartGateway, poll: Poll) -> None:
    routes = """
routes:
  - name: slow
    path: /slow
    module: testmods/spin
    # The runtime's maximum fuel: the default 1e9 can run out before 1.5 s on a fast
    # core, and the answer would be guest-fuel-exhausted instead of guest-timeout.
    limits: {timeout: 1500ms, fuel: 10000000000}
"""
    gw = await start_gateway(routes, max_in_flight=1)
    slow = asyncio.ensure_future(gw.http.get(gw.url("/slow")))

    async def busy() -> bool:
        return bool(gw.gateway.in_flight == 1)

    await poll(busy, "the slow request to be in flight")
    async with gw.http.get(gw.url("/v1/routes")) as resp:
        doc = await read_problem(resp, 503)
        assert "1 requests already in flight" in doc["detail"]
        assert resp.headers["Retry-After"] == "1"
        assert doc["fault"] == "overload"
    resp = await slow
    assert resp.status == 500, await resp.text()
    assert (await resp.json(content_type=None))["type"].endswith("/guest-timeout")
    async with gw.http.get(gw.url("/metrics")) as resp:
        text = await resp.text()
    assert "wasmgrid_gateway_overload_rejections_total" in text


async def test_graceful_stop_drains_in_flight_requests(
    start_gateway: StartGateway, poll: Poll
) -> None:
    routes = """
routes:
  - name: slow
    path: /slow
    module: testmods/spin
    limits: {timeout: 800ms, fuel: 10000000000}  # time, not fuel, must end it
"""
    gw = await start_gateway(routes, grace_seconds=5.0)
    async with gw.http.get(gw.url("/readyz")) as resp:
        assert resp.status == 200
    slow = asyncio.ensure_future(gw.http.get(gw.url("/slow")))

    async def in_flight() -> bool:
        return bool(gw.gateway.in_flight == 1)

    await poll(in_flight, "the slow request to start")
    stopping = asyncio.ensure_future(gw.stop())

    async def draining() -> bool:
        return bool(gw.gateway.draining)

    await poll(draining, "the gateway to start draining")
    assert await gw.gateway.check_ready() == "draining: shutting down"
    # The request in flight gets its whole answer (the module's own time limit) …
    resp = await slow
    assert resp.status == 500, await resp.text()
    assert "800 ms time limit" in (await resp.json(content_type=None))["detail"]
    await stopping
    # … and the listener is closed afterwards.
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as fresh, fresh.get(gw.url("/healthz")):
            pass


async def test_in_the_shutdown_delay_probes_say_not_ready_while_http_still_answers(
    start_gateway: StartGateway, poll: Poll
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from wasmgrid.common.channel import create_channel

    gw = await start_gateway(drain_seconds=3.0)
    channel = create_channel(gw.runner.address, default_timeout=5, tracing=False)
    health = health_pb2_grpc.HealthStub(channel)
    try:
        stopping = asyncio.ensure_future(gw.stop())

        async def not_serving() -> bool:
            answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
            return bool(answer.status == health_pb2.HealthCheckResponse.NOT_SERVING)

        await poll(not_serving, "grpc.health to turn NOT_SERVING")
        # Load balancers still sending in the delay are served; /readyz tells them to stop.
        async with gw.http.get(gw.url("/readyz")) as resp:
            assert (await read_problem(resp, 503))["detail"] == "draining: shutting down"
        async with gw.http.post(gw.url("/v1/run/examples/hello"), data=b"late") as resp:
            assert resp.status == 200
            assert await resp.read() == b"LATE"
        assert not stopping.done()
        await stopping
    finally:
        await channel.close(None)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as fresh, fresh.get(gw.url("/healthz")):
            pass


# Long enough that the slot is still held when the refused call comes, on a machine
# slowed by other work (the test waits for the slow call's answer, not for its time).
SLOW_ROUTE = """
routes:
  - name: slow
    path: /slow
    module: testmods/spin
    limits: {timeout: 5s, fuel: 10000000000}
"""


async def saturate(
    start_gateway: StartGateway, poll: Poll, **settings: object
) -> tuple[RunningGateway, asyncio.Future[aiohttp.ClientResponse], asyncio.Future[bytes]]:
    """A gateway with one slot, held ~5 s by a slow call, and a hello call queued
    behind it for longer than the 50 ms queue budget: the slow call and the queued one."""
    gw = await start_gateway(
        SLOW_ROUTE, invoke_concurrency=1, invoke_queue_seconds=0.05, **settings
    )
    admission = gw.gateway.admission
    slow = asyncio.ensure_future(gw.http.get(gw.url("/slow")))

    async def running() -> bool:
        return bool(admission.running == 1)

    await poll(running, "the slow call to hold the one slot")

    async def hello() -> bytes:
        async with gw.http.post(gw.url("/v1/run/examples/hello"), data=b"q") as resp:
            assert resp.status == 200, await resp.text()
            return await resp.read()

    # Nothing has told the gateway that calls take seconds: the first call predicted to
    # wait a few ms is admitted to the queue...
    queued = asyncio.ensure_future(hello())

    async def stalled() -> bool:
        return admission.waiting == 1 and admission.predicted_wait(time.monotonic()) > 0.05

    # ... until its wait tells the gateway that calls are not starting in time.
    await poll(stalled, "the queued call to wait past the 50 ms budget")
    return gw, slow, queued


async def refusals(gw: RunningGateway, reason: str) -> float:
    """The gateway's count of admission refusals for `reason`, from its /metrics."""
    async with gw.http.get(gw.url("/metrics")) as resp:
        text = await resp.text()
    prefix = f'wasmgrid_gateway_admission_refusals_total{{reason="{reason}"}} '
    return next(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


async def test_a_call_that_cannot_start_within_its_budget_is_refused_at_once(
    start_gateway: StartGateway, poll: Poll, caplog: pytest.LogCaptureFixture
) -> None:
    gw, slow, queued = await saturate(start_gateway, poll, access_log=True)
    refused_before = await refusals(gw, "wait")
    caplog.set_level(logging.INFO)
    caplog.clear()
    async with gw.http.post(gw.url("/v1/run/examples/hello"), data=b"x") as resp:
        doc = await read_problem(resp, 503)
        assert resp.headers["Retry-After"] == "1"
        assert doc["detail"].startswith("gateway overloaded: this call would wait about ")
        # Shedding is its own fault: GatewayShedding watches it, the platform's error
        # ratio (GatewayHighErrorRatio) does not count it.
        assert doc["fault"] == "overload"
    async with gw.http.get(gw.url("/metrics")) as resp:
        exposition = await resp.text()
    assert any(
        line.startswith("wasmgrid_gateway_http_requests_total{")
        and 'status_class="5xx"' in line
        and 'fault="overload"' in line
        and float(line.rsplit(" ", 1)[1]) >= 1
        for line in exposition.splitlines()
    ), exposition
    # Refusals come by the thousand under overload: no access-log line each, a summary.
    logged = [(r.name, r.getMessage()) for r in caplog.records]
    assert not [m for name, m in logged if name == "wasmgrid.gateway.access"]
    summaries = [m for name, m in logged if name == "wasmgrid.gateway.admission"]
    assert len(summaries) == 1
    assert summaries[0].startswith("admission refused 1 module calls since the last such line")
    (await slow).release()
    # The call admitted to the queue was not refused for waiting longer than predicted.
    assert await queued == b"Q"
    # The slot is free again: calls start at once.
    async with gw.http.post(gw.url("/v1/run/examples/hello"), data=b"x") as resp:
        assert resp.status == 200
        assert await resp.read() == b"X"
    assert (gw.gateway.admission.running, gw.gateway.admission.waiting) == (0, 0)
    # The registry is the process's: other tests' refusals are counted too.
    assert await refusals(gw, "wait") == refused_before + 1


async def test_a_traced_caller_finds_its_refusal_in_the_trace_the_others_are_shed_first(
    start_gateway: StartGateway, poll: Poll
) -> None:
    gw, slow, queued = await saturate(start_gateway, poll)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    traced = {"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
    # A caller that traces its requests: the refusal takes the whole edge, with its span.
    url = gw.url("/v1/run/examples/hello")
    async with gw.http.post(url, data=b"x", headers=traced) as resp:
        doc = await read_problem(resp, 503)
        assert resp.headers["X-Trace-Id"] == trace_id
        assert doc["fault"] == "overload"
    # Any other call of the fixed API is shed before the span and the route's checks,
    # with the same answer; a module that does not exist is not even looked up.
    for path, body in (
        ("/v1/call/examples/mathfn/fib", b'{"args": [10]}'),
        ("/v1/run/nobody/nothing/x", b"x"),
    ):
        async with gw.http.post(gw.url(path), data=body) as resp:
            doc = await read_problem(resp, 503)
            assert "X-Trace-Id" not in resp.headers
            assert resp.headers["Retry-After"] == "1"
            assert doc["instance"] == path
            assert doc["detail"].startswith("gateway overloaded: this call would wait about ")
            assert doc["fault"] == "overload"
    (await slow).release()
    assert await queued == b"Q"
    # Not saturated any more: the same requests take their whole path again.
    async with gw.http.post(gw.url("/v1/run/nobody/nothing/x"), data=b"x") as resp:
        assert "not found" in (await read_problem(resp, 404))["detail"]
        assert "X-Trace-Id" in resp.headers


async def test_a_saturated_gateway_refuses_a_call_without_reading_its_body(
    start_gateway: StartGateway, poll: Poll
) -> None:
    gw, slow, queued = await saturate(start_gateway, poll)
    host, port = gw.url("/").split("//")[1].rstrip("/").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        # The headers promise 1 MB of body; none of it is sent, so an answer can only come
        # from a gateway that decided without reading the body.
        writer.write(
            b"POST /v1/run/examples/hello HTTP/1.1\r\nHost: gw\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    assert "Retry-After: 1" in lines
    (await slow).release()
    assert await queued == b"Q"


async def test_failed_authentications_are_rate_limited_per_address(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway(auth_failures_per_minute=3)
    bad = bearer("wgt_" + "x" * 40)
    for _ in range(3):
        async with gw.http.get(gw.url("/v1/whoami"), headers=bad) as resp:
            await read_problem(resp, 401)
    # The fourth failure spends the last of the budget: from then on, refused at once.
    async with gw.http.get(gw.url("/v1/whoami"), headers=bad) as resp:
        assert resp.status == 401
    async with gw.http.get(gw.url("/v1/whoami"), headers=bearer(infra.admin)) as resp:
        doc = await read_problem(resp, 429)
        assert "failed authentications" in doc["detail"]
        assert int(resp.headers["Retry-After"]) >= 1
    # Requests without credentials are not held back.
    async with gw.http.get(gw.url("/v1/modules")) as resp:
        assert resp.status == 200
