"""Regression tests for what fuzzing found in the gateway, all fixed.

Each is the smallest reproducer libFuzzer's finding came down to, asserted where a
user meets it (through a real gateway when the effect is an HTTP answer). A new finding
that must wait for its fix is marked ``xfail(strict=True)`` here and listed in
``fuzz/known.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from wasmgrid.common.testing import poll_until
from wasmgrid.gateway.cgi import CgiError, parse_response
from wasmgrid.gateway.routes import RouteError, RouteStore, parse_routes

from .conftest import Infra, StartGateway, bearer

GOOD_ROUTES = "routes:\n  - {name: hello, path: /hello, module: examples/hello}\n"


def test_a_guest_header_with_a_control_character_is_a_cgi_error() -> None:
    with pytest.raises(CgiError, match="X-A"):
        parse_response(b"X-A: a\x00b\n\nbody")


def test_a_guest_status_reason_with_a_control_character_is_a_cgi_error() -> None:
    with pytest.raises(CgiError, match="Status"):
        parse_response(b"Status: 200 O\x01K\n\n")


@pytest.mark.parametrize(
    "body",
    [
        b"--x\r\n",  # not the declared boundary
        b"--b\r\nX\r\n\r\n",  # a part header that is not 'Name: value'
        # A '_charset_' part (RFC 7578 §4.6) longer than any charset name: aiohttp's
        # reader raised RuntimeError, a 500 until it was caught.
        b'--b\r\nContent-Disposition: form-data; name="_charset_"\r\n\r\n'
        + b"x" * 40
        + b"\r\n--b--\r\n",
    ],
)
async def test_a_malformed_multipart_publish_is_answered_400(
    start_gateway: StartGateway, infra: Infra, body: bytes
) -> None:
    gw = await start_gateway()
    async with gw.http.put(
        gw.url("/v1/modules/examples/broken/1.0.0"),
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b", **bearer(infra.admin)},
    ) as resp:
        problem = await resp.json(content_type=None)
        assert resp.status == 400, problem
        assert problem["status"] == 400


async def test_publish_metadata_with_a_lone_surrogate_is_answered_400(
    start_gateway: StartGateway,
    infra: Infra,
) -> None:
    gw = await start_gateway()
    body = (
        b'--b\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
        b'{"license": "\\ud800"}\r\n'
        b'--b\r\nContent-Disposition: form-data; name="module"\r\n\r\n'
        b"\x00asm\x01\x00\x00\x00\r\n--b--\r\n"
    )
    async with gw.http.put(
        gw.url("/v1/modules/examples/broken/1.0.0"),
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b", **bearer(infra.admin)},
    ) as resp:
        problem = await resp.json(content_type=None)
        assert resp.status == 400, problem
        assert "license" in problem["detail"]


async def test_a_publish_with_an_unparsable_content_type_is_refused_as_a_client_error(
    start_gateway: StartGateway,
    infra: Infra,
) -> None:
    gw = await start_gateway()
    async with gw.http.put(
        gw.url("/v1/modules/examples/broken/1.0.0"),
        data=b"\x00asm\x01\x00\x00\x00",
        headers={"Content-Type": "a/b; c*", **bearer(infra.admin)},
    ) as resp:
        problem = await resp.json(content_type=None)
        assert resp.status in (400, 415), problem


def test_a_routes_file_with_mixed_type_keys_is_refused_naming_the_field() -> None:
    with pytest.raises(RouteError, match="unknown field"):
        parse_routes("routes: [{name: a, 1: x, b: y}]")


async def test_a_deeply_nested_routes_file_is_refused_and_watching_goes_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(GOOD_ROUTES)
    store = RouteStore(path)
    assert store.reload() is True

    async def refused() -> bool:
        return store.last_error is not None

    async def reloaded() -> bool:
        return store.last_error is None and store.table.routes[0].path.text == "/hi"

    watcher = asyncio.create_task(store.watch(0.05))
    try:
        path.write_text("[" * 1000)
        await poll_until(refused, "the nested file refused", 5)
        assert len(store.table) == 1  # the previous routes stay active
        path.write_text(GOOD_ROUTES.replace("/hello", "/hi"))
        await poll_until(reloaded, "the next good file loaded by the same watcher", 5)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
