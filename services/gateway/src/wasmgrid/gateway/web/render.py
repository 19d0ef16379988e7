"""Templates, security headers, error pages and the static assets of the web pages."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import grpc
import jinja2
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from wasmgrid.gateway.problem import Problem
from wasmgrid.gateway.web.charts import format_value

log = logging.getLogger(__name__)

#: Scripts and styles only from this origin, no inline script or style (attributes
#: included), no framing, forms and fetches only to this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none';"
    " object-src 'none'"
)
#: Headers on every page and asset (the /v1 API keeps its own).
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}

_PACKAGE = "wasmgrid.gateway.web"


def _seconds(value: Any) -> float:
    if isinstance(value, Timestamp):
        return value.seconds + value.nanos / 1e9
    return float(value)


def when(value: Any) -> str:
    """A timestamp (proto or unix seconds) as ``2026-12-03 14:05 UTC``; "" when unset."""
    t = _seconds(value)
    if t <= 0:
        return ""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: Any) -> str:
    """A timestamp as ISO 8601 for ``<time datetime=…>``."""
    t = _seconds(value)
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") if t > 0 else ""


def clock(value: Any) -> str:
    """A timestamp's time of day with milliseconds, ``14:05:03.127`` (UTC)."""
    t = _seconds(value)
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S.%f")[:-3] if t > 0 else ""


def ago(value: Any, now: float | None = None) -> str:
    """How long ago: ``just now``, ``5 min ago``, ``3 h ago``, ``12 days ago``."""
    t = _seconds(value)
    if t <= 0:
        return ""
    delta = max(0.0, (time.time() if now is None else now) - t)
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    return f"{int(delta // 86400)} days ago"


def size(n: int | float) -> str:
    """Bytes as ``812 B``, ``146.2 KiB``, ``3.1 MiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover


def count(n: int | float) -> str:
    """A count with thousands separators."""
    return f"{int(n):,}"


def duration(seconds: float) -> str:
    """Seconds as µs, ms or s."""
    return format_value(seconds, "s")


def stars(avg: float) -> str:
    """An average rating as text, e.g. ``4.5``."""
    return f"{avg:.1f}" if avg and not math.isnan(avg) else "–"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(_PACKAGE, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        iso=iso,
        clock=clock,
        ago=ago,
        size=size,
        count=count,
        duration=duration,
        stars=stars,
    )
    env.globals["asset"] = asset_url
    return env


# ------------------------------------------------------------------ static assets


@dataclass(frozen=True)
class Asset:
    """One static file, held in memory with its content hash."""

    body: bytes
    content_type: str
    version: str


_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _load_assets() -> dict[str, Asset]:
    out: dict[str, Asset] = {}
    for entry in resources.files(_PACKAGE).joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if suffix not in _TYPES:
            continue
        body = entry.read_bytes()
        out[entry.name] = Asset(body, _TYPES[suffix], hashlib.sha256(body).hexdigest()[:12])
    return out


ASSETS = _load_assets()


def asset_url(name: str) -> str:
    """The URL of a static file, versioned by content so browsers may cache it for good."""
    return f"/assets/{name}?v={ASSETS[name].version}"


async def serve_asset(request: web.Request) -> web.Response:
    """GET /assets/{name}: a static file (immutable when asked for its current version)."""
    found = ASSETS.get(request.match_info["name"])
    if found is None:
        raise Problem(404, f"no asset named {request.match_info['name'][:64]!r}")
    etag = f'"{found.version}"'
    cache = (
        "public, max-age=31536000, immutable"
        if request.query.get("v") == found.version
        else "no-cache"
    )
    headers = {**SECURITY_HEADERS, "ETag": etag, "Cache-Control": cache}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=found.body, headers={**headers, "Content-Type": found.content_type})


# ------------------------------------------------------------------ pages

TEMPLATES = _environment()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def html(template: str, status: int = 200, **context: Any) -> web.Response:
    """A page rendered from `template`, with the security headers."""
    body = TEMPLATES.get_template(template).render(**context)
    return web.Response(
        status=status,
        body=body.encode(),
        headers={
            **SECURITY_HEADERS,
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-cache",
        },
    )


def redirect(location: str) -> web.Response:
    """303 See Other to a path of this site."""
    return web.Response(status=303, headers={**SECURITY_HEADERS, "Location": location})


def error_page(problem: Problem) -> web.Response:
    """The HTML form of a problem: what went wrong and where to go next."""
    return html(
        "error.html",
        status=problem.status,
        status_code=problem.status,
        title=problem.title,
        detail=problem.detail,
        nav="",
    )


def page(handler: Handler) -> Handler:
    """`handler` answering errors as HTML pages (the API answers them as problem+json)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Problem as problem:
            return error_page(problem)
        except grpc.aio.AioRpcError as err:
            return error_page(Problem.from_grpc(err.code(), err.details(), upstream="upstream"))

    return wrapped
