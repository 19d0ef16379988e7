"""scripts/license_check.py: SPDX expressions against the allow-list."""

from __future__ import annotations

from email.message import Message
from importlib import metadata
from pathlib import Path

import pytest

from scripts import license_check

ALLOW = {"MIT", "Apache-2.0", "BSD-3-Clause"}


class Dist(metadata.Distribution):
    """A distribution made of metadata headers only."""

    def __init__(self, name: str, **headers: str | list[str]) -> None:
        self._meta = Message()
        self._meta["Name"] = name
        self._meta["Version"] = "1.0"
        for key, value in headers.items():
            for v in value if isinstance(value, list) else [value]:
                self._meta[key.replace("_", "-")] = v

    def read_text(self, filename: str) -> str | None:
        return self._meta.as_string() if filename in ("METADATA", "PKG-INFO") else None

    def locate_file(self, path: str | Path) -> Path:  # type: ignore[override]
        return Path(path)


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("MIT", True),
        ("GPL-3.0-only", False),
        ("MIT OR GPL-3.0-only", True),
        ("MIT AND GPL-3.0-only", False),
        ("(MIT OR GPL-2.0-only) AND Apache-2.0", True),
        ("Apache-2.0 WITH LLVM-exception", True),
        ("LGPL-3.0-or-later WITH GCC-exception-3.1", False),
    ],
)
def test_spdx_expressions(expression: str, ok: bool) -> None:
    assert license_check.allowed(expression, ALLOW) is ok


def test_licenses_are_read_from_expression_then_classifiers_then_the_license_field() -> None:
    assert license_check.license_of(Dist("a", License_Expression="MIT"), ALLOW) == "MIT"
    classifiers = [
        "License :: OSI Approved :: Apache Software License",
        "License :: OSI Approved :: BSD License",
    ]
    dual = Dist("b", Classifier=classifiers)
    assert license_check.license_of(dual, ALLOW) == "Apache-2.0 OR BSD-3-Clause"
    assert license_check.license_of(Dist("c", License="mit"), ALLOW) == "MIT"
    assert license_check.license_of(Dist("d", License="see LICENSE"), ALLOW) is None


def test_unknown_and_disallowed_licenses_fail_unless_reviewed() -> None:
    dists = [
        Dist("fine", License_Expression="MIT"),
        Dist("copyleft", License_Expression="GPL-3.0-only"),
        Dist("silent"),
        Dist("looked-at"),
        Dist("wasmgrid-gateway"),
    ]
    findings = license_check.check(dists, ALLOW, {"looked-at": "BSD per LICENSE"}, "wasmgrid-")
    verdicts = {f.name: (f.ok, f.why) for f in findings}
    assert verdicts == {
        "copyleft": (False, "not on the allow-list"),
        "fine": (True, "allowed"),
        "looked-at": (True, "reviewed: BSD per LICENSE"),
        "silent": (False, "license not in its metadata"),
    }


def test_every_locked_dependency_passes_the_shipped_allow_list(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert license_check.main([]) == 0, capsys.readouterr().out
