"""Operations that relay one HTTP request to one upstream RPC, declared as data.

An :class:`Rpc` names the upstream service and method, maps the HTTP request onto the
RPC's request message and the answer back to JSON; :func:`relay` makes it an
:class:`~wasmgrid.gateway.openapi.Operation` (served by a generated handler and
documented in ``/openapi.json`` from the same entry). Validation of names, versions
and limits is the owning service's job: its gRPC error (naming the field) comes back
as problem+json.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiohttp import web
from google.protobuf.message import Message

from wasmgrid.api.cache.v1 import cache_pb2
from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2
from wasmgrid.api.monitor.v1 import monitor_pb2
from wasmgrid.common.origin import forwarded
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.gateway.api.bodies import field, json_response, read_json, to_json
from wasmgrid.gateway.invoke.middleware import client_ip
from wasmgrid.gateway.openapi import Auth, BodyKind, Link, Operation, QueryParam
from wasmgrid.gateway.problem import Problem, call_upstream
from wasmgrid.gateway.state import GATEWAY, Gateway

P = TypeVar("P", bound=int)

Upstream = Literal["marketplace", "cache", "monitor"]
#: Largest `limit` a list query may ask for (the service behind refuses above its own).
MAX_LIMIT = 2**32 - 1
#: An integer as a query parameter: ASCII digits only (``str.isdigit`` also takes "²").
_INTEGER = re.compile(r"-?[0-9]{1,20}\Z")

_SERVICES = {
    "marketplace": marketplace_pb2.DESCRIPTOR.services_by_name["MarketplaceService"],
    "cache": cache_pb2.DESCRIPTOR.services_by_name["CacheService"],
    "monitor": monitor_pb2.DESCRIPTOR.services_by_name["MonitorService"],
}


class Inputs:
    """What a request mapping reads from one HTTP request: the path, query and JSON body.

    Each accessor refuses a bad value with a 400 naming the parameter.
    """

    __slots__ = ("body", "request")

    def __init__(self, request: web.Request, body: dict[str, Any]) -> None:
        self.request = request
        self.body = body

    @property
    def gateway(self) -> Gateway:
        """The gateway serving the request (for answers that add its own state)."""
        return self.request.app[GATEWAY]

    def path(self, name: str) -> str:
        """Path parameter `name`."""
        return self.request.match_info[name]

    @property
    def module(self) -> str:
        """``ns/name`` from the ``{ns}`` and ``{name}`` path parameters."""
        return f"{self.path('ns')}/{self.path('name')}"

    def query(self, name: str, default: str = "") -> str:
        """Query parameter `name` as given."""
        return self.request.query.get(name, default)

    def flag(self, name: str) -> bool:
        """Boolean query parameter `name`: ``true`` or ``false`` (absent: false); any
        other text is a 400, never read as false."""
        raw = self.request.query.get(name)
        if raw is None or raw == "false":
            return False
        if raw == "true":
            return True
        raise Problem(400, f"query parameter {name}: {raw[:64]!r} is not true or false")

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """Query parameter `name` as an integer in `low`..`high` (absent: `default`); an
        empty value is not an integer, so it is a 400 like any other text."""
        raw = self.request.query.get(name)
        if raw is None:
            return default
        if not _INTEGER.match(raw):
            raise Problem(400, f"query parameter {name}: {raw[:64]!r} is not an integer")
        value = int(raw)
        if not low <= value <= high:
            raise Problem(400, f"query parameter {name}: {value} is outside {low}..{high}")
        return value

    def choice(self, name: str, choices: ProtoEnum[P, str]) -> P | None:
        """The proto number query parameter `name` names; None when it is absent (an
        empty value names no choice: a 400)."""
        raw = self.request.query.get(name)
        return choices.parse(raw, f"query parameter {name}") if raw is not None else None

    def page(self) -> common_pb2.PageRequest:
        """``limit`` and ``cursor`` of a list."""
        return common_pb2.PageRequest(
            limit=self.integer("limit", 0, 0, MAX_LIMIT), cursor=self.query("cursor")
        )

    def field(self, name: str, kind: type | tuple[type, ...], default: Any) -> Any:
        """JSON body field `name`, checked to be a `kind`."""
        return field(self.body, name, kind, default)


def _as_json(message: Message, inputs: Inputs) -> Any:
    return to_json(message)


@dataclass(frozen=True)
class Rpc:
    """The upstream RPC an operation relays to, and how HTTP maps onto it and back."""

    upstream: Upstream
    method: str
    #: The HTTP request (path, query, JSON body) → the RPC's request message.
    request: Callable[[Inputs], Message]
    #: The RPC's answer → the JSON document answered.
    response: Callable[[Message, Inputs], Any] = _as_json

    def __post_init__(self) -> None:
        if self.method not in _SERVICES[self.upstream].methods_by_name:
            raise ValueError(f"{self.upstream} has no RPC named {self.method!r}")


def require_credentials(request: web.Request) -> None:
    """401 at once when an operation that needs a token is called without one (the
    marketplace checks the token itself; nothing else of the request is read first)."""
    if "Authorization" not in request.headers:
        raise Problem(
            401,
            "this operation needs credentials: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )


def caller_metadata(request: web.Request) -> tuple[tuple[str, str], ...]:
    """gRPC metadata for the marketplace: the caller's credentials (it checks them) and
    the client's address (its audit log records it; the first X-Forwarded-For hop only
    when the gateway trusts its proxy, as for rate limits)."""
    address = forwarded(client_ip(request, request.app[GATEWAY].settings.trust_forwarded_for))
    auth = request.headers.get("Authorization")
    return (("authorization", auth), address) if auth else (address,)


def _stub(gw: Gateway, upstream: Upstream) -> Any:
    if upstream == "marketplace":
        return gw.registry.stub
    stub = gw.cache.stub if upstream == "cache" else gw.monitor.stub
    if stub is None:
        variable = f"WASMGRID_GATEWAY_{upstream.upper()}_ADDR"
        raise Problem(503, f"{upstream} service not configured ({variable} is empty)")
    return stub


@dataclass(frozen=True)
class RelayHandler:
    """The aiohttp handler of a relayed operation: JSON body → RPC → JSON answer."""

    rpc: Rpc
    #: The fields of the JSON body; None: the operation takes no body.
    fields: tuple[str, ...] | None
    body_required: bool
    status: int
    auth: Auth = "none"

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        rpc = self.rpc
        if self.auth == "required":
            require_credentials(request)
        doc: dict[str, Any] = {}
        if self.fields is not None:
            doc = await read_json(request, self.fields, required=self.body_required)
        inputs = Inputs(request, doc)
        message = rpc.request(inputs)
        gw = request.app[GATEWAY]
        call = getattr(_stub(gw, rpc.upstream), rpc.method)
        metadata = caller_metadata(request) if rpc.upstream == "marketplace" else None
        timeout = gw.settings.relay_timeout_seconds
        try:
            answer = await call_upstream(
                rpc.upstream, rpc.method, call(message, metadata=metadata, timeout=timeout)
            )
        except Problem as problem:
            if problem.extra.get("grpc_code") != "DEADLINE_EXCEEDED":
                raise
            # The service is hung or swamped (a database it waits on, say): retry later.
            raise Problem(
                503,
                f"{rpc.upstream} service did not answer within {timeout:g} s",
                headers={"Retry-After": "1"},
                extra={"grpc_code": "DEADLINE_EXCEEDED"},
            ) from None
        return json_response(rpc.response(answer, inputs), self.status)


def relay(  # noqa: PLR0913 - one row of the REST table
    method: str,
    path: str,
    name: str,
    summary: str,
    tag: str,
    rpc: Rpc,
    *,
    query: tuple[QueryParam, ...] = (),
    fields: tuple[str, ...] | None = None,
    body_required: bool = True,
    auth: Auth = "none",
    success: int = 200,
    field_schemas: tuple[tuple[str, dict[str, Any]], ...] = (),
    required_fields: tuple[str, ...] = (),
    statuses: tuple[tuple[str, str], ...] = (),
    links: tuple[Link, ...] = (),
) -> Operation:
    """The operation `method` `path` that relays to `rpc`; with `fields`, it takes a JSON
    body carrying only those fields."""
    body: BodyKind = "none" if fields is None else "json"
    return Operation(
        method,
        path,
        name,
        summary,
        RelayHandler(rpc, fields, body_required, success, auth),
        tag,
        query=query,
        body=body,
        auth=auth,
        success=success,
        fields=fields or (),
        field_schemas=field_schemas,
        required_fields=required_fields,
        statuses=statuses,
        links=links,
    )
