"""A scenario's result row, the table `make reliability` prints, its JSON and the README copy."""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import Table, percentile
from reliability.client import Answer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "reliability" / "results"
README = ROOT / "README.md"
BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"
MAX_FAILURES = 500


@dataclass
class Row:
    """What clients saw in one scenario, counted, and whether the issue's target is met."""

    scenario: str
    offered: int = 0
    #: Requests not refused (answers other than 429 and 503).
    admitted: int = 0
    #: Every answer that was not a correct success, by kind.
    errors: dict[str, int] = field(default_factory=dict)
    #: Acknowledged publishes absent or altered, half-written ones, wrong answers.
    lost: int = 0
    #: p99 of the successful answers, ms.
    p99_ms: float | None = None
    #: From the fault's end to the last failure it caused; None: still failing at the end.
    recovery_s: float | None = None
    #: False for a scenario that injects no fault (the contract): no recovery to time.
    faulted: bool = True
    target: str = ""
    met: bool = False
    #: Why the target is not met, or what else was measured.
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    #: When the fault began, was healed and the traffic stopped (seconds into the scenario).
    marks: dict[str, float] = field(default_factory=dict)
    #: The failed answers (op, sent, latency s, kind, detail): the first and the last
    #: ``MAX_FAILURES / 2``, to read a scenario's story from its JSON.
    failures: list[tuple[str, float, float, str, str]] = field(default_factory=list)

    def count(self, answers: Sequence[Answer]) -> None:
        """Offered, admitted, errors by kind, wrong answers and p99 from `answers`."""
        self.offered += len(answers)
        self.admitted += sum(1 for a in answers if not a.refused)
        errors = Counter(self.errors)
        errors.update(f"{a.op} {a.kind}" for a in answers if not a.ok)
        self.errors = dict(errors.most_common())
        self.lost += sum(1 for a in answers if a.kind == "wrong")
        failed = [a for a in answers if not a.ok]
        if len(failed) > MAX_FAILURES:
            failed = failed[: MAX_FAILURES // 2] + failed[-MAX_FAILURES // 2 :]
        self.failures = [
            (a.op, round(a.sent, 3), round(a.latency, 3), a.kind, a.detail) for a in failed
        ]
        ok = sorted(a.latency for a in answers if a.ok)
        self.p99_ms = round(percentile(ok, 0.99) * 1e3, 1) if ok else None


def recovery(
    answers: Iterable[Answer], healed: float, end: float, settle: float = 2.0
) -> float | None:
    """Seconds from `healed` until the last failure of the answers sent after it.

    None when failures go on into the last `settle` seconds of the run (not recovered).
    """
    last = None
    for a in answers:
        if a.sent >= healed and not a.ok:
            done = a.sent + a.latency
            last = done if last is None else max(last, done)
    if last is None:
        return 0.0
    if last > end - settle:
        return None
    return round(last - healed, 2)


def first_failure(answers: Iterable[Answer], start: float) -> float | None:
    """Seconds from `start` until the first failed answer sent after it; None if none."""
    times = [a.sent for a in answers if a.sent >= start and not a.ok]
    return round(min(times) - start, 2) if times else None


def _errors(errors: dict[str, int], limit: int = 4) -> str:
    if not errors:
        return "none"
    items = list(errors.items())
    shown = ", ".join(f"{kind} ×{n:,}" for kind, n in items[:limit])
    return shown + (f", +{len(items) - limit} kinds" if len(items) > limit else "")


def table(rows: Sequence[Row]) -> Table:
    """The one table of `make reliability`."""
    t = Table(
        "reliability",
        [
            "scenario",
            "offered",
            "admitted",
            "errors by kind",
            "lost",
            "p99 ms",
            "recovery s",
            "target",
        ],
    )
    for r in rows:
        t.add(
            r.scenario,
            f"{r.offered:,}",
            f"{r.admitted:,}",
            _errors(r.errors),
            r.lost,
            "-" if r.p99_ms is None else f"{r.p99_ms:,.1f}",
            _recovery(r),
            "met" if r.met else "NOT MET",
        )
    return t


def _recovery(row: Row) -> str:
    if not row.faulted:
        return "-"
    return "not recovered" if row.recovery_s is None else f"{row.recovery_s:.1f}"


def notes(rows: Sequence[Row]) -> str:
    """One line per scenario: its target, and why it is not met or what else was seen."""
    out = []
    for r in rows:
        verdict = "met" if r.met else "NOT MET"
        out.append(
            f"- **{r.scenario}** ({verdict}): {r.target}"
            + "".join(f" {n}" if n.endswith(".") else f" {n}." for n in r.notes)
        )
    return "\n".join(out)


def save(rows: Sequence[Row], fuzz: list[dict[str, Any]] | None, extra: dict[str, Any]) -> Path:
    """Write ``reliability/results/reliability-<time>.json`` and ``latest.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    doc = {
        "time": stamp,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows": [asdict(r) for r in rows],
        "fuzz": fuzz,
        **extra,
    }
    text = json.dumps(doc, indent=2, default=str) + "\n"
    path = RESULTS / f"reliability-{stamp}.json"
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return path


def update_readme(section: str, readme: Path = README) -> bool:
    """Replace what stands between the README's reliability markers; False if none."""
    text = readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        return False
    readme.write_text(pattern.sub(lambda _: f"{BEGIN}\n{section.strip()}\n{END}", text))
    return True
