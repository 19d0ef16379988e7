"""Several worker processes on one port (SO_REUSEPORT) with summed metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.api.runtime.v1 import runtime_pb2_grpc
from wasmgrid.common.testing import free_port, poll_until
from wasmgrid.runtime.testing import example_module, inline

pytestmark = pytest.mark.integration  # starts service processes

REPO = Path(__file__).resolve().parents[3]


async def _serving(address: str, timeout: float) -> None:
    async def serving() -> bool:
        try:
            async with grpc.aio.insecure_channel(address) as ch:
                r = await health_pb2_grpc.HealthStub(ch).Check(
                    health_pb2.HealthCheckRequest(), timeout=1
                )
        except grpc.aio.AioRpcError:
            return False
        return bool(r.status == health_pb2.HealthCheckResponse.SERVING)

    await poll_until(serving, f"the runtime at {address} to report SERVING", timeout, 0.2)


async def test_two_workers_share_the_port_and_metrics_are_summed(tmp_path: Path) -> None:
    port, metrics = free_port(), free_port()
    env = {
        **os.environ,
        "WASMGRID_RUNTIME_WORKERS": "2",
        "WASMGRID_RUNTIME_GRPC_PORT": str(port),
        "WASMGRID_RUNTIME_METRICS_PORT": str(metrics),
        "WASMGRID_RUNTIME_DATA_DIR": str(tmp_path / "data"),
        "WASMGRID_RUNTIME_ALLOW_INLINE": "true",
        "WASMGRID_RUNTIME_LOG_LEVEL": "WARNING",
        "WASMGRID_RUNTIME_GRACE_SECONDS": "2",
        "WASMGRID_RUNTIME_DRAIN_SECONDS": "0.2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wasmgrid.runtime"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    hello = example_module(REPO, "hello")
    try:
        await _serving(address, 90)
        workers: set[tuple[int, int, str]] = set()
        calls = 0

        async def both_workers_answered() -> bool:
            # Each fresh connection lands on one worker; keep connecting until both
            # answered (the second may still be starting when the first is SERVING).
            nonlocal calls
            opts = [("grpc.use_local_subchannel_pool", 1)]
            async with grpc.aio.insecure_channel(address, options=opts) as ch:
                stub = runtime_pb2_grpc.RuntimeServiceStub(ch)
                try:
                    r = await stub.Invoke(pb.InvokeRequest(module=inline(hello), stdin=b"x"))
                except grpc.aio.AioRpcError:
                    return False
                assert r.outcome == pb.OUTCOME_OK
                calls += 1
                stats = await stub.GetStats(pb.GetStatsRequest())
                workers.add((stats.worker_id, stats.pid, stats.instance_id))
            return len(workers) == 2

        await poll_until(both_workers_answered, "both workers to answer a call", 60, 0.2)
        assert {w for w, _, _ in workers} == {0, 1}
        assert len({pid for _, pid, _ in workers}) == 2
        # Each worker names itself with its own random instance id.
        assert len({i for _, _, i in workers}) == 2
        assert all(len(i) == 32 for _, _, i in workers)
        text = await asyncio.to_thread(
            lambda: (
                urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5)
                .read()
                .decode()
            )
        )
        line = next(
            ln
            for ln in text.splitlines()
            if ln.startswith(
                'wasmgrid_runtime_invocations_total{kind="module",mode="invoke",outcome="OK"}'
            )
        )
        assert float(line.split()[-1]) == calls
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()  # the supervisor's own kill path failed: never leave it running
            proc.wait()
            raise
    assert code == 0


def test_a_taken_port_stops_the_runtime_with_one_clear_line(tmp_path: Path) -> None:
    """One worker or a supervisor of two: exit EXIT_CANNOT_START, no restart loop, no noise."""
    with socket.socket() as holder:  # no SO_REUSEPORT: the workers cannot join it
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for workers in ("1", "2"):
            env = {
                **os.environ,
                "WASMGRID_RUNTIME_WORKERS": workers,
                "WASMGRID_RUNTIME_GRPC_PORT": str(port),
                "WASMGRID_RUNTIME_METRICS_PORT": str(free_port()),
                "WASMGRID_RUNTIME_DATA_DIR": str(tmp_path / f"data{workers}"),
                "WASMGRID_RUNTIME_DRAIN_SECONDS": "0",
            }
            done = subprocess.run(
                [sys.executable, "-m", "wasmgrid.runtime"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 3, (workers, done.stderr[-2000:])
            why = f"cannot bind gRPC port 127.0.0.1:{port}: Address already in use"
            assert any(
                line.startswith(f"wasmgrid runtime: {why}") for line in done.stderr.splitlines()
            ), done.stderr
            assert "Traceback" not in done.stderr + done.stdout
            if workers == "2":
                assert "restarting" not in done.stderr  # the log lines go to stderr
                assert "runtime worker cannot start; stopping the runtime" in done.stderr
