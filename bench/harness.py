"""Shared benchmark tools: load drivers, the physical baselines, tables and result files.

Baselines are measured in the same run as the thing compared against them,
because this machine is shared and noisy: ratios are meaningful, absolute
numbers drift. Servers under test run in their own process (as in production)
so that the load generator and the server each get a core.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc

from wasmgrid.common.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ECHO_METHOD = "/wasmgrid.bench.Echo/Echo"


@dataclass
class LoadResult:
    """Throughput and latency of one load run."""

    count: int
    errors: int
    seconds: float
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> list[str]:
        """Cells for a table: calls/s, p50, p99, errors."""
        return [
            f"{self.calls_per_s:,.0f}",
            f"{self.p50_ms:.3f}",
            f"{self.p99_ms:.3f}",
            str(self.errors),
        ]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of already-sorted values (nearest rank)."""
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx]


def summarize(latencies_s: list[float], errors: int, seconds: float) -> LoadResult:
    """A LoadResult from per-call latencies in seconds."""
    lat = sorted(latencies_s)
    n = len(lat)
    return LoadResult(
        count=n,
        errors=errors,
        seconds=seconds,
        calls_per_s=n / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(lat, 0.50) * 1e3,
        p99_ms=percentile(lat, 0.99) * 1e3,
        mean_ms=(statistics.fmean(lat) * 1e3) if lat else 0.0,
    )


async def run_load(
    call: Callable[[], Awaitable[Any]],
    concurrency: int,
    seconds: float | None = None,
    count: int | None = None,
    warmup: int = 50,
) -> LoadResult:
    """Run `call` from `concurrency` workers for `seconds` or `count` calls in total."""
    if seconds is None and count is None:
        raise ValueError("give seconds or count")
    for _ in range(warmup):
        await call()
    latencies: list[float] = []
    errors = 0
    remaining = count if count is not None else -1
    start = time.perf_counter()
    deadline = start + seconds if seconds is not None else float("inf")

    async def worker() -> None:
        nonlocal errors, remaining
        while time.perf_counter() < deadline:
            if count is not None:
                if remaining <= 0:
                    return
                remaining -= 1
            t0 = time.perf_counter()
            try:
                await call()
            except (TimeoutError, grpc.aio.AioRpcError, OSError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarize(latencies, errors, time.perf_counter() - start)


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None) -> None:
    """Wait until 127.0.0.1:port accepts connections (or the process dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} not open after {timeout}s")


@contextlib.contextmanager
def subprocess_server(
    args: Sequence[str], port: int, env: dict[str, str] | None = None, timeout: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait for its port, stop it (SIGTERM) afterwards."""
    proc = subprocess.Popen(
        list(args),
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        wait_port(port, timeout, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def grpc_echo_baseline(
    concurrency: int, seconds: float, payload: bytes = b"x" * 64
) -> LoadResult:
    """The raw grpc.aio unary echo floor: a bare server process, no interceptors, no protos."""
    port = free_port()
    with subprocess_server([sys.executable, "-m", "bench.echo_server", str(port)], port):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo = channel.unary_unary(ECHO_METHOD, None, None)

            async def call() -> None:
                await echo(payload)

            return await run_load(call, concurrency, seconds=seconds)


_WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_PCT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_TOTAL = re.compile(r"(\d+) requests in")


def wrk(  # noqa: PLR0913 - wrk's own options
    url: str,
    connections: int = 32,
    seconds: float = 10,
    threads: int = 2,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Drive `url` with wrk (a real HTTP load generator) and parse its latency report."""
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk; .ci/run does this)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f"wrk.method = {json.dumps(method)}\n")
        if body is not None:
            script.write(f"wrk.body = {json.dumps(body.decode('latin-1'))}\n")
        for k, v in (headers or {}).items():
            script.write(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n")
    try:
        out = subprocess.run(
            [
                exe,
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                f"{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(script.name)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    pct = {q: float(v) * scale[u] for q, v, u in _WRK_PCT.findall(out)}
    rate = _WRK_RATE.search(out)
    total = _WRK_TOTAL.search(out)
    non2xx = _WRK_ERRORS.search(out)
    sock = _WRK_SOCKET.search(out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in sock.groups()) if sock else 0
    )
    return LoadResult(
        count=int(total.group(1)) if total else 0,
        errors=errors,
        seconds=seconds,
        calls_per_s=float(rate.group(1)) if rate else 0.0,
        p50_ms=pct.get("50", 0.0),
        p99_ms=pct.get("99", 0.0),
        mean_ms=0.0,
        extra={"raw": out},
    )


def aiohttp_hello_baseline(
    connections: int = 32, seconds: float = 10, loop: str = "asyncio"
) -> LoadResult:
    """The raw aiohttp floor: a bare "hello" app in its own process, driven by wrk.

    `loop` "asyncio" is aiohttp as installed; "uvloop" is the loop the services run on.
    """
    port = free_port()
    with subprocess_server([sys.executable, "-m", "bench.hello_server", str(port), loop], port):
        wrk(f"http://127.0.0.1:{port}/", connections, 1)  # warm-up
        return wrk(f"http://127.0.0.1:{port}/", connections, seconds)


class Table:
    """A plain-text table printed to stdout."""

    def __init__(self, title: str, columns: Sequence[str]) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows: list[list[str]] = []

    def add(self, *cells: object) -> None:
        """Append one row; cells are str()-ed, floats get 3 significant decimals."""
        self.rows.append([f"{c:,.3f}" if isinstance(c, float) else str(c) for c in cells])

    def render(self) -> str:
        """The table as text."""
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        line = "+".join("-" * (w + 2) for w in widths)
        fmt = " | ".join(f"{{:<{w}}}" for w in widths)
        out = [f"\n## {self.title}", fmt.format(*self.columns), line.replace("+", "|")]
        out += [fmt.format(*row, *[""] * (len(widths) - len(row))) for row in self.rows]
        return "\n".join(out)

    def print(self) -> None:
        """Print the table."""
        print(self.render(), flush=True)

    def as_dicts(self) -> list[dict[str, str]]:
        """Rows keyed by column name (for the JSON results)."""
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]


def save_results(name: str, data: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json with the machine and time of the run."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {
        "name": name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **{k: (asdict(v) if isinstance(v, LoadResult) else v) for k, v in data.items()},
    }
    for value in doc.values():
        if isinstance(value, dict):
            value.pop("extra", None)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path
