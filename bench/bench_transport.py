"""Transport benchmark: a unary call against a message on a multiplexed bidirectional stream.

The gateway calls the runtime with one unary RPC per invoke. The alternative issue 18
names is one long-lived bidirectional stream per connection carrying many calls, each
message tagged with a request id. This measures what the transport alone costs each
way, before any of the work that building it into wasmgrid would add (per-call
deadlines, cancellation, refusals, failover of the calls in flight):

* **unary**: ``grpc.aio`` unary echo of a 64-byte message, 32 calls in flight;
* **stream**: the same 32 callers sharing one bidirectional stream: each writes its
  id-tagged message (one write at a time, as grpc.aio allows) and waits for the reply
  with its id, which one reader task hands back.

Both sides run as the services do (uvloop, the kit's ``GRPC_EXPERIMENTS``); CPU per
call of the server process and of this client come from /proc over the same calls.
Rounds alternate so both see the same machine. Run: ``.venv/bin/python -m
bench.bench_transport``.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from wasmgrid.common import grpc_tuning

grpc_tuning.apply()

import grpc  # noqa: E402 - after the experiments are in the environment
import uvloop  # noqa: E402

from bench.harness import LoadResult, Table, run_load, save_results, subprocess_server  # noqa: E402
from wasmgrid.common.testing import free_port  # noqa: E402

SERVICE = "wasmgrid.bench.Transport"
UNARY = f"/{SERVICE}/Unary"
STREAM = f"/{SERVICE}/Stream"
PAYLOAD = b"x" * 64
CONCURRENCY = 32
SECONDS = 4.0
ROUNDS = 3
ID_BYTES = 4


async def serve(port: int) -> None:
    """Echo both ways: unary, and every message of a stream in arrival order."""

    async def unary(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return request

    async def stream(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> AsyncIterator[bytes]:
        async for message in requests:
            yield message

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.stream_stream_rpc_method_handler(stream),
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


class Multiplexer:
    """Calls over one bidirectional stream: id-tagged writes, replies matched by id."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._call: Any = channel.stream_stream(STREAM, None, None)(None)
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._ids = itertools.count()
        self._write = asyncio.Lock()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._call:
            future = self._pending.pop(int.from_bytes(message[:ID_BYTES], "big"))
            future.set_result(message[ID_BYTES:])

    async def call(self, payload: bytes) -> bytes:
        request_id = next(self._ids) % (1 << (8 * ID_BYTES))
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        async with self._write:  # grpc.aio takes one write at a time on a call
            await self._call.write(request_id.to_bytes(ID_BYTES, "big") + payload)
        return await future

    async def close(self) -> None:
        await self._call.done_writing()
        await self._reader


async def _rounds(port: int, server: int) -> list[dict[str, LoadResult]]:
    cpu = {"server": server}
    rounds = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        unary = channel.unary_unary(UNARY, None, None)
        mux = Multiplexer(channel)
        try:
            for _ in range(ROUNDS):
                rounds.append(
                    {
                        "unary": await run_load(
                            lambda: unary(PAYLOAD, timeout=10), CONCURRENCY, SECONDS, cpu=cpu
                        ),
                        "stream": await run_load(
                            lambda: mux.call(PAYLOAD), CONCURRENCY, SECONDS, cpu=cpu
                        ),
                    }
                )
        finally:
            await mux.close()
    return rounds


def run() -> dict[str, Any]:
    port = free_port()
    with subprocess_server(
        [sys.executable, "-m", "bench.bench_transport", str(port)], port
    ) as proc:
        rounds = uvloop.run(_rounds(port, proc.pid))
    table = Table(
        f"Echo of {len(PAYLOAD)} bytes, {CONCURRENCY} in flight, median of {ROUNDS} rounds",
        ["transport", "calls/s", "p50 ms", "p99 ms", "server CPU µs/call", "client CPU µs/call"],
    )
    out: dict[str, Any] = {}
    for name, label in (("unary", "unary call"), ("stream", "message on one shared stream")):

        def median(value: Callable[[LoadResult], float], name: str = name) -> float:
            return statistics.median(value(r[name]) for r in rounds)

        row = {
            "calls_per_s": median(lambda r: r.calls_per_s),
            "p50_ms": median(lambda r: r.p50_ms),
            "p99_ms": median(lambda r: r.p99_ms),
            "server_cpu_us": median(lambda r: r.cpu_us["server"]),
            "client_cpu_us": median(lambda r: r.cpu_us["client"]),
        }
        out[name] = row
        table.add(
            label,
            f"{row['calls_per_s']:,.0f}",
            f"{row['p50_ms']:.3f}",
            f"{row['p99_ms']:.3f}",
            f"{row['server_cpu_us']:,.0f}",
            f"{row['client_cpu_us']:,.0f}",
        )
    table.print()
    unary_us = out["unary"]["server_cpu_us"] + out["unary"]["client_cpu_us"]
    stream_us = out["stream"]["server_cpu_us"] + out["stream"]["client_cpu_us"]
    print(f"CPU a call, server and client: unary {unary_us:,.0f} µs, stream {stream_us:,.0f} µs")
    return out


def main() -> None:
    if len(sys.argv) > 1:
        uvloop.run(serve(int(sys.argv[1])))
        return
    save_results("transport", run())


if __name__ == "__main__":
    main()
