"""Gateway benchmark: invoke of examples/hello through the HTTP edge, driven by wrk.

Everything runs as real processes on loopback, measured in the same run:

* **floors**: the raw grpc.aio unary echo (32 in flight) and raw aiohttp "hello" (wrk, 32
  connections) from ``bench/harness.py``;
* **the composed floor** (``bench/composed_floor.py``): the least program doing an
  invoke's work with the same libraries, each part in its own process: a bare aiohttp
  handler sending the body over one grpc.aio call to a bare server (one process per core)
  that runs hello in raw wasmtime-py and answers its stdout; driven by wrk at 1 and 32
  connections, and its server half directly over gRPC at 32 in flight;
* **runtime direct**: ``RuntimeService.Invoke`` of hello by digest over gRPC (1 and 32 in
  flight): the same request the gateway makes for wrk's POST (the CGI environment built
  by the gateway's own ``build_env``, the same limits), over as many connections as the
  gateway opens (``RUNTIME_CONNECTIONS``), so the runtime's worker processes share it;
* **gateway invoke**: ``POST /v1/run/examples/hello`` through the gateway (wrk, 1 and 32
  connections): HTTP parse, resolve (cached), balancer, runtime Invoke, CGI parse;
* **gateway cached**: a route with ``cache`` middleware (wrk, 32 connections), served
  from the response cache (near cache in front of the cache service);
* **the cached route's floor** (``bench/cached_floor.py``): aiohttp on uvloop with the
  gateway's router (every fixed route, then the catch-all), answering wrk's POST with a
  cached hit's status, headers and body and nothing else: what aiohttp alone spends on
  a request of that shape;
* **scale**: 1 gateway × 1 runtime worker, 1 × 2, and 2 gateways × 2 runtime workers. The
  runtime's workers share one port (SO_REUSEPORT, its supervisor); the two gateway
  replicas share theirs too (``WASMGRID_GATEWAY_REUSE_PORT``), so one wrk drives both and
  the kernel spreads its connections over them.

CPU per request of every process comes from /proc (``CpuMeter``) over the same calls.
Targets (issue 18), ratios in one run: gateway invoke ≥ 0.8× the composed floor's
throughput at 32 in flight; gateway p50 at 1 in flight ≤ 0.3 ms over the composed
floor's; cached route ≥ 0.6× aiohttp hello; runtime Invoke ≥ 0.8× the floor's server half.
Run: ``.venv/bin/python -m bench.bench_gateway``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from bench.composed_floor import RUN_METHOD
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

HELLO_PATH = ROOT / "examples/modules/hello/hello.wasm"
HELLO = HELLO_PATH.read_bytes()
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


def _poll(url: str, ready: Callable[[bytes], bool], what: str, timeout: float = 60.0) -> None:
    """Ask `url` until it answers 200 with a body `ready` accepts (`what` names it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200 and ready(resp.read()):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(0.2)


def _wait_ready(url: str) -> None:
    _poll(url, lambda _: True, url)


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
    address: str,
    concurrency: int,
    request: rt.InvokeRequest,
    seconds: float = SECONDS,
    cpu: dict[str, int] | None = None,
    *,
    streams: bool = True,
) -> LoadResult:
    """Invoke straight on the runtime, as the gateway calls it: its connection set
    (CONNECTIONS connections, balanced by worker), calls on each connection's stream
    (`streams`) or one unary RPC each."""
    replica = RuntimeReplica(address, CONNECTIONS, streams=streams)
    try:
        await replica.learn_workers(timeout=5)

        async def call() -> None:
            conn, connection = replica.acquire()
            try:
                resp = await connection.invoke(request, 10, ())
            finally:
                replica.release(conn)
            if resp.outcome != rt.OUTCOME_OK:
                raise RuntimeError(f"runtime outcome {resp.outcome}")

        return await run_load(call, concurrency, seconds=seconds, cpu=cpu)
    finally:
        await replica.close(None)


async def _floor_direct(
    ports: list[int], concurrency: int, cpu: dict[str, int], seconds: float = SECONDS
) -> LoadResult:
    """The composed floor's server half alone: its Run method over gRPC, workers in turn."""
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for port in ports]
    try:
        calls = [c.unary_unary(RUN_METHOD, None, None) for c in channels]
        turn = itertools.count()

        async def call() -> None:
            await calls[next(turn) % len(calls)](BODY, timeout=10)

        return await run_load(call, concurrency, seconds=seconds, cpu=cpu)
    finally:
        for channel in channels:
            await channel.close(None)


def _summed(result: LoadResult, prefix: str) -> LoadResult:
    """`result` with the CPU of the processes named `prefix`N summed as `prefix`."""
    parts = {k: v for k, v in result.cpu_us.items() if k.startswith(prefix)}
    rest = {k: v for k, v in result.cpu_us.items() if k not in parts}
    result.cpu_us = {prefix: sum(parts.values()), **rest}
    return result


def _wait_replica_ready(metrics_port: int) -> None:
    """Wait until the gateway replica serving metrics on `metrics_port` is SERVING (its
    HTTP port is shared, so ``/readyz`` there may answer from another replica)."""
    _poll(
        f"http://127.0.0.1:{metrics_port}/metrics",
        lambda body: b'wasmgrid_service_ready{service="gateway"} 1.0' in body,
        f"gateway replica (metrics {metrics_port})",
    )


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


def _gateway_env(
    ports: dict[str, int], runtime: int, http: str, routes: Path, metrics: int = 0
) -> dict[str, str]:
    """A gateway on port `http`; with a `metrics` port of its own it shares its ports with
    the replicas started alike (SO_REUSEPORT)."""
    shared = {"WASMGRID_GATEWAY_REUSE_PORT": "true", "WASMGRID_GATEWAY_METRICS_PORT": str(metrics)}
    return {
        **(shared if metrics else {}),
        "WASMGRID_GATEWAY_HTTP_PORT": str(ports[http]),
        "WASMGRID_GATEWAY_GRPC_PORT": str(ports[f"{http}_grpc"]),
        "WASMGRID_GATEWAY_RUNTIME_TARGETS": f"127.0.0.1:{ports[f'runtime{runtime}']}",
        "WASMGRID_GATEWAY_MARKETPLACE_ADDR": f"127.0.0.1:{ports['market']}",
        "WASMGRID_GATEWAY_CACHE_ADDR": f"127.0.0.1:{ports['cache']}",
        "WASMGRID_GATEWAY_MONITOR_ADDR": "",
        "WASMGRID_GATEWAY_ROUTES_FILE": str(routes),
        "WASMGRID_GATEWAY_LOG_LEVEL": "WARNING",
    }


def _runtime_env(ports: dict[str, int], workers: int, data: Path) -> dict[str, str]:
    return {
        "WASMGRID_RUNTIME_GRPC_PORT": str(ports[f"runtime{workers}"]),
        "WASMGRID_RUNTIME_METRICS_PORT": str(free_port()),
        "WASMGRID_RUNTIME_DATA_DIR": str(data),
        "WASMGRID_RUNTIME_MARKETPLACE_ADDR": f"127.0.0.1:{ports['market']}",
        "WASMGRID_RUNTIME_MAX_CONCURRENT": "64",
        "WASMGRID_RUNTIME_WORKERS": str(workers),
        "WASMGRID_RUNTIME_LOG_LEVEL": "WARNING",
    }


def run(tmp: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    py = sys.executable
    cores = os.cpu_count() or 1
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
        names = ("market", "runtime1", f"runtime{cores}", "cache", "http", "http_1")
        ports = {name: free_port() for name in (*names, "http_grpc", "http_1_grpc", "front")}
        floor_ports = [free_port() for _ in range(cores)]
        routes = tmp / "routes.yaml"
        routes.write_text(ROUTES)
        with ExitStack() as stack:

            def start(args: list[str], port: int, env: dict[str, str] | None = None) -> int:
                return stack.enter_context(subprocess_server(args, port, env=env, timeout=60)).pid

            start(
                [py, "-m", "wasmgrid.marketplace"],
                ports["market"],
                {
                    "WASMGRID_DATABASE_URL": pg.dsn_for("bench_gateway"),
                    "WASMGRID_MARKETPLACE_GRPC_PORT": str(ports["market"]),
                    "WASMGRID_MARKETPLACE_METRICS_PORT": str(free_port()),
                    "WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN_TOKEN": admin,
                    "WASMGRID_MARKETPLACE_LOG_LEVEL": "WARNING",
                },
            )
            # The runtime as deployed (one worker per core), and one with a single worker.
            runtime = start(
                [py, "-m", "wasmgrid.runtime"],
                ports[f"runtime{cores}"],
                _runtime_env(ports, cores, tmp / "runtime"),
            )
            runtime_1 = start(
                [py, "-m", "wasmgrid.runtime"],
                ports["runtime1"],
                _runtime_env(ports, 1, tmp / "runtime1"),
            )
            start(
                [py, "-m", "wasmgrid.cache"],
                ports["cache"],
                {
                    "WASMGRID_CACHE_GRPC_PORT": str(ports["cache"]),
                    "WASMGRID_CACHE_METRICS_PORT": str(free_port()),
                    "WASMGRID_CACHE_LOG_LEVEL": "WARNING",
                },
            )
            asyncio.run(_publish(f"127.0.0.1:{ports['market']}", admin))
            gateway_cmd = [py, "-m", "wasmgrid.gateway"]
            # Its ports shared (SO_REUSEPORT): the scale step adds a second replica on them.
            gateway = start(
                gateway_cmd,
                ports["http"],
                _gateway_env(ports, cores, "http", routes, metrics=free_port()),
            )
            gateway_1 = start(
                gateway_cmd, ports["http_1"], _gateway_env(ports, 1, "http_1", routes)
            )
            wasm = {
                f"wasm{i}": start(
                    [py, "-m", "bench.composed_floor", "wasm", str(p), str(HELLO_PATH)], p
                )
                for i, p in enumerate(floor_ports)
            }
            front = start(
                [
                    py,
                    "-m",
                    "bench.composed_floor",
                    "http",
                    str(ports["front"]),
                    ",".join(f"127.0.0.1:{p}" for p in floor_ports),
                ],
                ports["front"],
            )
            url = {h: f"http://127.0.0.1:{ports[h]}" for h in ("http", "http_1", "front")}
            for base in (url["http"], url["http_1"]):
                _wait_ready(base + "/readyz")
            invoke = {h: url[h] + "/v1/run/examples/hello" for h in ("http", "http_1")}
            floor_url = url["front"] + "/run"
            # Warm: compile on the runtimes, fill the resolve caches and the response cache.
            for target in (*invoke.values(), url["http"] + "/cached", floor_url):
                with urllib.request.urlopen(
                    urllib.request.Request(target, data=BODY, method="POST"), timeout=30
                ) as resp:
                    assert resp.status == 200, resp.status
            wrk(floor_url, 32, 1, method="POST", body=BODY)  # every floor worker warm
            runtime_addr = f"127.0.0.1:{ports[f'runtime{cores}']}"
            direct = _gateway_request(ports["http"])
            # 1 in flight: direct, gateway and composed floor in alternating 1 s slices,
            # so the drift of a shared machine hits every side alike.
            direct_c1: list[LoadResult] = []
            gateway_c1: list[LoadResult] = []
            floor_c1: list[LoadResult] = []
            for _ in range(C1_ROUNDS):
                direct_c1.append(asyncio.run(_runtime_direct(runtime_addr, 1, direct, 1.0)))
                gateway_c1.append(wrk(invoke["http"], 1, 1.0, threads=1, method="POST", body=BODY))
                floor_c1.append(wrk(floor_url, 1, 1.0, threads=1, method="POST", body=BODY))
            results["runtime_direct_c1"] = _merge(direct_c1)
            results["gateway_invoke_c1"] = _merge(gateway_c1)
            results["floor_invoke_c1"] = _merge(floor_c1)
            results["added_p50_per_round_ms"] = [
                g.p50_ms - d.p50_ms for d, g in zip(direct_c1, gateway_c1, strict=True)
            ]
            results["added_p50_over_floor_per_round_ms"] = [
                g.p50_ms - f.p50_ms for f, g in zip(floor_c1, gateway_c1, strict=True)
            ]
            results["runtime_direct_c32"] = asyncio.run(
                _runtime_direct(runtime_addr, 32, direct, cpu={"runtime": runtime})
            )
            results["runtime_unary_c32"] = asyncio.run(
                _runtime_direct(runtime_addr, 32, direct, cpu={"runtime": runtime}, streams=False)
            )
            results["floor_server_c32"] = _summed(
                asyncio.run(_floor_direct(floor_ports, 32, wasm)), "wasm"
            )
            results["gateway_invoke_c32"] = wrk(
                invoke["http"],
                32,
                SECONDS,
                method="POST",
                body=BODY,
                cpu={"gateway": gateway, "runtime": runtime},
            )
            results["floor_invoke_c32"] = _summed(
                wrk(floor_url, 32, SECONDS, method="POST", body=BODY, cpu={"front": front, **wasm}),
                "wasm",
            )
            results["gateway_cached_c32"] = wrk(
                url["http"] + "/cached",
                32,
                SECONDS,
                method="POST",
                body=BODY,
                cpu={"gateway": gateway},
            )
            # Scale: 1 gateway x 1 runtime worker; 2 gateways x the runtime's 2 workers.
            results["scale_1x1_c32"] = wrk(
                invoke["http_1"],
                32,
                SECONDS,
                method="POST",
                body=BODY,
                cpu={"gateway": gateway_1, "runtime": runtime_1},
            )
            # A second replica on the first one's ports: one wrk, the kernel spreads its
            # connections over the two.
            metrics_b = free_port()
            gateway_b = start(
                gateway_cmd, metrics_b, _gateway_env(ports, cores, "http", routes, metrics_b)
            )
            _wait_replica_ready(metrics_b)
            urllib.request.urlopen(  # its resolve cache warm, as the first one's is
                urllib.request.Request(invoke["http"], data=BODY, method="POST"), timeout=30
            ).close()
            results["scale_2x2_c32"] = wrk(
                invoke["http"],
                32,
                SECONDS,
                method="POST",
                body=BODY,
                cpu={"gateway": gateway, "gateway_b": gateway_b, "runtime": runtime},
            )
    finally:
        pg.stop()
    results["grpc_echo_c32"] = asyncio.run(grpc_echo_baseline(32, SECONDS))
    results["aiohttp_hello_c32"] = aiohttp_hello_baseline(32, SECONDS)
    results["aiohttp_hello_uvloop_c32"] = aiohttp_hello_baseline(32, SECONDS, loop="uvloop")
    results["cached_floor_c32"] = _cached_floor(32, SECONDS)
    return results


def _cached_floor(connections: int, seconds: float) -> LoadResult:
    """``bench/cached_floor.py`` driven as the cached route is (wrk, POST)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.cached_floor", str(port)]
    with subprocess_server(argv, port) as proc:
        url = f"http://127.0.0.1:{port}/cached"
        wrk(url, connections, 1, method="POST", body=BODY)  # warm-up
        return wrk(url, connections, seconds, method="POST", body=BODY, cpu={"server": proc.pid})


def _cpu(result: LoadResult) -> str:
    return ", ".join(f"{name} {us:,.0f}" for name, us in result.cpu_us.items()) or "-"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wasmgrid-bench-gateway-") as tmp:
        r = run(Path(tmp))
    cores = os.cpu_count()
    table = Table(
        f"Gateway (loopback, {cores} cores shared; runtime with one worker process"
        " per core; same run)",
        ["path", "in flight", "calls/s", "p50 ms", "p99 ms", "errors", "CPU µs per call"],
    )
    rows = [
        ("grpc.aio unary echo (floor)", 32, "grpc_echo_c32"),
        ("aiohttp hello, wrk (floor)", 32, "aiohttp_hello_c32"),
        ("aiohttp hello on uvloop, wrk", 32, "aiohttp_hello_uvloop_c32"),
        ("aiohttp, the gateway's routes, a cached hit's answer, wrk", 32, "cached_floor_c32"),
        ("composed floor: aiohttp -> grpc.aio -> wasmtime, wrk", 1, "floor_invoke_c1"),
        ("composed floor: aiohttp -> grpc.aio -> wasmtime, wrk", 32, "floor_invoke_c32"),
        ("composed floor, server half, direct gRPC", 32, "floor_server_c32"),
        ("runtime Invoke hello, direct, on call streams", 1, "runtime_direct_c1"),
        ("runtime Invoke hello, direct, on call streams", 32, "runtime_direct_c32"),
        ("runtime Invoke hello, direct, unary RPCs", 32, "runtime_unary_c32"),
        ("gateway POST /v1/run/examples/hello, wrk", 1, "gateway_invoke_c1"),
        ("gateway POST /v1/run/examples/hello, wrk", 32, "gateway_invoke_c32"),
        ("gateway cached route, wrk", 32, "gateway_cached_c32"),
    ]
    for label, conc, key in rows:
        table.add(label, conc, *r[key].row(), _cpu(r[key]))
    table.print()
    scale = Table(
        "Scale: invoke through gateway replicas and runtime workers (wrk, 32 connections)",
        ["gateways x runtime workers", "calls/s", "p50 ms", "p99 ms", "errors", "CPU µs per call"],
    )
    scale.add("1 x 1", *r["scale_1x1_c32"].row(), _cpu(r["scale_1x1_c32"]))
    scale.add(f"1 x {cores}", *r["gateway_invoke_c32"].row(), _cpu(r["gateway_invoke_c32"]))
    scale.add(f"2 x {cores}, one port", *r["scale_2x2_c32"].row(), _cpu(r["scale_2x2_c32"]))
    scale.print()
    hello = r["aiohttp_hello_c32"].calls_per_s
    ratios = {
        "gateway_invoke_vs_echo_throughput": r["gateway_invoke_c32"].calls_per_s
        / r["grpc_echo_c32"].calls_per_s,
        "gateway_invoke_vs_floor_throughput": r["gateway_invoke_c32"].calls_per_s
        / r["floor_invoke_c32"].calls_per_s,
        # The median over rounds of (gateway p50 - composed floor p50) measured back to back.
        "gateway_added_p50_over_floor_ms": statistics.median(
            r["added_p50_over_floor_per_round_ms"]
        ),
        "gateway_added_p50_ms": statistics.median(r["added_p50_per_round_ms"]),
        "cached_vs_aiohttp_throughput": r["gateway_cached_c32"].calls_per_s / hello,
        # The same loop on both sides: what the gateway's own work costs.
        "cached_vs_aiohttp_uvloop_throughput": r["gateway_cached_c32"].calls_per_s
        / r["aiohttp_hello_uvloop_c32"].calls_per_s,
        # What aiohttp alone spends on the cached route's shape: the target's ceiling.
        "cached_floor_vs_aiohttp_throughput": r["cached_floor_c32"].calls_per_s / hello,
        "cached_vs_cached_floor_throughput": r["gateway_cached_c32"].calls_per_s
        / r["cached_floor_c32"].calls_per_s,
        "runtime_invoke_vs_floor_server": r["runtime_direct_c32"].calls_per_s
        / r["floor_server_c32"].calls_per_s,
        "runtime_unary_vs_floor_server": r["runtime_unary_c32"].calls_per_s
        / r["floor_server_c32"].calls_per_s,
        "scale_2x2_vs_1x1": r["scale_2x2_c32"].calls_per_s / r["scale_1x1_c32"].calls_per_s,
    }
    targets = Table("Targets (issue 18)", ["measure", "value", "target", "met"])
    for label, key, unit, bound, higher in (
        (
            "gateway invoke / composed floor (32)",
            "gateway_invoke_vs_floor_throughput",
            "x",
            0.8,
            True,
        ),
        (
            "gateway p50 over composed floor (1)",
            "gateway_added_p50_over_floor_ms",
            " ms",
            0.3,
            False,
        ),
        ("cached route / aiohttp hello (32)", "cached_vs_aiohttp_throughput", "x", 0.6, True),
        (
            "runtime Invoke / floor server half (32)",
            "runtime_invoke_vs_floor_server",
            "x",
            0.8,
            True,
        ),
    ):
        value = ratios[key]
        met = value >= bound if higher else value <= bound
        targets.add(label, f"{value:.2f}{unit}", f"{'>=' if higher else '<='} {bound}{unit}", met)
    for label, key, unit in (
        ("gateway invoke / raw echo (32)", "gateway_invoke_vs_echo_throughput", "x"),
        ("gateway p50 over direct Invoke (1)", "gateway_added_p50_ms", " ms"),
        ("runtime unary Invoke / floor server half (32)", "runtime_unary_vs_floor_server", "x"),
        ("cached / aiohttp on uvloop (32), same loop", "cached_vs_aiohttp_uvloop_throughput", "x"),
        ("cached route's floor / aiohttp hello (32)", "cached_floor_vs_aiohttp_throughput", "x"),
        ("cached route / its floor (32)", "cached_vs_cached_floor_throughput", "x"),
        ("2 gateways x 2 workers, one port / 1 x 1 (32)", "scale_2x2_vs_1x1", "x"),
    ):
        targets.add(label, f"{ratios[key]:.2f}{unit}", "(shown)", "")
    targets.print()
    save_results("gateway", {**r, "ratios": ratios})


if __name__ == "__main__":
    main()
