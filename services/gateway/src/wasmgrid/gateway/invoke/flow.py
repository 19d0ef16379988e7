"""One flow serves ``/v1/run``, ``/v1/call`` and the custom routes of the routes file.

CORS → body limit (declared length) → overload admission (a call that could not start
in time is refused before any other work) → auth → rate limit → body (streamed, capped) →
resolve ``ns/name@req`` → response-cache lookup → runtime call under the deadline →
CGI parse / JSON results → cache fill. A CGI local redirect starts the flow again on
the path it names, as a bodiless GET, a bounded number of times.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from aiohttp import web

from wasmgrid.gateway.invoke.command import LocalRedirect, run_command
from wasmgrid.gateway.invoke.function import call_function
from wasmgrid.gateway.invoke.middleware import (
    authenticate,
    body_limit,
    cors_headers,
    cors_preflight,
    rate_limit,
    read_body,
    refuse_declared_length,
)
from wasmgrid.gateway.invoke.target import Call, Target, target_for_path
from wasmgrid.gateway.problem import FAULT, guest_problem, upstream_errors
from wasmgrid.gateway.routes import ModuleRef
from wasmgrid.gateway.state import Gateway
from wasmgrid.gateway.upstream import CachedResponse, Resolved, cacheable, response_cache_key


async def serve(  # noqa: C901 - the middleware chain, one step per branch, in order
    gw: Gateway, request: web.Request, target: Target, *, redirects: int = 0
) -> web.StreamResponse:
    """Run `target` for `request` through its middleware chain.

    `redirects` counts the local redirects followed so far: after one, the module sees
    a GET of the new path without the client's body or query.
    """
    settings = gw.settings
    mw = target.middleware
    preflight = cors_preflight(request, target)
    if preflight is not None:
        return preflight
    out_headers = cors_headers(request, mw.cors)
    limit = body_limit(settings, target)
    if redirects == 0:
        refuse_declared_length(request, limit)
    deadline = time.monotonic() + (mw.timeout_seconds or settings.invoke_timeout_seconds)
    if mw.cache is None or not gw.cache.enabled:  # a cached answer may need no slot at all
        gw.admission.check(deadline)
    user = ""
    if mw.auth is not None:
        user = await authenticate(gw, request, target)
    if mw.rate_limit is not None:
        out_headers.update(await rate_limit(gw, request, target))
    body = await read_body(request, limit) if redirects == 0 else b""
    method = request.method if redirects == 0 else "GET"
    # As sent, still percent-encoded: QUERY_STRING is the encoded query (RFC 3875
    # §4.1.7), and a decoded one could not tell "a%26b" from "a&b".
    query = request.rel_url.raw_query_string if redirects == 0 else ""
    resolved = await resolve(gw, request, target.ref)
    label = f"{resolved.name}@{resolved.version}"
    out_headers["X-Wasmgrid-Module"] = label
    cache_key = None
    if mw.cache is not None and gw.cache.enabled:
        vary = [(h, request.headers.get(h, "")) for h in mw.cache.vary]
        # The target's own path: after a local redirect it is not the request's.
        path = target.script_name + target.path_info
        cache_key = response_cache_key(resolved.digest, method, path, query, body, vary)
        hit = gw.cache.near(cache_key) or await gw.cache.get(cache_key)
        if hit is not None:
            return respond(hit, out_headers, "HIT")
    call = Call(gw, request, target, method, query, body, user, deadline, resolved, label)
    if target.mode == "function":
        result = await call_function(call)
    else:
        produced = await run_command(call)
        if isinstance(produced, LocalRedirect):
            return await _follow(gw, request, produced.location, redirects, label)
        result = produced
    if cache_key is not None and mw.cache is not None:
        if cacheable(result.status, result.headers, result.body, settings.cache_max_body_bytes):
            await gw.cache.put(cache_key, result, mw.cache.ttl_seconds)
        return respond(result, out_headers, "MISS")
    return respond(result, out_headers, None)


async def resolve(gw: Gateway, request: web.Request, ref: ModuleRef) -> Resolved:
    """``ns/name@req`` → version and digest (through the short-lived resolve cache)."""
    name = f"{ref.namespace}/{ref.name}"
    held = gw.registry.resolved(name, ref.requirement)
    if held is not None:
        return held
    auth = request.headers.get("Authorization")
    metadata = (("authorization", auth),) if auth else ()
    with upstream_errors("marketplace"):
        return await gw.registry.resolve(name, ref.requirement, metadata)


def respond(result: CachedResponse, extra: Mapping[str, str], x_cache: str | None) -> web.Response:
    """The HTTP response for a module's answer, with the gateway's own headers."""
    response = web.Response(status=result.status, body=result.body)
    if result.status >= 500:
        response[FAULT] = "guest"  # the module's own answer, not the platform failing
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


async def _follow(
    gw: Gateway, request: web.Request, location: str, redirects: int, label: str
) -> web.StreamResponse:
    """RFC 3875 §6.2.2: serve `location` as a new GET on this gateway (bounded hops)."""
    if redirects >= gw.settings.max_local_redirects:
        raise guest_problem(
            "redirect",
            f"module {label} redirected locally more than"
            f" {gw.settings.max_local_redirects} times (last: {location!r})",
        )
    path = location.split("?", 1)[0]
    target = target_for_path(gw, request.host or "", "GET", path)
    if target is None:
        raise guest_problem(
            "redirect", f"module {label} redirected locally to {path!r}, which matches no route"
        )
    return await serve(gw, request, target, redirects=redirects + 1)
