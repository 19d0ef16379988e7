"""The gRPC bootstrap: health, readiness, error mapping, metrics, deadlines, graceful shutdown."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY

from wasmgrid.common.channel import create_channel
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.sampling import Sampling
from wasmgrid.common.server import (
    LIVENESS_SERVICE,
    Service,
    ServiceRunner,
    StartupError,
    run_on_loop,
)
from wasmgrid.common.settings import ServiceSettings
from wasmgrid.common.spans import Tracing
from wasmgrid.common.telemetry import configure_tracing
from wasmgrid.common.testing import poll_until

SERVICE = "wasmgrid.test.Probe"


class ProbeService(Service):
    """`Sleep` waits the number of ms in its request; `Fail` raises; `Boom` crashes."""

    name = "probe"
    #: This service's own "retry later" error, beyond the kit's.
    unavailable_errors = (TimeoutError,)

    def __init__(self) -> None:
        self.ready_reason: str | None = None
        self.started = asyncio.Event()
        self.stopped = False

    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        async def sleep(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            self.started.set()
            await asyncio.sleep(int(request.decode() or "0") / 1000)
            return b"done"

        async def fail(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            raise InvalidArgument(f"field 'probe' is {request.decode()!r}; want 'ok'")

        async def boom(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            raise ZeroDivisionError("secret internals")

        async def down(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            if request == b"shutdown":  # what a query in flight gets when PostgreSQL stops
                raise asyncpg.AdminShutdownError("terminating connection due to administrator")
            if request == b"timeout":
                raise TimeoutError("connecting to the database timed out")
            if request == b"torn":  # a pooled connection torn down under a restart
                raise asyncpg.InternalClientError(
                    "cannot switch to state 15; another operation (2) is in progress"
                )
            raise ConnectionRefusedError("database at 127.0.0.1:5432 refused")

        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Sleep": grpc.unary_unary_rpc_method_handler(sleep),
                "Fail": grpc.unary_unary_rpc_method_handler(fail),
                "Boom": grpc.unary_unary_rpc_method_handler(boom),
                "Down": grpc.unary_unary_rpc_method_handler(down),
            },
        )
        server.add_generic_rpc_handlers((handler,))
        return [SERVICE]

    async def check_ready(self) -> str | None:
        return self.ready_reason

    async def stop(self) -> None:
        self.stopped = True


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def settings(**kw: object) -> ServiceSettings:
    return ServiceSettings(readiness_interval_seconds=0.05, **kw)  # type: ignore[arg-type]


Probe = tuple[ProbeService, ServiceRunner, grpc.aio.Channel]


@pytest.fixture
async def probe() -> AsyncIterator[Probe]:
    service = ProbeService()
    runner = ServiceRunner(service, settings())
    await runner.start()
    channel = create_channel(runner.address, default_timeout=5)
    yield service, runner, channel
    await channel.close(None)
    await runner.stop(0.5)


def method(channel: grpc.aio.Channel, name: str) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(f"/{SERVICE}/{name}", None, None)


async def health(channel: grpc.aio.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    resp = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    return int(resp.status)


async def test_health_serving_for_overall_and_named_service(probe: Probe) -> None:
    _, _, channel = probe
    assert await health(channel) == SERVING
    assert await health(channel, SERVICE) == SERVING


async def test_health_follows_readiness_of_dependencies(probe: Probe) -> None:
    service, _, channel = probe
    service.ready_reason = "database unreachable"

    async def not_serving() -> bool:
        return bool(await health(channel) == NOT_SERVING)

    await poll_until(not_serving, "NOT_SERVING while a dependency is down")
    service.ready_reason = None

    async def serving() -> bool:
        return bool(await health(channel) == SERVING)

    await poll_until(serving, "SERVING once the dependency is back")


async def test_liveness_stays_serving_while_a_dependency_is_down(probe: Probe) -> None:
    service, _, channel = probe
    service.ready_reason = "database unreachable"

    async def not_ready() -> bool:
        return bool(await health(channel) == NOT_SERVING)

    await poll_until(not_ready, "NOT_SERVING while a dependency is down")
    assert await health(channel, LIVENESS_SERVICE) == SERVING


@pytest.mark.integration
async def test_liveness_turns_not_serving_on_shutdown() -> None:
    runner = ServiceRunner(ProbeService(), settings(drain_seconds=1.0))
    await runner.start()
    channel = create_channel(runner.address, default_timeout=5)
    try:
        assert await health(channel, LIVENESS_SERVICE) == SERVING
        stopping = asyncio.ensure_future(runner.stop(grace=1))

        async def not_alive() -> bool:
            return bool(await health(channel, LIVENESS_SERVICE) == NOT_SERVING)

        await poll_until(not_alive, "liveness NOT_SERVING during the drain")
        await stopping
    finally:
        await channel.close(None)


async def test_service_error_maps_to_status_with_message(probe: Probe) -> None:
    _, _, channel = probe
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await method(channel, "Fail")(b"nope")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "field 'probe' is 'nope'" in (err.value.details() or "")


async def test_unexpected_error_is_internal_without_leaking_internals(probe: Probe) -> None:
    _, _, channel = probe
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await method(channel, "Boom")(b"")
    assert err.value.code() == grpc.StatusCode.INTERNAL
    details = err.value.details() or ""
    assert "secret internals" not in details
    assert details.startswith("internal error")
    # the service keeps serving after an unexpected error
    assert await method(channel, "Sleep")(b"0") == b"done"


async def test_an_internal_error_names_the_callers_trace_id(probe: Probe) -> None:
    """The one clue a caller gets for an INTERNAL error leads to the server's log line."""
    _, _, channel = probe
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await method(channel, "Boom")(
            b"", metadata=(("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"),)
        )
    assert err.value.details() == f"internal error (trace id {trace_id})"


async def test_metrics_count_rpcs_by_code(probe: Probe) -> None:
    _, runner, channel = probe
    await method(channel, "Sleep")(b"0")
    with pytest.raises(grpc.aio.AioRpcError):
        await method(channel, "Fail")(b"x")
    url = f"http://127.0.0.1:{runner.metrics_port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert (
        'grpc_server_handled_total{grpc_code="INVALID_ARGUMENT",grpc_method="Fail",'
        f'grpc_service="{SERVICE}",grpc_type="unary"}}'
    ) in body
    assert 'grpc_method="Sleep"' in body
    assert "grpc_server_handling_seconds_bucket" in body


async def test_metrics_count_each_rpc_once_and_the_rpcs_in_flight(probe: Probe) -> None:
    service, _, channel = probe

    def value(name: str, rpc: str = "", **labels: str) -> float:
        if rpc:
            labels |= {"grpc_service": SERVICE, "grpc_method": rpc, "grpc_type": "unary"}
        return REGISTRY.get_sample_value(name, labels) or 0.0

    def counts() -> tuple[float, ...]:
        return (
            value("grpc_server_started_total", "Sleep"),
            value("grpc_server_handled_total", "Sleep", grpc_code="OK"),
            value("grpc_server_handled_total", "Fail", grpc_code="INVALID_ARGUMENT"),
            value("grpc_server_handling_seconds_count", "Sleep"),
            value("grpc_server_handling_seconds_bucket", "Sleep", le="+Inf"),
        )

    before, slept = counts(), value("grpc_server_handling_seconds_sum", "Sleep")
    assert value("grpc_server_in_flight", grpc_service="probe") == 0
    sleeping = asyncio.ensure_future(method(channel, "Sleep")(b"300"))
    await service.started.wait()
    assert value("grpc_server_in_flight", grpc_service="probe") == 1
    assert await sleeping == b"done"
    with pytest.raises(grpc.aio.AioRpcError):
        await method(channel, "Fail")(b"x")

    async def none_in_flight() -> bool:
        return value("grpc_server_in_flight", grpc_service="probe") == 0

    # The caller has the error as soon as the server aborts; the server counts the RPC
    # as finished just after (CI read in-flight in between).
    await poll_until(none_in_flight, "the failed RPC to be counted as finished", 5)
    assert [a - b for a, b in zip(counts(), before, strict=True)] == [1, 1, 1, 1, 1]
    # In seconds, about the 300 ms slept (CI once saw the loop's timer end it 66 µs short).
    assert 0.29 <= value("grpc_server_handling_seconds_sum", "Sleep") - slept < 5


async def test_the_event_loop_task_count_is_published_and_follows_the_tasks(
    probe: Probe,
) -> None:
    _, runner, _ = probe
    url = f"http://127.0.0.1:{runner.metrics_port}/metrics"

    async def tasks() -> float:
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
        for line in body.decode().splitlines():
            if line.startswith('wasmgrid_event_loop_tasks{service="probe"}'):
                return float(line.split()[-1])
        raise AssertionError("no wasmgrid_event_loop_tasks sample for the probe service")

    before = await poll_until(tasks, "a first task count")
    parked = [asyncio.create_task(asyncio.sleep(30)) for _ in range(100)]
    try:

        async def counted() -> bool:
            return await tasks() >= before + 100

        await poll_until(counted, "the 100 parked tasks counted")
    finally:
        for task in parked:
            task.cancel()
        await asyncio.gather(*parked, return_exceptions=True)

    async def released() -> bool:
        return await tasks() < before + 100

    await poll_until(released, "the count back down once they are gone")


async def test_channel_default_deadline_applies_when_caller_sets_none(probe: Probe) -> None:
    _, runner, _ = probe
    channel = create_channel(runner.address, default_timeout=0.2)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await method(channel, "Sleep")(b"2000")
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # an explicit timeout wins over the default
        assert await method(channel, "Sleep")(b"300", timeout=5) == b"done"
    finally:
        await channel.close(None)


async def test_a_channel_tries_an_unreachable_peer_again_within_a_second() -> None:
    """Every failed connect is followed by another within 1 s, so a peer that comes back
    is used again at once (gRPC's own backoff tries 3 times in 4 s, then less and less)."""
    attempts = 0

    async def hang_up(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        w.close()

    peer = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = peer.sockets[0].getsockname()[1]
    channel = create_channel(f"127.0.0.1:{port}", tracing=False)
    health = health_pb2_grpc.HealthStub(channel)
    try:
        end = asyncio.get_running_loop().time() + 4.0
        while asyncio.get_running_loop().time() < end:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await health.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            await asyncio.sleep(0.05)
        # 0, 0.2, 0.5, 1.0, 1.9, 2.9 and 3.9 s with the suite's backoff
        assert attempts >= 5
    finally:
        await channel.close(None)
        peer.close()
        await peer.wait_closed()


@pytest.mark.integration
async def test_graceful_shutdown_finishes_in_flight_rpc_and_refuses_new_ones() -> None:
    service = ProbeService()
    runner = ServiceRunner(service, settings())
    await runner.start()
    channel = create_channel(runner.address, default_timeout=10)
    try:
        in_flight = asyncio.ensure_future(method(channel, "Sleep")(b"600"))
        await asyncio.wait_for(service.started.wait(), 5)
        stopping = asyncio.ensure_future(runner.stop(grace=5))

        async def health_gone() -> bool:
            try:
                return bool(await health(channel) == NOT_SERVING)
            except grpc.aio.AioRpcError:
                return True  # already refusing new RPCs

        await poll_until(health_gone, "NOT_SERVING or refusal after SIGTERM-equivalent stop")
        assert await in_flight == b"done"
        await stopping
        assert service.stopped
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await method(channel, "Sleep")(b"0", timeout=1)
        assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        await channel.close(None)


@pytest.mark.integration
async def test_drain_keeps_serving_while_not_serving_then_stops() -> None:
    service = ProbeService()
    runner = ServiceRunner(service, settings(drain_seconds=1.0))
    await runner.start()
    channel = create_channel(runner.address, default_timeout=10)
    try:
        stopping = asyncio.ensure_future(runner.stop(grace=5))

        async def not_serving() -> bool:
            return bool(await health(channel) == NOT_SERVING)

        await poll_until(not_serving, "NOT_SERVING at the start of the drain")
        # A client that has not yet seen the health change still gets its answer.
        assert await method(channel, "Sleep")(b"0", timeout=2) == b"done"
        assert not stopping.done()
        assert not service.stopped
        await stopping
        assert service.stopped
    finally:
        await channel.close(None)


@pytest.mark.integration
async def test_a_service_drains_its_own_listeners_between_not_serving_and_the_stop() -> None:
    steps: list[str] = []

    class Steps(ProbeService):
        async def begin_shutdown(self) -> None:
            steps.append(f"begin_shutdown, health {await health(channel)}")

        async def drain(self, grace: float) -> None:
            answer = await method(channel, "Sleep")(b"0", timeout=2)
            steps.append(f"drain {grace:g}, health {await health(channel)}, rpc {answer!r}")

        async def stop(self) -> None:
            steps.append("stop")
            await super().stop()

    runner = ServiceRunner(Steps(), settings())
    await runner.start()
    channel = create_channel(runner.address, default_timeout=5)
    try:
        await runner.stop(grace=3)
    finally:
        await channel.close(None)
    # The hooks see the gRPC port still answering: health turns NOT_SERVING in between.
    assert steps == [
        f"begin_shutdown, health {SERVING}",
        f"drain 3, health {NOT_SERVING}, rpc b'done'",
        "stop",
    ]


class StartCounting(ProbeService):
    """Counts start() calls; fails its start when told to."""

    def __init__(self, fail_start: bool = False) -> None:
        super().__init__()
        self.starts = 0
        self.fail_start = fail_start

    async def start(self) -> None:
        self.starts += 1
        if self.fail_start:
            raise ConnectionRefusedError("database at 127.0.0.1:1 refused")


@pytest.mark.integration
@pytest.mark.parametrize("port", ["grpc_port", "metrics_port"])
async def test_a_taken_port_fails_start_with_one_clear_error_before_opening_anything(
    port: str,
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        service = StartCounting()
        runner = ServiceRunner(service, settings(**{port: taken}))
        with pytest.raises(StartupError) as err:
            await runner.start()
    kind = "gRPC" if port == "grpc_port" else "metrics"
    assert str(err.value).startswith(
        f"cannot bind {kind} port 127.0.0.1:{taken}: Address already in use"
    )
    assert service.starts == 0  # no pool or client was opened
    if port == "metrics_port":  # the gRPC port bound first was let go again
        assert runner.grpc_port
        assert_free(runner.grpc_port)


def assert_free(port: int) -> None:
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


@pytest.mark.integration
async def test_a_failed_service_start_releases_what_it_opened() -> None:
    service = StartCounting(fail_start=True)
    runner = ServiceRunner(service, settings())
    with pytest.raises(ConnectionRefusedError):
        await runner.start()
    assert service.starts == 1
    assert service.stopped  # stop() released its part
    assert_free(runner.grpc_port)  # and both ports are free again
    assert_free(runner.metrics_port)


@pytest.mark.integration
async def test_concurrency_limit_answers_resource_exhausted() -> None:
    runner = ServiceRunner(ProbeService(), settings(max_concurrent_rpcs=2))
    await runner.start()
    channel = create_channel(runner.address, default_timeout=10)
    try:
        calls = [asyncio.ensure_future(method(channel, "Sleep")(b"500")) for _ in range(6)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        refused = [
            r
            for r in results
            if isinstance(r, grpc.aio.AioRpcError)
            and r.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        ]
        assert refused, "excess RPCs must be refused at once"
        assert results.count(b"done") >= 2
    finally:
        await channel.close(None)
        await runner.stop(1)


@pytest.mark.parametrize(
    "how",
    [b"", b"shutdown", b"timeout", b"torn"],
    ids=["refused", "admin-shutdown", "service-declared", "torn-connection"],
)
async def test_lost_dependency_is_unavailable_not_internal(probe: Probe, how: bytes) -> None:
    _, _, channel = probe
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await method(channel, "Down")(how)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "dependency is unavailable" in (err.value.details() or "")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Finished kit spans of this process, sampled as by default (parent-based, 1%)."""
    exporter = InMemorySpanExporter()
    tracing = Tracing(Sampling(), SimpleSpanProcessor(exporter), Resource.create({}))
    previous = configure_tracing(tracing)
    yield exporter
    configure_tracing(previous)


async def test_server_span_continues_the_callers_trace(
    probe: Probe, spans: InMemorySpanExporter
) -> None:
    _, runner, _ = probe
    # An untraced client, so the only trace context is the one this test sends.
    channel = create_channel(runner.address, default_timeout=5, tracing=False)
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    md = (("traceparent", f"00-{trace_id}-{parent}-01"),)
    await method(channel, "Sleep")(b"0", metadata=md)
    with pytest.raises(grpc.aio.AioRpcError):
        await method(channel, "Boom")(b"", metadata=md)
    with pytest.raises(grpc.aio.AioRpcError):
        await method(channel, "Fail")(b"x", metadata=md)
    wanted = {f"/{SERVICE}/{m}" for m in ("Sleep", "Boom", "Fail")}

    async def ended() -> bool:
        # The server ends a span just after the status is sent: the client can be first.
        return wanted <= set(by_name())

    def by_name() -> dict[str, Any]:
        return {
            s.name: s
            for s in spans.get_finished_spans()
            if s.context is not None and format(s.context.trace_id, "032x") == trace_id
        }

    await poll_until(ended, "the three server spans to end")
    found = by_name()
    ok, boom, fail = (found[f"/{SERVICE}/{m}"] for m in ("Sleep", "Boom", "Fail"))
    assert ok.kind == SpanKind.SERVER
    assert ok.parent is not None
    assert format(ok.parent.span_id, "016x") == parent
    assert ok.attributes is not None
    assert ok.attributes["rpc.grpc.status_code"] == 0
    assert boom.status.status_code == StatusCode.ERROR
    assert boom.events[0].name == "exception"
    # A refused request is the caller's error, not the server's: the span stays unset.
    assert fail.status.status_code == StatusCode.UNSET
    await channel.close(None)


async def test_an_unsampled_rpc_is_traced_when_it_fails_and_dropped_when_it_succeeds(
    probe: Probe,
) -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(
        Sampling(ratio=0.0, keep_slow_ms=0), SimpleSpanProcessor(exporter), Resource.create({})
    )
    previous = configure_tracing(tracing)
    try:
        _, runner, _ = probe
        channel = create_channel(runner.address, default_timeout=5, tracing=False)
        await method(channel, "Sleep")(b"0")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await method(channel, "Boom")(b"")
        await method(channel, "Sleep")(b"0")

        # The server ends a span just after the status is sent: the client can be first.
        async def ended() -> bool:
            return tracing.kept + tracing.dropped == 3

        await poll_until(ended, "the three RPCs' server spans to end")
    finally:
        configure_tracing(previous)
        await channel.close(None)
    (boom,) = exporter.get_finished_spans()
    assert boom.name == f"/{SERVICE}/Boom"
    assert boom.status.status_code == StatusCode.ERROR
    assert boom.attributes is not None
    assert boom.attributes["wasmgrid.trace.kept"] == "error"
    # The same trace id the caller was told about in the error.
    assert boom.context is not None
    assert f"trace id {boom.context.trace_id:032x}" in (err.value.details() or "")


async def test_health_checks_make_no_spans(probe: Probe, spans: InMemorySpanExporter) -> None:
    _, _, channel = probe
    spans.clear()
    await health(channel)
    assert not [
        s for s in spans.get_finished_spans() if "Health" in s.name and s.kind == SpanKind.SERVER
    ]


def test_services_run_on_the_configured_event_loop() -> None:
    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_on_loop(loop_module(), "uvloop").startswith("uvloop")
    assert run_on_loop(loop_module(), "asyncio").startswith("asyncio")


async def test_the_test_suite_runs_on_uvloop_like_the_services() -> None:
    # conftest.py's loop factory: the tests exercise the loop production uses.
    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")


def test_metric_children_are_resolved_once() -> None:
    from prometheus_client import CollectorRegistry, Counter

    from wasmgrid.common.metrics import child

    counter = Counter("kit_test_children_total", "test", ["kind"], registry=CollectorRegistry())
    assert child(counter, "a") is child(counter, "a") is counter.labels("a")
    child(counter, "a").inc()
    assert counter.labels("a")._value.get() == 1
