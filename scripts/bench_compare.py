"""Compare a benchmark run (bench/results/*.json) with the stored reference; fail on a regression.

    make bench && make bench-compare                       # the gate
    .venv/bin/python scripts/bench_compare.py --update     # adopt this run as the reference

Only same-run ratios are compared (a service against the floor measured beside it, in
the same process tree and minute): absolute numbers on a shared or cloud machine drift
far more than any regression worth catching. Each measure in bench/reference.json names
its file, a path to the value (a list is reduced to its median), optionally a path to
divide by, which direction is better, the reference value and a tolerance. A measure
fails when it is worse than the reference by more than its tolerance:
higher-is-better below ``reference x (1 - tolerance)``, lower-is-better above
``reference x (1 + tolerance)``. A missing result file or value is a failure too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench/results"
REFERENCE = ROOT / "bench/reference.json"


class CompareError(ValueError):
    """A measure or a result cannot be read."""


@dataclass(frozen=True)
class Outcome:
    """One measure compared."""

    name: str
    value: float
    reference: float
    limit: float
    higher_is_better: bool

    @property
    def ok(self) -> bool:
        """Whether the value is within the tolerance."""
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def line(self) -> str:
        """One line of the report."""
        change = (self.value / self.reference - 1) * 100 if self.reference else 0.0
        bound = ">=" if self.higher_is_better else "<="
        verdict = "ok  " if self.ok else "FAIL"
        return (
            f"{verdict} {self.name}: {self.value:.3f} (reference {self.reference:.3f},"
            f" {change:+.0f}%; must be {bound} {self.limit:.3f})"
        )


def lookup(doc: Any, path: str, where: str) -> float:
    """The number at dotted `path` in `doc`; a list of numbers gives its median."""
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise CompareError(f"{where}: no value at {path!r}")
        node = node[part]
    if isinstance(node, list) and node and all(isinstance(v, int | float) for v in node):
        return float(statistics.median(node))
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise CompareError(f"{where}: {path!r} is {node!r}, not a number")
    return float(node)


def measure_value(measure: dict[str, Any], results: Path) -> float:
    """The current value of one measure from the result files."""
    path = results / f"{measure['file']}.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise CompareError(f"{path} is missing: run make bench first") from None
    except json.JSONDecodeError as exc:
        raise CompareError(f"{path}: not JSON ({exc})") from None
    value = lookup(doc, measure["value"], path.name)
    if "over" in measure:
        floor = lookup(doc, measure["over"], path.name)
        if floor <= 0:
            raise CompareError(f"{path.name}: {measure['over']!r} is {floor}, cannot divide")
        value /= floor
    return value


def compare(reference: dict[str, Any], results: Path) -> tuple[list[Outcome], list[str]]:
    """Every measure's outcome, and the errors of measures that could not be read."""
    default = float(reference.get("tolerance", 0.3))
    outcomes, errors = [], []
    for m in reference["measures"]:
        higher = m["better"] == "higher"
        tolerance = float(m.get("tolerance", default))
        ref = float(m["reference"])
        limit = ref * (1 - tolerance) if higher else ref * (1 + tolerance)
        try:
            value = measure_value(m, results)
        except CompareError as exc:
            errors.append(f"FAIL {m['name']}: {exc}")
            continue
        outcomes.append(Outcome(m["name"], value, ref, limit, higher))
    return outcomes, errors


def main(argv: list[str] | None = None) -> int:
    """Print one line per measure; exit 1 on any regression or unreadable measure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--update", action="store_true", help="store this run as the reference")
    args = parser.parse_args(argv)
    reference = json.loads(args.reference.read_text())
    if args.update:
        for m in reference["measures"]:
            m["reference"] = round(measure_value(m, args.results), 4)
        args.reference.write_text(json.dumps(reference, indent=2) + "\n")
        print(f"updated {args.reference}")
        return 0
    outcomes, errors = compare(reference, args.results)
    for line in [o.line() for o in outcomes] + errors:
        print(line)
    regressions = [o for o in outcomes if not o.ok]
    failed = len(regressions) + len(errors)
    print(f"{len(outcomes) - len(regressions)} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
