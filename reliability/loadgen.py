"""A lean closed-loop HTTP/1.1 load of checked invokes, for the overload scenario.

Why not the aiohttp clients of :mod:`reliability.client`: the load runs on the same two
cores as the stack, and an aiohttp client spends about as much CPU per request as the
gateway does, in coroutines that resume one event-loop iteration after their answer
came. At 320 connections its loop fell up to 135 ms behind (p99), and every answer's
latency carried that lag: the refusals' p99 (139 ms) was the client's own lag, not the
gateway's. Here each connection is an :class:`asyncio.Protocol`: an answer is parsed,
timed and checked in the ``data_received`` callback that delivers its last byte, and
the next request is written from the same callback, so the measured latency is the
server's plus one iteration of cheap callbacks, and the load leaves the stack its CPU.

Each request is the invoke of :func:`reliability.client.invoke` (a unique lowercase
body to ``examples/hello``, which must come back uppercased) and each answer becomes
the same :class:`~reliability.client.Answer`, so the scenario's figures mean what they
meant. The parser reads what the gateway sends (a status line, headers, a body of
``Content-Length`` bytes); an answer framed otherwise is a failure named for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import cast
from urllib.parse import urlsplit

from reliability.client import (
    CLIENT_TIMEOUT_SECONDS,
    PROBLEM,
    Answer,
    Recorder,
    problem_fields,
)

#: How often open requests are checked against :data:`CLIENT_TIMEOUT_SECONDS`.
SWEEP_SECONDS = 1.0
#: Longest response head read (the gateway's are well under 1 KiB).
MAX_HEAD_BYTES = 64 * 1024


class Framing(Exception):
    """An answer this client cannot frame (no ``Content-Length``, say)."""


class Head:
    """What an answer's status line and headers say."""

    __slots__ = ("close", "content_type", "length", "retry_after", "status")

    def __init__(self, raw: bytes) -> None:
        lines = raw.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise Framing(f"bad status line {lines[0][:80]!r}")
        self.status = int(parts[1])
        self.length = -1
        self.retry_after = False
        self.close = parts[0] == b"HTTP/1.0"
        self.content_type = ""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                self.length = int(value)
            elif key == b"retry-after":
                self.retry_after = True
            elif key == b"content-type":
                self.content_type = value.strip().decode("latin-1").split(";")[0]
            elif key == b"connection":
                self.close = value.strip().lower() == b"close"
            elif key == b"transfer-encoding":
                raise Framing(f"transfer-encoding {value.strip()!r} (expected Content-Length)")
        if self.length < 0:
            raise Framing("no Content-Length")


def classify(op: str, sent: float, latency: float, head: Head, body: bytes, want: bytes) -> Answer:
    """The :class:`Answer` for one framed answer to a request whose right answer is
    `want`: ``ok``/``wrong`` for a 200, ``"<status> <problem type>"`` otherwise."""
    if head.status == 200:
        kind = "ok" if body == want else "wrong"
        return Answer(op, sent, latency, kind, 200, head.retry_after)
    slug, detail, fault = "?", "", ""
    if head.content_type == PROBLEM:
        slug, detail, fault = problem_fields(body)
    return Answer(
        op, sent, latency, f"{head.status} {slug}", head.status, head.retry_after, detail, fault
    )


class Load:
    """`connections` clients invoking ``path`` on `base`, each sending again as soon as
    it is answered (refusals included), until :meth:`stop`."""

    def __init__(
        self, base: str, recorder: Recorder, connections: int, path: str = "/v1/run/examples/hello"
    ) -> None:
        parts = urlsplit(base)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = path
        self.recorder = recorder
        self.connections = connections
        self.sent = 0
        self.stopping = False
        self.clients: list[Client] = []
        #: Set once stopping and no request is open.
        self.settled = asyncio.Event()

    def request(self) -> tuple[bytes, bytes]:
        """The next request's bytes and its right answer's body."""
        self.sent += 1
        body = f"wg reliability {self.sent} {secrets.token_hex(6)}".encode()
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head + body, body.upper()

    async def run(self) -> int:
        """Connect every client and keep them busy until :meth:`stop`; requests sent."""
        loop = asyncio.get_running_loop()
        self.clients = [Client(self) for _ in range(self.connections)]
        for c in self.clients:
            c.connect(loop)
        sweeper = asyncio.create_task(self._sweep())
        try:
            await self.settled.wait()
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            for c in self.clients:
                c.close()
        return self.sent

    def stop(self) -> None:
        """Send nothing more; :meth:`run` returns once every open request is answered."""
        self.stopping = True
        self.idle()

    def idle(self) -> None:
        """A client has no request open: settled if stopping and none has."""
        if self.stopping and not any(c.busy for c in self.clients):
            self.settled.set()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = time.monotonic()
            for c in self.clients:
                if c.busy and now - c.began > CLIENT_TIMEOUT_SECONDS:
                    c.fail("client-timeout", f"no answer in {CLIENT_TIMEOUT_SECONDS:.0f} s")


class Client:
    """One client: a keep-alive connection sending one request at a time, and a new
    connection whenever the last one ends."""

    def __init__(self, load: Load) -> None:
        self.load = load
        #: The connection in use; callbacks of any earlier one are ignored.
        self.link: Link | None = None
        self.buffer = bytearray()
        self.head: Head | None = None
        self.want = b""
        self.sent_at = 0.0
        self.began = 0.0
        self.busy = False

    def connect(self, loop: asyncio.AbstractEventLoop) -> None:
        link = self.link = Link(self)
        task = loop.create_task(
            loop.create_connection(lambda: link, self.load.host, self.load.port)
        )
        task.add_done_callback(lambda t: self._connected(t, link))

    def _connected(self, task: asyncio.Task[object], link: Link) -> None:
        exc = None if task.cancelled() else task.exception()
        if exc is None or self.link is not link:
            return
        self.link = None
        now = self.load.recorder.now()
        self.load.recorder.add(Answer("invoke", now, 0.0, "connect-refused", detail=str(exc)[:200]))
        if not self.load.stopping:  # again after a pause, as a client would
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, self.connect, loop)

    def send(self) -> None:
        if self.load.stopping or self.link is None or self.link.transport is None:
            return
        data, self.want = self.load.request()
        self.buffer.clear()
        self.head = None
        self.sent_at = self.load.recorder.now()
        self.began = time.monotonic()
        self.busy = True
        self.link.transport.write(data)

    def received(self, data: bytes) -> None:
        if not self.busy:
            self.fail("unexpected-data", f"{len(data)} bytes with no request open")
            return
        self.buffer += data
        try:
            if self.head is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buffer) > MAX_HEAD_BYTES:
                        raise Framing(f"response head over {MAX_HEAD_BYTES} bytes")
                    return
                self.head = Head(bytes(self.buffer[:end]))
                del self.buffer[: end + 4]
            if len(self.buffer) < self.head.length:
                return
        except (Framing, ValueError) as exc:
            self.fail("bad-framing", str(exc)[:200])
            return
        latency = time.monotonic() - self.began
        head, body = self.head, bytes(self.buffer[: self.head.length])
        self.busy = False
        self.load.recorder.add(classify("invoke", self.sent_at, latency, head, body, self.want))
        if self.load.stopping:
            self.load.idle()
        elif head.close:
            self.close()
            self.connect(asyncio.get_running_loop())
        else:
            self.send()

    def lost(self, exc: Exception | None) -> None:
        self.fail("disconnected", str(exc or "closed by the server")[:200])

    def fail(self, kind: str, detail: str) -> None:
        """End the open request (if any) as `kind`, and go on on a new connection."""
        if self.busy:
            self.busy = False
            latency = time.monotonic() - self.began
            self.load.recorder.add(Answer("invoke", self.sent_at, latency, kind, detail=detail))
        self.close(abort=True)
        if self.load.stopping:
            self.load.idle()
        else:
            self.connect(asyncio.get_running_loop())

    def close(self, *, abort: bool = False) -> None:
        link, self.link = self.link, None
        if link is not None and link.transport is not None:
            if abort:
                link.transport.abort()
            else:
                link.transport.close()


class Link(asyncio.Protocol):
    """One connection of a :class:`Client`; it reports only while it is the client's."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        if self.client.link is self:
            self.client.send()
        else:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.client.link is self:
            self.client.received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.client.link is self:
            self.client.lost(exc)


async def closed_loop(base: str, recorder: Recorder, connections: int, stop: asyncio.Event) -> int:
    """`connections` clients invoking hello until `stop` is set; requests sent."""
    load = Load(base, recorder, connections)
    runner = asyncio.create_task(load.run())
    await stop.wait()
    load.stop()
    return await runner
