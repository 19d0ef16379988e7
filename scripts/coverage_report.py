"""Line coverage per workspace package from the data `make test` collected.

Combines the data files of every process the tests ran (the test process, and the
services and workers it started), prints one row per package and the total, and exits
1 when the total is below ``--fail-under`` (CI sets 90; 0 only reports).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import coverage
from coverage.exceptions import NoDataError

ROOT = Path(__file__).resolve().parent.parent
#: Folder of each package's sources → the name its row carries.
PACKAGES = {
    "libs/common/src/wasmgrid/common": "common (kit)",
    "libs/client/src/wasmgrid/client": "client (SDK)",
    "libs/client/src/wasmgrid/cli": "cli",
    "services/gateway/src/wasmgrid/gateway": "gateway",
    "services/runtime/src/wasmgrid/runtime": "runtime",
    "services/marketplace/src/wasmgrid/marketplace": "marketplace",
    "services/cache/src/wasmgrid/cache": "cache",
    "services/monitor/src/wasmgrid/monitor": "monitor",
}


def package_of(path: Path) -> str | None:
    """The package a measured file belongs to, or None when it is none of ours."""
    for folder, name in PACKAGES.items():
        if path.is_relative_to(ROOT / folder):
            return name
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fail-under", type=float, default=0.0, help="total %% required")
    args = parser.parse_args()
    cov = coverage.Coverage(config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    try:
        cov.combine()  # the other processes' data files, into the test process's
    except NoDataError:
        pass  # no other process wrote any
    cov.save()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    try:
        measured = cov.get_data().measured_files()
    except NoDataError:
        measured = set()
    for filename in sorted(measured):
        package = package_of(Path(filename).resolve())
        if package is None:
            continue
        _, statements, _, missing, _ = cov.analysis2(filename)
        totals[package][0] += len(statements)
        totals[package][1] += len(statements) - len(missing)
    if not totals:
        print("coverage: no data (run the tests with `make test`)", file=sys.stderr)
        return 1
    width = max(len(n) for n in PACKAGES.values())
    print(f"\n{'package':<{width}}  {'lines':>7}  {'covered':>7}  {'cover':>6}")
    for name in PACKAGES.values():
        if name in totals:
            lines, covered = totals[name]
            print(f"{name:<{width}}  {lines:>7}  {covered:>7}  {100 * covered / lines:>5.1f}%")
    lines = sum(t[0] for t in totals.values())
    covered = sum(t[1] for t in totals.values())
    percent = 100 * covered / lines
    print(f"{'total':<{width}}  {lines:>7}  {covered:>7}  {percent:>5.1f}%")
    if percent < args.fail_under:
        print(f"coverage {percent:.1f}% is below the floor of {args.fail_under:g}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
