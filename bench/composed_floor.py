"""The composed floor of an invoke: the least program doing the gateway's and runtime's work.

Two kinds of process, as in wasmgrid, built from the same libraries and nothing else:

* ``python -m bench.composed_floor wasm PORT WASM``: a bare grpc.aio server whose one
  unary method runs the module in raw wasmtime-py, the request bytes as the guest's stdin,
  its stdout as the answer. One engine with wasmtime's pooling allocator (the runtime's
  engine settings), the module compiled once at start and instantiated through an
  ``InstancePre`` into a fresh store per call (fuel and epoch deadline set, as a sandbox
  must). The bench starts one such process per core, on its own port each, as the
  runtime starts one worker per core.
* ``python -m bench.composed_floor http PORT UPSTREAM,...``: a bare aiohttp handler that
  reads the body, sends it over one grpc.aio unary call (one channel per upstream, taken
  in turn) and answers the guest's stdout as the body.

Both run on uvloop, the services' loop. No routing, CGI, limits, metrics, logs or spans:
the distance from wasmgrid to this is what those cost.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import tempfile
from collections.abc import Callable

import grpc
import uvloop
import wasmtime
from aiohttp import web

from wasmgrid.runtime.engine import EngineOptions, create_engine
from wasmgrid.runtime.stdio import set_stdin_bytes

RUN_METHOD = "/wasmgrid.bench.Floor/Run"
FUEL = 10**9
#: Files this process made, removed when it is told to stop.
_FILES: list[str] = []


def _runner(wasm: bytes) -> Callable[[bytes], bytes]:
    engine = create_engine(EngineOptions(pool_slots=64))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    pre = linker.instantiate_pre(wasmtime.Module(engine, wasm))
    # stdout to a file on tmpfs, reopened (truncated) by each call and read back: the
    # cheapest capture wasmtime-py offers (a custom-output callback goes through
    # wasmtime's async runtime, several times dearer even for one write).
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    fd, stdout_path = tempfile.mkstemp(prefix="floor-", suffix=".stdout", dir=shm)
    _FILES.append(stdout_path)

    def run(body: bytes) -> bytes:
        store = wasmtime.Store(engine)
        store.set_fuel(FUEL)
        store.set_epoch_deadline(1 << 40)  # no ticker: the deadline is never reached
        wasi = wasmtime.WasiConfig()
        set_stdin_bytes(wasi, body)
        wasi.stdout_file = stdout_path
        store.set_wasi(wasi)
        start = pre.instantiate(store).exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        try:
            start(store)
        except wasmtime.ExitTrap as exit_:
            if exit_.code:
                raise
        return os.pread(fd, os.fstat(fd).st_size, 0)

    return run


async def serve_wasm(port: int, wasm: bytes) -> None:
    run = _runner(wasm)

    async def handle(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return run(request)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "wasmgrid.bench.Floor", {"Run": grpc.unary_unary_rpc_method_handler(handle)}
            ),
        )
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def serve_http(port: int, upstreams: list[str]) -> None:
    calls = []

    async def start(app: web.Application) -> None:
        for address in upstreams:
            channel = grpc.aio.insecure_channel(address)
            calls.append(channel.unary_unary(RUN_METHOD, None, None))

    app = web.Application()
    app.on_startup.append(start)
    turn = itertools.count()

    async def invoke(request: web.Request) -> web.Response:
        body = await request.read()
        out: bytes = await calls[next(turn) % len(calls)](body, timeout=10)
        return web.Response(body=out, content_type="text/plain")

    app.router.add_post("/run", invoke)
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


def _leave() -> None:
    for path in _FILES:
        with contextlib.suppress(OSError):
            os.unlink(path)
    os._exit(0)


def main() -> None:
    # wasmtime's WASI threads panic at interpreter exit: on SIGTERM leave at once.
    signal.signal(signal.SIGTERM, lambda *_: _leave())
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "wasm":
        with open(sys.argv[3], "rb") as f:
            wasm = f.read()
        uvloop.run(serve_wasm(port, wasm))
    elif kind == "http":
        serve_http(port, sys.argv[3].split(","))
    else:
        raise SystemExit(f"usage: {sys.argv[0]} wasm PORT WASM | http PORT HOST:PORT,...")


if __name__ == "__main__":
    main()
