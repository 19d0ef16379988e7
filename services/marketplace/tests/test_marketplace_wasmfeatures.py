"""The features a module uses, read from its binary, and the refusal at publish of those
the runtime does not run (the set declared once in wasmgrid.common.wasmfeatures)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import wasmtime

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.common import wasmfeatures
from wasmgrid.marketplace import wasminstr
from wasmgrid.marketplace.validation import ERROR, Policy, validate_module
from wasmgrid.marketplace.wasmbinary import read_module

from .conftest import Market

REPO = Path(__file__).resolve().parents[3]
WAT = REPO / "services/runtime/tests/wat"


def wasm(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def features(text: str) -> set[str]:
    return read_module(wasm(text)).features


def fn(body: str, sig: str = "") -> str:
    return f'(module (memory 1) (func (export "f") {sig} {body}))'


# Each case: a module using one feature where only that feature shows.
TAG_THROW = '(module (tag $e) (func (export "f") (block $h (try_table (catch $e $h) (throw $e)))))'
CALL_REF = (
    "(module (type $t (func)) (func $g (type $t)) (elem declare func $g)"
    ' (func (export "f") (call_ref $t (ref.func $g))))'
)
STRUCT = (
    "(module (type $s (struct (field i32)))"
    ' (func (export "f") (drop (struct.new $s (i32.const 1)))))'
)
ATOMIC = '(module (memory 1 1 shared) (func (export "f") (drop (i32.atomic.load (i32.const 0)))))'
ADD128 = "(drop (drop (i64.add128 (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4))))"
CASES = [
    ("sign-extension", fn("(drop (i32.extend8_s (local.get 0)))", "(param i32)")),
    ("nontrapping-float-to-int", fn("(drop (i32.trunc_sat_f32_s (f32.const 1)))")),
    ("multi-value", fn("(i32.const 1) (i32.const 2)", "(result i32 i32)")),
    ("bulk-memory", fn("(memory.fill (i32.const 0) (i32.const 0) (i32.const 1))")),
    ("reference-types", fn("(drop (ref.is_null (ref.null extern)))")),
    ("simd", fn("(drop (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4)))")),
    ("tail-call", '(module (func $f (export "f") (return_call $f)))'),
    (
        "extended-const",
        '(module (global i32 (i32.add (i32.const 1) (i32.const 2))) (func (export "f")))',
    ),
    ("exceptions", TAG_THROW),
    ("function-references", CALL_REF),
    ("gc", STRUCT),
    ("memory64", '(module (memory i64 1) (func (export "f") (drop (i64.load (i64.const 8)))))'),
    (
        "multi-memory",
        '(module (memory 1) (memory $b 1) (func (export "f") (drop (i32.load $b (i32.const 0)))))',
    ),
    ("relaxed-simd", fn("(drop (i32x4.relaxed_trunc_f32x4_s (v128.const f32x4 1 2 3 4)))")),
    ("threads", ATOMIC),
    ("wide-arithmetic", fn(ADD128)),
    ("legacy-exceptions", '(module (tag $e) (func (export "f") try (throw $e) catch $e end))'),
]
# Features that come with the one under test (GC types use typed references, ...).
ALSO = {
    "exceptions": set(),
    "function-references": {"reference-types"},  # the declarative element segment
    "gc": set(),
    "relaxed-simd": {"simd"},
    "memory64": set(),
    "multi-memory": set(),
    "threads": set(),
    "legacy-exceptions": {"exceptions"},  # its tag and throw are the standard ones
}


@pytest.mark.parametrize(("feature", "text"), CASES, ids=[c[0] for c in CASES])
def test_each_feature_is_read_from_the_binary(feature: str, text: str) -> None:
    info = read_module(wasm(text))
    assert info.features - ALSO.get(feature, set()) == {feature}
    assert info.code_scanned == info.code_bytes > 0
    assert feature in wasmfeatures.BY_NAME


def test_feature_bytes_inside_immediates_are_not_features() -> None:
    # 0xFB (GC), 0xFD (SIMD), 0xFE (atomics), 0x08 (throw) and 0xC0 (extend) appear only
    # inside constants and offsets here: a byte search would find five features.
    text = fn(
        "(drop (i32.const 0x7efbfd)) (drop (i64.const -0x3f01020408))"
        " (drop (i32.load offset=0xfefd (i32.const 0xc0)))"
        " (drop (f64.const 0x1.fbfdfe08c0p+3))"
    )
    assert features(text) == set()


def test_a_feature_found_late_in_a_body_and_again_later_is_decoded_in_step() -> None:
    # The second sign extension and everything after it are matched by the rebuilt
    # expression; the SIMD op after them must still be found.
    body = " ".join(["(drop (i32.add (local.get 0) (i32.const 300)))"] * 50)
    text = fn(
        f"{body} (drop (i32.extend8_s (local.get 0))) {body}"
        " (drop (i32.extend16_s (local.get 0)))"
        " (drop (i32x4.extract_lane 1 (i32x4.splat (local.get 0))))",
        "(param i32)",
    )
    assert features(text) == {"sign-extension", "simd"}


def _slow(data: bytes) -> set[str]:
    """Features with every instruction decoded by the Python decoder alone."""
    saved = wasminstr._run_pattern
    wasminstr._run_pattern = lambda known: lambda data, pos, end: None  # type: ignore[assignment]
    try:
        return read_module(data).features
    finally:
        wasminstr._run_pattern = saved


def _corpus() -> list[bytes]:
    out = [wasm(text) for _, text in CASES]
    out += [wasm(p.read_text()) for p in sorted(WAT.rglob("*.wat")) if "custom_page" not in p.name]
    out += [(REPO / f"examples/modules/{m}/{m}.wasm").read_bytes() for m in ("hello", "mathfn")]
    return out


def test_the_fast_path_finds_exactly_what_the_instruction_decoder_finds() -> None:
    for data in _corpus():
        fast = read_module(data)
        assert fast.code_scanned == fast.code_bytes
        assert fast.features == _slow(data)


def test_every_feature_the_reader_reports_is_declared() -> None:
    for data in _corpus():
        assert read_module(data).features <= wasmfeatures.BY_NAME.keys()


def test_webassembly_3_modules_are_valid_and_list_their_features() -> None:
    exceptions = validate_module(wasm((WAT / "wasm3/exceptions.wat").read_text()), Policy())
    assert exceptions.valid
    assert exceptions.kind == "command"
    assert "exceptions" in exceptions.features
    gc = validate_module(wasm((WAT / "wasm3/gc.wat").read_text()), Policy())
    assert gc.valid
    assert {"gc", "function-references"} <= set(gc.features)


@pytest.mark.parametrize("feature", ["threads", "legacy-exceptions", "wide-arithmetic"])
def test_a_feature_the_runtime_does_not_run_is_refused_naming_it(feature: str) -> None:
    text = dict(CASES)[feature]
    report = validate_module(wasm(text), Policy())
    assert not report.valid
    unsupported = [f for f in report.errors if f.code == "feature.unsupported"]
    assert [f.message for f in unsupported] == [
        f"uses {feature}, which the runtime does not run: {wasmfeatures.BY_NAME[feature].reason}"
    ]


def test_more_memories_than_the_runtime_runs_are_refused() -> None:
    n = wasmfeatures.MAX_MEMORIES + 1
    text = "(module " + "(memory 1 1) " * n + '(func (export "f")))'
    report = validate_module(wasm(text), Policy())
    assert [f.message for f in report.errors if f.code == "memory.too_many"] == [
        f"module has {n} memories; the runtime runs at most {wasmfeatures.MAX_MEMORIES}"
    ]


def test_decoding_past_its_time_budget_says_how_much_was_decoded() -> None:
    data = wasm(fn("(drop (i32.extend8_s (i32.const 1)))"))
    partial = read_module(data, scan_seconds=0)
    assert partial.code_scanned == 0 < partial.code_bytes
    assert partial.features == set()
    report = validate_module(data, Policy())
    assert report.valid
    assert report.features == ["sign-extension"]


async def test_publish_lists_features_and_refuses_naming_the_feature(market: Market) -> None:
    bob = await market.user("bob")
    eh = wasm((WAT / "wasm3/exceptions.wat").read_text())
    published = await market.publish(bob, "bob/eh", "1.0.0", eh)
    assert "exceptions" in published.version.validation.features
    got = await market.stub.GetVersion(pb.GetVersionRequest(name="bob/eh", version="1.0.0"))
    assert list(got.version.validation.features) == sorted(published.version.validation.features)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await market.publish(bob, "bob/threads", "1.0.0", wasm(dict(CASES)["threads"]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = err.value.details() or ""
    assert "[feature.unsupported] uses threads, which the runtime does not run" in details
    assert ERROR == "error"
