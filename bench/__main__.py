"""Run every benchmark (`python -m bench`) or the named ones (`python -m bench cache runtime`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    wanted = sys.argv[1:] or ["baseline", *[n for n in available if n != "baseline"]]
    unknown = [n for n in wanted if n not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    failed = []
    for name in wanted:
        print(f"\n=== bench {name} ===", flush=True)
        rc = subprocess.run(
            [sys.executable, "-m", f"bench.bench_{name}"], cwd=HERE.parent
        ).returncode
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks failed: {failed}", file=sys.stderr)
        return 1
    print("\nresults written to bench/results/*.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
