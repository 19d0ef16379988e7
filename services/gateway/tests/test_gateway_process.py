"""`python -m wasmgrid.gateway` as a real process: SIGHUP reloads routes, SIGTERM exits 0,
replicas share one port."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from wasmgrid.common.testing import Poll, free_port

from .conftest import Infra


async def test_sighup_reloads_routes_and_sigterm_exits_zero(
    infra: Infra, tmp_path: Path, poll: Poll
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes: [{name: one, path: /one, module: examples/hello}]\n")
    http_port = free_port()
    env = {
        **os.environ,
        "WASMGRID_GATEWAY_HTTP_PORT": str(http_port),
        "WASMGRID_GATEWAY_GRPC_PORT": str(free_port()),
        "WASMGRID_GATEWAY_RUNTIME_TARGETS": infra.runtime.runner.address,
        "WASMGRID_GATEWAY_MARKETPLACE_ADDR": infra.market.address,
        "WASMGRID_GATEWAY_CACHE_ADDR": infra.cache.address,
        "WASMGRID_GATEWAY_MONITOR_ADDR": "",
        "WASMGRID_GATEWAY_ROUTES_FILE": str(routes),
        "WASMGRID_GATEWAY_ROUTES_POLL_SECONDS": "300",  # only SIGHUP reloads in this test
        "WASMGRID_GATEWAY_GRACE_SECONDS": "3",
    }
    log_path = tmp_path / "gateway.log"
    log_file = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wasmgrid.gateway",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log_file,
    )
    base = f"http://127.0.0.1:{http_port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def routes_named(*names: str) -> bool:
                try:
                    async with http.get(base + "/v1/routes") as resp:
                        doc = await resp.json()
                except aiohttp.ClientError:
                    return False
                return {r["name"] for r in doc["routes"]} == set(names)

            async def ready() -> bool:
                try:
                    async with http.get(base + "/readyz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await poll(lambda: routes_named("one"), "the gateway process to serve routes", 60)
            await poll(ready, "the gateway process to be ready", 30)
            async with http.post(base + "/one", data=b"proc") as resp:
                assert resp.status == 200
                assert await resp.read() == b"PROC"
            routes.write_text("routes: [{name: two, path: /two, module: examples/hello}]\n")
            proc.send_signal(signal.SIGHUP)
            await poll(lambda: routes_named("two"), "SIGHUP to reload the routes", 10)
            routes.write_text("routes: [{name: bad, path: nope, module: examples/hello}]\n")
            proc.send_signal(signal.SIGHUP)

            async def rejected() -> bool:
                async with http.get(base + "/v1/routes") as resp:
                    doc = await resp.json()
                return bool(doc["last_error"]) and [r["name"] for r in doc["routes"]] == ["two"]

            await poll(rejected, "the invalid file to be rejected, keeping routes", 10)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)  # a grace of 3 s: this is a deadline
        assert code == 0
        log_file.close()
        lines = [json.loads(line) for line in log_path.read_bytes().splitlines() if line]
        messages = [line["msg"] for line in lines]
        assert "gateway stopped" in messages
        assert any("routes file rejected" in m for m in messages)
        access = [line for line in lines if line["logger"] == "wasmgrid.gateway.access"]
        assert any(a["route"] == "route:one" and a["status"] == 200 for a in access)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log_file.close()


async def test_a_taken_http_port_exits_with_one_clear_line(infra: Infra) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {
            **os.environ,
            "WASMGRID_GATEWAY_HTTP_PORT": str(port),
            "WASMGRID_GATEWAY_GRPC_PORT": str(free_port()),
            "WASMGRID_GATEWAY_RUNTIME_TARGETS": infra.runtime.runner.address,
            "WASMGRID_GATEWAY_MARKETPLACE_ADDR": infra.market.address,
            "WASMGRID_GATEWAY_CACHE_ADDR": infra.cache.address,
            "WASMGRID_GATEWAY_MONITOR_ADDR": "",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wasmgrid.gateway",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 3, err.decode()[-2000:]
    stderr = err.decode()
    line = f"wasmgrid gateway: cannot bind HTTP port 127.0.0.1:{port}: Address already in use"
    assert line + " (another process holds it; pick another port)" in stderr.splitlines()
    assert "Traceback" not in stderr + out.decode()
    assert "Unclosed" not in stderr + out.decode()  # its clients were closed on the way out


async def test_an_invalid_routes_file_stops_the_gateway_with_one_line(
    infra: Infra, tmp_path: Path
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes: [{name: a, path: /a, module: n/m, limits: {fuel: lots}}]\n")
    env = {
        **os.environ,
        "WASMGRID_GATEWAY_HTTP_PORT": str(free_port()),
        "WASMGRID_GATEWAY_GRPC_PORT": str(free_port()),
        "WASMGRID_GATEWAY_RUNTIME_TARGETS": infra.runtime.runner.address,
        "WASMGRID_GATEWAY_MARKETPLACE_ADDR": infra.market.address,
        "WASMGRID_GATEWAY_ROUTES_FILE": str(routes),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wasmgrid.gateway",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, err.decode()[-2000:]
    assert err.decode().splitlines()[-1] == (
        "wasmgrid: invalid WASMGRID_GATEWAY_ROUTES_FILE: routes.yaml:"
        " route 'a'.limits.fuel: 'lots' must be an integer in 1..4611686018427387904"
    )
    assert "Traceback" not in err.decode() + out.decode()


def _replica_count(metrics: str) -> float:
    """`GET /healthz` requests a replica counted, from its Prometheus exposition."""
    pattern = r'^wasmgrid_gateway_http_requests_total\{[^}]*route="healthz"[^}]*\} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, metrics, re.M))


async def test_two_replicas_share_the_http_port_and_each_keeps_its_own_metrics(
    infra: Infra, poll: Poll
) -> None:
    http_port, grpc_port = free_port(), free_port()
    metrics_ports = [free_port(), free_port()]
    procs = []
    for metrics_port in metrics_ports:
        env = {
            **os.environ,
            "WASMGRID_GATEWAY_HTTP_PORT": str(http_port),
            "WASMGRID_GATEWAY_GRPC_PORT": str(grpc_port),
            "WASMGRID_GATEWAY_METRICS_PORT": str(metrics_port),
            "WASMGRID_GATEWAY_REUSE_PORT": "true",
            "WASMGRID_GATEWAY_RUNTIME_TARGETS": infra.runtime.runner.address,
            "WASMGRID_GATEWAY_MARKETPLACE_ADDR": infra.market.address,
            "WASMGRID_GATEWAY_CACHE_ADDR": infra.cache.address,
            "WASMGRID_GATEWAY_MONITOR_ADDR": "",
            "WASMGRID_GATEWAY_GRACE_SECONDS": "3",
        }
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "wasmgrid.gateway",
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        )
    try:
        # A new connection for every request, so the kernel picks a replica each time.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:

            async def scraped(port: int) -> str | None:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                        return await resp.text() if resp.status == 200 else None
                except aiohttp.ClientError:
                    return None

            async def both_up() -> bool:
                return all([await scraped(port) is not None for port in metrics_ports])

            await poll(both_up, "both replicas to serve their metrics ports", 60)
            for _ in range(40):
                async with http.get(f"http://127.0.0.1:{http_port}/healthz") as resp:
                    assert resp.status == 200
            counts = [_replica_count(await scraped(port) or "") for port in metrics_ports]
            assert sum(counts) == 40
            assert all(count > 0 for count in counts), counts  # 2**-39 odds of a false alarm
            # One replica stopping leaves the port served by the other.
            procs[0].send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(procs[0].wait(), 20) == 0
            for _ in range(10):
                async with http.get(f"http://127.0.0.1:{http_port}/healthz") as resp:
                    assert resp.status == 200
            assert _replica_count(await scraped(metrics_ports[1]) or "") == counts[1] + 10
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
