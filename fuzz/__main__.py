"""``python -m fuzz list | run [TARGET…] | replay [TARGET…] | seeds``.

``run`` fuzzes each target for ``--seconds`` (default 60, env ``FUZZ_SECONDS``), prints
one table and writes it as JSON (``reliability/results/fuzz/fuzz.json``); it exits 1 when
a run found something new. ``replay`` runs the seed corpus (or given files) through the
targets in this process: what ``make test`` does before its short fuzzing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from bench.harness import Table
from fuzz import runner, targets


def _chosen(names: list[str]) -> list[targets.Target]:
    if not names:
        return targets.runnable()
    chosen = [targets.get(n) for n in names]
    pending = [t.name for t in chosen if t.pending]
    if pending:
        raise SystemExit(f"fuzz: {', '.join(pending)}: no code to fuzz yet (see `list`)")
    return chosen


def cmd_list(_: argparse.Namespace) -> int:
    table = Table("fuzz targets", ["target", "seeds", "max input", "what"])
    for t in targets.TARGETS:
        seeds = sum(1 for p in t.corpus.glob("*") if p.is_file()) if t.corpus.is_dir() else 0
        table.add(t.name, seeds, f"{t.max_len} B" if t.max_len else "-", t.pending or t.what)
    table.print()
    return 0


def table_of(results: list[runner.FuzzResult]) -> Table:
    """The fuzz table of `make reliability`."""
    table = Table(
        "fuzzing",
        ["target", "seconds", "runs", "runs/s", "coverage", "corpus", "new findings", "known"],
    )
    for r in results:
        found = "none" if r.ok else f"{len(r.crashes) or 1}: {r.crash_summary[:70]}"
        table.add(
            r.target,
            f"{r.elapsed_seconds:.0f}",
            f"{r.runs:,}",
            f"{r.execs_per_second:,.0f}",
            f"{r.coverage} edges / {r.features} features",
            r.corpus,
            found,
            ", ".join(f"{k} ×{v}" for k, v in sorted(r.known.items())) or "-",
        )
    return table


def cmd_run(args: argparse.Namespace) -> int:
    results = []
    for target in _chosen(args.targets):
        print(f"fuzzing {target.name} for {args.seconds:.0f} s …", flush=True)
        results.append(runner.run(target, args.seconds, args.workdir, strict=args.strict))
    table = table_of(results)
    table.print()
    out = args.workdir / "fuzz.json"
    out.write_text(
        json.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    for r in results:
        for crash in r.crashes:
            print(f"{r.target}: new finding, input in {crash} (log {args.workdir / r.target})")
    print(f"written to {out}")
    return 0 if all(r.ok for r in results) else 1


def cmd_replay(args: argparse.Namespace) -> int:
    failed = 0
    for target in _chosen(args.targets):
        result = runner.replay(target, args.paths or None, strict=args.strict)
        seen = ", ".join(f"{k} ×{v}" for k, v in sorted(result.known.items()))
        print(
            f"{target.name}: {result.inputs} inputs, {len(result.failures)} failed"
            + (f", known findings: {seen}" if seen else "")
        )
        for path, exc in result.failures:
            failed += 1
            print(f"  {path}:")
            print("".join(traceback.format_exception(exc)), end="")
    return 1 if failed else 0


def cmd_seeds(_: argparse.Namespace) -> int:
    from fuzz import seeds

    for name, count in seeds.write_all().items():
        print(f"{name}: {count} seeds")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the targets and their seed corpora").set_defaults(fn=cmd_list)
    run = sub.add_parser("run", help="fuzz targets for a time budget each")
    run.add_argument("targets", nargs="*")
    run.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", 60)))
    run.add_argument("--workdir", type=Path, default=runner.DEFAULT_WORKDIR)
    run.add_argument("--strict", action="store_true", help="known findings stop a run too")
    run.set_defaults(fn=cmd_run)
    rep = sub.add_parser("replay", help="run the seed corpus (or --paths) through targets")
    rep.add_argument("targets", nargs="*")
    rep.add_argument("--paths", type=Path, nargs="+")
    rep.add_argument("--strict", action="store_true", help="known findings fail too")
    rep.set_defaults(fn=cmd_replay)
    sub.add_parser("seeds", help="rewrite fuzz/corpus from its sources").set_defaults(fn=cmd_seeds)
    args = parser.parse_args(argv)
    code: int = args.fn(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
