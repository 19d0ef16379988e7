"""Gateway benchmark: invoke of examples/hello through the HTTP edge, driven by wrk.

Everything runs as real processes on loopback, measured in the same run:

* **floors**: the raw grpc.aio unary echo (32 in flight) and raw aiohttp "hello" (wrk, 32
  connections) from ``bench/harness.py``;
* **runtime direct**: ``RuntimeService.Invoke`` of hello by digest over gRPC (1 and 32 in
  flight): the same request the gateway makes for wrk's POST (the CGI environment built
  by the gateway's own ``build_env``, the same limits), over as many connections as the
  gateway opens (``RUNTIME_CONNECTIONS``), so the runtime's worker processes share it;
* **gateway invoke**: ``POST /v1/run/examples/hello`` through the gateway (wrk, 1 and 32
  connections): HTTP parse, resolve (cached), balancer, runtime Invoke, CGI parse;
* **gateway cached**: a route with ``cache`` middleware (wrk, 32 connections), served
  from the response cache (near cache in front of the cache service).

Targets (issue 6): gateway invoke ≥ 0.7× raw echo throughput; gateway-added p50 ≤ 1 ms
over a direct runtime Invoke (1 in flight); cached ≥ 0.5× raw aiohttp throughput.
Run: ``.venv/bin/python -m bench.bench_gateway``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from bench.harness import (
    ROOT,
    LoadResult,
    Table,
    aiohttp_hello_baseline,
    grpc_echo_baseline,
    run_load,
    save_results,
    subprocess_server,
    wrk,
)
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.api.marketplace.v1 import marketplace_pb2_grpc as mp_grpc
from wasmgrid.api.runtime.v1 import runtime_pb2 as rt
from wasmgrid.cli.embedded import EmbeddedPostgres
from wasmgrid.common.testing import free_port
from wasmgrid.gateway.cgi import CgiRequest, build_env
from wasmgrid.gateway.upstream import RuntimeReplica

HELLO = (ROOT / "examples/modules/hello/hello.wasm").read_bytes()
DIGEST = hashlib.sha256(HELLO).hexdigest()
BODY = b"hello, wasmgrid"
SECONDS = 5.0
ROUTES = """
routes:
  - name: cached
    path: /cached
    module: examples/hello
    middleware:
      - cache: {ttl: 600s}
"""


async def _publish(market: str, admin: str) -> None:
    async with grpc.aio.insecure_channel(market) as channel:
        stub = mp_grpc.MarketplaceServiceStub(channel)
        deadline = time.monotonic() + 60

        async def requests() -> AsyncIterator[mp.PublishRequest]:
            yield mp.PublishRequest(
                metadata=mp.PublishMetadata(
                    name="examples/hello",
                    version="1.0.0",
                    description="bench",
                    license="Apache-2.0",
                    category="utilities",
                )
            )
            yield mp.PublishRequest(chunk=HELLO)

        while True:
            try:
                await stub.Publish(
                    requests(), metadata=(("authorization", f"Bearer {admin}"),), timeout=10
                )
                return
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.ALREADY_EXISTS:
                    return
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)


def _wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready after {timeout:.0f}s")
        time.sleep(0.2)


#: Connections to the runtime, as the gateway opens (its RUNTIME_CONNECTIONS default).
CONNECTIONS = 4


def _gateway_request(http_port: int) -> rt.InvokeRequest:
    """The InvokeRequest the gateway sends for wrk's ``POST /v1/run/examples/hello``."""
    env = build_env(
        CgiRequest(
            method="POST",
            script_name="/v1/run/examples/hello",
            path_info="",
            query_string="",
            headers=[("Host", f"127.0.0.1:{http_port}"), ("Content-Length", str(len(BODY)))],
            remote_addr="127.0.0.1",
            server_name="127.0.0.1",
            server_port=http_port,
            content_length=len(BODY),
        )
    )
    return rt.InvokeRequest(
        module=rt.ModuleSource(digest=DIGEST, display_name="examples/hello@1.0.0"),
        stdin=BODY,
        env=[rt.EnvVar(name=k, value=v) for k, v in env.items()],
        limits=rt.Limits(timeout_ms=9_950),
    )


async def _runtime_direct(
    address: str, concurrency: int, request: rt.InvokeRequest, seconds: float = SECONDS
) -> LoadResult:
    # The gateway's own connection set: CONNECTIONS connections, balanced by worker.
    replica = RuntimeReplica(address, CONNECTIONS)
    try:
        await replica.learn_workers(timeout=5)

        async def call() -> None:
            conn, stub = replica.acquire()
            try:
                resp = await stub.Invoke(request, timeout=10)
            finally:
                replica.release(conn)
            if resp.outcome != rt.OUTCOME_OK:
                raise RuntimeError(f"runtime outcome {resp.outcome}")

        return await run_load(call, concurrency, seconds=seconds)
    finally:
        await replica.close(None)


#: Alternating 1 s slices of direct and gateway calls at 1 in flight.
C1_ROUNDS = 6


def _merge(rounds: list[LoadResult]) -> LoadResult:
    """Rounds of one measure as one: totals, and the median of each round's percentiles."""
    return LoadResult(
        count=sum(r.count for r in rounds),
        errors=sum(r.errors for r in rounds),
        seconds=sum(r.seconds for r in rounds),
        calls_per_s=sum(r.count for r in rounds) / sum(r.seconds for r in rounds),
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
        mean_ms=statistics.median(r.mean_ms for r in rounds),
    )


def run(tmp: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    py = sys.executable
    pg = EmbeddedPostgres(tmp / "pg", free_port())
    pg.start()
    try:

        async def create_db() -> None:
            conn = await asyncpg.connect(pg.dsn)
            try:
                await conn.execute("CREATE DATABASE bench_gateway")
            finally:
                await conn.close()

        asyncio.run(create_db())
        admin = "wgt_" + os.urandom(16).hex()
        ports = {name: free_port() for name in ("market", "runtime", "cache", "http", "health")}
        routes = tmp / "routes.yaml"
        routes.write_text(ROUTES)
        quiet = "WARNING"
        with ExitStack() as stack:
            stack.enter_context(
                subprocess_server(
                    [py, "-m", "wasmgrid.marketplace"],
                    ports["market"],
                    env={
                        "WASMGRID_DATABASE_URL": pg.dsn_for("bench_gateway"),
                        "WASMGRID_MARKETPLACE_GRPC_PORT": str(ports["market"]),
                        "WASMGRID_MARKETPLACE_METRICS_PORT": str(free_port()),
                        "WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN_TOKEN": admin,
                        "WASMGRID_MARKETPLACE_LOG_LEVEL": quiet,
                    },
                    timeout=60,
                )
            )
            stack.enter_context(
                subprocess_server(
                    [py, "-m", "wasmgrid.runtime"],
                    ports["runtime"],
                    env={
                        "WASMGRID_RUNTIME_GRPC_PORT": str(ports["runtime"]),
                        "WASMGRID_RUNTIME_METRICS_PORT": str(free_port()),
                        "WASMGRID_RUNTIME_DATA_DIR": str(tmp / "runtime"),
                        "WASMGRID_RUNTIME_MARKETPLACE_ADDR": f"127.0.0.1:{ports['market']}",
                        "WASMGRID_RUNTIME_MAX_CONCURRENT": "64",
                        "WASMGRID_RUNTIME_LOG_LEVEL": quiet,
                    },
                    timeout=60,
                )
            )
            stack.enter_context(
                subprocess_server(
                    [py, "-m", "wasmgrid.cache"],
                    ports["cache"],
                    env={
                        "WASMGRID_CACHE_GRPC_PORT": str(ports["cache"]),
                        "WASMGRID_CACHE_METRICS_PORT": str(free_port()),
                        "WASMGRID_CACHE_LOG_LEVEL": quiet,
                    },
                    timeout=60,
                )
            )
            asyncio.run(_publish(f"127.0.0.1:{ports['market']}", admin))
            stack.enter_context(
                subprocess_server(
                    [py, "-m", "wasmgrid.gateway"],
                    ports["http"],
                    env={
                        "WASMGRID_GATEWAY_HTTP_PORT": str(ports["http"]),
                        "WASMGRID_GATEWAY_GRPC_PORT": str(ports["health"]),
                        "WASMGRID_GATEWAY_RUNTIME_TARGETS": f"127.0.0.1:{ports['runtime']}",
                        "WASMGRID_GATEWAY_MARKETPLACE_ADDR": f"127.0.0.1:{ports['market']}",
                        "WASMGRID_GATEWAY_CACHE_ADDR": f"127.0.0.1:{ports['cache']}",
                        "WASMGRID_GATEWAY_MONITOR_ADDR": "",
                        "WASMGRID_GATEWAY_ROUTES_FILE": str(routes),
                        "WASMGRID_GATEWAY_LOG_LEVEL": quiet,
                    },
                    timeout=60,
                )
            )
            base = f"http://127.0.0.1:{ports['http']}"
            _wait_ready(base + "/readyz")
            invoke_url = base + "/v1/run/examples/hello"
            # Warm: compile on the runtime, fill the resolve cache and the response cache.
            for url in (invoke_url, base + "/cached"):
                with urllib.request.urlopen(
                    urllib.request.Request(url, data=BODY, method="POST"), timeout=30
                ) as resp:
                    assert resp.status == 200, resp.status
            runtime = f"127.0.0.1:{ports['runtime']}"
            direct = _gateway_request(ports["http"])
            # 1 in flight: direct and through the gateway in alternating 1 s slices, so
            # the drift of a shared machine hits both sides alike.
            direct_c1: list[LoadResult] = []
            gateway_c1: list[LoadResult] = []
            for _ in range(C1_ROUNDS):
                direct_c1.append(asyncio.run(_runtime_direct(runtime, 1, direct, 1.0)))
                gateway_c1.append(wrk(invoke_url, 1, 1.0, threads=1, method="POST", body=BODY))
            results["runtime_direct_c1"] = _merge(direct_c1)
            results["gateway_invoke_c1"] = _merge(gateway_c1)
            results["added_p50_per_round_ms"] = [
                g.p50_ms - d.p50_ms for d, g in zip(direct_c1, gateway_c1, strict=True)
            ]
            results["runtime_direct_c32"] = asyncio.run(_runtime_direct(runtime, 32, direct))
            results["gateway_invoke_c32"] = wrk(invoke_url, 32, SECONDS, method="POST", body=BODY)
            results["gateway_cached_c32"] = wrk(
                base + "/cached", 32, SECONDS, method="POST", body=BODY
            )
    finally:
        pg.stop()
    results["grpc_echo_c32"] = asyncio.run(grpc_echo_baseline(32, SECONDS))
    results["aiohttp_hello_c32"] = aiohttp_hello_baseline(32, SECONDS)
    results["aiohttp_hello_uvloop_c32"] = aiohttp_hello_baseline(32, SECONDS, loop="uvloop")
    return results


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wasmgrid-bench-gateway-") as tmp:
        r = run(Path(tmp))
    table = Table(
        f"Gateway (loopback, {os.cpu_count()} cores shared; runtime with one worker process"
        " per core; same run)",
        ["path", "in flight", "calls/s", "p50 ms", "p99 ms", "errors"],
    )
    rows = [
        ("grpc.aio unary echo (floor)", 32, "grpc_echo_c32"),
        ("aiohttp hello, wrk (floor)", 32, "aiohttp_hello_c32"),
        ("aiohttp hello on uvloop, wrk", 32, "aiohttp_hello_uvloop_c32"),
        ("runtime Invoke hello, direct gRPC", 1, "runtime_direct_c1"),
        ("runtime Invoke hello, direct gRPC", 32, "runtime_direct_c32"),
        ("gateway POST /v1/run/examples/hello, wrk", 1, "gateway_invoke_c1"),
        ("gateway POST /v1/run/examples/hello, wrk", 32, "gateway_invoke_c32"),
        ("gateway cached route, wrk", 32, "gateway_cached_c32"),
    ]
    for label, conc, key in rows:
        table.add(label, conc, *r[key].row())
    table.print()
    echo = r["grpc_echo_c32"].calls_per_s
    hello = r["aiohttp_hello_c32"].calls_per_s
    ratios = {
        "gateway_invoke_vs_echo_throughput": r["gateway_invoke_c32"].calls_per_s / echo,
        # The median over rounds of (gateway p50 - direct p50) measured back to back.
        "gateway_added_p50_ms": statistics.median(r["added_p50_per_round_ms"]),
        "cached_vs_aiohttp_throughput": r["gateway_cached_c32"].calls_per_s / hello,
        # The same loop on both sides: what the gateway's own work costs.
        "cached_vs_aiohttp_uvloop_throughput": r["gateway_cached_c32"].calls_per_s
        / r["aiohttp_hello_uvloop_c32"].calls_per_s,
    }
    targets = Table("Targets", ["measure", "value", "target", "met"])
    targets.add(
        "gateway invoke / raw echo (32)",
        f"{ratios['gateway_invoke_vs_echo_throughput']:.2f}x",
        ">= 0.70x",
        ratios["gateway_invoke_vs_echo_throughput"] >= 0.7,
    )
    targets.add(
        "gateway-added p50 over direct Invoke (1)",
        f"{ratios['gateway_added_p50_ms']:.2f} ms",
        "<= 1 ms",
        ratios["gateway_added_p50_ms"] <= 1.0,
    )
    targets.add(
        "cached / raw aiohttp (32)",
        f"{ratios['cached_vs_aiohttp_throughput']:.2f}x",
        ">= 0.50x",
        ratios["cached_vs_aiohttp_throughput"] >= 0.5,
    )
    targets.add(
        "cached / aiohttp on uvloop (32), same loop",
        f"{ratios['cached_vs_aiohttp_uvloop_throughput']:.2f}x",
        "(shown)",
        "",
    )
    targets.print()
    save_results("gateway", {**r, "ratios": ratios})


if __name__ == "__main__":
    main()
