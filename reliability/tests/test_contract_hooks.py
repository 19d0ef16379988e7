"""The contract run's hook: which generated publishes carry a module that passes."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from schemathesis.generation import GenerationMode

from reliability import contract_hooks
from reliability.contract_hooks import METADATA, MODULE, PUBLISH, before_call


def _case(media_type: str, mode: GenerationMode, phase: str = "fuzzing") -> Any:
    meta = SimpleNamespace(generation=SimpleNamespace(mode=mode), phase=SimpleNamespace(name=phase))
    return SimpleNamespace(media_type=media_type, meta=meta, query={"tag": "x"})


def _context(label: str = PUBLISH) -> Any:
    return SimpleNamespace(operation=SimpleNamespace(label=label))


def test_the_module_is_a_real_wasm_binary() -> None:
    assert MODULE[:8] == b"\0asm\x01\0\0\0"


def test_a_valid_raw_publish_sends_the_module_with_a_license_and_a_category() -> None:
    case = _case("application/wasm", GenerationMode.POSITIVE)
    kwargs: dict[str, Any] = {}
    before_call(_context(), case, kwargs)
    assert kwargs == {"data": MODULE}
    assert case.query == {"tag": "x", **METADATA}


def test_a_valid_multipart_publish_sends_the_metadata_part_first() -> None:
    kwargs: dict[str, Any] = {}
    before_call(_context(), _case("multipart/form-data", GenerationMode.POSITIVE), kwargs)
    assert list(kwargs["files"]) == ["metadata", "module"]
    assert json.loads(kwargs["files"]["metadata"][1]) == METADATA
    assert kwargs["files"]["module"][1] == MODULE


@pytest.mark.parametrize(
    ("label", "media_type", "mode", "phase"),
    [
        (PUBLISH, "application/wasm", GenerationMode.NEGATIVE, "fuzzing"),
        (PUBLISH, "application/wasm", GenerationMode.POSITIVE, "coverage"),
        (PUBLISH, "text/plain", GenerationMode.POSITIVE, "fuzzing"),
        ("GET /v1/modules", "application/wasm", GenerationMode.POSITIVE, "fuzzing"),
    ],
)
def test_negative_coverage_and_other_cases_go_as_generated(
    label: str, media_type: str, mode: GenerationMode, phase: str
) -> None:
    case = _case(media_type, mode, phase)
    kwargs: dict[str, Any] = {}
    before_call(_context(label), case, kwargs)
    assert kwargs == {}
    assert case.query == {"tag": "x"}


def test_the_hook_is_registered_with_schemathesis() -> None:
    import schemathesis.hooks

    registered = schemathesis.hooks.GLOBAL_HOOK_DISPATCHER.get_all_by_name("before_call")
    assert contract_hooks.before_call in registered
