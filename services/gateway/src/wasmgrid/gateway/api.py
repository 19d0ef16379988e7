"""The fixed HTTP API: invoke endpoints and the REST facade over the other services.

:data:`OPERATIONS` is the single table the app registers and ``/openapi.json``
documents. Handlers translate HTTP ⇄ proto and nothing else: validation of names,
versions and limits is the owning service's job, and its gRPC error (naming the
field) comes back as problem+json.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import grpc
from aiohttp import BodyPartReader, web
from google.protobuf import json_format
from google.protobuf.message import Message

from wasmgrid.api.cache.v1 import cache_pb2
from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.api.monitor.v1 import monitor_pb2
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.gateway.invoke import CALL_FIELDS, Target, parse_module_ref, serve
from wasmgrid.gateway.openapi import CALL_DESCRIPTION, CALL_EXAMPLES, Operation, QueryParam
from wasmgrid.gateway.problem import (
    Problem,
    call_upstream,
    refuse_unknown_fields,
    upstream_errors,
    upstream_problem,
)
from wasmgrid.gateway.routes import TOKEN_SCOPES
from wasmgrid.gateway.state import GATEWAY, Gateway
from wasmgrid.gateway.upstream import timed

P = TypeVar("P", bound=int)

_CHUNK = 256 * 1024
_MAX_JSON = 64 * 1024
#: Largest `limit` a list query may ask for (the service behind refuses above its own).
_MAX_LIMIT = 2**32 - 1
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_SORTS = ProtoEnum.names(mp.SearchSort)
_KINDS = ProtoEnum.names(mp.ModuleKind)
_ROLES = ProtoEnum.names(mp.Role)
_ALERT_STATES = ProtoEnum.names(monitor_pb2.AlertState)

#: The fields each JSON body may carry (also the OpenAPI schema's properties).
USER_FIELDS = ("username", "role", "token_name")
TOKEN_FIELDS = ("name", "scopes", "ttl_seconds")
YANK_FIELDS = ("reason",)
RATING_FIELDS = ("stars", "review")
METADATA_FIELDS = (
    "name",
    "version",
    "description",
    "license",
    "category",
    "tags",
    "homepage",
    "repository",
    "sha256",
)


def to_json(message: Message) -> dict[str, Any]:
    """A proto message as JSON-ready dict (proto field names, defaults included)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data, separators=(",", ":")).encode(),
        content_type="application/json",
    )


def _auth_metadata(request: web.Request) -> tuple[tuple[str, str], ...] | None:
    auth = request.headers.get("Authorization")
    return (("authorization", auth),) if auth else None


async def _json_body(
    request: web.Request, fields: tuple[str, ...], *, required: bool = True
) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > _MAX_JSON:
        raise Problem(413, f"JSON body of {request.content_length} bytes exceeds {_MAX_JSON} bytes")
    raw = bytearray()
    async for chunk in request.content.iter_chunked(8192):
        raw += chunk
        if len(raw) > _MAX_JSON:
            raise Problem(413, f"JSON body exceeds {_MAX_JSON} bytes")
    if not raw.strip():
        if required:
            raise Problem(400, "request body: a JSON object is required")
        return {}
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise Problem(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Problem(400, "request body: must be a JSON object")
    refuse_unknown_fields(doc, fields, "request body")
    return doc


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = doc.get(name, default)
    if value is default:
        return value
    if isinstance(value, bool) and kind is not bool:
        raise Problem(400, f"{name}: must be {getattr(kind, '__name__', kind)}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise Problem(400, f"{name}: must be {names}, got {type(value).__name__}")
    return value


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise Problem(400, f"query parameter {name}: {raw!r} is not an integer")
    value = int(raw)
    if not low <= value <= high:
        raise Problem(400, f"query parameter {name}: {value} is outside {low}..{high}")
    return value


def _choice(request: web.Request, name: str, choices: ProtoEnum[P, str]) -> P | None:
    """The proto number named by query parameter `name`; None when it is absent."""
    raw = request.query.get(name)
    return choices.parse(raw, f"query parameter {name}") if raw else None


async def _marketplace(
    request: web.Request, method: str, message: Message, *, status: int = 200
) -> web.Response:
    """`message` relayed to MarketplaceService.`method` with the caller's credentials;
    the answer as JSON, a failure as its problem."""
    call = getattr(request.app[GATEWAY].registry.stub, method)
    resp = await call_upstream(
        "marketplace", method, call(message, metadata=_auth_metadata(request))
    )
    return json_response(to_json(resp), status)


def _module_name(request: web.Request) -> str:
    return f"{request.match_info['ns']}/{request.match_info['name']}"


def _page(request: web.Request) -> common_pb2.PageRequest:
    return common_pb2.PageRequest(
        limit=_int_query(request, "limit", 0, 0, _MAX_LIMIT),
        cursor=request.query.get("cursor", ""),
    )


# ------------------------------------------------------------------ invoke


async def run_module(request: web.Request) -> web.StreamResponse:
    """ANY /v1/run/{ns}/{module}[/{path}]: WAGI invoke."""
    gw = request.app[GATEWAY]
    ns, module = request.match_info["ns"], request.match_info["module"]
    ref = parse_module_ref(ns, module)
    rest = request.match_info.get("path", "")
    args = [f"{k}={v}" for k, v in request.query.items()][:256]
    target = Target(
        ref,
        path_info="/" + rest if rest else "",
        script_name=f"/v1/run/{ns}/{module}",
        args=args,
    )
    return await serve(gw, request, target)


async def call_function(request: web.Request) -> web.StreamResponse:
    """POST /v1/call/{ns}/{module}/{function}: {"args": [...]} → {"results": [...]}."""
    gw = request.app[GATEWAY]
    ref = parse_module_ref(request.match_info["ns"], request.match_info["module"])
    target = Target(ref, mode="function", function=request.match_info["function"])
    return await serve(gw, request, target)


# ------------------------------------------------------------------ identity


async def create_user(request: web.Request) -> web.Response:
    doc = await _json_body(request, USER_FIELDS)
    req = mp.CreateUserRequest(
        username=_field(doc, "username", str, ""),
        role=_ROLES.parse(_field(doc, "role", str, "publisher"), "role"),
        token_name=_field(doc, "token_name", str, ""),
    )
    return await _marketplace(request, "CreateUser", req, status=201)


async def whoami(request: web.Request) -> web.Response:
    return await _marketplace(request, "WhoAmI", mp.WhoAmIRequest())


async def create_token(request: web.Request) -> web.Response:
    doc = await _json_body(request, TOKEN_FIELDS)
    scopes = _field(doc, "scopes", list, [])
    req = mp.CreateTokenRequest(
        name=_field(doc, "name", str, ""),
        scopes=[TOKEN_SCOPES.parse(s, f"scopes[{i}]") for i, s in enumerate(scopes)],
        ttl_seconds=_field(doc, "ttl_seconds", int, 0),
    )
    return await _marketplace(request, "CreateToken", req, status=201)


async def list_tokens(request: web.Request) -> web.Response:
    req = mp.ListTokensRequest(include_inactive=request.query.get("include_inactive") == "true")
    return await _marketplace(request, "ListTokens", req)


async def revoke_token(request: web.Request) -> web.Response:
    req = mp.RevokeTokenRequest(token_id=request.match_info["id"])
    return await _marketplace(request, "RevokeToken", req)


# ------------------------------------------------------------------ publish


def _metadata_from_query(request: web.Request, name: str, version: str) -> mp.PublishMetadata:
    q = request.query
    return mp.PublishMetadata(
        name=name,
        version=version,
        description=q.get("description", ""),
        license=q.get("license", ""),
        category=q.get("category", ""),
        tags=[
            *q.getall("tag", []),
            *(t.strip() for v in q.getall("tags", []) for t in v.split(",") if t.strip()),
        ],
        homepage=q.get("homepage", ""),
        repository=q.get("repository", ""),
        sha256=q.get("sha256", ""),
    )


def _metadata_from_json(doc: dict[str, Any], name: str, version: str) -> mp.PublishMetadata:
    refuse_unknown_fields(doc, METADATA_FIELDS, "metadata part")
    tags = _field(doc, "tags", list, [])
    if not all(isinstance(t, str) for t in tags):
        raise Problem(400, "metadata.tags: must be a list of strings")
    for key, expected in (("name", name), ("version", version)):
        given = doc.get(key)
        if given is not None and given != expected:
            raise Problem(400, f"metadata.{key}: {given!r} disagrees with the URL ({expected!r})")
    return mp.PublishMetadata(
        name=name,
        version=version,
        description=_field(doc, "description", str, ""),
        license=_field(doc, "license", str, ""),
        category=_field(doc, "category", str, ""),
        tags=tags,
        homepage=_field(doc, "homepage", str, ""),
        repository=_field(doc, "repository", str, ""),
        sha256=_field(doc, "sha256", str, ""),
    )


async def _stream_parts(
    request: web.Request, name: str, version: str
) -> tuple[mp.PublishMetadata, AsyncIterator[bytes]]:
    ctype = request.content_type
    if ctype in ("application/wasm", "application/octet-stream"):
        return _metadata_from_query(request, name, version), request.content.iter_chunked(_CHUNK)
    if ctype == "multipart/form-data":
        reader = await request.multipart()
        first = await reader.next()
        if not isinstance(first, BodyPartReader) or first.name != "metadata":
            raise Problem(400, "multipart publish: the first part must be 'metadata' (JSON)")
        raw = bytearray()
        while chunk := await first.read_chunk(8192):
            raw += chunk
            if len(raw) > _MAX_JSON:
                raise Problem(413, f"metadata part exceeds {_MAX_JSON} bytes")
        try:
            doc = json.loads(bytes(raw) or b"{}")
        except ValueError as exc:
            raise Problem(400, f"metadata part is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise Problem(400, "metadata part: must be a JSON object")
        meta = _metadata_from_json(doc, name, version)
        second = await reader.next()
        if not isinstance(second, BodyPartReader) or second.name != "module":
            raise Problem(400, "multipart publish: the second part must be 'module' (the wasm)")

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                chunk = await second.read_chunk(_CHUNK)
                if not chunk:
                    return
                yield chunk

        return meta, chunks()
    raise Problem(
        415,
        f"publish body Content-Type {ctype!r}: send application/wasm (metadata in the query)"
        " or multipart/form-data with parts 'metadata' and 'module'",
    )


async def publish(request: web.Request) -> web.Response:
    """PUT /v1/modules/{ns}/{name}/{version}: stream the module to the marketplace."""
    gw = request.app[GATEWAY]
    limit = gw.settings.max_publish_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise Problem(413, f"module upload of {declared} bytes exceeds the {limit}-byte limit")
    meta, chunks = await _stream_parts(
        request, _module_name(request), request.match_info["version"]
    )
    if request.content_type != "multipart/form-data" and declared is not None:
        meta.size_bytes = declared
    failure: list[BaseException] = []

    async def requests() -> AsyncIterator[mp.PublishRequest]:
        yield mp.PublishRequest(metadata=meta)
        total = 0
        try:
            async for chunk in chunks:
                total += len(chunk)
                if total > limit:
                    raise Problem(413, f"module upload exceeds the {limit}-byte limit (streamed)")
                yield mp.PublishRequest(chunk=chunk)
        except BaseException as exc:
            # grpc cancels the call when the iterator fails, so the marketplace stores
            # nothing; remember why to answer the client with it.
            failure.append(exc)
            raise

    try:
        with upstream_errors("marketplace"):
            resp = await timed(
                "marketplace",
                "Publish",
                gw.registry.stub.Publish(requests(), metadata=_auth_metadata(request)),
            )
    except asyncio.CancelledError:
        if failure and not isinstance(failure[0], asyncio.CancelledError):
            raise failure[0] from None
        raise
    return json_response(to_json(resp), 201)


# ------------------------------------------------------------------ registry reads


async def search(request: web.Request) -> web.Response:
    q = request.query
    req = mp.SearchModulesRequest(
        query=q.get("q", ""),
        category=q.get("category", ""),
        tag=q.get("tag", ""),
        license=q.get("license", ""),
        kind=_choice(request, "kind", _KINDS),
        owner=q.get("owner", ""),
        namespace=q.get("namespace", ""),
        sort=_choice(request, "sort", _SORTS),
        page=_page(request),
    )
    return await _marketplace(request, "SearchModules", req)


async def get_module(request: web.Request) -> web.Response:
    return await _marketplace(request, "GetModule", mp.GetModuleRequest(name=_module_name(request)))


async def list_versions(request: web.Request) -> web.Response:
    req = mp.ListVersionsRequest(name=_module_name(request), page=_page(request))
    return await _marketplace(request, "ListVersions", req)


async def get_version(request: web.Request) -> web.Response:
    req = mp.GetVersionRequest(name=_module_name(request), version=request.match_info["version"])
    return await _marketplace(request, "GetVersion", req)


async def download(request: web.Request) -> web.StreamResponse:
    """GET …/versions/{version}/download: the wasm bytes, streamed."""
    gw = request.app[GATEWAY]
    req = mp.DownloadRequest(
        name=_module_name(request),
        version=request.match_info["version"],
        purpose=mp.DOWNLOAD_PURPOSE_USER,
    )
    stream = gw.registry.stub.Download(req, metadata=_auth_metadata(request))
    response: web.StreamResponse | None = None
    try:
        async for msg in stream:
            if msg.HasField("header"):
                h = msg.header
                response = web.StreamResponse(
                    headers={
                        "Content-Type": "application/wasm",
                        "ETag": f'"sha256:{h.digest}"',
                        "Repr-Digest": f"sha-256=:{_base64_of_hex(h.digest)}:",
                        "Content-Disposition": (
                            f'attachment; filename="{h.name.split("/")[-1]}-{h.version}.wasm"'
                        ),
                    }
                )
                response.content_length = h.size_bytes
                await response.prepare(request)
            elif response is not None:
                await response.write(msg.chunk)
    except grpc.aio.AioRpcError as err:
        if response is None:
            raise upstream_problem(err, "marketplace") from None
        raise  # headers already sent: abort the connection, the client sees a short body
    if response is None:
        raise Problem(502, "marketplace service: download stream ended without a header")
    await response.write_eof()
    return response


def _base64_of_hex(digest: str) -> str:
    """A hex digest re-encoded as base64 (RFC 9530 digest fields); "" if not hex."""
    try:
        return base64.b64encode(bytes.fromhex(digest)).decode()
    except ValueError:
        return ""


async def yank(request: web.Request) -> web.Response:
    doc = await _json_body(request, YANK_FIELDS, required=False)
    reason = _field(doc, "reason", str, request.query.get("reason", ""))
    req = mp.YankRequest(
        name=_module_name(request), version=request.match_info["version"], reason=reason
    )
    return await _marketplace(request, "Yank", req)


async def unyank(request: web.Request) -> web.Response:
    req = mp.UnyankRequest(name=_module_name(request), version=request.match_info["version"])
    return await _marketplace(request, "Unyank", req)


async def rate(request: web.Request) -> web.Response:
    doc = await _json_body(request, RATING_FIELDS)
    stars = _field(doc, "stars", int, None)
    if stars is None:
        raise Problem(400, "stars: required (1-5)")
    if not 1 <= stars <= 5:
        raise Problem(400, f"stars: {stars} is outside 1..5")
    req = mp.RateModuleRequest(
        name=_module_name(request), stars=stars, review=_field(doc, "review", str, "")
    )
    return await _marketplace(request, "RateModule", req)


async def list_ratings(request: web.Request) -> web.Response:
    req = mp.ListRatingsRequest(name=_module_name(request), page=_page(request))
    return await _marketplace(request, "ListRatings", req)


async def stats(request: web.Request) -> web.Response:
    req = mp.GetDownloadStatsRequest(
        name=_module_name(request), days=_int_query(request, "days", 0, 0, 366)
    )
    return await _marketplace(request, "GetDownloadStats", req)


# ------------------------------------------------------------------ cache, monitor, routes


def _cache_stub(gw: Gateway) -> Any:
    if gw.cache.stub is None:
        raise Problem(503, "cache service not configured (WASMGRID_GATEWAY_CACHE_ADDR is empty)")
    return gw.cache.stub


def _monitor_stub(gw: Gateway) -> Any:
    if gw.monitor.stub is None:
        raise Problem(
            503, "monitor service not configured (WASMGRID_GATEWAY_MONITOR_ADDR is empty)"
        )
    return gw.monitor.stub


async def cache_namespaces(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    req = cache_pb2.ListNamespacesRequest(page=_page(request))
    resp = await call_upstream("cache", "ListNamespaces", _cache_stub(gw).ListNamespaces(req))
    return json_response(to_json(resp))


async def cache_namespace_stats(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    req = cache_pb2.StatsRequest(namespace=request.match_info["ns"])
    resp = await call_upstream("cache", "Stats", _cache_stub(gw).Stats(req))
    return json_response(to_json(resp))


async def fleet_health(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    req = monitor_pb2.GetFleetHealthRequest(
        service=request.query.get("service", ""),
        changes_limit=_int_query(request, "changes", 0, 0, 1000),
    )
    resp = await call_upstream("monitor", "GetFleetHealth", _monitor_stub(gw).GetFleetHealth(req))
    doc = to_json(resp)
    doc["gateway"] = {"runtime": gw.pool.describe(), "routes": len(gw.routes.table)}
    return json_response(doc)


async def alerts(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    state = _choice(request, "state", _ALERT_STATES)
    req = monitor_pb2.ListAlertsRequest(
        states=[state] if state is not None else [],
        rule=request.query.get("rule", ""),
        include_silenced=request.query.get("include_silenced") == "true",
        limit=_int_query(request, "limit", 0, 0, 5000),
    )
    resp = await call_upstream("monitor", "ListAlerts", _monitor_stub(gw).ListAlerts(req))
    return json_response(to_json(resp))


async def get_trace(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    trace_id = request.match_info["trace_id"]
    if not _TRACE_ID.match(trace_id):
        raise Problem(400, f"trace_id: {trace_id[:64]!r} is not 32 hex digits")
    req = monitor_pb2.GetTraceRequest(trace_id=trace_id.lower())
    resp = await call_upstream("monitor", "GetTrace", _monitor_stub(gw).GetTrace(req))
    return json_response(to_json(resp))


async def list_routes(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    store = gw.routes
    return json_response(
        {
            "routes": [r.describe() for r in store.table.routes],
            "file": store.path.name if store.path else None,
            "last_error": store.last_error,
        }
    )


# ------------------------------------------------------------------ the table

_MOD = "/v1/modules/{ns}/{name}"
_LIST = (
    QueryParam("limit", "page size", "integer"),
    QueryParam("cursor", "next_cursor of the previous page"),
)

#: Every fixed operation (probes, /metrics and /openapi.json are added in app.py).
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "*",
        "/v1/run/{ns}/{module}",
        "run",
        "Invoke a module (WAGI/CGI): body → stdin",
        run_module,
        "invoke",
        body="any",
        response="any",
    ),
    Operation(
        "*",
        "/v1/run/{ns}/{module}/{path:.*}",
        "run_path",
        "Invoke a module with PATH_INFO",
        run_module,
        "invoke",
        body="any",
        response="any",
    ),
    Operation(
        "POST",
        "/v1/call/{ns}/{module}/{function}",
        "call",
        'Call an exported function: {"args": [...]} → {"results": [...]}',
        call_function,
        "invoke",
        body="json",
        fields=CALL_FIELDS,
        description=CALL_DESCRIPTION,
        examples=CALL_EXAMPLES,
    ),
    Operation(
        "POST",
        "/v1/users",
        "create_user",
        "Create a user and its first token",
        create_user,
        "identity",
        body="json",
        auth="optional",
        success=201,
        fields=USER_FIELDS,
    ),
    Operation(
        "POST",
        "/v1/tokens",
        "create_token",
        "Create a token for the caller",
        create_token,
        "identity",
        body="json",
        auth="required",
        success=201,
        fields=TOKEN_FIELDS,
    ),
    Operation(
        "GET",
        "/v1/tokens",
        "list_tokens",
        "The caller's tokens",
        list_tokens,
        "identity",
        query=(QueryParam("include_inactive", "also revoked/expired", "boolean"),),
        auth="required",
    ),
    Operation(
        "DELETE",
        "/v1/tokens/{id}",
        "revoke_token",
        "Revoke a token",
        revoke_token,
        "identity",
        auth="required",
    ),
    Operation(
        "GET",
        "/v1/whoami",
        "whoami",
        "The user and token behind the credentials",
        whoami,
        "identity",
        auth="required",
    ),
    Operation(
        "GET",
        "/v1/modules",
        "search",
        "Search modules",
        search,
        "modules",
        query=(
            QueryParam("q", "free text"),
            QueryParam("category", "category filter"),
            QueryParam("tag", "tag filter"),
            QueryParam("license", "SPDX license filter"),
            QueryParam("kind", "command, reactor or component"),
            QueryParam("owner", "modules in namespaces this user owns"),
            QueryParam("namespace", "namespace filter"),
            QueryParam("sort", "relevance, downloads, rating, recent or name"),
            *_LIST,
        ),
    ),
    Operation("GET", _MOD, "get_module", "A module's registry entry", get_module, "modules"),
    Operation(
        "GET",
        _MOD + "/versions",
        "list_versions",
        "A module's versions",
        list_versions,
        "modules",
        query=_LIST,
    ),
    Operation(
        "GET",
        _MOD + "/versions/{version}",
        "get_version",
        "One version with its validation report",
        get_version,
        "modules",
    ),
    Operation(
        "GET",
        _MOD + "/versions/{version}/download",
        "download",
        "Download the wasm",
        download,
        "modules",
        response="wasm",
    ),
    Operation(
        "POST",
        _MOD + "/versions/{version}/yank",
        "yank",
        "Yank a version",
        yank,
        "modules",
        body="json",
        auth="required",
        query=(QueryParam("reason", 'why (or JSON body {"reason": …})'),),
        fields=YANK_FIELDS,
    ),
    Operation(
        "DELETE",
        _MOD + "/versions/{version}/yank",
        "unyank",
        "Undo a yank",
        unyank,
        "modules",
        auth="required",
    ),
    Operation(
        "PUT",
        _MOD + "/rating",
        "rate",
        'Rate a module {"stars": 1-5, "review": …}',
        rate,
        "modules",
        body="json",
        auth="required",
        fields=RATING_FIELDS,
    ),
    Operation(
        "GET",
        _MOD + "/ratings",
        "list_ratings",
        "A module's ratings",
        list_ratings,
        "modules",
        query=_LIST,
    ),
    Operation(
        "GET",
        _MOD + "/stats",
        "stats",
        "Download statistics",
        stats,
        "modules",
        query=(QueryParam("days", "window in days (default 30, max 366)", "integer"),),
    ),
    # Last of the module routes: {version} would otherwise shadow /rating.
    Operation(
        "PUT",
        _MOD + "/{version}",
        "publish",
        "Publish a version: raw application/wasm (metadata in the query) or multipart",
        publish,
        "modules",
        body="publish",
        auth="required",
        success=201,
        query=(
            QueryParam("description", "raw upload: description"),
            QueryParam("license", "raw upload: SPDX license"),
            QueryParam("category", "raw upload: category"),
            QueryParam("tag", "raw upload: a tag (repeat for more)", repeated=True),
            QueryParam("tags", "raw upload: comma-separated tags"),
            QueryParam("homepage", "raw upload: homepage URL"),
            QueryParam("repository", "raw upload: repository URL"),
            QueryParam("sha256", "raw upload: expected SHA-256"),
        ),
    ),
    Operation(
        "GET",
        "/v1/cache/namespaces",
        "cache_namespaces",
        "Cache namespaces with stats",
        cache_namespaces,
        "cache",
        query=_LIST,
    ),
    Operation(
        "GET",
        "/v1/cache/namespaces/{ns}/stats",
        "cache_namespace_stats",
        "One cache namespace's stats",
        cache_namespace_stats,
        "cache",
    ),
    Operation(
        "GET",
        "/v1/health",
        "fleet_health",
        "Fleet health (monitor) and runtime balancing",
        fleet_health,
        "operations",
        query=(
            QueryParam("service", "one service only"),
            QueryParam("changes", "status changes to return", "integer"),
        ),
    ),
    Operation(
        "GET",
        "/v1/alerts",
        "alerts",
        "Alerts from the monitor",
        alerts,
        "operations",
        query=(
            QueryParam("state", "pending, firing or resolved"),
            QueryParam("rule", "one rule only"),
            QueryParam("include_silenced", "include silenced alerts", "boolean"),
            QueryParam("limit", "max alerts", "integer"),
        ),
    ),
    Operation(
        "GET",
        "/v1/traces/{trace_id}",
        "trace",
        "One trace from the monitor",
        get_trace,
        "operations",
    ),
    Operation("GET", "/v1/routes", "routes", "The active custom routes", list_routes, "operations"),
)
