"""Components (WASI 0.2) through the gateway: published over HTTP, a typed call answered
with a record, an interface function by its percent-encoded WIT name, a mismatch as a
400 naming the path, a command component serving a WAGI request, the OpenAPI mapping."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.runtime.testing import (
    TEST_CACHE,
    Runtime,
    example_component,
    sha,
    start_runtime,
    stop_runtime,
)

from .conftest import Infra, StartGateway

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def component_runtime(
    infra: Infra, textstats_component: bytes
) -> AsyncIterator[tuple[Runtime, bytes]]:
    """A runtime replica keeping its compiled artifacts between runs (the Python
    component's first compile takes 5–40 s here), warmed with the component."""
    textstats = textstats_component
    rt = await start_runtime(
        ROOT / TEST_CACHE / "runtime-components", marketplace_addr=infra.market.address
    )
    yield rt, textstats
    await stop_runtime(rt, 0.5)


@pytest.mark.timeout(600)  # may build and compile the Python component first
async def test_a_component_published_over_http_answers_a_typed_call_with_a_record(
    start_gateway: StartGateway, infra: Infra, component_runtime: tuple[Runtime, bytes]
) -> None:
    rt, textstats = component_runtime
    gw = await start_gateway(runtime_targets=rt.runner.address)
    admin = {"Authorization": f"Bearer {infra.admin}", "Content-Type": "application/wasm"}
    async with gw.http.put(
        gw.url(
            "/v1/modules/comps/textstats/0.1.0?description=Text+stats&license=MIT&category=utilities"
        ),
        data=io.BytesIO(textstats),
        headers=admin,
    ) as resp:
        published = await resp.json()
        assert resp.status == 201, published
    assert published["version"]["kind"] == "MODULE_KIND_COMPONENT"
    # The version's API shows the component's world with its WIT declarations.
    async with gw.http.get(gw.url("/v1/modules/comps/textstats/versions/0.1.0")) as resp:
        version = await resp.json()
        assert resp.status == 200, version
    world = version["version"]["validation"]["world"]
    exports = {e["name"]: e for e in world["exports"]}
    assert exports["analyse"]["wit"] == "analyse: func(text: string) -> stats"
    assert "wasmgrid:textstats/echo@0.1.0" in exports
    # Compiled before the first call (a call's deadline is shorter than a first compile).
    module = pb.ModuleSource(digest=sha(textstats))
    await rt.stub.Warm(pb.WarmRequest(module=module), timeout=600)

    async with gw.http.post(
        gw.url("/v1/call/comps/textstats/analyse"), json={"args": ["a tiny wasm runtime"]}
    ) as resp:
        doc = await resp.json()
        assert resp.status == 200, doc
    assert doc["results"] == [
        {
            "words": ["a", "tiny", "wasm", "runtime"],
            "count": 4,
            "mean-length": 4.0,
            "longest": "runtime",
        }
    ]
    assert (doc["module"], doc["function"]) == ("comps/textstats", "analyse")

    echo = "wasmgrid:textstats%2Fecho@0.1.0%23"
    async with gw.http.post(
        gw.url(f"/v1/call/comps/textstats/{echo}echo-variant"), json={"args": [{"rect": [1.5, 2]}]}
    ) as resp:
        doc = await resp.json()
        assert resp.status == 200, doc
    assert (doc["function"], doc["results"]) == (
        "wasmgrid:textstats/echo@0.1.0#echo-variant",
        [{"rect": [1.5, 2.0]}],
    )

    async with gw.http.post(
        gw.url(f"/v1/call/comps/textstats/{echo}echo-list"), json={"args": [["a", "b", 5]]}
    ) as resp:
        problem = await resp.json()
        assert (resp.status, resp.content_type) == (400, "application/problem+json")
    assert problem["detail"].startswith("args[0][2]: expected string, got 5 ("), problem

    async with gw.http.post(gw.url("/v1/call/comps/textstats/no-such"), json={"args": []}) as resp:
        problem = await resp.json()
        assert resp.status == 400
    assert "exports no function 'no-such'; callable functions: analyse," in problem["detail"]


async def test_a_command_component_serves_a_wagi_request(
    start_gateway: StartGateway, infra: Infra
) -> None:
    wasm = example_component(ROOT, "wagi-echo")
    await infra.publish("comps/wagi-echo", "1.0.0", wasm)
    # Compiled first: on a loaded machine even this small component's compile can outlast
    # a call's deadline (the call would get 503 "compiling", which is another test's).
    module = pb.ModuleSource(digest=sha(wasm))
    await infra.runtime.stub.Warm(pb.WarmRequest(module=module), timeout=300)
    gw = await start_gateway()
    async with gw.http.post(
        gw.url("/v1/run/comps/wagi-echo/some/path?in.txt+two%20words"), data=b"payload"
    ) as resp:
        body = await resp.text()
        assert resp.status == 200, body
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    # argv as the gateway gives any WAGI module for /v1/run: a search string's words
    # (RFC 3875 §4.4), QUERY_STRING as sent.
    assert body == (
        "method: POST\npath: /some/path\nquery: in.txt+two%20words\nargv: in.txt two words"
        "\nbody: payload"
    )
    async with gw.http.get(gw.url("/v1/run/comps/wagi-echo?fail=3")) as resp:
        problem = await resp.json()
        assert resp.status == 500, problem
    assert problem["type"].endswith("/guest-exit")
    assert problem["fault"] == "guest"


async def test_openapi_documents_the_json_to_wit_mapping(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    async with gw.http.get(gw.url("/openapi.json")) as resp:
        doc = await resp.json()
    call = doc["paths"]["/v1/call/{ns}/{module}/{function}"]["post"]
    assert (
        '| variant | `{"case": payload}`; `{"case": null}` without payload |'
        in (call["description"])
    )
    examples = call["requestBody"]["content"]["application/json"]["examples"]
    assert examples["record"]["value"] == {"args": [{"x": 1, "y": -2, "label": "p"}]}
