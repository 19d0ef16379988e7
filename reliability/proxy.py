"""A TCP proxy that delays and resets: the slow, lossy link between gateway and runtimes.

The kernel here has no ``sch_netem`` (``tc qdisc … netem`` answers "unknown qdisc"), so
network namespaces cannot be given delay and loss; this process stands in the middle
instead: ``python -m reliability.proxy --route LISTEN=HOST:PORT … [--delay-ms D]
[--jitter-ms J] [--resets-per-minute R]``.

While *lossy* (SIGUSR1 turns it on, SIGUSR2 off; ``--lossy`` starts that way) every
chunk is delivered ``D ± J`` ms late, in order (a later chunk never overtakes an
earlier one, as on TCP), and every connection is reset (RST, not FIN) after a random
lifetime with ``R`` resets per minute on average. On SIGTERM it prints one JSON line
of what it did and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

CHUNK = 64 * 1024


@dataclass
class LinkFaults:
    """What a lossy link does to each connection."""

    delay_ms: float = 20.0
    jitter_ms: float = 10.0
    resets_per_minute: float = 6.0


@dataclass
class Stats:
    """Counts printed at exit."""

    connections: int = 0
    resets: int = 0
    chunks_delayed: int = 0
    bytes: int = 0
    upstream_failures: int = 0
    lossy_periods: list[list[float]] = field(default_factory=list)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST: SO_LINGER on with a zero timeout, then close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Proxy:
    """Forwards each listening port to its target, delaying and resetting while lossy."""

    def __init__(
        self,
        routes: dict[int, tuple[str, int]],
        faults: LinkFaults,
        *,
        host: str = "127.0.0.1",
        lossy: bool = False,
    ) -> None:
        self.routes = routes
        self.faults = faults
        self.host = host
        self.stats = Stats()
        self.lossy = False
        self._servers: list[asyncio.Server] = []
        self._conns: set[asyncio.Task[None]] = set()
        self._lossy_changed = asyncio.Event()
        self.set_lossy(lossy)

    def set_lossy(self, on: bool) -> None:
        """Start or end a lossy period."""
        if on == self.lossy:
            return
        self.lossy = on
        now = time.time()
        if on:
            self.stats.lossy_periods.append([now, 0.0])
        elif self.stats.lossy_periods:
            self.stats.lossy_periods[-1][1] = now
        self._lossy_changed.set()
        self._lossy_changed = asyncio.Event()

    async def start(self) -> None:
        for port, target in self.routes.items():

            async def handle(
                r: asyncio.StreamReader, w: asyncio.StreamWriter, target: tuple[str, int] = target
            ) -> None:
                task = asyncio.current_task()
                assert task is not None
                self._conns.add(task)
                try:
                    await self._connection(r, w, target)
                finally:
                    self._conns.discard(task)

            self._servers.append(await asyncio.start_server(handle, self.host, port))

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    async def _connection(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        target: tuple[str, int],
    ) -> None:
        self.stats.connections += 1
        try:
            up_r, up_w = await asyncio.open_connection(*target)
        except OSError:
            self.stats.upstream_failures += 1
            _reset(client_w)
            return
        pumps = [
            asyncio.create_task(self._pump(client_r, up_w)),
            asyncio.create_task(self._pump(up_r, client_w)),
        ]
        both = asyncio.gather(*pumps)
        chaos = asyncio.create_task(self._reset_later())
        try:
            waiters: list[asyncio.Future[Any]] = [both, chaos]
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if chaos in done:
                self.stats.resets += 1
                _reset(client_w)
                _reset(up_w)
        finally:
            for task in (*pumps, chaos):
                task.cancel()
            await asyncio.gather(both, chaos, return_exceptions=True)
            for w in (client_w, up_w):
                if not w.is_closing():
                    w.close()

    async def _reset_later(self) -> None:
        """Return when this connection is to be reset (only ever while lossy)."""
        while True:
            if not self.lossy or self.faults.resets_per_minute <= 0:
                await self._lossy_changed.wait()
                continue
            lifetime = random.expovariate(self.faults.resets_per_minute / 60.0)
            changed = self._lossy_changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(lifetime):
                    await changed.wait()
                    continue
            if self.lossy:
                return

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction; while lossy each chunk waits its delay, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        deliver = asyncio.create_task(self._deliver(queue, writer))
        last = 0.0
        try:
            while chunk := await reader.read(CHUNK):
                at = time.monotonic()
                if self.lossy:
                    f = self.faults
                    delay = max(0.0, f.delay_ms + random.uniform(-f.jitter_ms, f.jitter_ms))
                    at += delay / 1000
                    self.stats.chunks_delayed += 1
                last = max(last, at)
                self.stats.bytes += len(chunk)
                await queue.put((last, chunk))
            await queue.put((last, b""))
            await deliver
        finally:
            deliver.cancel()

    @staticmethod
    async def _deliver(
        queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        while True:
            at, chunk = await queue.get()
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()


def _route(text: str) -> tuple[int, tuple[str, int]]:
    listen, _, target = text.partition("=")
    host, _, port = target.rpartition(":")
    if not listen.isdigit() or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected LISTEN_PORT=HOST:PORT")
    return int(listen), (host, int(port))


async def _main(args: argparse.Namespace) -> None:
    faults = LinkFaults(args.delay_ms, args.jitter_ms, args.resets_per_minute)
    proxy = Proxy(dict(args.route), faults, lossy=args.lossy)
    await proxy.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, proxy.set_lossy, True)
    loop.add_signal_handler(signal.SIGUSR2, proxy.set_lossy, False)
    print(json.dumps({"listening": sorted(proxy.routes)}), flush=True)
    await stop.wait()
    proxy.set_lossy(False)
    await proxy.close()
    print(json.dumps(asdict(proxy.stats)), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reliability.proxy", description=__doc__)
    parser.add_argument("--route", type=_route, action="append", required=True)
    parser.add_argument("--delay-ms", type=float, default=LinkFaults.delay_ms)
    parser.add_argument("--jitter-ms", type=float, default=LinkFaults.jitter_ms)
    parser.add_argument("--resets-per-minute", type=float, default=LinkFaults.resets_per_minute)
    parser.add_argument("--lossy", action="store_true", help="start lossy (else on SIGUSR1)")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
