"""Line coverage per workspace package from the data `make test` collected.

Combines the data files of every process the tests ran (the test process, and the
services and workers it started), prints one row per package and the total, and exits
1 when the total is below ``--fail-under`` (CI sets 90; 0 only reports).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import defaultdict
from pathlib import Path

import coverage
from coverage.exceptions import NoDataError

ROOT = Path(__file__).resolve().parent.parent
#: Row names for packages whose own name says less than it could.
LABELS = {"common": "common (kit)", "client": "client (SDK)"}


def package_of(path: Path) -> str | None:
    """The package a measured file belongs to (``libs|services/<member>/src/wasmgrid/
    <package>/…``), or None when it is none of ours."""
    try:
        parts = path.relative_to(ROOT).parts
    except ValueError:
        return None
    if len(parts) < 6 or parts[0] not in ("libs", "services") or parts[2:4] != ("src", "wasmgrid"):
        return None
    if path.suffix != ".py":  # Jinja2 templates run under their own file names
        return None
    return LABELS.get(parts[4], parts[4])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fail-under", type=float, default=0.0, help="total %% required")
    args = parser.parse_args()
    cov = coverage.Coverage(config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    with contextlib.suppress(NoDataError):  # raised when no other process wrote any
        cov.combine()  # the other processes' data files, into the test process's
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
    width = max(len(n) for n in totals)
    print(f"\n{'package':<{width}}  {'lines':>7}  {'covered':>7}  {'cover':>6}")
    for name in sorted(totals):
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
