"""``python -m reliability run|soak|list``: the proof that wasmgrid keeps working.

``run`` (what `make reliability` does): every fuzz target for ``--fuzz-seconds``, then
the fault scenarios on a stack of real processes, the overload scenario, and the lossy
link on a second stack with the proxy in the path; one table on stdout, the JSON in
``reliability/results/``, and the table copied into the README's Reliability section.
``soak`` (what `make soak` does): 30 minutes of mixed traffic, growth per service.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import uvloop

from fuzz import runner as fuzz_runner
from fuzz import targets as fuzz_targets
from fuzz.__main__ import table_of as fuzz_table
from reliability import contract, faults, overload, report, soak
from reliability.client import Recorder, invoke, session
from reliability.faults import Timing
from reliability.stack import Stack, StackOptions

Scenario = Callable[[Stack, Timing], Awaitable[report.Row]]


async def healthy(stack: Stack, timeout: float = 90.0) -> None:
    """Undo what a scenario may have left: stopped, dead or paused processes; then wait
    until everything serves and an invoke is answered correctly."""
    for name in list(stack.procs):
        stack.signal(name, signal.SIGCONT)
        if stack.procs[name].poll() is not None:
            stack.start_process(name)
    stack.resume_postgres()
    if stack.dev.redis is not None and not stack.dev.redis.running():
        stack.dev.redis.start()
    if stack.dev.postgres is not None and not stack.dev.postgres.running():
        await asyncio.to_thread(stack.dev.postgres.start)
    await asyncio.to_thread(stack.wait_serving, timeout)
    rec = Recorder()
    request = invoke(stack.base_url, rec)
    deadline = time.monotonic() + timeout
    ok_in_a_row = 0
    async with session(1) as http:
        while ok_in_a_row < 20:
            answer = await request(http, 0)
            ok_in_a_row = ok_in_a_row + 1 if answer.ok else 0
            if time.monotonic() > deadline:
                raise RuntimeError(f"stack not answering invokes correctly: {answer.kind}")
            if not answer.ok:
                await asyncio.sleep(0.2)


async def _scenario(name: str, fn: Scenario, stack: Stack, timing: Timing) -> report.Row:
    print(f"scenario {name} …", flush=True)
    try:
        await healthy(stack)
        row = await fn(stack, timing)
    except Exception as exc:
        traceback.print_exc()
        row = report.Row(name, target="the scenario ran", notes=[f"harness failed: {exc!r}"])
    print(f"  {name}: {'met' if row.met else 'NOT MET'} {'; '.join(row.notes)}", flush=True)
    return row


async def scenarios(
    root: Path, chosen: set[str], timing: Timing, overload_s: float
) -> list[report.Row]:
    rows: list[report.Row] = []
    main = {k: v for k, v in {**faults.FAULTS, **CONTRACT}.items() if k in chosen}
    if main or "overload" in chosen:
        stack = Stack(root / "main", StackOptions(replicas=2, routes=faults.ROUTES))
        await asyncio.to_thread(stack.start)
        try:
            for name, fn in main.items():
                rows.append(await _scenario(name, fn, stack, timing))
            if "overload" in chosen:
                await healthy(stack)
                print("scenario overload: capacity …", flush=True)
                cap = await overload.capacity(stack)
                print(
                    f"  capacity {cap.goodput:,.0f}/s at {cap.connections} connections", flush=True
                )
                for factor in (3, 10):
                    await healthy(stack)
                    print(f"scenario overload {factor}× …", flush=True)
                    rows.append(await overload.overload(stack, cap, factor, overload_s))
        finally:
            await asyncio.to_thread(stack.stop)
    link = {k: v for k, v in faults.LINK_FAULTS.items() if k in chosen}
    if link:
        stack = Stack(root / "link", StackOptions(replicas=2, proxy=True))
        await asyncio.to_thread(stack.start)
        try:
            for name, fn in link.items():
                rows.append(await _scenario(name, fn, stack, timing.scaled(1.5)))
        finally:
            await asyncio.to_thread(stack.stop)
            stats = stack.log_tail("proxy", 1)
            if rows and stats.startswith("{"):
                rows[-1].facts["proxy"] = stats
    return rows


#: The contract runs on the main stack, after the faults (it needs a healthy one).
CONTRACT: dict[str, Callable[[Stack, Timing], Awaitable[report.Row]]] = {
    "contract": contract.contract
}
ALL = [*faults.FAULTS, *CONTRACT, "overload", *faults.LINK_FAULTS]


def cmd_run(args: argparse.Namespace) -> int:
    fuzz_results: list[fuzz_runner.FuzzResult] = []
    if args.fuzz_seconds > 0:
        for target in fuzz_targets.runnable():
            print(f"fuzzing {target.name} for {args.fuzz_seconds:.0f} s …", flush=True)
            fuzz_results.append(fuzz_runner.run(target, args.fuzz_seconds))
    chosen = set(args.scenarios or ALL)
    unknown = chosen - set(ALL)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(ALL)}")
    root = Path(tempfile.mkdtemp(prefix="wasmgrid-reliability-"))
    began = time.monotonic()
    load_before = os.getloadavg()[1]
    try:
        rows = uvloop.run(scenarios(root, chosen, Timing(), args.overload_seconds))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    tab = report.table(rows)
    tab.print()
    print("\n" + report.notes(rows))
    ftab = fuzz_table(fuzz_results) if fuzz_results else None
    if ftab is not None:
        ftab.print()
    elapsed = time.monotonic() - began
    path = report.save(
        rows,
        [asdict(r) for r in fuzz_results] or None,
        {
            "seconds": round(elapsed),
            "data": str(root) if args.keep else None,
            "load average (5 min) before / after": [load_before, os.getloadavg()[1]],
        },
    )
    print(f"\nwritten to {path}")
    if not args.no_readme:
        load = (load_before + os.getloadavg()[1]) / 2
        section = _readme_section(
            tab.render(), report.notes(rows), ftab.render() if ftab else "", rows, load
        )
        if report.update_readme(section):
            print("README.md: Reliability section updated with this run")
    fuzz_new = any(not r.ok for r in fuzz_results)
    return 1 if fuzz_new or not all(r.met for r in rows) else 0


def _readme_section(table: str, notes: str, fuzz: str, rows: list[report.Row], load: float) -> str:
    when = time.strftime("%Y-%m-%d", time.gmtime())
    body = table.split("\n", 2)[2]  # without the "## reliability" title line
    head = (
        f"Run of {when} on {os.cpu_count()} cores shared with other work (load average"
        f" {load:.1f}) and with the load client."
    )
    cap = next((r.facts["capacity"] for r in rows if "capacity" in r.facts), None)
    if cap:
        head += (
            f" Capacity of the invoke path in this run: {cap['goodput']:,.0f} correct answers/s"
            f" at {cap['connections']} connections (p99 {cap['p99_ms']:,.0f} ms)."
        )
    parts = [head, "", body, "", notes]
    if fuzz:
        parts += ["", "Fuzzing in the same run:", "", fuzz.split("\n", 2)[2]]
    return "\n".join(parts)


def cmd_soak(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="wasmgrid-soak-"))
    try:
        return soak.run(root, args.seconds, args.sample)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cmd_list(_: argparse.Namespace) -> int:
    for name in ALL:
        fn: Any = (
            faults.FAULTS.get(name)
            or CONTRACT.get(name)
            or faults.LINK_FAULTS.get(name)
            or overload.overload
        )
        print(f"{name:<18} {(fn.__doc__ or '').strip().splitlines()[0]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reliability", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="fuzz budgets, fault and overload scenarios, one table")
    run.add_argument("scenarios", nargs="*", help=f"default all: {', '.join(ALL)}")
    run.add_argument(
        "--fuzz-seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", 60))
    )
    run.add_argument(
        "--overload-seconds", type=float, default=float(os.environ.get("OVERLOAD_SECONDS", 60))
    )
    run.add_argument("--keep", action="store_true", help="keep the stacks' data and logs")
    run.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    run.set_defaults(fn=cmd_run)
    so = sub.add_parser("soak", help="mixed traffic for a long time; growth per service")
    so.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 1800)))
    so.add_argument("--sample", type=float, default=30.0, help="seconds between measurements")
    so.set_defaults(fn=cmd_soak)
    sub.add_parser("list", help="the scenarios").set_defaults(fn=cmd_list)
    args = parser.parse_args(argv)
    code: int = args.fn(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
