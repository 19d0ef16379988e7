"""RuntimeStreamService.Stream: Invoke and Call multiplexed on one stream, through gRPC."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.api.runtime.v1 import runtime_pb2_grpc
from wasmgrid.common.errors import BUSY_TRAILER
from wasmgrid.common.sampling import Sampling
from wasmgrid.common.spans import Tracing
from wasmgrid.common.telemetry import configure_tracing
from wasmgrid.common.testing import poll_until, serve
from wasmgrid.runtime.service import RuntimeService
from wasmgrid.runtime.settings import RuntimeSettings
from wasmgrid.runtime.streams import DRAINING
from wasmgrid.runtime.testing import TEST_KEY, Runtime, example_module, inline, wat_file

REPO = Path(__file__).resolve().parents[3]
WAT = Path(__file__).parent / "wat"
HELLO = example_module(REPO, "hello")
#: What ``read()`` answers once a stream has ended.
EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]  # missing from grpc's stubs


def _invoke(call_id: int, stdin: bytes, module: pb.ModuleSource | None = None) -> pb.StreamRequest:
    return pb.StreamRequest(
        id=call_id,
        timeout_ms=10_000,
        invoke=pb.InvokeRequest(module=module or inline(HELLO), stdin=stdin),
    )


def _open(runtime: Runtime) -> _Stream:
    return _open_on(runtime.channel)


def _open_on(channel: Any) -> _Stream:
    stub: Any = runtime_pb2_grpc.RuntimeStreamServiceStub(channel)
    return _Stream(stub.Stream())


class _Stream:
    """A raw stream, one request per message written and one answer per ``read()``
    (answers arrive in batches)."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.pending: list[pb.StreamResponse] = []

    async def write(self, request: pb.StreamRequest) -> None:
        await self.call.write(pb.StreamRequests(requests=[request]))

    async def read(self) -> Any:
        while not self.pending:
            batch = await self.call.read()
            if batch is EOF:
                return EOF
            self.pending.extend(batch.responses)
        return self.pending.pop(0)

    async def done_writing(self) -> None:
        await self.call.done_writing()

    async def code(self) -> grpc.StatusCode:
        code: grpc.StatusCode = await self.call.code()
        return code

    def cancel(self) -> None:
        self.call.cancel()


async def _answers(call: _Stream, count: int) -> dict[int, pb.StreamResponse]:
    answers: dict[int, pb.StreamResponse] = {}
    while len(answers) < count:
        answer = await asyncio.wait_for(call.read(), 20)
        assert answer is not EOF, f"the stream ended with {len(answers)} answers"
        answers[answer.id] = answer
    return answers


def _handled(method: str, kind: str, code: str) -> float:
    labels = {
        "grpc_service": "wasmgrid.api.runtime.v1.RuntimeService",
        "grpc_method": method,
        "grpc_type": kind,
        "grpc_code": code,
    }
    return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


async def test_calls_on_one_stream_are_each_answered_under_their_own_id(runtime: Runtime) -> None:
    handled = _handled("Invoke", "stream_call", "OK")
    call = _open(runtime)
    for i in range(1, 11):
        await call.write(_invoke(i, f"caller {i}".encode()))
    answers = await _answers(call, 10)
    for i in range(1, 11):
        response = answers[i].invoke
        assert response.outcome == pb.OUTCOME_OK
        assert response.output.stdout.endswith(f"CALLER {i}".encode())
    # Each call is counted like the unary RPC it stands for, labelled as a stream call.
    assert _handled("Invoke", "stream_call", "OK") == handled + 10
    await call.done_writing()
    assert await call.read() is EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_a_failed_call_answers_the_status_the_unary_rpc_ends_with(runtime: Runtime) -> None:
    bad = pb.ModuleSource(digest="not-a-digest")
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await runtime.stub.Invoke(pb.InvokeRequest(module=bad))
    call = _open(runtime)
    await call.write(_invoke(7, b"", bad))
    await call.write(_invoke(8, b"still served"))
    answers = await _answers(call, 2)
    error = answers[7].error
    assert grpc.StatusCode.INVALID_ARGUMENT.value[0] == error.code
    assert error.message == unary.value.details()
    # One call failing does not touch the others on the stream.
    assert answers[8].invoke.output.stdout.endswith(b"STILL SERVED")
    call.cancel()


async def test_a_busy_refusal_carries_its_trailer(make_runtime: Any) -> None:
    runtime = await make_runtime(max_concurrent=1)
    sleeper = inline(wat_file(WAT / "sleep.wat"))
    call = _open(runtime)
    await call.write(_invoke(1, b"", sleeper))

    async def running() -> bool:
        stats = await runtime.stub.GetStats(pb.GetStatsRequest())
        return bool(stats.in_flight == 1)

    await poll_until(running, "the sleeping call to hold the only slot", 10)
    await call.write(_invoke(2, b""))
    refused = (await _answers(call, 1))[2].error
    assert grpc.StatusCode.RESOURCE_EXHAUSTED.value[0] == refused.code
    assert "execution slots are busy" in refused.message
    trailers = {(t.key, t.value) for t in refused.trailers}
    assert (BUSY_TRAILER, "execution-slots") in trailers  # the gateway sends it elsewhere
    assert (await _answers(call, 1))[1].invoke.outcome == pb.OUTCOME_OK
    call.cancel()


async def test_a_cancelled_call_is_stopped_and_not_answered(runtime: Runtime) -> None:
    spinner = inline(wat_file(WAT / "infinite_loop.wat"))
    call = _open(runtime)
    await call.write(_invoke(1, b"", spinner))

    async def in_flight(n: int) -> bool:
        stats = await runtime.stub.GetStats(pb.GetStatsRequest())
        return bool(stats.in_flight == n)

    await poll_until(lambda: in_flight(1), "the spinning call to start", 10)
    await call.write(pb.StreamRequest(id=1, cancel=True))
    await poll_until(lambda: in_flight(0), "the cancelled guest to be stopped", 10)
    await call.write(_invoke(2, b"next"))
    answers = await _answers(call, 1)
    assert list(answers) == [2]  # nothing for the cancelled call
    call.cancel()


async def test_malformed_requests_are_refused_by_id(runtime: Runtime) -> None:
    call = _open(runtime)
    await call.write(pb.StreamRequest(id=5, timeout_ms=1000))
    await call.write(_invoke(6, b"x", inline(wat_file(WAT / "sleep.wat"))))
    await call.write(_invoke(6, b"again"))
    answers = await _answers(call, 1)
    assert (
        answers[5].error.message == "stream request 5 carries no call (set invoke, call or cancel)"
    )
    duplicate = (await _answers(call, 1))[6].error
    assert duplicate.message == "stream request id 6 is already open on this stream"
    assert grpc.StatusCode.INVALID_ARGUMENT.value[0] == duplicate.code
    call.cancel()


async def test_call_mode_works_on_the_stream(runtime: Runtime) -> None:
    module = inline(example_module(REPO, "mathfn"))
    call = _open(runtime)
    await call.write(
        pb.StreamRequest(
            id=1,
            timeout_ms=10_000,
            call=pb.CallRequest(
                module=module, function="add", args=[pb.Value(i32=2), pb.Value(i32=40)]
            ),
        )
    )
    answer = (await _answers(call, 1))[1]
    assert answer.WhichOneof("result") == "call"
    assert answer.call.results[0].i32 == 42
    call.cancel()


async def test_a_draining_runtime_answers_started_calls_refuses_new_ones_and_ends(
    runtime: Runtime,
) -> None:
    call = _open(runtime)
    await call.write(_invoke(1, b"", inline(wat_file(WAT / "sleep.wat"))))

    async def running() -> bool:
        stats = await runtime.stub.GetStats(pb.GetStatsRequest())
        return bool(stats.in_flight == 1)

    await poll_until(running, "the call to start", 10)
    assert runtime.service.streams is not None
    runtime.service.streams.drain()
    # The call it started is answered; the stream then ends with OK (calls it had not
    # read by then were never started: the client may send them elsewhere).
    answers = await _answers(call, 1)
    assert answers[1].invoke.outcome == pb.OUTCOME_OK
    assert await asyncio.wait_for(call.read(), 10) is EOF
    assert await call.code() == grpc.StatusCode.OK
    # A stream opened while draining starts none of its calls: it refuses them as not
    # started, or has ended before the first one could even be written.
    before = (await runtime.stub.GetStats(pb.GetStatsRequest())).invocations
    late = _open(runtime)
    try:
        await late.write(_invoke(2, b"late"))
    except grpc.aio.AioRpcError:
        pass  # the stream had already ended: the write was refused, nothing ran
    else:
        answer = await asyncio.wait_for(late.read(), 10)
        if answer is not EOF:  # read before the stream noticed the drain
            assert answer.error.message == DRAINING
            assert grpc.StatusCode.UNAVAILABLE.value[0] == answer.error.code
    late.cancel()
    assert (await runtime.stub.GetStats(pb.GetStatsRequest())).invocations == before


async def test_a_call_continues_its_callers_trace(tmp_path: Path) -> None:
    values: dict[str, Any] = {
        "grpc_port": 0,
        "metrics_port": 0,
        "data_dir": tmp_path,
        "artifact_key": TEST_KEY,
        "allow_inline": True,
        "drain_seconds": 0,
        "log_json": False,
        "watch_publishes": False,
    }
    settings = RuntimeSettings(**values)
    runner, channel = await serve(
        RuntimeService(settings), settings, serve_metrics=False, tracing=True
    )
    exporter = InMemorySpanExporter()
    previous = configure_tracing(
        Tracing(Sampling(ratio=1.0), SimpleSpanProcessor(exporter), Resource.create({}))
    )
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    try:
        call = _open_on(channel)
        request = _invoke(1, b"traced")
        request.metadata.add(key="traceparent", value=f"00-{trace_id}-{parent_id}-01")
        await call.write(request)
        assert (await asyncio.wait_for(call.read(), 20)).invoke.outcome == pb.OUTCOME_OK
        call.cancel()
    finally:
        configure_tracing(previous)
        await channel.close(None)
        await runner.stop(0.5)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    server = spans["/wasmgrid.api.runtime.v1.RuntimeService/Invoke"]
    assert server.context is not None
    assert format(server.context.trace_id, "032x") == trace_id
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == parent_id
    wasm = spans["wasm.invoke"]
    assert wasm.parent is not None
    assert wasm.parent.span_id == server.context.span_id
    # The stream itself makes no span (it lives as long as the connection).
    assert not [name for name in spans if "RuntimeStreamService" in name]


async def test_streams_can_be_turned_off(make_runtime: Any) -> None:
    runtime = await make_runtime(streams=False)
    call = _open(runtime)
    await call.write(_invoke(1, b"x"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call.read()
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
