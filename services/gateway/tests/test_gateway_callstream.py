"""The gateway's side of the call stream (RuntimeConnection), against real runtimes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import wasmtime
from prometheus_client import REGISTRY

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.common.channel import create_channel
from wasmgrid.common.errors import BUSY_TRAILER
from wasmgrid.common.outbox import Outbox
from wasmgrid.common.testing import poll_until
from wasmgrid.gateway.upstream import not_executed
from wasmgrid.gateway.upstream.calls import refused_busy
from wasmgrid.gateway.upstream.callstream import ENDED, UNSENT, RuntimeConnection
from wasmgrid.runtime.testing import Runtime, example_module, inline, start_runtime, stop_runtime

REPO = Path(__file__).resolve().parents[3]
HELLO = inline(example_module(REPO, "hello"))
SPIN = inline(bytes(wasmtime.wat2wasm('(module (func (export "_start") (loop (br 0))))')))
# Sleeps 2 s in a WASI host call (no fuel used, so it runs on a worker thread).
SLEEP = inline(
    bytes(
        wasmtime.wat2wasm(
            """(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 2000000000))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))"""
        )
    )
)

Factory = Callable[..., Awaitable[tuple[Runtime, RuntimeConnection]]]


@pytest.fixture
async def connect(tmp_path: Path) -> AsyncIterator[Factory]:
    """A runtime (settings overrides) and a gateway connection to it; both closed after."""
    opened: list[tuple[Runtime, RuntimeConnection, grpc.aio.Channel]] = []

    async def factory(**overrides: Any) -> tuple[Runtime, RuntimeConnection]:
        runtime = await start_runtime(
            tmp_path / f"rt{len(opened)}", allow_inline=True, watch_publishes=False, **overrides
        )
        channel = create_channel(runtime.runner.address, default_timeout=None, tracing=False)
        connection = RuntimeConnection(runtime.runner.address, channel, streams=True)
        opened.append((runtime, connection, channel))
        return runtime, connection

    yield factory
    for runtime, connection, channel in opened:
        await connection.close()
        await channel.close(None)
        await stop_runtime(runtime)


def _events(event: str) -> float:
    labels = {"event": event}
    return REGISTRY.get_sample_value("wasmgrid_gateway_runtime_stream_events_total", labels) or 0


def _stream_calls(code: str = "OK") -> float:
    labels = {
        "grpc_service": "wasmgrid.api.runtime.v1.RuntimeService",
        "grpc_method": "Invoke",
        "grpc_type": "stream_call",
        "grpc_code": code,
    }
    return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


async def test_concurrent_invokes_share_one_stream_and_get_their_own_answers(
    connect: Factory,
) -> None:
    _, connection = await connect()
    opened, served = _events("opened"), _stream_calls()
    responses = await asyncio.gather(
        *(
            connection.invoke(pb.InvokeRequest(module=HELLO, stdin=f"n{i}".encode()), 10, ())
            for i in range(20)
        )
    )
    assert [r.output.stdout.rsplit(b"\n", 1)[-1] for r in responses] == [
        f"N{i}".encode() for i in range(20)
    ]
    assert _events("opened") == opened + 1  # one stream for all twenty
    assert _stream_calls() == served + 20  # each served as a call on the stream


async def test_a_refusal_is_the_unary_rpcs_error_with_its_trailers(connect: Factory) -> None:
    _, connection = await connect(max_concurrent=1)
    sleeping = asyncio.ensure_future(connection.invoke(pb.InvokeRequest(module=SLEEP), 10, ()))
    await asyncio.sleep(0.3)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await connection.invoke(pb.InvokeRequest(module=HELLO), 10, ())
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused_busy(refused.value)  # so the pool sends it to another replica
    trailers: Any = refused.value.trailing_metadata() or ()
    assert (BUSY_TRAILER, "execution-slots") in {(str(k), str(v)) for k, v in trailers}
    assert not_executed(refused.value)
    assert (await sleeping).outcome == pb.OUTCOME_OK
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await connection.invoke(pb.InvokeRequest(module=pb.ModuleSource(digest="x")), 10, ())
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "module.digest must be 64 hex characters" in (bad.value.details() or "")


async def test_the_deadline_bounds_the_guest_and_the_wait(connect: Factory) -> None:
    runtime, connection = await connect()
    # A spinning guest is stopped by the runtime within the time the deadline leaves.
    most_fuel = pb.Limits(fuel=10_000_000_000)  # seconds of spinning: time runs out first
    spun = await connection.invoke(pb.InvokeRequest(module=SPIN, limits=most_fuel), 0.5, ())
    assert spun.outcome == pb.OUTCOME_TIMEOUT
    # A guest the runtime cannot stop in time (inside a 2 s host call): the caller's
    # wait ends at its deadline anyway.
    started = asyncio.get_running_loop().time()
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await connection.invoke(pb.InvokeRequest(module=SLEEP), 0.3, ())
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert asyncio.get_running_loop().time() - started < 1.5
    # The stream is still good for the next call.
    ok = await connection.invoke(pb.InvokeRequest(module=HELLO, stdin=b"after"), 10, ())
    assert ok.output.stdout.endswith(b"AFTER")

    async def idle() -> bool:
        return bool((await runtime.stub.GetStats(pb.GetStatsRequest())).in_flight == 0)

    await poll_until(idle, "the sleeping guest to end", 10)


async def test_a_caller_that_goes_away_stops_its_guest(connect: Factory) -> None:
    runtime, connection = await connect()
    call = asyncio.ensure_future(connection.invoke(pb.InvokeRequest(module=SPIN), 30, ()))

    async def in_flight(n: int) -> bool:
        return bool((await runtime.stub.GetStats(pb.GetStatsRequest())).in_flight == n)

    await poll_until(lambda: in_flight(1), "the guest to start", 10)
    call.cancel()
    await poll_until(lambda: in_flight(0), "the runtime to stop the abandoned guest", 10)


async def test_function_calls_go_on_the_stream_too(connect: Factory) -> None:
    _, connection = await connect()
    math = inline(example_module(REPO, "mathfn"))
    answer = await connection.call(
        pb.CallRequest(module=math, function="add", args=[pb.Value(i32=2), pb.Value(i32=3)]),
        10,
        (),
    )
    assert answer.results[0].i32 == 5


async def test_a_runtime_without_the_stream_gets_unary_calls(connect: Factory) -> None:
    _, connection = await connect(streams=False)
    unsupported = _events("unsupported")
    first = await connection.invoke(pb.InvokeRequest(module=HELLO, stdin=b"one"), 10, ())
    assert first.output.stdout.endswith(b"ONE")
    assert connection.streams is False
    assert _events("unsupported") == unsupported + 1
    second = await connection.invoke(pb.InvokeRequest(module=HELLO, stdin=b"two"), 10, ())
    assert second.output.stdout.endswith(b"TWO")
    assert _events("unsupported") == unsupported + 1  # asked once, not per call


async def test_a_draining_runtime_ends_the_stream_and_later_calls_are_retryable(
    connect: Factory,
) -> None:
    runtime, connection = await connect()
    sleeping = asyncio.ensure_future(connection.invoke(pb.InvokeRequest(module=SLEEP), 10, ()))
    await asyncio.sleep(0.3)
    ended = _events("ended")
    assert runtime.service.streams is not None
    runtime.service.streams.drain()
    # The call it started is answered before the stream ends.
    assert (await sleeping).outcome == pb.OUTCOME_OK
    await poll_until(lambda: _ended(ended), "the runtime to end the stream", 10)
    # A new stream is refused call by call: never started, so the pool may retry it.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await connection.invoke(pb.InvokeRequest(module=HELLO), 10, ())
    # Whichever came first: the stream's end (ENDED), the runtime's refusal, or the write
    # of the call failing because the stream had already ended (UNSENT).
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not_executed(refused.value), refused.value.details()
    details = refused.value.details() or ""
    assert details in (ENDED, "runtime is draining; the call was not started") or (
        details.startswith(UNSENT)
    )


async def test_calls_whose_message_could_not_be_written_fail_as_not_started(
    connect: Factory,
) -> None:
    # A draining runtime ends a new stream at once: a message written after that fails
    # (gRPC then reports the stream as INTERNAL), and nothing of it reached the runtime.
    runtime, connection = await connect()
    assert runtime.service.streams is not None
    runtime.service.streams.drain()
    call: Any = connection._stream_stub.Stream()  # type: ignore[call-arg]  # aio: write()
    assert await call.code() == grpc.StatusCode.OK  # ended before anything was written
    loop = asyncio.get_running_loop()
    queue: Outbox[pb.StreamRequest] = Outbox()
    answers: dict[int, asyncio.Future[Any]] = {}
    for call_id in (1, 2, 3):
        answers[call_id] = connection._open[call_id] = loop.create_future()
        queue.put(pb.StreamRequest(id=call_id, invoke=pb.InvokeRequest(module=HELLO)))
    await connection._write(call, queue)
    for answer in answers.values():
        error = answer.exception()
        assert isinstance(error, grpc.aio.AioRpcError)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert not_executed(error), error.details()
        assert (error.details() or "").startswith(UNSENT)
    assert not connection._open
    stats = await runtime.stub.GetStats(pb.GetStatsRequest())
    assert stats.invocations == 0


async def _ended(before: float) -> bool:
    return _events("ended") > before


async def test_calls_open_when_the_runtime_dies_fail_as_unavailable(connect: Factory) -> None:
    runtime, connection = await connect()
    sleeping = asyncio.ensure_future(connection.invoke(pb.InvokeRequest(module=SLEEP), 10, ()))
    await asyncio.sleep(0.3)
    broken = _events("broken")
    await runtime.runner.stop(0)  # stops answering at once: the connection goes
    with pytest.raises(grpc.aio.AioRpcError) as lost:
        await sleeping
    assert lost.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    assert _events("broken") == broken + 1 or lost.value.code() == grpc.StatusCode.CANCELLED
