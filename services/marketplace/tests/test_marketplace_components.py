"""Components (WASI 0.2) at publish: told from core modules by the header, validated by
wasm-tools, their world stored with WIT types, their imports checked against what the
runtime links."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import wasmtime

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.marketplace import components
from wasmgrid.marketplace.validation import Policy, validate_module
from wasmgrid.runtime.testing import example_component

from .conftest import Market

ROOT = Path(__file__).resolve().parents[3]


def component(imports: str = "", exports: str = "") -> bytes:
    """A small component in the text format: `imports` and an exported function."""
    return bytes(
        wasmtime.wat2wasm(
            f"""(component
  {imports}
  (core module $m (func (export "f") (result i32) i32.const 7))
  (core instance $i (instantiate $m))
  (func $f (result u32) (canon lift (core func $i "f")))
  {exports or '(export "seven" (func $f))'}
)"""
        )
    )


def test_a_component_is_told_from_a_module_and_its_world_read() -> None:
    report = validate_module(example_component(ROOT, "wagi-echo"), Policy())
    assert (report.valid, report.kind, report.validator, report.findings) == (
        True,
        "component",
        "wasm-tools",
        [],
    )
    assert report.world is not None
    assert report.world.is_command
    (run,) = [e for e in report.world.exports if e.name.startswith("wasi:cli/run@")]
    assert (run.kind, run.items) == ("interface", ["run: func() -> result"])
    imports = {i.name.split("@")[0]: i for i in report.world.imports}
    assert imports["wasi:cli/environment"].items == [
        "get-environment: func() -> list<tuple<string, string>>",
        "get-arguments: func() -> list<string>",
    ]
    assert {i.access for i in report.world.imports} == {"provided"}
    streams = imports["wasi:io/streams"].items
    assert "variant stream-error { last-operation-failed(error), closed }" in streams
    assert any(
        d.startswith("resource output-stream { check-write: func() -> result<u64, stream-error>")
        for d in streams
    )
    # The stored report round-trips through its JSON form.
    assert type(report).from_dict(report.to_dict()) == report


def test_typed_exports_are_recorded_with_their_wit() -> None:
    report = validate_module(component(), Policy())
    assert report.valid, report.findings
    assert report.world is not None
    (seven,) = report.world.exports
    assert (seven.name, seven.kind, seven.wit, report.world.is_command) == (
        "seven",
        "function",
        "seven: func() -> u32",
        False,
    )


@pytest.mark.parametrize(
    ("imports", "exports", "code", "fragment"),
    [
        (
            '(import "wasi:http/outgoing-handler@0.2.0" (instance'
            ' (export "handle" (func (param "x" u32) (result u32)))))',
            "",
            "component.import_refused",
            "imports wasi:http/outgoing-handler@0.2.0: outgoing HTTP is not given to guests",
        ),
        (
            '(import "acme:kv/store@1.0.0" (instance (export "get" (func (result u32)))))',
            "",
            "component.import_refused",
            "imports acme:kv/store@1.0.0: package acme:kv is not provided",
        ),
        (
            '(import "wasi:cli/environment@0.3.0" (instance (export "x" (func))))',
            "",
            "component.import_refused",
            "version 0.3.0 is not provided: the runtime links WASI 0.2.x",
        ),
        (
            "",
            '(instance $h (export "handle" (func $f)))'
            ' (export "wasi:http/incoming-handler@0.2.0" (instance $h))',
            "component.export_unsupported",
            "wasmtime-py cannot drive an HTTP handler component",
        ),
    ],
)
def test_imports_the_runtime_does_not_link_are_refused_naming_them(
    imports: str, exports: str, code: str, fragment: str
) -> None:
    report = validate_module(component(imports, exports), Policy())
    assert not report.valid
    assert [f.code for f in report.errors] == [code]
    assert fragment in report.errors[0].message


def test_a_malformed_component_is_refused_with_the_validators_reason() -> None:
    good = example_component(ROOT, "wagi-echo")
    report = validate_module(good[: len(good) // 2], Policy())
    assert (report.valid, [f.code for f in report.findings]) == (False, ["component.invalid"])
    assert "wasm-tools rejected the component: error: unexpected end-of-file" in (
        report.findings[0].message
    )


def test_the_validator_runs_without_the_refused_proposals() -> None:
    assert components.validator_features().split(",") == [
        "-custom-page-sizes",
        "-legacy-exceptions",
        "-shared-everything-threads",
        "-stack-switching",
        "-threads",
        "-wide-arithmetic",
    ]


async def test_a_component_is_published_with_its_world_and_a_forbidden_one_is_not(
    market: Market,
) -> None:
    bob = await market.user("bob")
    resp = await market.publish(bob, "bob/echo", "1.0.0", example_component(ROOT, "wagi-echo"))
    assert resp.version.kind == pb.MODULE_KIND_COMPONENT
    version = await market.stub.GetVersion(pb.GetVersionRequest(name="bob/echo", version="1.0.0"))
    world = version.version.validation.world
    assert (version.version.validation.kind, world.is_command) == (pb.MODULE_KIND_COMPONENT, True)
    assert [e.name for e in world.exports] == ["wasi:cli/run@0.2.12"]
    found = await market.stub.SearchModules(pb.SearchModulesRequest(kind=pb.MODULE_KIND_COMPONENT))
    assert [m.name for m in found.modules] == ["bob/echo"]

    forbidden = component(
        '(import "wasi:http/outgoing-handler@0.2.0" (instance'
        ' (export "handle" (func (param "x" u32) (result u32)))))'
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await market.publish(bob, "bob/fetcher", "1.0.0", forbidden)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "component.import_refused" in (info.value.details() or "")
    assert "wasi:http/outgoing-handler@0.2.0" in (info.value.details() or "")


@pytest.mark.timeout(600)  # may build the Python component first (once per machine)
async def test_a_python_component_publishes_with_its_typed_world(
    market: Market, textstats_component: bytes
) -> None:
    wasm = textstats_component
    bob = await market.user("bob")
    await market.publish(bob, "bob/textstats", "0.1.0", wasm, chunk=1024 * 1024)
    version = await market.stub.GetVersion(
        pb.GetVersionRequest(name="bob/textstats", version="0.1.0")
    )
    report = version.version.validation
    world = report.world
    exports = {e.name: e for e in world.exports}
    imports = {i.name: i for i in world.imports}
    assert exports["analyse"].wit == "analyse: func(text: string) -> stats"
    assert imports["stats"].wit == (
        "record stats { words: list<string>, count: u32, mean-length: f64,"
        " longest: option<string> }"
    )
    echo = exports["wasmgrid:textstats/echo@0.1.0"].items
    assert "variant shape { circle(f64), rect(tuple<f64, f64>), empty }" in echo
    assert "echo-nested: func(v: option<option<string>>) -> option<option<string>>" in echo
    assert imports["wasi:sockets/tcp@0.2.9"].access == "no-network"
    assert [f.code for f in report.findings] == ["component.no_network"]
