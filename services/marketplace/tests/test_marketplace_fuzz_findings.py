"""Regression tests for what fuzzing found in the marketplace, all fixed.

Each is the smallest reproducer libFuzzer's finding came down to, asserted where a
user meets it through the public interface. A new finding that must wait for its fix
is marked ``xfail(strict=True)`` here and listed in ``fuzz/known.py``.
"""

from __future__ import annotations

import grpc
import pytest
import wasmtime

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.marketplace.semver import Requirement, SemverError, Version

from .conftest import Market

#: A command module whose one export is named "a\0b" (valid UTF-8, so valid wasm).
NUL_EXPORT = bytes(wasmtime.wat2wasm('(module (func (export "_start")) (func (export "a\\00b")))'))


async def _code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_a_module_with_a_nul_in_a_name_is_published_or_refused_clearly(
    market: Market,
) -> None:
    bob = await market.user("bob")
    try:
        await market.publish(bob, "bob/zero", "1.0.0", NUL_EXPORT)
    except grpc.aio.AioRpcError as err:
        # Either outcome is right (refused clearly, or stored safely): not pytest.raises.
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()  # noqa: PT017
        assert "export" in (err.details() or ""), err.details()  # noqa: PT017
        return
    got = await market.stub.GetVersion(pb.GetVersionRequest(name="bob/zero", version="1.0.0"))
    assert got.version.version == "1.0.0"


async def test_a_requirement_with_a_newline_is_refused_as_invalid(
    market: Market, mathfn_wasm: bytes
) -> None:
    bob = await market.user("bob")
    await market.publish(bob, "bob/math", "1.0.0", mathfn_wasm)
    code = await _code(market.stub.Resolve(pb.ResolveRequest(name="bob/math", requirement="*\n0")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(SemverError):
        Requirement.parse("*\n0")


@pytest.mark.parametrize("text", ["1.2.1\u0660", "1.0.0\n"])
async def test_a_version_that_is_not_ascii_semver_is_refused(
    market: Market, mathfn_wasm: bytes, text: str
) -> None:
    bob = await market.user("bob")
    code = await _code(market.publish(bob, "bob/odd", text, mathfn_wasm))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(SemverError):
        Version.parse(text)


def test_a_requirement_with_digits_of_another_script_is_refused() -> None:
    with pytest.raises(SemverError):
        Requirement.parse("^1\u0660")
