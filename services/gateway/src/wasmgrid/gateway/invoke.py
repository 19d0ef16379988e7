"""Running modules: WAGI/CGI commands and function calls, behind the per-route middleware.

One flow serves ``/v1/run``, ``/v1/call`` and the custom routes of the routes file:
CORS → body limit (declared length) → auth → rate limit → body (streamed, capped) →
resolve ``ns/name@req`` → response-cache lookup → runtime call under the deadline →
CGI parse / JSON results → cache fill.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import grpc
from aiohttp import web

from wasmgrid.api.marketplace.v1 import marketplace_pb2
from wasmgrid.api.runtime.v1 import runtime_pb2
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.gateway.cgi import CgiError, CgiRequest, build_env, parse_response, stderr_excerpt
from wasmgrid.gateway.problem import (
    Problem,
    refuse_unknown_fields,
    upstream_errors,
    upstream_problem,
)
from wasmgrid.gateway.ratelimit import Rule
from wasmgrid.gateway.routes import TOKEN_SCOPES, Middleware, ModuleRef, Route, format_args
from wasmgrid.gateway.state import Gateway
from wasmgrid.gateway.upstream import (
    CachedResponse,
    NoReplica,
    Resolved,
    response_cache_key,
    token_fingerprint,
)

NO_MIDDLEWARE = Middleware()
OUTCOMES = ProtoEnum.names(runtime_pb2.Outcome)
VALUE_TYPES = ProtoEnum.names(runtime_pb2.ValueType)
_INT_RANGES = {"i32": (-(2**31), 2**32 - 1), "i64": (-(2**63), 2**64 - 1)}
_MAX_CALL_BODY = 64 * 1024
#: The fields of a function call's JSON body.
CALL_FIELDS = ("args",)


@dataclass
class Target:
    """What to run for one request."""

    ref: ModuleRef
    mode: str = "command"
    function: str | None = None
    route: Route | None = None
    params: dict[str, str] = field(default_factory=dict)
    path_info: str = ""
    script_name: str = ""
    args: list[str] = field(default_factory=list)

    @property
    def middleware(self) -> Middleware:
        return self.route.middleware if self.route else NO_MIDDLEWARE


def parse_module_ref(ns: str, module: str) -> ModuleRef:
    """``{ns}`` and ``{name}[@{req}]`` path segments → ModuleRef (400 naming the segment)."""
    try:
        return ModuleRef.parse(f"{ns}/{unquote(module)}")
    except ValueError as exc:
        raise Problem(400, f"module path segment: {exc}") from None


def client_ip(request: web.Request, trust_forwarded: bool) -> str:
    """The client address (first X-Forwarded-For hop only when configured to trust it)."""
    if trust_forwarded:
        xff = request.headers.get("X-Forwarded-For")
        if xff:
            return xff.split(",")[0].strip()
    return request.remote or ""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused with 413 once it passes `limit` (chunked bodies too)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise Problem(413, f"request body of {declared} bytes exceeds the {limit}-byte limit")
    if declared is not None:
        # The parser delivers exactly Content-Length bytes: read them at once, straight
        # from the buffer when the whole body came with the headers (small requests).
        if not declared:
            return b""
        if request.content.is_eof():  # all of it arrived: take the buffer as is
            return request.content.read_nowait()
        return await request.read()
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        total += len(chunk)
        if total > limit:
            raise Problem(413, f"request body exceeds the {limit}-byte limit (streamed)")
        chunks.append(chunk)
    return b"".join(chunks)


def _cors_headers(request: web.Request, mw: Middleware) -> dict[str, str]:
    cors = mw.cors
    origin = request.headers.get("Origin")
    if cors is None or not origin or not cors.origin_allowed(origin):
        return {}
    out = {
        "Access-Control-Allow-Origin": "*" if "*" in cors.allow_origins else origin,
        "Vary": "Origin",
    }
    if cors.allow_credentials:
        out["Access-Control-Allow-Credentials"] = "true"
    if cors.expose_headers:
        out["Access-Control-Expose-Headers"] = ", ".join(cors.expose_headers)
    return out


def _preflight(request: web.Request, target: Target) -> web.Response | None:
    cors = target.middleware.cors
    if (
        cors is None
        or request.method != "OPTIONS"
        or "Access-Control-Request-Method" not in request.headers
    ):
        return None
    origin = request.headers.get("Origin", "")
    if not cors.origin_allowed(origin):
        raise Problem(403, f"origin {origin!r} is not allowed by the CORS policy of this route")
    wanted = request.headers["Access-Control-Request-Method"].upper()
    route_methods = target.route.methods if target.route and target.route.methods else None
    allowed = cors.allow_methods or tuple(sorted(route_methods or ())) or ("GET", "POST")
    if wanted not in allowed:
        raise Problem(403, f"method {wanted} is not allowed by the CORS policy of this route")
    headers = _cors_headers(request, target.middleware)
    headers["Access-Control-Allow-Methods"] = ", ".join(allowed)
    asked = request.headers.get("Access-Control-Request-Headers")
    if cors.allow_headers:
        headers["Access-Control-Allow-Headers"] = ", ".join(cors.allow_headers)
    elif asked:
        headers["Access-Control-Allow-Headers"] = asked
    headers["Access-Control-Max-Age"] = str(cors.max_age_seconds)
    return web.Response(status=204, headers=headers)


async def authenticate(gw: Gateway, request: web.Request, target: Target) -> str:
    """The user behind the request's token; 401 without a valid token, 403 without the scope."""
    auth = target.middleware.auth
    assert auth is not None
    header = request.headers.get("Authorization", "")
    route = target.route.name if target.route else "?"
    challenge = {"WWW-Authenticate": 'Bearer realm="wasmgrid"'}
    if not header.startswith("Bearer ") or len(header) < 8:
        raise Problem(
            401,
            f"route {route!r} needs a token: send 'Authorization: Bearer <token>'",
            headers=challenge,
        )
    try:
        who = await gw.registry.whoami(header)
    except grpc.aio.AioRpcError as err:
        problem = upstream_problem(err, "marketplace")
        if problem.status == 401:
            problem.headers.update(challenge)
        raise problem from None
    have = {TOKEN_SCOPES.name(s) for s in who.token.scopes}
    if "admin" not in have:
        missing = [s for s in auth.scopes if s not in have]
        if missing:
            raise Problem(403, f"token lacks scope {missing[0]!r} required by route {route!r}")
    return str(who.user.username)


async def rate_limit(gw: Gateway, request: web.Request, target: Target) -> dict[str, str]:
    """``RateLimit-*`` headers for an admitted request; raises 429 when refused."""
    conf = target.middleware.rate_limit
    assert conf is not None and target.route is not None
    if conf.key == "ip":
        who = client_ip(request, gw.settings.trust_forwarded_for)
    elif conf.key == "token":
        token = request.headers.get("Authorization", "")
        who = (
            "t:" + token_fingerprint(token)
            if token
            else "ip:" + client_ip(request, gw.settings.trust_forwarded_for)
        )
    elif conf.key == "route":
        who = "route"
    else:
        who = "global"
    key = f"global:{who}" if conf.key == "global" else f"{target.route.name}:{conf.key}:{who}"
    decision = await gw.limiter.check(key, Rule.from_config(conf))
    headers = decision.headers()
    if not decision.allowed:
        raise Problem(
            429,
            f"rate limit of {decision.limit} requests per {conf.window_seconds:g}s exceeded"
            f" on route {target.route.name!r} (key: {conf.key})",
            headers=headers,
            extra={"retry_after_seconds": round(decision.retry_after_seconds, 3)},
        )
    return headers


async def resolve(gw: Gateway, request: web.Request, ref: ModuleRef) -> Resolved:
    """``ns/name@req`` → version and digest (through the short-lived resolve cache)."""
    auth = request.headers.get("Authorization")
    metadata = (("authorization", auth),) if auth else ()
    with upstream_errors("marketplace"):
        return await gw.registry.resolve(f"{ref.namespace}/{ref.name}", ref.requirement, metadata)


def _limits(target: Target, remaining: float) -> runtime_pb2.Limits:
    lim = target.route.limits if target.route else None
    budget = remaining - 0.05  # leave the runtime time to answer before our deadline
    if lim is not None and lim.timeout_seconds is not None:
        budget = min(budget, lim.timeout_seconds)
    return runtime_pb2.Limits(
        fuel=(lim.fuel or 0) if lim else 0,
        timeout_ms=max(1, min(60_000, int(budget * 1000))),
        memory_bytes=(lim.memory_bytes or 0) if lim else 0,
        stdout_bytes=(lim.max_output_bytes or 0) if lim else 0,
    )


def raise_for_outcome(
    resp: runtime_pb2.InvokeResponse | runtime_pb2.CallResponse, label: str, excerpt_bytes: int
) -> None:
    """Nothing for OUTCOME_OK; otherwise raise the problem that names the limit or the
    exit code (with a bounded stderr excerpt)."""
    outcome, exit_code, trap = resp.outcome, resp.exit_code, resp.trap_message
    if outcome == runtime_pb2.OUTCOME_OK:
        return
    applied = resp.execution.limits
    status, detail = 502, f"module {label} failed: {trap or 'unknown outcome'}"
    if outcome == runtime_pb2.OUTCOME_EXIT:
        detail = f"module {label} exited with code {exit_code}"
    elif outcome == runtime_pb2.OUTCOME_TRAP:
        detail = f"module {label} trapped: {trap}"
    elif outcome == runtime_pb2.OUTCOME_FUEL_EXHAUSTED:
        detail = f"module {label} ran out of fuel (limit {applied.fuel} units)"
    elif outcome == runtime_pb2.OUTCOME_TIMEOUT:
        status = 504
        detail = f"module {label} exceeded its {applied.timeout_ms} ms time limit"
    elif outcome == runtime_pb2.OUTCOME_MEMORY_LIMIT:
        detail = f"module {label} exceeded its memory limit of {applied.memory_bytes} bytes"
    elif outcome == runtime_pb2.OUTCOME_STACK_OVERFLOW:
        detail = f"module {label} overflowed its {applied.stack_bytes}-byte stack"
    elif outcome == runtime_pb2.OUTCOME_OUTPUT_TRUNCATED:
        detail = f"module {label} wrote more than its {applied.stdout_bytes}-byte output limit"
    extra: dict[str, Any] = {"outcome": OUTCOMES.name(outcome)}
    if outcome == runtime_pb2.OUTCOME_EXIT:
        extra["exit_code"] = exit_code
    excerpt = stderr_excerpt(resp.output.stderr, excerpt_bytes)
    if excerpt:
        extra["stderr"] = excerpt
    raise Problem(status, detail, extra=extra)


def _cacheable(status: int, headers: list[tuple[str, str]], body: bytes, limit: int) -> bool:
    if not 200 <= status < 300 or status == 206 or len(body) > limit:
        return False
    for name, value in headers:
        lower = name.lower()
        if lower == "set-cookie":
            return False
        if lower == "cache-control" and any(
            d in value.lower() for d in ("no-store", "private", "no-cache")
        ):
            return False
    return True


async def serve(
    gw: Gateway, request: web.Request, target: Target, *, redirects: int = 0
) -> web.StreamResponse:
    """Run `target` for `request` through its middleware chain."""
    settings = gw.settings
    mw = target.middleware
    preflight = _preflight(request, target)
    if preflight is not None:
        return preflight
    out_headers: dict[str, str] = _cors_headers(request, mw)
    limit = min(mw.body_limit_bytes or settings.max_body_bytes, settings.max_body_bytes)
    if target.mode == "function":
        limit = min(limit, _MAX_CALL_BODY)
    declared = request.content_length
    if redirects == 0 and declared is not None and declared > limit:
        raise Problem(413, f"request body of {declared} bytes exceeds the {limit}-byte limit")
    user = ""
    if mw.auth is not None:
        user = await authenticate(gw, request, target)
    if mw.rate_limit is not None:
        out_headers.update(await rate_limit(gw, request, target))
    body = await read_body(request, limit) if redirects == 0 else b""
    method = request.method if redirects == 0 else "GET"
    deadline = time.monotonic() + (mw.timeout_seconds or settings.invoke_timeout_seconds)
    resolved = await resolve(gw, request, target.ref)
    label = f"{resolved.name}@{resolved.version}"
    out_headers["X-Wasmgrid-Module"] = label
    cache_key = None
    if mw.cache is not None and gw.cache.enabled:
        vary = [(h, request.headers.get(h, "")) for h in mw.cache.vary]
        # The target's own path and query: after a local redirect they are not the
        # request's.
        cache_key = response_cache_key(
            resolved.digest,
            method,
            target.script_name + target.path_info,
            request.query_string if redirects == 0 else "",
            body,
            vary,
        )
        hit = await gw.cache.get(cache_key)
        if hit is not None:
            return _respond(hit, out_headers, "HIT")
    if target.mode == "function":
        result = await _call_function(gw, target, resolved, body, deadline, label)
    else:
        produced = await _run_command(
            gw, request, target, resolved, method, body, user, deadline, label, redirects
        )
        if isinstance(produced, web.StreamResponse):
            return produced
        result = produced
    if cache_key is not None and mw.cache is not None:
        if _cacheable(result.status, result.headers, result.body, settings.cache_max_body_bytes):
            await gw.cache.put(cache_key, result, mw.cache.ttl_seconds)
        return _respond(result, out_headers, "MISS")
    return _respond(result, out_headers, None)


def _respond(result: CachedResponse, extra: Mapping[str, str], x_cache: str | None) -> web.Response:
    response = web.Response(status=result.status, body=result.body)
    headers = response.headers
    for key, value in result.headers:
        if key.lower() == "content-type":
            response.headers["Content-Type"] = value
        else:
            headers.add(key, value)
    for key, value in extra.items():
        headers[key] = value
    if x_cache is not None:
        headers["X-Cache"] = x_cache
    return response


async def _runtime_call(gw: Gateway, method: str, fn: Any, key: str, deadline: float) -> Any:
    try:
        with upstream_errors("runtime"):
            return await gw.pool.call(method, fn, key=key, deadline=deadline)
    except NoReplica as exc:
        raise Problem(503, str(exc), headers={"Retry-After": "1"}) from None
    except TimeoutError:
        raise Problem(504, "deadline passed before the runtime answered") from None


async def _run_command(
    gw: Gateway,
    request: web.Request,
    target: Target,
    resolved: Resolved,
    method: str,
    body: bytes,
    user: str,
    deadline: float,
    label: str,
    redirects: int,
) -> CachedResponse | web.StreamResponse:
    settings = gw.settings
    if resolved.kind == marketplace_pb2.MODULE_KIND_REACTOR:
        raise Problem(
            400,
            f"module {label} is a reactor (no _start): call an export with"
            f" POST /v1/call/{target.ref.namespace}/{target.ref.name}/{{function}}",
        )
    host = request.host or ""
    server_name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    server_port = int(port) if port.isdigit() else (sockname[1] if sockname else 0)
    env = build_env(
        CgiRequest(
            method=method,
            script_name=target.script_name,
            path_info=target.path_info,
            query_string=request.query_string if redirects == 0 else "",
            headers=list(request.headers.items()),
            remote_addr=client_ip(request, settings.trust_forwarded_for),
            server_name=server_name or "localhost",
            server_port=server_port,
            server_protocol=f"HTTP/{request.version.major}.{request.version.minor}",
            content_length=len(body),
            matched_route=target.route.name if target.route else "",
            route_params=target.params,
            remote_user=user,
            scheme=request.scheme,
        )
    )
    invoke = runtime_pb2.InvokeRequest(
        module=runtime_pb2.ModuleSource(digest=resolved.digest, display_name=label),
        stdin=body,
        args=target.args,
        limits=_limits(target, deadline - time.monotonic()),
    )
    add_env = invoke.env.add  # in place: ~40% cheaper than a list of EnvVar messages
    for name, value in env.items():
        add_env(name=name, value=value)
    resp: runtime_pb2.InvokeResponse = await _runtime_call(
        gw,
        "Invoke",
        lambda stub, timeout, md: stub.Invoke(invoke, timeout=timeout, metadata=md),
        resolved.digest,
        deadline,
    )
    raise_for_outcome(resp, label, settings.stderr_excerpt_bytes)
    try:
        cgi = parse_response(resp.output.stdout, max_header_bytes=settings.cgi_max_header_bytes)
    except CgiError as exc:
        raise Problem(502, f"module {label} wrote an invalid CGI response: {exc}") from None
    if cgi.local_redirect is not None:
        return await _local_redirect(gw, request, cgi.local_redirect, redirects, label)
    return CachedResponse(cgi.status, cgi.headers, cgi.body)


async def _local_redirect(
    gw: Gateway, request: web.Request, location: str, redirects: int, label: str
) -> web.StreamResponse:
    """RFC 3875 §6.2.2: serve `location` as a new GET on this gateway (bounded hops)."""
    if redirects >= gw.settings.max_local_redirects:
        raise Problem(
            502,
            f"module {label} redirected locally more than"
            f" {gw.settings.max_local_redirects} times (last: {location!r})",
        )
    path = location.split("?", 1)[0]
    target = target_for_path(gw, request.host or "", "GET", path)
    if target is None:
        raise Problem(502, f"module {label} redirected locally to {path!r}, which matches no route")
    return await serve(gw, request, target, redirects=redirects + 1)


def target_for_path(gw: Gateway, host: str, method: str, path: str) -> Target | None:
    """The target a gateway-local path names: ``/v1/run/…`` or a custom route."""
    if path.startswith("/v1/run/"):
        parts = path[len("/v1/run/") :].split("/", 2)
        if len(parts) < 2:
            return None
        ref = parse_module_ref(parts[0], parts[1])
        rest = "/" + parts[2] if len(parts) == 3 else ""
        return Target(
            ref,
            path_info=rest,
            script_name=f"/v1/run/{parts[0]}/{parts[1]}",
            args=[],
        )
    result = gw.routes.table.match(host, method, path)
    if result.match is None:
        return None
    return target_for_route(
        result.match.route, result.match.params, result.match.path_info, result.match.script_name
    )


def target_for_route(route: Route, params: dict[str, str], path_info: str, script: str) -> Target:
    """A Target for a matched custom route."""
    return Target(
        route.module,
        mode=route.mode,
        function=route.function,
        route=route,
        params=params,
        path_info=path_info,
        script_name=script,
        args=format_args(route.args, params),
    )


# ------------------------------------------------------------------ function mode


def _to_value(arg: Any, index: int, expected: str | None, function: str) -> runtime_pb2.Value:
    where = f"args[{index}]"
    kind = expected
    value = arg
    if isinstance(arg, dict):
        if len(arg) != 1 or next(iter(arg)) not in ("i32", "i64", "f32", "f64"):
            raise Problem(
                400, f'{where}: a typed argument is one of {{"i32"|"i64"|"f32"|"f64": n}}'
            )
        ((kind, value),) = arg.items()
        if expected is not None and kind != expected:
            raise Problem(400, f"{where}: {function} expects {expected}, got {kind}")
    if kind is None:
        raise Problem(400, f'{where}: the type is unknown; pass it as {{"i32": {arg!r}}}')
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Problem(400, f"{where}: {value!r} is not a number ({function} expects {kind})")
    if kind in ("i32", "i64"):
        try:
            number = int(value) if not isinstance(value, float) else None
        except ValueError:
            number = None
        if number is None:
            raise Problem(400, f"{where}: {value!r} is not an integer ({function} expects {kind})")
        low, high = _INT_RANGES[kind]
        if not low <= number <= high:
            raise Problem(400, f"{where}: {number} is outside the {kind} range {low}..{high}")
        bits = 32 if kind == "i32" else 64
        if number >= 2 ** (bits - 1):
            number -= 2**bits  # unsigned spelling → the same bits, signed
        return runtime_pb2.Value(**{kind: number})
    try:
        real = float(value)
    except ValueError:
        raise Problem(
            400, f"{where}: {value!r} is not a number ({function} expects {kind})"
        ) from None
    return runtime_pb2.Value(f32=real) if kind == "f32" else runtime_pb2.Value(f64=real)


def _from_value(value: runtime_pb2.Value) -> tuple[str, Any]:
    kind = value.WhichOneof("value") or "i32"
    number = getattr(value, kind)
    if isinstance(number, float) and not math.isfinite(number):
        return kind, "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    return kind, number


async def _signature(
    gw: Gateway, resolved: Resolved, function: str, deadline: float
) -> tuple[list[str], list[str]] | None:
    sigs = gw.signatures.get(resolved.digest)
    if sigs is None:
        warm: runtime_pb2.WarmResponse = await _runtime_call(
            gw,
            "Warm",
            lambda stub, timeout, md: stub.Warm(
                runtime_pb2.WarmRequest(module=runtime_pb2.ModuleSource(digest=resolved.digest)),
                timeout=timeout,
                metadata=md,
            ),
            resolved.digest,
            deadline,
        )
        sigs = {
            f.name: (
                [VALUE_TYPES.name(t) for t in f.params],
                [VALUE_TYPES.name(t) for t in f.results],
            )
            for f in warm.functions
            if f.callable
        }
        gw.signatures.put(resolved.digest, sigs)
    return sigs.get(function)


async def _core_values(
    gw: Gateway, resolved: Resolved, function: str, args: list[Any], deadline: float, label: str
) -> list[runtime_pb2.Value]:
    """A core module's arguments typed by the export's signature (numbers only)."""
    signature = await _signature(gw, resolved, function, deadline)
    if signature is None:
        raise Problem(404, f"module {label} has no callable export named {function!r}")
    params, _results = signature
    if len(args) != len(params):
        raise Problem(
            400,
            f"{function} takes {len(params)} argument(s) ({', '.join(params) or 'none'}),"
            f" got {len(args)}",
        )
    return [_to_value(a, i, params[i], function) for i, a in enumerate(args)]


async def _call_function(
    gw: Gateway, target: Target, resolved: Resolved, body: bytes, deadline: float, label: str
) -> CachedResponse:
    function = target.function or ""
    try:
        doc = json.loads(body or b"{}")
    except ValueError as exc:
        raise Problem(400, f"request body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Problem(400, 'request body must be {"args": [...]}')
    refuse_unknown_fields(doc, CALL_FIELDS, "request body")
    args = doc.get("args", [])
    if not isinstance(args, list) or len(args) > 64:
        raise Problem(400, "args: must be a list of at most 64 arguments")
    # A component's JSON arguments go to the runtime as they came: it checks them against
    # the WIT types (a mismatch is a 400 naming the path) and answers JSON results.
    component = resolved.kind == marketplace_pb2.MODULE_KIND_COMPONENT
    values = [] if component else await _core_values(gw, resolved, function, args, deadline, label)
    call = runtime_pb2.CallRequest(
        module=runtime_pb2.ModuleSource(digest=resolved.digest, display_name=label),
        function=function,
        args=values,
        args_json=json.dumps(args, separators=(",", ":")) if component else "",
        limits=_limits(target, deadline - time.monotonic()),
    )
    resp: runtime_pb2.CallResponse = await _runtime_call(
        gw,
        "Call",
        lambda stub, timeout, md: stub.Call(call, timeout=timeout, metadata=md),
        resolved.digest,
        deadline,
    )
    raise_for_outcome(resp, label, gw.settings.stderr_excerpt_bytes)
    payload: dict[str, Any] = {
        "module": resolved.name,
        "version": resolved.version,
        "digest": resolved.digest,
        "function": function,
        "fuel_consumed": resp.execution.fuel_consumed,
        "wall_time_us": resp.execution.wall_time_us,
    }
    if component:
        payload["results"] = json.loads(resp.results_json or "[]")
    else:
        typed = [_from_value(v) for v in resp.results]
        payload["results"] = [v for _, v in typed]
        payload["types"] = [t for t, _ in typed]
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return CachedResponse(200, [("Content-Type", "application/json")], data)
