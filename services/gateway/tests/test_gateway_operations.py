"""The REST facade's table: each relayed entry maps HTTP onto its RPC's own request type."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from wasmgrid.api.marketplace.v1 import marketplace_pb2
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.gateway.api.operations import OPERATIONS
from wasmgrid.gateway.api.relay import Inputs, RelayHandler, Rpc
from wasmgrid.gateway.app import ALL_OPERATIONS
from wasmgrid.gateway.openapi import Operation, build_document
from wasmgrid.gateway.problem import Problem
from wasmgrid.gateway.routes import RouteTable

#: A valid value for each path parameter of the fixed API.
_PATH_VALUES = {"trace_id": "ab" * 16, "version": "1.0.0"}
#: The smallest JSON body each relayed operation accepts.
_BODIES: dict[str, dict[str, Any]] = {"rate": {"stars": 4}, "set_user_role": {"role": "user"}}

_SORTS = ProtoEnum.names(marketplace_pb2.SearchSort)
RELAYED = [op for op in OPERATIONS if isinstance(op.handler, RelayHandler)]


def _inputs(path: str, query: str = "", body: dict[str, Any] | None = None) -> Inputs:
    params = re.findall(r"\{(\w+)", path)
    match_info = {p: _PATH_VALUES.get(p, "x") for p in params}
    request = make_mocked_request("GET", "/?" + query, match_info=match_info)
    return Inputs(request, body or {})


def test_every_operation_but_invocation_streams_and_routes_is_relayed() -> None:
    own = {"run", "run_path", "call", "publish", "download", "routes"}
    assert {op.name for op in RELAYED} == {op.name for op in OPERATIONS} - own


@pytest.mark.parametrize("op", RELAYED, ids=lambda op: op.name)
def test_each_relayed_operation_builds_its_rpcs_request(op: Operation) -> None:
    handler = op.handler
    assert isinstance(handler, RelayHandler)
    rpc = handler.rpc
    message = rpc.request(_inputs(op.path, body=_BODIES.get(op.name)))
    service = {
        "marketplace": "wasmgrid.api.marketplace.v1.MarketplaceService",
        "cache": "wasmgrid.api.cache.v1.CacheService",
        "monitor": "wasmgrid.api.monitor.v1.MonitorService",
    }[rpc.upstream]
    method = type(message).DESCRIPTOR.file.pool.FindServiceByName(service).methods_by_name
    assert type(message).DESCRIPTOR is method[rpc.method].input_type
    # The documented body is exactly the body the handler reads.
    assert (op.body == "json") == (handler.fields is not None)
    assert op.fields == (handler.fields or ())


def test_an_rpc_the_service_lacks_is_refused_when_the_table_is_built() -> None:
    with pytest.raises(ValueError, match="marketplace has no RPC named 'Fetch'"):
        Rpc("marketplace", "Fetch", lambda a: a.request)  # type: ignore[arg-type,return-value]


def test_query_parameters_are_checked_and_named() -> None:
    inputs = _inputs("/v1/modules", "limit=10&days=abc&kind=reactor&include_inactive=true")
    assert inputs.page().limit == 10
    assert inputs.flag("include_inactive")
    assert not inputs.flag("other")
    with pytest.raises(Problem) as exc:
        inputs.integer("days", 0, 0, 366)
    assert exc.value.detail == "query parameter days: 'abc' is not an integer"
    for text in ("", "\u00b2", "--1", "\u0661", "1e3"):
        with pytest.raises(Problem) as exc:
            _inputs("/", f"days={text}").integer("days", 0, 0, 366)
        assert exc.value.detail == f"query parameter days: {text!r} is not an integer"
    with pytest.raises(Problem) as exc:
        inputs.integer("limit", 0, 0, 5)
    assert exc.value.detail == "query parameter limit: 10 is outside 0..5"
    assert inputs.choice("sort", _SORTS) is None
    with pytest.raises(InvalidArgument) as refused:
        inputs.choice("kind", _SORTS)
    assert refused.value.message.startswith("query parameter kind: 'reactor' is not one of ")


def test_every_link_in_the_document_names_an_operation_and_exactly_its_path_parameters() -> None:
    """The links drive schemathesis's stateful phase: a link to a missing operation or
    parameter would silently cover nothing."""
    doc = build_document(ALL_OPERATIONS, RouteTable(), version="0")
    operations = {
        entry["operationId"]: entry for item in doc["paths"].values() for entry in item.values()
    }
    links = {
        (source["operationId"], name): link
        for source in operations.values()
        for response in source["responses"].values()
        for name, link in response.get("links", {}).items()
    }
    assert ("create_token", "revoke") in links
    # A published version leads to what a client does with it next.
    assert {name for source, name in links if source == "publish"} == {
        "get_version",
        "download",
        "yank",
        "get_module",
        "list_versions",
        "rate",
        "stats",
    }
    assert ("yank", "unyank") in links
    for (source, name), link in links.items():
        target = operations[link["operationId"]]
        wanted = {p["name"] for p in target["parameters"] if p["in"] == "path"}
        assert set(link["parameters"]) == wanted, (source, name)


def test_an_invoke_documents_the_modules_own_answers_beside_the_gateways_problems() -> None:
    """/v1/run passes on the status and content type the module chose (a WAGI module
    answers 400 text/plain to a body it cannot parse): every error status of it admits
    any content type, and the registry's operations stay problem+json only."""
    doc = build_document(ALL_OPERATIONS, RouteTable(), version="0")
    run = doc["paths"]["/v1/run/{ns}/{module}"]["post"]["responses"]
    for status in ("400", "404", "500", "default"):
        assert set(run[status]["content"]) == {"application/problem+json", "*/*"}, status
    get_module = doc["paths"]["/v1/modules/{ns}/{name}"]["get"]["responses"]
    assert set(get_module["400"]["content"]) == {"application/problem+json"}


def test_a_calls_args_are_documented_as_the_list_the_gateway_takes() -> None:
    doc = build_document(ALL_OPERATIONS, RouteTable(), version="0")
    body = doc["paths"]["/v1/call/{ns}/{module}/{function}"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["properties"]["args"] == {"type": "array", "maxItems": 64}
