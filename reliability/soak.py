"""`make soak`: mixed traffic for 30 minutes; per service RSS slope, open files, tasks.

The stack runs the runtime as the dev stack does (a supervisor and one worker per CPU),
one replica. Traffic, all checked: invokes of hello, function calls of mathfn's fib,
registry reads and searches, and a publish every 30 s. Every ``sample`` seconds each
service's process tree is measured from /proc (resident memory, open file descriptors,
threads) and its asyncio task count read from its ``/metrics``
(``wasmgrid_event_loop_tasks``, summed over the runtime's workers).

Growth is judged on the samples after the first third (warm-up: caches fill, pools
open): a resident-memory slope above ``RSS_SLOPE_MB_PER_HOUR``, or open files or tasks
ending more than ``FD_SLACK`` / ``TASK_SLACK`` above where that window began.

Bounded stores that fill for longer than a soak lasts look like growth. With their
defaults the monitor keeps an hour of scraped samples (``RETENTION_SECONDS``), 200,000
spans and 200,000 log records, and the runtime 1 GiB of compiled code (the soak
publishes a new module every 30 s, and replicas compile each on publish): the run of
2026-12-04 with the defaults saw the monitor "grow" 64 MB/h for the whole 30 minutes
and could not tell filling from a leak. So the soak runs with ``BOUNDS``, small enough
to fill within the warm-up: growth after it is a leak.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.harness import Table
from reliability import client
from reliability.client import Publisher, Recorder
from reliability.overload import rss_mb
from reliability.report import RESULTS, Row
from reliability.stack import Stack, StackOptions

RSS_SLOPE_MB_PER_HOUR = 20.0
FD_SLACK = 5
TASK_SLACK = 10
SERVICES = ("gateway", "runtime-0", "marketplace", "cache", "monitor")
#: Bounds during a soak, full within the warm-up (see the module's text): 5 minutes of
#: samples; 2,000 spans (some 16 sampled spans/s arrive) and 20,000 log records (some
#: 500/s); 1 MiB of compiled code (about 18 published versions of hello, 9 minutes).
BOUNDS = {
    "monitor": {
        "WASMGRID_MONITOR_RETENTION_SECONDS": "300",
        "WASMGRID_MONITOR_MAX_SPANS": "2000",
        "WASMGRID_MONITOR_MAX_LOG_RECORDS": "20000",
    },
    "runtime": {"WASMGRID_RUNTIME_COMPILED_CACHE_BYTES": str(1 << 20)},
}


@dataclass
class Sample:
    """One service at one moment."""

    t: float
    rss_mb: float
    open_files: int
    threads: int
    tasks: float | None


@dataclass
class Trend:
    """One service over the soak."""

    service: str
    samples: list[Sample] = field(default_factory=list)

    def window(self) -> list[Sample]:
        return self.samples[len(self.samples) // 3 :] or self.samples

    def rss_slope(self) -> float:
        """Least-squares slope of resident memory over the window, MB per hour."""
        w = self.window()
        if len(w) < 2:
            return 0.0
        mt = sum(s.t for s in w) / len(w)
        mr = sum(s.rss_mb for s in w) / len(w)
        var = sum((s.t - mt) ** 2 for s in w)
        cov = sum((s.t - mt) * (s.rss_mb - mr) for s in w)
        return cov / var * 3600 if var else 0.0

    def growth(self) -> list[str]:
        w = self.window()
        out = []
        if self.rss_slope() > RSS_SLOPE_MB_PER_HOUR:
            out.append(f"RSS +{self.rss_slope():.0f} MB/h")
        if w[-1].open_files > w[0].open_files + FD_SLACK:
            out.append(f"open files {w[0].open_files} → {w[-1].open_files}")
        first, last = w[0].tasks, w[-1].tasks
        if first is not None and last is not None and last > first + TASK_SLACK:
            out.append(f"tasks {first:.0f} → {last:.0f}")
        return out


def _proc_counts(pids: list[int]) -> tuple[int, int]:
    files = threads = 0
    for pid in pids:
        try:
            files += len(os.listdir(f"/proc/{pid}/fd"))
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("Threads:"):
                    threads += int(line.split()[1])
        except OSError:
            continue
    return files, threads


def _tasks(url: str) -> float | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("wasmgrid_event_loop_tasks{")
    ]
    return sum(values) if values else None


def metrics_url(stack: Stack, name: str) -> str:
    if name.startswith("runtime-"):
        port = stack.ports.runtime_replica(int(name.split("-")[1]))[1]
        return f"http://127.0.0.1:{port}/metrics"
    return stack.ports.metrics_url(name)


async def soak(stack: Stack, seconds: float, sample: float) -> tuple[list[Trend], Row]:
    """Run the mixed traffic for `seconds`, measuring every `sample` seconds."""
    rec = Recorder()
    stop = asyncio.Event()
    base = stack.base_url
    publisher = Publisher(base, stack.admin_token, rec, "reliability/soak")
    traffic = [
        client.closed_loop(client.invoke(base, rec), 4, stop),
        client.closed_loop(client.call_fib(base, rec), 2, stop),
        client.closed_loop(client.read(base, rec), 1, stop, pause=0.1),
        client.closed_loop(client.search(base, rec), 1, stop, pause=0.2),
        publisher.run(stop, pause=30.0),
    ]
    tasks = [asyncio.create_task(t) for t in traffic]
    trends = {name: Trend(name) for name in SERVICES}
    began = time.monotonic()
    try:
        while (elapsed := time.monotonic() - began) < seconds:
            for name, trend in trends.items():
                pids = stack.process_tree(name)
                files, threads = _proc_counts(pids)
                tasks_now = await asyncio.to_thread(_tasks, metrics_url(stack, name))
                trend.samples.append(Sample(elapsed, rss_mb(pids), files, threads, tasks_now))
            await asyncio.sleep(min(sample, max(0.0, seconds - elapsed)))
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    await publisher.verify()
    row = Row(f"soak ({seconds / 60:.0f} min, mixed traffic)", target="no growth, no errors")
    row.count(rec.answers)
    row.lost += sum(1 for p in publisher.publications if p.kind == "ok" and p.found != "present")
    grown = {t.service: t.growth() for t in trends.values() if t.growth()}
    row.met = not grown and not row.errors and row.lost == 0
    row.notes = [f"{s}: {', '.join(g)}" for s, g in grown.items()]
    return list(trends.values()), row


def table(trends: list[Trend]) -> Table:
    t = Table(
        "soak",
        [
            "service",
            "RSS MB start → end",
            "RSS slope MB/h",
            "open files",
            "threads",
            "tasks",
            "growth",
        ],
    )
    for tr in trends:
        first, last = tr.samples[0], tr.samples[-1]
        tasks = (
            "-"
            if first.tasks is None or last.tasks is None
            else f"{first.tasks:.0f} → {last.tasks:.0f}"
        )
        t.add(
            tr.service,
            f"{first.rss_mb:,.0f} → {last.rss_mb:,.0f}",
            f"{tr.rss_slope():+.1f}",
            f"{first.open_files} → {last.open_files}",
            f"{first.threads} → {last.threads}",
            tasks,
            ", ".join(tr.growth()) or "none",
        )
    return t


def run(root: Path, seconds: float, sample: float) -> int:
    """Start the soak stack, soak, print and save; 0 when nothing grew or failed."""
    import uvloop

    options = StackOptions(replicas=1, runtime_workers=0, env=BOUNDS)
    stack = Stack(root, options)
    stack.start()
    try:
        trends, row = uvloop.run(soak(stack, seconds, sample))
    finally:
        stack.stop()
    tab = table(trends)
    tab.print()
    print(
        f"\ntraffic: {row.offered:,} requests, errors {row.errors or 'none'}, lost {row.lost},"
        f" p99 {row.p99_ms} ms; {'no growth' if row.met else 'NOT MET: ' + '; '.join(row.notes)}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"soak-{stamp}.json"
    path.write_text(
        json.dumps(
            {"time": stamp, "row": asdict(row), "trends": [asdict(t) for t in trends]},
            indent=2,
        )
        + "\n"
    )
    print(f"written to {path}")
    return 0 if row.met else 1
