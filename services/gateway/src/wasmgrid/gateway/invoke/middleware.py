"""A route's middleware, each step on its own: CORS, body limit, auth, rate limit.

:func:`~wasmgrid.gateway.invoke.flow.serve` runs them in a fixed order: CORS preflight
→ declared body size → auth → rate limit → body (streamed, capped).
"""

from __future__ import annotations

import grpc
from aiohttp import web

from wasmgrid.gateway.invoke.target import Target
from wasmgrid.gateway.problem import Problem, upstream_problem
from wasmgrid.gateway.ratelimit import Rule
from wasmgrid.gateway.routes import TOKEN_SCOPES, CorsConfig, RateLimitConfig
from wasmgrid.gateway.settings import GatewaySettings
from wasmgrid.gateway.state import Gateway
from wasmgrid.gateway.upstream import token_fingerprint

#: A function call's JSON body is small: a list of at most 64 numbers.
MAX_CALL_BODY = 64 * 1024


def client_ip(request: web.Request, trust_forwarded: bool) -> str:
    """The client address (first X-Forwarded-For hop only when configured to trust it)."""
    if trust_forwarded:
        xff = request.headers.get("X-Forwarded-For")
        if xff:
            return xff.split(",")[0].strip()
    return request.remote or ""


# ------------------------------------------------------------------ CORS


def cors_headers(request: web.Request, cors: CorsConfig | None) -> dict[str, str]:
    """The CORS headers of an answer to `request` (none without a policy or an allowed
    ``Origin``)."""
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


def cors_preflight(request: web.Request, target: Target) -> web.Response | None:
    """The answer to a CORS preflight (403 naming what the policy refuses); None when
    `request` is not one."""
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
    headers = cors_headers(request, cors)
    headers["Access-Control-Allow-Methods"] = ", ".join(allowed)
    asked = request.headers.get("Access-Control-Request-Headers")
    if cors.allow_headers:
        headers["Access-Control-Allow-Headers"] = ", ".join(cors.allow_headers)
    elif asked:
        headers["Access-Control-Allow-Headers"] = asked
    headers["Access-Control-Max-Age"] = str(cors.max_age_seconds)
    return web.Response(status=204, headers=headers)


# ------------------------------------------------------------------ body


def body_limit(settings: GatewaySettings, target: Target) -> int:
    """The largest body `target` accepts: the route's, the gateway's, a function call's."""
    route_limit = target.middleware.body_limit_bytes
    limit = min(route_limit or settings.max_body_bytes, settings.max_body_bytes)
    return min(limit, MAX_CALL_BODY) if target.mode == "function" else limit


def refuse_declared_length(request: web.Request, limit: int) -> None:
    """413 at once when the declared ``Content-Length`` is over `limit` (before auth or
    rate limits spend anything on the request)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise Problem(413, f"request body of {declared} bytes exceeds the {limit}-byte limit")


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


# ------------------------------------------------------------------ auth


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
    # What the token may do now: its scopes within its user's current role.
    have = {TOKEN_SCOPES.name(s) for s in who.effective_scopes}
    if "admin" not in have:
        missing = [s for s in auth.scopes if s not in have]
        if missing:
            raise Problem(403, f"token lacks scope {missing[0]!r} required by route {route!r}")
    return str(who.user.username)


# ------------------------------------------------------------------ rate limit


def rate_limit_key(
    request: web.Request, route: str, conf: RateLimitConfig, trust_forwarded: bool
) -> str:
    """Whose budget a request spends: per client IP, token (its fingerprint, never the
    token), the route as a whole, or one budget shared by every route keyed ``global``."""
    if conf.key == "ip":
        who = client_ip(request, trust_forwarded)
    elif conf.key == "token":
        token = request.headers.get("Authorization", "")
        who = (
            "t:" + token_fingerprint(token)
            if token
            else "ip:" + client_ip(request, trust_forwarded)
        )
    elif conf.key == "route":
        who = "route"
    else:
        who = "global"
    return f"global:{who}" if conf.key == "global" else f"{route}:{conf.key}:{who}"


async def rate_limit(gw: Gateway, request: web.Request, target: Target) -> dict[str, str]:
    """``RateLimit-*`` headers for an admitted request; raises 429 when refused."""
    conf = target.middleware.rate_limit
    assert conf is not None
    assert target.route is not None
    key = rate_limit_key(request, target.route.name, conf, gw.settings.trust_forwarded_for)
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
