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
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
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
    #: CPU microseconds per call of each measured process (tree), when measured:
    #: "client" is the benchmark process itself, "wrk" the load generator.
    cpu_us: dict[str, float] = field(default_factory=dict)

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
    cpu: Mapping[str, int] | None = None,
) -> LoadResult:
    """Run `call` from `concurrency` workers for `seconds` or `count` calls in total.

    `cpu` names server processes (pids) whose CPU per call is measured over the timed
    calls (:class:`CpuMeter`), with this process's as "client".
    """
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

    with CpuMeter(cpu or {}) as meter:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result = summarize(latencies, errors, time.perf_counter() - start)
    if cpu is not None:
        per_call = meter.per_call_us(result.count + result.errors)
        result.cpu_us = {name: per_call[name] for name in [*cpu, "client"]}
    return result


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (None: the process is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def process_tree(pid: int) -> list[int]:
    """`pid` and every live descendant (worker processes a server forked)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            parents[int(entry)] = int(fields[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds the live processes `pids` have used so far."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


class CpuMeter:
    """CPU seconds each named process tree (a server and its workers) uses over a block.

    ``with CpuMeter({"gateway": pid}) as cpu: ...`` then ``cpu.seconds["gateway"]``;
    ``"client"`` is this process (every thread), ``"children"`` the CPU of child
    processes that finished inside the block (a wrk run). Read from /proc, in clock
    ticks (10 ms): meaningful over thousands of calls, not over a few.
    """

    def __init__(self, processes: Mapping[str, int]) -> None:
        self.trees = {name: process_tree(pid) for name, pid in processes.items()}
        self.seconds: dict[str, float] = {}
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pids) for name, pids in self.trees.items()}
        now["client"] = time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        now["children"] = children.ru_utime + children.ru_stime
        return now

    def __enter__(self) -> CpuMeter:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        self.seconds = {name: end[name] - self._start[name] for name in end}

    def per_call_us(self, calls: int) -> dict[str, float]:
        """Microseconds of CPU per call for each measured process (tree)."""
        return {name: s / calls * 1e6 if calls else 0.0 for name, s in self.seconds.items()}


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
    with subprocess_server([sys.executable, "-m", "bench.echo_server", str(port)], port) as proc:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo = channel.unary_unary(ECHO_METHOD, None, None)

            async def call() -> None:
                await echo(payload)

            return await run_load(call, concurrency, seconds=seconds, cpu={"server": proc.pid})


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
    cpu: Mapping[str, int] | None = None,
) -> LoadResult:
    """Drive `url` with wrk (a real HTTP load generator) and parse its latency report.

    `cpu` names server processes whose CPU per request is measured (with wrk's own).
    """
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk; .ci/run does this)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f"wrk.method = {json.dumps(method)}\n")
        if body is not None:
            script.write(f"wrk.body = {json.dumps(body.decode('latin-1'))}\n")
        for k, v in (headers or {}).items():
            script.write(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n")
    meter = CpuMeter(cpu or {})
    try:
        with meter:
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
    count = int(total.group(1)) if total else 0
    per_call = meter.per_call_us(count)
    return LoadResult(
        count=count,
        errors=errors,
        seconds=seconds,
        calls_per_s=float(rate.group(1)) if rate else 0.0,
        p50_ms=pct.get("50", 0.0),
        p99_ms=pct.get("99", 0.0),
        mean_ms=0.0,
        extra={"raw": out},
        cpu_us={**{name: per_call[name] for name in cpu}, "wrk": per_call["children"]}
        if cpu is not None
        else {},
    )


def aiohttp_hello_baseline(
    connections: int = 32, seconds: float = 10, loop: str = "asyncio"
) -> LoadResult:
    """The raw aiohttp floor: a bare "hello" app in its own process, driven by wrk.

    `loop` "asyncio" is aiohttp as installed; "uvloop" is the loop the services run on.
    """
    port = free_port()
    argv = [sys.executable, "-m", "bench.hello_server", str(port), loop]
    with subprocess_server(argv, port) as proc:
        wrk(f"http://127.0.0.1:{port}/", connections, 1)  # warm-up
        return wrk(f"http://127.0.0.1:{port}/", connections, seconds, cpu={"server": proc.pid})


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
