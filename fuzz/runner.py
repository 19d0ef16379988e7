"""Running the targets: time-bounded libFuzzer runs in a child process, and corpus replay.

A run works in ``<workdir>/<target>/``: ``corpus/`` (what libFuzzer adds; it grows
from run to run), ``crashes/`` (inputs that failed), ``known.json`` (counts of known
findings met) and ``fuzz.log`` (libFuzzer's output). The committed seed corpus is
passed second, so libFuzzer reads it and never writes there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fuzz import known
from fuzz.targets import FUZZ_DIR, Target

ROOT = FUZZ_DIR.parent
DEFAULT_WORKDIR = ROOT / "reliability" / "results" / "fuzz"
#: libFuzzer's limit on one input: longer is a hang (a finding).
INPUT_TIMEOUT_SECONDS = 10
#: Start-up and corpus loading on top of the time budget, before the run counts as stuck.
STARTUP_ALLOWANCE_SECONDS = 180

_FINAL = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_STATUS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_RUNS = re.compile(r"stat::number_of_executed_units: (\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")
_EXCEPTION = re.compile(r"=== Uncaught Python exception: ===\n(.*?)\n==\d+== ERROR", re.S)


@dataclass
class FuzzResult:
    """What one time-bounded run of a target did and found."""

    target: str
    budget_seconds: float
    elapsed_seconds: float
    runs: int = 0
    coverage: int = 0
    features: int = 0
    corpus: int = 0
    exit_code: int = 0
    crashes: list[str] = field(default_factory=list)
    #: The exception (or libFuzzer's error) of the first crash, for the report.
    crash_summary: str = ""
    #: Known findings met: id → count.
    known: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No new finding: a clean exit and no crash input written."""
        return self.exit_code == 0 and not self.crashes

    @property
    def execs_per_second(self) -> float:
        return self.runs / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


def command(target: Target, seconds: float, work: Path, *, strict: bool) -> list[str]:
    """The child process's command line for a run of `target`."""
    return [
        sys.executable,
        "-m",
        "fuzz.entry",
        target.name,
        "--known-log",
        str(work / "known.json"),
        *(["--strict"] if strict else []),
        "--",
        f"-max_total_time={max(1, round(seconds))}",
        f"-max_len={target.max_len}",
        f"-timeout={INPUT_TIMEOUT_SECONDS}",
        f"-artifact_prefix={work / 'crashes'}/",
        "-print_final_stats=1",
        str(work / "corpus"),
        str(target.corpus),
    ]


def run(
    target: Target, seconds: float, workdir: Path = DEFAULT_WORKDIR, *, strict: bool = False
) -> FuzzResult:
    """Fuzz `target` for `seconds` in a child process; parse what libFuzzer reports."""
    work = workdir / target.name
    (work / "corpus").mkdir(parents=True, exist_ok=True)
    (work / "crashes").mkdir(exist_ok=True)
    (work / "known.json").unlink(missing_ok=True)
    log = work / "fuzz.log"
    began = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            command(target, seconds, work, strict=strict),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Without coverage.py's subprocess measurement (`make test` sets it up): its
            # tracer would slow libFuzzer's loop, whose own coverage guides the run.
            env={k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")},
        )
        try:
            code = proc.wait(seconds + STARTUP_ALLOWANCE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = -9
    result = parse(target.name, seconds, time.monotonic() - began, log.read_text(errors="replace"))
    result.exit_code = code
    if code == -9:
        result.crash_summary = result.crash_summary or "the fuzzer did not stop within its budget"
    result.corpus = sum(1 for p in (work / "corpus").iterdir() if p.is_file())
    try:
        result.known = json.loads((work / "known.json").read_text())
    except (FileNotFoundError, ValueError):
        result.known = {}
    return result


def parse(target: str, budget: float, elapsed: float, output: str) -> FuzzResult:
    """A result from libFuzzer's output (its status lines, final stats and artifacts)."""
    result = FuzzResult(target, budget, elapsed)
    status = _FINAL.findall(output) or _STATUS.findall(output)
    if status:
        runs, cov, ft, _ = status[-1]
        result.runs, result.coverage, result.features = int(runs), int(cov), int(ft)
    if m := _RUNS.search(output):
        result.runs = int(m.group(1))
    result.crashes = _ARTIFACT.findall(output)
    if m := _EXCEPTION.search(output):
        lines = [line for line in m.group(1).strip().splitlines() if line.strip()]
        result.crash_summary = lines[-1] if lines else ""
    elif "ERROR: libFuzzer:" in output:
        line = next(li for li in output.splitlines() if "ERROR: libFuzzer:" in li)
        result.crash_summary = line.split("ERROR: ", 1)[1]
    return result


@dataclass
class Replay:
    """Every input of a corpus through a target, in this process."""

    target: str
    inputs: int = 0
    #: (file, exception) of each input that failed and is no known finding.
    failures: list[tuple[Path, BaseException]] = field(default_factory=list)
    known: dict[str, int] = field(default_factory=dict)


def replay(target: Target, paths: list[Path] | None = None, *, strict: bool = False) -> Replay:
    """Run every file under `paths` (default: the seed corpus) through the target."""
    check = target.check()
    result = Replay(target.name)
    files = sorted(
        p
        for root in (paths or [target.corpus])
        for p in (root.rglob("*") if root.is_dir() else [root])
        if p.is_file()
    )
    for path in files:
        result.inputs += 1
        try:
            check(path.read_bytes())
        except Exception as exc:
            finding = None if strict else known.classify(target.name, exc)
            if finding is None:
                result.failures.append((path, exc))
            else:
                result.known[finding.id] = result.known.get(finding.id, 0) + 1
    return result
