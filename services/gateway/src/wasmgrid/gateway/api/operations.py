"""The fixed HTTP API: one declarative entry per operation.

:data:`OPERATIONS` is the single table the app registers and ``/openapi.json``
documents (probes, ``/metrics`` and ``/openapi.json`` itself are added in ``app.py``).
Most entries relay to one upstream RPC (:func:`~wasmgrid.gateway.api.relay.relay`):
method, path, RPC, request mapping, response mapping and status in one place. The
others have handlers of their own: module invocation, streamed publish and download,
and the gateway's own route table.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from google.protobuf.message import Message

from wasmgrid.api.cache.v1 import cache_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.api.monitor.v1 import monitor_pb2
from wasmgrid.common.categories import CATEGORIES
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.common.units import MAX_SIZE_CEILING_BYTES
from wasmgrid.gateway.api.audit import AUDIT_FILTERS, audit_request
from wasmgrid.gateway.api.bodies import json_response, to_json
from wasmgrid.gateway.api.download import download
from wasmgrid.gateway.api.relay import Inputs, Rpc, relay
from wasmgrid.gateway.api.upload import publish
from wasmgrid.gateway.api.users import USER_OPERATIONS
from wasmgrid.gateway.cgi import query_argv
from wasmgrid.gateway.invoke import CALL_FIELDS, Target, parse_module_ref, serve
from wasmgrid.gateway.invoke.values import MAX_ARGS
from wasmgrid.gateway.openapi import (
    CALL_DESCRIPTION,
    CALL_EXAMPLES,
    Link,
    Operation,
    QueryParam,
    page_params,
)
from wasmgrid.gateway.problem import Problem
from wasmgrid.gateway.routes import TOKEN_SCOPES
from wasmgrid.gateway.state import GATEWAY

_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}\Z")
_SORTS = ProtoEnum.names(mp.SearchSort)
_KINDS = ProtoEnum.names(mp.ModuleKind)
_ROLES = ProtoEnum.names(mp.Role)
_ALERT_STATES = ProtoEnum.names(monitor_pb2.AlertState)

#: The fields each JSON body may carry (also the OpenAPI schema's properties).
USER_FIELDS = ("username", "role", "token_name")
TOKEN_FIELDS = ("name", "scopes", "ttl_seconds")
YANK_FIELDS = ("reason",)
RATING_FIELDS = ("stars", "review")
LIMITS_FIELDS = ("max_module_bytes", "max_assets_bytes")


# ------------------------------------------------------------------ handlers of their own


#: The methods ``/v1/run`` serves (the OpenAPI document lists each); any other is a 405.
RUN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_RUN_ALLOW = ", ".join(sorted(RUN_METHODS))


async def run_module(request: web.Request) -> web.StreamResponse:
    """ANY /v1/run/{ns}/{module}[/{path}]: WAGI invoke."""
    if request.method not in RUN_METHODS:
        raise Problem(
            405,
            f"method {request.method[:16]} is not allowed on /v1/run; allowed: {_RUN_ALLOW}",
            headers={"Allow": _RUN_ALLOW},
        )
    ns, module = request.match_info["ns"], request.match_info["module"]
    ref = parse_module_ref(ns, module)
    rest = request.match_info.get("path", "")
    target = Target(
        ref,
        path_info="/" + rest if rest else "",
        script_name=f"/v1/run/{ns}/{module}",
        args=query_argv(request.rel_url.raw_query_string),
    )
    return await serve(request.app[GATEWAY], request, target)


async def call_function(request: web.Request) -> web.StreamResponse:
    """POST /v1/call/{ns}/{module}/{function}: {"args": [...]} → {"results": [...]}."""
    ref = parse_module_ref(request.match_info["ns"], request.match_info["module"])
    target = Target(ref, mode="function", function=request.match_info["function"])
    return await serve(request.app[GATEWAY], request, target)


async def list_routes(request: web.Request) -> web.Response:
    """GET /v1/routes: the active custom routes and the last routes-file error."""
    store = request.app[GATEWAY].routes
    return json_response(
        {
            "routes": [r.describe() for r in store.table.routes],
            "file": store.path.name if store.path else None,
            "last_error": store.last_error,
        }
    )


# ------------------------------------------------------------------ request mappings


def _create_user(a: Inputs) -> mp.CreateUserRequest:
    return mp.CreateUserRequest(
        username=a.field("username", str, ""),
        role=_ROLES.parse(a.field("role", str, "publisher"), "role"),
        token_name=a.field("token_name", str, ""),
    )


def _create_token(a: Inputs) -> mp.CreateTokenRequest:
    scopes = a.field("scopes", list, [])
    if not all(isinstance(s, str) for s in scopes):
        raise Problem(400, "scopes: must be a list of strings")
    ttl = a.field("ttl_seconds", int, 0)
    if not 0 <= ttl <= MAX_TTL_SECONDS:
        raise Problem(400, f"ttl_seconds: {ttl} is outside 0..{MAX_TTL_SECONDS} (0: never expires)")
    return mp.CreateTokenRequest(
        name=a.field("name", str, ""),
        scopes=[TOKEN_SCOPES.parse(s, f"scopes[{i}]") for i, s in enumerate(scopes)],
        ttl_seconds=ttl,
    )


def _search(a: Inputs) -> mp.SearchModulesRequest:
    return mp.SearchModulesRequest(
        query=a.query("q"),
        category=a.query("category"),
        tag=a.query("tag"),
        license=a.query("license"),
        kind=a.choice("kind", _KINDS),
        owner=a.query("owner"),
        namespace=a.query("namespace"),
        sort=a.choice("sort", _SORTS),
        page=a.page(),
    )


def _yank(a: Inputs) -> mp.YankRequest:
    reason = a.field("reason", str, a.query("reason"))
    return mp.YankRequest(name=a.module, version=a.path("version"), reason=reason)


def _rate(a: Inputs) -> mp.RateModuleRequest:
    stars = a.field("stars", int, None)
    if stars is None:
        raise Problem(400, "stars: required (1-5)")
    if not 1 <= stars <= 5:
        raise Problem(400, f"stars: {stars} is outside 1..5")
    return mp.RateModuleRequest(name=a.module, stars=stars, review=a.field("review", str, ""))


def _set_limits(a: Inputs) -> mp.SetNamespaceLimitsRequest:
    values = {}
    for name in LIMITS_FIELDS:
        value = a.field(name, int, 0)
        if value < 0:
            raise Problem(400, f"{name}: {value} must be 0 (the default) or more")
        if value > MAX_SIZE_CEILING_BYTES:
            # Past any ceiling a marketplace can have (and past uint64 it was a 500).
            raise Problem(
                400, f"{name}: {value} is above {MAX_SIZE_CEILING_BYTES}, the largest size ceiling"
            )
        values[name] = value
    return mp.SetNamespaceLimitsRequest(namespace=a.path("ns"), **values)


def _alerts(a: Inputs) -> monitor_pb2.ListAlertsRequest:
    state = a.choice("state", _ALERT_STATES)
    return monitor_pb2.ListAlertsRequest(
        states=[state] if state is not None else [],
        rule=a.query("rule"),
        include_silenced=a.flag("include_silenced"),
        limit=a.integer("limit", 0, 0, 5000),
    )


def _trace(a: Inputs) -> monitor_pb2.GetTraceRequest:
    trace_id = a.path("trace_id")
    if not _TRACE_ID.match(trace_id):
        raise Problem(400, f"trace_id: {trace_id[:64]!r} is not 32 hex digits")
    if not trace_id.strip("0"):
        raise Problem(404, "no trace has the all-zero id (W3C trace context: invalid)")
    return monitor_pb2.GetTraceRequest(trace_id=trace_id.lower())


def _with_balancer(answer: Message, a: Inputs) -> dict[str, Any]:
    """Fleet health, plus this gateway's own view of the runtime replicas."""
    doc = to_json(answer)
    gw = a.gateway
    doc["gateway"] = {"runtime": gw.pool.describe(), "routes": len(gw.routes.table)}
    return doc


# ------------------------------------------------------------------ the table

_MOD = "/v1/modules/{ns}/{name}"
#: The longest token lifetime the marketplace grants (366 days).
MAX_TTL_SECONDS = 366 * 24 * 3600
#: Page sizes the services serve (0: their default); above it they refuse with a 400.
REGISTRY_MAX_PAGE = 100
#: A module's versions come in pages of up to 1000 (the marketplace's MAX_VERSION_PAGE).
VERSIONS_MAX_PAGE = 1000
CACHE_MAX_PAGE = 1000
AUDIT_MAX_PAGE = 1000


_LIST = page_params(REGISTRY_MAX_PAGE)
#: From a module's versions to its first one (never to yank: a link is followed blindly).
_VERSION_LINKS = tuple(
    Link(
        name,
        name,
        (
            ("ns", "$request.path.ns"),
            ("name", "$request.path.name"),
            ("version", "$response.body#/versions/0/version"),
        ),
    )
    for name in ("get_version", "download")
)
#: From a published version to what a client does next with it: read it back, download
#: it, yank it (the stateful contract run follows these; it publishes in a namespace of
#: its own), rate the module and read its ratings and statistics.
_PUBLISHED = (
    ("ns", "$request.path.ns"),
    ("name", "$request.path.name"),
)
_PUBLISH_LINKS = (
    *(
        Link(name, name, (*_PUBLISHED, ("version", "$response.body#/version/version")))
        for name in ("get_version", "download", "yank")
    ),
    *(Link(name, name, _PUBLISHED) for name in ("get_module", "list_versions", "rate", "stats")),
)
#: From a yank to its undoing.
_UNYANK_LINKS = (
    Link(
        "unyank",
        "unyank",
        (*_PUBLISHED, ("version", "$request.path.version")),
    ),
)
#: From a rating to the module's list of them.
_RATINGS_LINKS = (Link("list_ratings", "list_ratings", _PUBLISHED),)
#: Text the marketplace stores: PostgreSQL's text holds no NUL, so it is refused (400).
_NO_NUL = "^[^\\x00]*$"
#: What ``str.strip()`` strips (the marketplace's "blank"), spelled out: regex engines
#: disagree on what ``\s`` matches (U+001C..U+001F, U+0085, U+FEFF).
_BLANK = "".join(f"\\u{c:04x}" for c in range(0x3001) if chr(c).isspace())
_NOT_BLANK = f"^[^\\x00]*[^\\x00{_BLANK}][^\\x00]*$"
_NAME_TEXT: dict[str, Any] = {"type": "string", "maxLength": 64, "pattern": _NO_NUL}
_TEXT = {"type": "string"}
#: The JSON body fields' schemas, as strict as the checks behind them.
USER_SCHEMAS = (
    ("username", {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,37}[A-Za-z0-9]$"}),
    ("role", {"type": "string", "enum": list(_ROLES.choices)}),
    ("token_name", _NAME_TEXT),
)
TOKEN_SCHEMAS = (
    ("name", _NAME_TEXT),
    (
        "scopes",
        {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": list(TOKEN_SCOPES.choices)},
        },
    ),
    ("ttl_seconds", {"type": "integer", "minimum": 0, "maximum": MAX_TTL_SECONDS}),
)
YANK_SCHEMAS = (
    (
        "reason",
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 500,
            "pattern": _NOT_BLANK,
            "description": "1..500 characters, not all whitespace",
        },
    ),
)
#: The most a cap may be set to here: the marketplace's default ceiling
#: (``WASMGRID_MARKETPLACE_SIZE_CEILING_BYTES``; a deployment may set it lower, and
#: the marketplace answers 400 naming it).
CAP_CEILING_BYTES = 1 << 30
LIMITS_SCHEMAS = tuple(
    (name, {"type": "integer", "minimum": 0, "maximum": CAP_CEILING_BYTES})
    for name in LIMITS_FIELDS
)
RATING_SCHEMAS = (
    ("stars", {"type": "integer", "minimum": 1, "maximum": 5}),
    ("review", {"type": "string", "maxLength": 2000, "pattern": _NO_NUL}),
)

#: Every fixed operation (probes, /metrics and /openapi.json are added in app.py).
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "*",
        "/v1/run/{ns}/{module}",
        "run",
        "Invoke a module (WAGI/CGI): body → stdin; argv from the query (RFC 3875 words or k=v)",
        run_module,
        "invoke",
        body="any",
        response="guest",
        shed_first=True,
    ),
    Operation(
        "*",
        "/v1/run/{ns}/{module}/{path:[\\s\\S]*}",
        "run_path",
        "Invoke a module with PATH_INFO",
        run_module,
        "invoke",
        body="any",
        response="guest",
        shed_first=True,
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
        field_schemas=(("args", {"type": "array", "maxItems": MAX_ARGS}),),
        description=CALL_DESCRIPTION,
        examples=CALL_EXAMPLES,
        shed_first=True,
    ),
    relay(
        "POST",
        "/v1/users",
        "create_user",
        "Create a user and its first token",
        "identity",
        Rpc("marketplace", "CreateUser", _create_user),
        fields=USER_FIELDS,
        field_schemas=USER_SCHEMAS,
        required_fields=("username",),
        auth="optional",
        success=201,
        links=(
            Link("set_role", "set_user_role", (("username", "$response.body#/user/username"),)),
        ),
    ),
    *USER_OPERATIONS,
    relay(
        "POST",
        "/v1/tokens",
        "create_token",
        "Create a token for the caller",
        "identity",
        Rpc("marketplace", "CreateToken", _create_token),
        fields=TOKEN_FIELDS,
        field_schemas=TOKEN_SCHEMAS,
        required_fields=("scopes",),
        auth="required",
        success=201,
        links=(Link("revoke", "revoke_token", (("id", "$response.body#/token/id"),)),),
    ),
    relay(
        "GET",
        "/v1/tokens",
        "list_tokens",
        "The caller's tokens",
        "identity",
        Rpc(
            "marketplace",
            "ListTokens",
            lambda a: mp.ListTokensRequest(include_inactive=a.flag("include_inactive")),
        ),
        query=(QueryParam("include_inactive", "also revoked/expired: true or false", "boolean"),),
        auth="required",
    ),
    relay(
        "DELETE",
        "/v1/tokens/{id}",
        "revoke_token",
        "Revoke a token",
        "identity",
        Rpc("marketplace", "RevokeToken", lambda a: mp.RevokeTokenRequest(token_id=a.path("id"))),
        auth="required",
    ),
    relay(
        "GET",
        "/v1/whoami",
        "whoami",
        "The user and token behind the credentials",
        "identity",
        Rpc("marketplace", "WhoAmI", lambda a: mp.WhoAmIRequest()),
        auth="required",
    ),
    relay(
        "GET",
        "/v1/namespaces/{ns}/limits",
        "get_namespace_limits",
        "A namespace's size caps (module and assets bytes)",
        "identity",
        Rpc(
            "marketplace",
            "GetNamespaceLimits",
            lambda a: mp.GetNamespaceLimitsRequest(namespace=a.path("ns")),
        ),
    ),
    relay(
        "PUT",
        "/v1/namespaces/{ns}/limits",
        "set_namespace_limits",
        "Set a namespace's size caps (admins; 0 = the default)",
        "identity",
        Rpc("marketplace", "SetNamespaceLimits", _set_limits),
        fields=LIMITS_FIELDS,
        field_schemas=LIMITS_SCHEMAS,
        auth="required",
    ),
    relay(
        "GET",
        "/v1/modules",
        "search",
        "Search modules",
        "modules",
        Rpc("marketplace", "SearchModules", _search),
        query=(
            QueryParam("q", "free text", max_length=200),
            QueryParam(
                "category",
                f"one of {', '.join(CATEGORIES)} (case, '_', ' ', '&' and 'and' folded)",
                max_length=64,
            ),
            QueryParam("tag", "tag filter", max_length=32, pattern=_NO_NUL),
            QueryParam("license", "SPDX license filter"),
            QueryParam("kind", "command, reactor or component", enum=tuple(_KINDS.choices)),
            QueryParam(
                "owner", "modules in namespaces this user owns", max_length=39, pattern=_NO_NUL
            ),
            QueryParam("namespace", "namespace filter", max_length=39, pattern=_NO_NUL),
            QueryParam("sort", "the order of hits", enum=tuple(_SORTS.choices)),
            *_LIST,
        ),
    ),
    relay(
        "GET",
        _MOD,
        "get_module",
        "A module's registry entry",
        "modules",
        Rpc("marketplace", "GetModule", lambda a: mp.GetModuleRequest(name=a.module)),
    ),
    relay(
        "GET",
        _MOD + "/versions",
        "list_versions",
        "A module's versions",
        "modules",
        Rpc(
            "marketplace",
            "ListVersions",
            lambda a: mp.ListVersionsRequest(name=a.module, page=a.page()),
        ),
        query=page_params(VERSIONS_MAX_PAGE),
        links=_VERSION_LINKS,
    ),
    relay(
        "GET",
        _MOD + "/versions/{version}",
        "get_version",
        "One version with its validation report",
        "modules",
        Rpc(
            "marketplace",
            "GetVersion",
            lambda a: mp.GetVersionRequest(name=a.module, version=a.path("version")),
        ),
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
    relay(
        "POST",
        _MOD + "/versions/{version}/yank",
        "yank",
        "Yank a version",
        "modules",
        Rpc("marketplace", "Yank", _yank),
        fields=YANK_FIELDS,
        field_schemas=YANK_SCHEMAS,
        # The reason is required, in the query or the body: a schema cannot require one
        # of two places, so neither is marked required (a yank without one is a 400).
        body_required=False,
        auth="required",
        query=(
            QueryParam(
                "reason",
                'why, 1..500 characters, not all whitespace (or JSON body {"reason": …})',
                min_length=1,
                max_length=500,
                pattern=_NOT_BLANK,
            ),
        ),
        links=_UNYANK_LINKS,
    ),
    relay(
        "DELETE",
        _MOD + "/versions/{version}/yank",
        "unyank",
        "Undo a yank",
        "modules",
        Rpc(
            "marketplace",
            "Unyank",
            lambda a: mp.UnyankRequest(name=a.module, version=a.path("version")),
        ),
        auth="required",
    ),
    relay(
        "PUT",
        _MOD + "/rating",
        "rate",
        'Rate a module {"stars": 1-5, "review": …}',
        "modules",
        Rpc("marketplace", "RateModule", _rate),
        fields=RATING_FIELDS,
        field_schemas=RATING_SCHEMAS,
        required_fields=("stars",),
        auth="required",
        links=_RATINGS_LINKS,
    ),
    relay(
        "GET",
        _MOD + "/ratings",
        "list_ratings",
        "A module's ratings",
        "modules",
        Rpc(
            "marketplace",
            "ListRatings",
            lambda a: mp.ListRatingsRequest(name=a.module, page=a.page()),
        ),
        query=_LIST,
    ),
    relay(
        "GET",
        _MOD + "/stats",
        "stats",
        "Download statistics",
        "modules",
        Rpc(
            "marketplace",
            "GetDownloadStats",
            lambda a: mp.GetDownloadStatsRequest(name=a.module, days=a.integer("days", 0, 0, 366)),
        ),
        query=(QueryParam("days", "window in days (0: 30)", "integer", minimum=0, maximum=366),),
    ),
    # Last of the module routes: {version} would otherwise shadow /rating.
    Operation(
        "PUT",
        # A version starts with a digit: /rating, /stats, … are not versions (so a 405
        # on them lists only their own methods in Allow).
        _MOD + "/{version:[0-9][^/]*}",
        "publish",
        "Publish a version: raw application/wasm (metadata in the query) or multipart",
        publish,
        "modules",
        body="publish",
        auth="required",
        success=201,
        links=_PUBLISH_LINKS,
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
    relay(
        "GET",
        "/v1/cache/namespaces",
        "cache_namespaces",
        "Cache namespaces with stats",
        "cache",
        Rpc("cache", "ListNamespaces", lambda a: cache_pb2.ListNamespacesRequest(page=a.page())),
        query=page_params(CACHE_MAX_PAGE),
    ),
    relay(
        "GET",
        "/v1/cache/namespaces/{ns}/stats",
        "cache_namespace_stats",
        "One cache namespace's stats",
        "cache",
        Rpc("cache", "Stats", lambda a: cache_pb2.StatsRequest(namespace=a.path("ns"))),
    ),
    relay(
        "GET",
        "/v1/health",
        "fleet_health",
        "Fleet health (monitor) and runtime balancing",
        "operations",
        Rpc(
            "monitor",
            "GetFleetHealth",
            lambda a: monitor_pb2.GetFleetHealthRequest(
                service=a.query("service"), changes_limit=a.integer("changes", 0, 0, 1000)
            ),
            _with_balancer,
        ),
        query=(
            QueryParam("service", "one service only"),
            QueryParam(
                "changes", "status changes to return (0: 50)", "integer", minimum=0, maximum=1000
            ),
        ),
    ),
    relay(
        "GET",
        "/v1/alerts",
        "alerts",
        "Alerts from the monitor",
        "operations",
        Rpc("monitor", "ListAlerts", _alerts),
        query=(
            QueryParam("state", "one state only", enum=tuple(_ALERT_STATES.choices)),
            QueryParam("rule", "one rule only"),
            QueryParam("include_silenced", "include silenced alerts: true or false", "boolean"),
            QueryParam("limit", "max alerts (0: 500)", "integer", minimum=0, maximum=5000),
        ),
    ),
    relay(
        "GET",
        "/v1/traces/{trace_id}",
        "trace",
        "One trace from the monitor",
        "operations",
        Rpc("monitor", "GetTrace", _trace),
    ),
    Operation("GET", "/v1/routes", "routes", "The active custom routes", list_routes, "operations"),
    relay(
        "GET",
        "/v1/audit",
        "audit",
        "The audit log, newest first (admins only)",
        "operations",
        Rpc("marketplace", "ListAuditEvents", audit_request),
        query=(
            *AUDIT_FILTERS,
            *page_params(AUDIT_MAX_PAGE),
        ),
        auth="required",
        statuses=(("403", "the token is not an admin's (admin role with the admin scope)"),),
    ),
)
