"""Fuzz target: publish-time validation and scan of a module (`validate_module`).

Properties, beyond never raising (every input gets a report):

- ``validation.valid-flag``: the report is valid exactly when it has no error finding.
- ``validation.size``: the report's size is the input's.
- ``validation.json-round-trip``: the report survives JSON (it is stored as jsonb and
  read back for GetVersion).
- ``validation.nul-in-report``: no string in it holds U+0000, which PostgreSQL text and
  jsonb refuse: the publish would fail in the database instead of being answered.
- ``scanner.refuses-valid-module``: when wasmtime (under the runtime's features) accepts
  the module, the reader must walk it too; otherwise a module the runtime would run is
  refused as malformed.
"""

from __future__ import annotations

import json

import wasmtime

from fuzz.oracle import require
from wasmgrid.common import wasmfeatures
from wasmgrid.marketplace.validation import Policy, Report, validate_module

POLICY = Policy()


def _engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    wasmfeatures.configure(config)
    return wasmtime.Engine(config)


ENGINE = _engine()


def _wasmtime_accepts(data: bytes) -> bool:
    try:
        wasmtime.Module.validate(ENGINE, data)
    except wasmtime.WasmtimeError:
        return False
    return True


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_nul(v) for v in value.values())
    return False


def check(data: bytes) -> None:
    """Validate `data` as a publish does and check the report's properties."""
    report = validate_module(data, POLICY)
    require(
        report.valid == (not report.errors),
        "validation.valid-flag",
        f"valid={report.valid} with errors {[f.code for f in report.errors]}",
    )
    require(report.size_bytes == len(data), "validation.size", f"{report.size_bytes}")
    text = json.dumps(report.to_dict())
    require(
        Report.from_dict(json.loads(text)) == report,
        "validation.json-round-trip",
        "the report read back from JSON differs",
    )
    require(not _holds_nul(report.to_dict()), "validation.nul-in-report", "a string holds U+0000")
    if any(f.code == "wasm.malformed" for f in report.findings):
        require(
            not _wasmtime_accepts(data),
            "scanner.refuses-valid-module",
            f"wasmtime accepts it, the reader refuses: {report.findings[0].message}",
        )
