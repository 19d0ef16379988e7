"""One connection to a runtime replica: its unary stub, and its call stream.

Invoke and Call go over ``RuntimeStreamService.Stream``, one long-lived stream per
connection, each call tagged with an id and the calls ready at once sent together in one
message (see the proto). A message on an open
stream costs the gateway and the runtime a fraction of a unary call, which is most of
an invoke's cost for a small module (``docs/benchmarks.md``).

Each call keeps what a unary RPC gives it, so the balancer's retry rules, the latency
metric and the error mapping see no difference:

* its own deadline: sent with the call (the runtime caps the guest's time by it) and
  kept here by a timer, which answers DEADLINE_EXCEEDED and tells the runtime to stop;
* cancellation: a caller that goes away sends a cancel for its id;
* its status: the runtime answers a failed call with the code, message and trailers the
  unary RPC would have ended with, raised here as the same ``AioRpcError``;
* its trace context, sent with the call.

When the stream ends without an error, the runtime has answered every call it started
(it ends a stream when it drains): calls still open on it were never started and fail
UNAVAILABLE "... not started", which the pool retries elsewhere; so do the calls of a
message whose write failed (nothing of it was sent). When the connection breaks, calls
already sent on it fail with gRPC's own error (their outcome is unknown, as for a unary
call on a broken connection). A runtime that does not serve the stream (an older
version answers UNIMPLEMENTED) gets unary calls from then on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from typing import Any

import grpc
from prometheus_client import Counter

from wasmgrid.api.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from wasmgrid.common.outbox import Outbox

log = logging.getLogger(__name__)

STREAM_EVENTS = Counter(
    "wasmgrid_gateway_runtime_stream_events_total",
    "Call streams to runtime replicas: opened, ended by the runtime (draining), broken"
    " (connection lost), or unsupported (the replica answers unary calls only).",
    ["event"],
)

Metadata = tuple[tuple[str, str], ...]

#: Why calls still open on a stream the runtime ended were not run (retried elsewhere).
ENDED = "the runtime ended the call stream (draining): the call was not started"
#: Why the calls of a message that could not be written were not run (retried elsewhere).
UNSENT = "the call stream to the runtime closed before the call was sent: the call was not started"


def _rpc_error(
    code: grpc.StatusCode, details: str, trailers: Metadata = (), debug: str | None = None
) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers), details, debug
    )


_CODES = {status.value[0]: status for status in grpc.StatusCode}


def _from_error(error: runtime_pb2.StreamError) -> grpc.aio.AioRpcError:
    code = _CODES.get(error.code, grpc.StatusCode.UNKNOWN)
    return _rpc_error(code, error.message, tuple((t.key, t.value) for t in error.trailers))


def _size(request: runtime_pb2.StreamRequest) -> int:
    return request.ByteSize()


class _Unsupported(Exception):
    """The replica does not serve the call stream: send the call as a unary RPC."""


class RuntimeConnection:
    """Calls on one connection to a runtime replica (see the module docstring)."""

    def __init__(self, address: str, channel: grpc.aio.Channel, *, streams: bool) -> None:
        self.address = address
        self.stub = runtime_pb2_grpc.RuntimeServiceStub(channel)
        self._stream_stub = runtime_pb2_grpc.RuntimeStreamServiceStub(channel)
        #: False once the replica answered that it does not serve the stream.
        self.streams = streams
        self._ids = itertools.count(1)
        self._call: Any = None
        self._queue: Outbox[runtime_pb2.StreamRequest] | None = None
        self._tasks: tuple[asyncio.Task[None], ...] = ()
        self._open: dict[int, asyncio.Future[Any]] = {}
        #: Whether the current stream has answered anything (an UNIMPLEMENTED before
        #: that means the replica does not serve it).
        self._answered = False

    async def invoke(
        self, request: runtime_pb2.InvokeRequest, timeout: float, metadata: Metadata
    ) -> runtime_pb2.InvokeResponse:
        if self.streams:
            try:
                frame = runtime_pb2.StreamRequest(invoke=request)
                response: runtime_pb2.InvokeResponse = await self._send(frame, timeout, metadata)
                return response
            except _Unsupported:
                pass  # this replica answers unary calls only (from now on)
        return await self.stub.Invoke(request, timeout=timeout, metadata=metadata)

    async def call(
        self, request: runtime_pb2.CallRequest, timeout: float, metadata: Metadata
    ) -> runtime_pb2.CallResponse:
        if self.streams:
            try:
                frame = runtime_pb2.StreamRequest(call=request)
                response: runtime_pb2.CallResponse = await self._send(frame, timeout, metadata)
                return response
            except _Unsupported:
                pass  # this replica answers unary calls only (from now on)
        return await self.stub.Call(request, timeout=timeout, metadata=metadata)

    async def _send(
        self, frame: runtime_pb2.StreamRequest, timeout: float, metadata: Metadata
    ) -> Any:
        queue = self._queue if self._call is not None else self._start()
        assert queue is not None
        loop = asyncio.get_running_loop()
        call_id = next(self._ids)
        frame.id = call_id
        frame.timeout_ms = max(1, math.ceil(timeout * 1000))
        for key, value in metadata:
            frame.metadata.add(key=key, value=value)
        answer: asyncio.Future[Any] = loop.create_future()
        self._open[call_id] = answer
        queue.put(frame)
        timer = loop.call_later(timeout, self._expire, call_id)
        try:
            return await answer
        except asyncio.CancelledError:
            if self._open.pop(call_id, None) is not None:
                self._cancel(call_id)
            raise
        finally:
            timer.cancel()

    def _expire(self, call_id: int) -> None:
        answer = self._open.pop(call_id, None)
        if answer is not None and not answer.done():
            answer.set_exception(_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
            self._cancel(call_id)

    def _cancel(self, call_id: int) -> None:
        if self._call is not None and self._queue is not None:
            self._queue.put(runtime_pb2.StreamRequest(id=call_id, cancel=True))

    def _start(self) -> Outbox[runtime_pb2.StreamRequest]:
        """Open the stream (no deadline: it lives as long as the connection)."""
        call = self._stream_stub.Stream()  # type: ignore[call-arg]  # aio: written with write()
        queue: Outbox[runtime_pb2.StreamRequest] = Outbox()
        self._call, self._queue, self._answered = call, queue, False
        self._tasks = (
            asyncio.ensure_future(self._read(call)),
            asyncio.ensure_future(self._write(call, queue)),
        )
        STREAM_EVENTS.labels("opened").inc()
        return queue

    async def _write(self, call: Any, queue: Outbox[runtime_pb2.StreamRequest]) -> None:
        """Every call ready when the last write finished goes out in the next message.

        A write that fails sent nothing: the calls of its batch, and those queued after
        it, never reached the runtime, so they fail UNAVAILABLE "not started" and the
        pool retries them elsewhere. A write fails when the stream has ended meanwhile (a
        draining runtime ends a new stream at once, and gRPC then reports the stream as
        INTERNAL, which would hide that) or when the connection broke."""
        batch: list[runtime_pb2.StreamRequest] | None = None
        try:
            while (batch := await queue.batch(_size)) is not None:
                await call.write(runtime_pb2.StreamRequests(requests=batch))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            unsent = list(batch or ())
            while len(queue):  # taken at once: the items are there, batch() does not wait
                unsent.extend(await queue.batch(_size) or ())
            detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
            self._fail_unsent(unsent, f"{UNSENT} ({detail})")
            call.cancel()

    def _fail_unsent(self, requests: list[runtime_pb2.StreamRequest], details: str) -> None:
        error = _rpc_error(grpc.StatusCode.UNAVAILABLE, details)
        for request in requests:
            pending = self._open.pop(request.id, None)
            if pending is not None and not pending.done():
                pending.set_exception(error)

    async def _read(self, call: Any) -> None:
        error: BaseException
        try:
            async for batch in call:
                self._answered = True
                for answer in batch.responses:
                    self._answer(answer)
            STREAM_EVENTS.labels("ended").inc()
            error = _rpc_error(grpc.StatusCode.UNAVAILABLE, ENDED)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED and not self._answered:
                STREAM_EVENTS.labels("unsupported").inc()
                log.warning(
                    "runtime %s does not serve RuntimeStreamService (an older version?):"
                    " calls to it go as unary RPCs",
                    self.address,
                )
                self.streams = False
                error = _Unsupported()
            else:
                STREAM_EVENTS.labels("broken").inc()
                log.info("call stream to runtime %s broke: %s", self.address, err.details())
                error = err
        except asyncio.CancelledError:
            error = _rpc_error(grpc.StatusCode.CANCELLED, "call stream closed")
        finally:
            if self._call is call:
                self._call, self._queue = None, None
                for task in self._tasks:
                    if task is not asyncio.current_task():
                        task.cancel()
                self._tasks = ()
        self._fail_open(error)

    def _answer(self, answer: runtime_pb2.StreamResponse) -> None:
        pending = self._open.pop(answer.id, None)
        if pending is None or pending.done():
            return  # expired or cancelled meanwhile
        kind = answer.WhichOneof("result")
        if kind == "error":
            pending.set_exception(_from_error(answer.error))
        else:
            pending.set_result(getattr(answer, kind))

    def _fail_open(self, error: BaseException) -> None:
        """Fail every call still open on a stream that has ended (see the docstring)."""
        open_calls, self._open = self._open, {}
        for pending in open_calls.values():
            if not pending.done():
                pending.set_exception(error)

    async def close(self) -> None:
        """End the stream (the channel is closed by its owner)."""
        call, tasks = self._call, self._tasks
        self._call, self._queue, self._tasks = None, None, ()
        if call is not None:
            call.cancel()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._fail_open(_rpc_error(grpc.StatusCode.CANCELLED, "the gateway is closing"))
