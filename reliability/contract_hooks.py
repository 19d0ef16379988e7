"""schemathesis hooks for the contract run: a publish that can succeed.

A publish needs a valid WebAssembly module, an SPDX license and a known category; a
schema can state none of them, so generated publishes were all refused and the stateful
phase never reached a published version (nor what follows one: read it back, download,
yank, unyank, rate). Here every schema-valid upload (raw or multipart) of the fuzzing and
stateful phases carries the hello example's module, a license and a category, so it
publishes; the coverage phase's cases and every negative case go as generated (they
keep testing the refusals). Loaded through ``SCHEMATHESIS_HOOKS`` (reliability/contract.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import schemathesis

#: A real command module (WAGI): a version published from it also runs.
MODULE = (Path(__file__).resolve().parents[1] / "examples/modules/hello/hello.wasm").read_bytes()
PUBLISH = "PUT /v1/modules/{ns}/{name}/{version}"
METADATA = {"license": "MIT", "category": "utilities"}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A schema-valid publish of the fuzzing and stateful phases sends a module that passes."""
    meta = case.meta
    if (
        context.operation is None
        or context.operation.label != PUBLISH
        or meta is None
        or not meta.generation.mode.is_positive
        or meta.phase.name == "coverage"  # its cases are each constraint's edges: sent as made
    ):
        return
    # The module goes in as the transport's own body: schemathesis then knows the generated
    # body was not sent (a body holding bytes would otherwise be re-judged schema-invalid).
    if case.media_type == "application/wasm":
        case.query = {**(case.query or {}), **METADATA}
        kwargs["data"] = MODULE
    elif case.media_type == "multipart/form-data":
        kwargs["files"] = {
            "metadata": (None, json.dumps(METADATA), "application/json"),
            "module": ("module.wasm", MODULE, "application/wasm"),
        }
