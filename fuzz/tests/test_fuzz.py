"""The fuzz smoke of `make test`: seeds replayed, known findings pinned, short real runs.

`make reliability` fuzzes each target for minutes; here every target gets a few seconds
(``FUZZ_SMOKE_SECONDS``, default 3) of real libFuzzer, enough to catch a target that no
longer starts, a parser change that breaks on its own seeds, or a shallow new crash.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import pytest

from fuzz import known, runner, targets
from fuzz.oracle import Violation

SMOKE_SECONDS = float(os.environ.get("FUZZ_SMOKE_SECONDS", "3"))
ROOT = targets.FUZZ_DIR.parent
RUNNABLE = [t.name for t in targets.runnable()]


@pytest.mark.parametrize("name", RUNNABLE)
def test_every_seed_passes_its_target_strictly(name: str) -> None:
    target = targets.get(name)
    result = runner.replay(target, strict=True)
    assert result.inputs >= 5, f"{name} has {result.inputs} seeds"
    assert [(p.name, repr(e)) for p, e in result.failures] == []


@pytest.mark.parametrize("finding", known.KNOWN, ids=[k.id for k in known.KNOWN])
def test_each_known_finding_reproduces_and_is_recognised_as_itself(
    finding: known.KnownFinding,
) -> None:
    check = targets.get(finding.target).check()
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the finding classifies it
        check(finding.reproducer)
    assert known.classify(finding.target, caught.value) is finding, repr(caught.value)


@pytest.mark.parametrize("finding", known.KNOWN, ids=[k.id for k in known.KNOWN])
def test_each_known_finding_names_an_existing_strict_xfail_test(
    finding: known.KnownFinding,
) -> None:
    path, _, name = finding.regression.partition("::")
    tree = ast.parse((ROOT / path).read_text())
    tests = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert name in tests, f"{finding.regression} does not exist"
    markers = [ast.unparse(d) for d in tests[name].decorator_list]
    assert any("xfail" in m and "strict=True" in m and finding.id in m for m in markers), markers


def test_a_finding_the_oracle_does_not_know_is_not_tolerated() -> None:
    assert known.classify("cgi", Violation("cgi.status", "status 42")) is None
    assert known.classify("cgi", KeyError("x")) is None
    assert known.classify("semver", AssertionError("not from semver.py")) is None


@pytest.mark.integration
@pytest.mark.parametrize("name", RUNNABLE)
def test_a_short_fuzz_run_finds_nothing_new(name: str, tmp_path: Path) -> None:
    result = runner.run(targets.get(name), SMOKE_SECONDS, tmp_path)
    log = (tmp_path / name / "fuzz.log").read_text(errors="replace")
    assert result.ok, f"{result.crash_summary}\n{log[-3000:]}"
    assert result.runs > 0, log[-3000:]
    assert result.coverage > 0


@pytest.mark.integration
def test_a_crash_stops_a_strict_run_with_its_input_and_a_known_one_is_counted_otherwise(
    tmp_path: Path,
) -> None:
    finding = next((k for k in known.KNOWN if k.target in ("cgi", "semver")), None)
    if finding is None:
        pytest.skip("no known cgi or semver finding left to crash on")
    target = targets.get(finding.target)
    for mode in ("strict", "lenient"):
        work = tmp_path / mode
        (work / target.name / "corpus").mkdir(parents=True)
        (work / target.name / "corpus" / "known").write_bytes(finding.reproducer)
        result = runner.run(target, 2, work, strict=mode == "strict")
        if mode == "strict":
            assert not result.ok
            assert len(result.crashes) == 1
            assert Path(result.crashes[0]).read_bytes() == finding.reproducer
            assert result.crash_summary
        else:
            assert result.ok, result.crash_summary
            assert result.known.get(finding.id, 0) >= 1
    shutil.rmtree(tmp_path, ignore_errors=True)
