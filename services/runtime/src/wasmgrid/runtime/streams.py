"""Invoke and Call multiplexed on one stream (``RuntimeStreamService.Stream``).

A gateway keeps one stream open per connection and sends each call tagged with an id;
each is answered, in completion order, with the same id. Each message on the stream is a
batch: whatever calls (answers) a side has ready go out together. A
message on an open stream costs both ends a fraction of a unary call: no call to set up
and tear down in grpc core, no per-call HTTP/2 stream, and the event loop handles many
messages per wake-up under load (``docs/benchmarks.md`` has the numbers).

Every call on a stream is served exactly like the unary RPC: the same servicer method,
wrapped by the same kit instrumentation (metrics, a server span continuing the call's
own trace context, a log line on failure, exceptions mapped to status codes), with the
call's own deadline. What the unary RPC would have ended with (a status, its message
and trailers) is the call's answer instead. Calls are independent: one failing or being
cancelled does not end the stream.

Shutdown: once the service drains, calls that arrive are answered UNAVAILABLE ("runtime
is draining; the call was not started"), which a gateway sends to another replica; the
calls already running finish and are answered; then the stream ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc
from prometheus_client import Gauge

from wasmgrid.api.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from wasmgrid.common.outbox import Outbox

log = logging.getLogger(__name__)

STREAMS_OPEN = Gauge(
    "wasmgrid_runtime_streams_open",
    "Call streams (RuntimeStreamService.Stream) open now.",
    multiprocess_mode="livesum",
)

#: What a call on a stream answers while the runtime drains: not started, so a client
#: may send it to another replica (a gateway's retry rules look for "not started").
DRAINING = "runtime is draining; the call was not started"

#: One kind of call: the instrumented servicer method that serves it.
CallHandler = Callable[
    [Any, "CallContext"], Awaitable[runtime_pb2.InvokeResponse | runtime_pb2.CallResponse]
]


class StreamAbort(Exception):
    """How a call on a stream ends with a status instead of a response."""

    def __init__(
        self, code: grpc.StatusCode, details: str, trailers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailers = trailers


class CallContext:
    """What a servicer method and the kit's wrapper use of a gRPC context, for one call
    on a stream: its deadline, its metadata (trace context) and how it aborts."""

    __slots__ = ("deadline", "metadata")

    def __init__(self, timeout_ms: int, metadata: tuple[tuple[str, str], ...]) -> None:
        self.deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms else None
        self.metadata = metadata

    def time_remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    def code(self) -> None:
        """No status is set while a call on a stream runs (it is set by aborting)."""
        return None

    async def abort(
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: Any = (),
    ) -> NoReturn:
        trailers = tuple((str(k), str(v)) for k, v in trailing_metadata or ())
        raise StreamAbort(code, details, trailers)


def _size(answer: runtime_pb2.StreamResponse) -> int:
    return answer.ByteSize()


def _error(request_id: int, exc: StreamAbort) -> runtime_pb2.StreamResponse:
    return runtime_pb2.StreamResponse(
        id=request_id,
        error=runtime_pb2.StreamError(
            code=exc.code.value[0],
            message=exc.details,
            trailers=[runtime_pb2.StreamMetadata(key=k, value=v) for k, v in exc.trailers],
        ),
    )


class Streams(runtime_pb2_grpc.RuntimeStreamServiceServicer):
    """The call streams of a runtime process, and whether it drains."""

    def __init__(self, invoke: CallHandler, call: CallHandler) -> None:
        self.handlers: dict[str, CallHandler] = {"invoke": invoke, "call": call}
        self.draining = asyncio.Event()

    def drain(self) -> None:
        """Start no more calls: open streams finish what they run, then end."""
        self.draining.set()

    async def Stream(  # type: ignore[override]  # reader/writer style, not an iterator
        self,
        request_iterator: AsyncIterator[runtime_pb2.StreamRequests],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        """Serve one stream (reader/writer style: answers go out with ``context.write``)."""
        session = StreamSession(self, context)
        STREAMS_OPEN.inc()
        try:
            await session.run(request_iterator)
        finally:
            STREAMS_OPEN.dec()


class StreamSession:
    """One open stream: its calls in flight by id, and one writer for its answers."""

    def __init__(self, streams: Streams, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.streams = streams
        self.context = context
        self.calls: dict[int, asyncio.Task[None]] = {}
        self.answers: Outbox[runtime_pb2.StreamResponse] = Outbox()

    async def run(self, requests: AsyncIterator[runtime_pb2.StreamRequests]) -> None:
        writer = asyncio.ensure_future(self._write())
        reader = asyncio.ensure_future(self._read(requests))
        draining = asyncio.ensure_future(self.streams.draining.wait())
        try:
            await asyncio.wait((reader, draining, writer), return_when=asyncio.FIRST_COMPLETED)
            if writer.done():  # the stream broke: nobody is left to answer
                return
            reader.cancel()  # the client closed its side, or the runtime drains
            calls = list(self.calls.values())
            if calls:
                await asyncio.wait(calls)
            self.answers.close()
            await writer
        finally:
            for task in (reader, draining, writer, *self.calls.values()):
                task.cancel()

    async def _read(self, batches: AsyncIterator[runtime_pb2.StreamRequests]) -> None:
        async for batch in batches:
            for request in batch.requests:
                self._start(request)

    async def _write(self) -> None:
        """Every answer ready when the last write finished goes out in the next message."""
        while (answers := await self.answers.batch(_size)) is not None:
            await self.context.write(runtime_pb2.StreamResponses(responses=answers))

    def _start(self, request: runtime_pb2.StreamRequest) -> None:
        request_id = request.id
        kind = request.WhichOneof("body")
        if kind == "cancel":
            task = self.calls.get(request_id)
            if task is not None:
                task.cancel()
            return
        if kind is None:
            refusal = StreamAbort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"stream request {request_id} carries no call (set invoke, call or cancel)",
            )
            self.answers.put(_error(request_id, refusal))
            return
        if request_id in self.calls:
            refusal = StreamAbort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"stream request id {request_id} is already open on this stream",
            )
            self.answers.put(_error(request_id, refusal))
            return
        if self.streams.draining.is_set():
            refusal = StreamAbort(grpc.StatusCode.UNAVAILABLE, DRAINING)
            self.answers.put(_error(request_id, refusal))
            return
        context = CallContext(request.timeout_ms, tuple((m.key, m.value) for m in request.metadata))
        body = getattr(request, kind)
        task = asyncio.ensure_future(self._serve(request_id, kind, body, context))
        self.calls[request_id] = task

    async def _serve(self, request_id: int, kind: str, body: Any, context: CallContext) -> None:
        try:
            response = await self.streams.handlers[kind](body, context)
        except StreamAbort as exc:
            self.answers.put(_error(request_id, exc))
        except asyncio.CancelledError:
            pass  # cancelled by its caller (or the stream ended): nobody waits for an answer
        except Exception as exc:  # the kit maps a handler's errors; this is a bug of ours
            log.exception("stream call %d failed outside its handler", request_id)
            refusal = StreamAbort(grpc.StatusCode.INTERNAL, f"internal error: {exc!r}")
            self.answers.put(_error(request_id, refusal))
        else:
            if isinstance(response, runtime_pb2.InvokeResponse):
                answer = runtime_pb2.StreamResponse(id=request_id, invoke=response)
            else:
                assert isinstance(response, runtime_pb2.CallResponse)
                answer = runtime_pb2.StreamResponse(id=request_id, call=response)
            self.answers.put(answer)
        finally:
            self.calls.pop(request_id, None)
