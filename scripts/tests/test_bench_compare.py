"""scripts/bench_compare.py: the benchmark regression gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts import bench_compare

REFERENCE: dict[str, Any] = {
    "tolerance": 0.25,
    "measures": [
        {
            "name": "invoke / echo",
            "file": "gateway",
            "value": "invoke.calls_per_s",
            "over": "echo.calls_per_s",
            "better": "higher",
            "reference": 0.5,
        },
        {
            "name": "overhead",
            "file": "runtime",
            "value": "overhead.hello",
            "better": "lower",
            "reference": 1.2,
            "tolerance": 0.5,
        },
        {
            "name": "rounds",
            "file": "cache",
            "value": "get_vs_echo",
            "better": "higher",
            "reference": 1.0,
        },
    ],
}


def write(tmp_path: Path, invoke: float, overhead: float, rounds: list[float]) -> tuple[Path, Path]:
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    (results / "gateway.json").write_text(
        json.dumps({"invoke": {"calls_per_s": invoke}, "echo": {"calls_per_s": 1000.0}})
    )
    (results / "runtime.json").write_text(json.dumps({"overhead": {"hello": overhead}}))
    (results / "cache.json").write_text(json.dumps({"get_vs_echo": rounds}))
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps(REFERENCE))
    return results, reference


def gate(results: Path, reference: Path, *extra: str) -> int:
    return bench_compare.main(["--results", str(results), "--reference", str(reference), *extra])


def test_a_run_within_the_tolerances_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 0.4 is 20% under 0.5 (tolerance 25%); 1.7 is 42% over 1.2 (tolerance 50%).
    assert gate(*write(tmp_path, 400.0, 1.7, [0.9, 0.8, 3.0])) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 passed, 0 failed"


def test_a_ratio_worse_than_its_tolerance_fails_and_says_by_how_much(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate(*write(tmp_path, 370.0, 1.9, [1.0])) == 1
    out = capsys.readouterr().out
    assert "FAIL invoke / echo: 0.370 (reference 0.500, -26%; must be >= 0.375)" in out
    assert "FAIL overhead: 1.900 (reference 1.200, +58%; must be <= 1.800)" in out
    assert out.splitlines()[-1] == "1 passed, 2 failed"


def test_a_list_of_rounds_is_judged_by_its_median(tmp_path: Path) -> None:
    # One bad round out of three does not fail the gate; a bad median does.
    assert gate(*write(tmp_path, 500.0, 1.0, [0.1, 0.9, 1.1])) == 0
    assert gate(*write(tmp_path, 500.0, 1.0, [0.1, 0.7, 1.1])) == 1


def test_a_missing_result_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results, reference = write(tmp_path, 500.0, 1.0, [1.0])
    (results / "cache.json").unlink()
    assert gate(results, reference) == 1
    assert "cache.json is missing: run make bench first" in capsys.readouterr().out


def test_update_stores_this_run_as_the_reference(tmp_path: Path) -> None:
    results, reference = write(tmp_path, 300.0, 2.0, [0.5])
    assert gate(results, reference, "--update") == 0
    stored = json.loads(reference.read_text())
    assert [m["reference"] for m in stored["measures"]] == [0.3, 2.0, 0.5]
    assert stored["measures"][1]["tolerance"] == 0.5
    assert gate(results, reference) == 0


def test_the_stored_reference_names_results_the_benchmarks_write() -> None:
    """Every measure's file is a benchmark that exists and saves under that name."""
    root = Path(__file__).resolve().parents[2]
    reference = json.loads((root / "bench/reference.json").read_text())
    for m in reference["measures"]:
        source = (root / f"bench/bench_{m['file']}.py").read_text()
        assert f'"{m["file"]}"' in source or f"'{m['file']}'" in source, m["name"]
        assert m["better"] in ("higher", "lower")
        assert 0 < float(m.get("tolerance", reference["tolerance"])) < 1
