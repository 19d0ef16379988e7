"""Overload: the invoke path driven at three and ten times its capacity, in connections.

Capacity is measured first, in the same run (this machine is shared; only figures of
one run compare): closed-loop clients at 4, 8, 16 and 32 connections, the four steps
repeated in :data:`ROUNDS` interleaved rounds and each step's goodput (correct answers
per second) and p99 taken as the median of its rounds, so that a burst of other work on
the machine during one step does not decide the capacity; the capacity is the best
median goodput and the smallest connection count that reaches 90% of it. Then 3× and
10× that many connections for ``seconds`` each, and after each the capacity's
connections again for ``settle`` seconds to see how soon the stack is back to normal.
The clients send their next request as soon as an answer comes, refusals included (no
backing off on ``Retry-After``): the worst case for the gateway. All along, the
gateway's memory is sampled, and so is where a refusal's time can go besides the
gateway's decision: how long a ``/healthz`` (no work) takes, asked by a probe process of
its own (:mod:`reliability.probe`); how much of the time the gateway's event-loop thread
ran and how much it waited, runnable, for a CPU (from /proc); and how late the load
client's own timers fire (it runs on the same two cores).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import percentile
from reliability import loadgen
from reliability.client import Answer, Recorder
from reliability.report import ROOT, Row
from reliability.stack import Stack

STEPS = (4, 8, 16, 32)
#: Interleaved rounds of the capacity steps; each step's figures are its rounds' median.
ROUNDS = 3
#: Seconds between two ``/healthz`` probes, and between two of the load client's timers.
PROBE_INTERVAL = 0.1
#: The issue's targets, with the bounds this harness puts on its words.
GOODPUT_SHARE = 0.90
ADMITTED_SUCCESS = 0.99
ADMITTED_P99_MS = 1000.0
REFUSAL_P99_MS = 50.0
RSS_GROWTH_MB = 200.0
RECOVERY_SECONDS = 5.0


@dataclass
class Capacity:
    """The invoke path's capacity in this run."""

    connections: int
    goodput: float
    p99_ms: float
    steps: list[dict[str, Any]] = field(default_factory=list)


def rss_mb(pids: list[int]) -> float:
    """Resident memory of `pids`, MB (from /proc)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def loop_thread_seconds(pid: int) -> tuple[float, float] | None:
    """Seconds the main thread of `pid` (an event loop's) has run on a CPU and has waited,
    runnable, for one (``/proc/<pid>/task/<pid>/schedstat``); None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
        return int(fields[0]) / 1e9, int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Lag:
    """What the probes saw while a load ran."""

    #: Seconds each ``/healthz`` took, asked from a process of its own.
    gateway: list[float] = field(default_factory=list)
    #: Seconds each of the load client's timers fired late.
    client: list[float] = field(default_factory=list)
    #: Shares of the load's wall time the gateway's loop thread ran, and waited for a CPU.
    loop_thread: tuple[float, float] | None = None

    def facts(self) -> dict[str, Any]:
        gateway = sorted(self.gateway)
        client_lag = sorted(self.client)
        facts: dict[str, Any] = {
            "gateway /healthz p50 / p99 ms": [
                round(percentile(gateway, q) * 1e3, 1) for q in (0.5, 0.99)
            ]
            if gateway
            else [],
            "load client loop lag p99 ms": round(percentile(client_lag, 0.99) * 1e3, 1)
            if client_lag
            else 0.0,
        }
        if self.loop_thread is not None:
            facts["gateway loop thread share on a CPU / waiting for one"] = [
                round(share, 2) for share in self.loop_thread
            ]
        return facts


async def _probe(stack: Stack, seconds: float, stop: asyncio.Event, lag: Lag) -> None:
    """Until `stop`: the ``/healthz`` probe process, the load client's timers (how late
    they fire) and the gateway's loop thread from /proc."""
    gateway_pid = stack.process_tree("gateway")[0]
    before = loop_thread_seconds(gateway_pid)
    began = time.monotonic()
    health = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reliability.probe",
        stack.base_url + "/healthz",
        str(max(seconds - 0.5, PROBE_INTERVAL)),  # done before the load is
        str(PROBE_INTERVAL),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    while not stop.is_set():
        due = time.monotonic() + PROBE_INTERVAL
        await asyncio.sleep(PROBE_INTERVAL)
        lag.client.append(time.monotonic() - due)
    after = loop_thread_seconds(gateway_pid)
    if before is not None and after is not None:
        wall = time.monotonic() - began
        lag.loop_thread = ((after[0] - before[0]) / wall, (after[1] - before[1]) / wall)
    out, _ = await health.communicate()
    lag.gateway = json.loads(out) if health.returncode == 0 else []


async def _drive(
    stack: Stack, connections: int, seconds: float, lag: Lag | None = None
) -> tuple[Recorder, float]:
    """Closed-loop invokes; the recorder and the load client's own CPU share (of a core).
    With `lag`, also what the probes saw meanwhile."""
    rec = Recorder()
    stop = asyncio.Event()
    cpu = time.process_time()
    task = asyncio.create_task(loadgen.closed_loop(stack.base_url, rec, connections, stop))
    probe = asyncio.create_task(_probe(stack, seconds, stop, lag)) if lag is not None else None
    await asyncio.sleep(seconds)
    stop.set()
    await task
    if probe is not None:
        await probe
    return rec, (time.process_time() - cpu) / seconds


def _goodput(answers: list[Answer], seconds: float) -> float:
    return sum(1 for a in answers if a.ok) / seconds if seconds > 0 else 0.0


def _p99_ms(answers: list[Answer]) -> float:
    ok = sorted(a.latency for a in answers if a.ok)
    return percentile(ok, 0.99) * 1e3 if ok else float("inf")


async def capacity(stack: Stack, seconds: float = 4.0) -> Capacity:
    """Goodput and p99 at each step (medians of interleaved rounds); the capacity is
    the knee of that curve."""
    rounds: dict[int, list[dict[str, float]]] = {c: [] for c in STEPS}
    for _ in range(ROUNDS):
        for connections in STEPS:
            rec, client_cpu = await _drive(stack, connections, seconds)
            answers = rec.of("invoke")
            rounds[connections].append(
                {
                    "goodput": _goodput(answers, seconds),
                    "p99_ms": _p99_ms(answers),
                    "errors": sum(1 for a in answers if not a.ok),
                    "client": client_cpu,
                }
            )
    steps: list[dict[str, Any]] = []
    best = 0.0
    for connections, runs in rounds.items():
        goodput = statistics.median(r["goodput"] for r in runs)
        steps.append(
            {
                "connections": connections,
                "goodput": round(goodput, 1),
                "goodput per round": [round(r["goodput"], 1) for r in runs],
                "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 1),
                "errors": sum(r["errors"] for r in runs),
                "load client CPU share": round(statistics.median(r["client"] for r in runs), 2),
            }
        )
        best = max(best, goodput)
    knee = next(s for s in steps if s["goodput"] >= GOODPUT_SHARE * round(best, 1))
    return Capacity(int(knee["connections"]), round(best, 1), float(knee["p99_ms"]), steps)


async def overload(
    stack: Stack, cap: Capacity, factor: int, seconds: float = 60.0, settle: float = 10.0
) -> Row:
    """`factor` × the capacity's connections for `seconds`, then back to capacity."""
    gateway = stack.process_tree("gateway")
    before = rss_mb(gateway)
    samples: list[float] = []
    sampling = asyncio.Event()

    async def sample() -> None:
        while not sampling.is_set():
            samples.append(rss_mb(gateway))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    connections = factor * cap.connections
    lag = Lag()
    try:
        rec, client_cpu = await _drive(stack, connections, seconds, lag)
        after, _ = await _drive(stack, cap.connections, settle)
    finally:
        sampling.set()
        await sampler
    answers = rec.of("invoke")
    row = Row(f"overload {factor}× ({connections} connections, {seconds:.0f} s)")
    row.target = (
        f"goodput ≥ {GOODPUT_SHARE:.0%} of capacity; admitted ≥ {ADMITTED_SUCCESS:.0%}"
        f" successful, p99 ≤ {ADMITTED_P99_MS:.0f} ms; the rest refused (429/503 with"
        f" Retry-After) within {REFUSAL_P99_MS:.0f} ms; gateway memory ≤ +{RSS_GROWTH_MB:.0f}"
        f" MB; back to normal within {RECOVERY_SECONDS:.0f} s"
    )
    row.count(answers)
    # Refused = shed by the gateway (admission, max in flight): the target's "rest". A
    # 503 of anything behind it (a runtime replica full, say) failed an admitted call.
    admitted = [a for a in answers if not a.shed]
    refused = [a for a in answers if a.shed]
    row.admitted = len(admitted)
    goodput = _goodput(answers, seconds)
    success = sum(1 for a in admitted if a.ok) / len(admitted) if admitted else 0.0
    refused_latency = sorted(a.latency for a in refused)
    refused_p50 = percentile(refused_latency, 0.5) * 1e3 if refused else 0.0
    refused_p99 = percentile(refused_latency, 0.99) * 1e3 if refused else 0.0
    without_retry = sum(1 for a in refused if not a.retry_after)
    peak = max(samples, default=before)
    row.recovery_s = _back_to_normal(after.of("invoke"), cap)
    row.facts = {
        "capacity": asdict(cap),
        "goodput per s": round(goodput, 1),
        "goodput share of capacity": round(goodput / cap.goodput, 3) if cap.goodput else 0.0,
        "admitted successful": round(success, 4),
        "refused": len(refused),
        "refused without Retry-After": without_retry,
        "refused per s": round(len(refused) / seconds, 1),
        "refusal p50 / p99 ms": [round(refused_p50, 1), round(refused_p99, 1)],
        **lag.facts(),
        "goodput per s at capacity's connections after": round(
            _goodput(after.of("invoke"), settle), 1
        ),
        "gateway RSS MB before / peak": [round(before, 1), round(peak, 1)],
        "load client CPU share": round(client_cpu, 2),
    }
    checks = [
        (
            goodput >= GOODPUT_SHARE * cap.goodput,
            f"goodput {goodput:,.0f}/s is {goodput / cap.goodput:.0%} of capacity",
        ),
        (success >= ADMITTED_SUCCESS, f"admitted requests {success:.1%} successful"),
        ((row.p99_ms or 0) <= ADMITTED_P99_MS, f"admitted p99 {row.p99_ms:,.0f} ms"),
        (not without_retry, f"{without_retry} refusals without Retry-After"),
        (refused_p99 <= REFUSAL_P99_MS, f"refusal p99 {refused_p99:,.0f} ms"),
        (peak - before <= RSS_GROWTH_MB, f"gateway RSS {before:,.0f} → {peak:,.0f} MB"),
        (
            row.recovery_s is not None and row.recovery_s <= RECOVERY_SECONDS,
            "not back to normal within the settle time"
            if row.recovery_s is None
            else f"back to normal after {row.recovery_s:.1f} s",
        ),
    ]
    row.met = all(ok for ok, _ in checks)
    row.notes = [why for ok, why in checks if not ok]
    if not refused:
        row.notes.append("nothing was refused: every request was queued")
    return row


def _back_to_normal(answers: list[Answer], cap: Capacity) -> float | None:
    """Start of the first 1-s window at capacity load with its goodput and p99 back."""
    if not answers:
        return None
    end = max(a.sent for a in answers)
    second = 0
    while second + 1 <= end:
        window = [a for a in answers if second <= a.sent < second + 1]
        if _goodput(window, 1.0) >= GOODPUT_SHARE * cap.goodput and _p99_ms(window) <= max(
            2 * cap.p99_ms, cap.p99_ms + 20
        ):
            return float(second)
        second += 1
    return None
