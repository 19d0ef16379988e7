"""What a route is: host/method/path rules → a module, a mode, limits and middleware.

Plain frozen values, built by :mod:`~wasmgrid.gateway.routes.config` from the routes
file and matched by :mod:`~wasmgrid.gateway.routes.table`. Paths never become regexes:
a :class:`PathPattern` is a tuple of segments matched one by one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from wasmgrid.api.marketplace.v1 import marketplace_pb2
from wasmgrid.common.protoenum import ProtoEnum

#: Token scopes a route's auth middleware may require (the marketplace's Scope enum).
TOKEN_SCOPES = ProtoEnum.names(marketplace_pb2.Scope)

_NS_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")
_REQ = re.compile(r"^[0-9A-Za-z^~<>=*.,+ -]{1,200}\Z")

Mode = Literal["command", "function"]
RateKey = Literal["ip", "token", "route", "global"]
Algorithm = Literal["token_bucket", "sliding_window"]


@dataclass(frozen=True)
class ModuleRef:
    """``ns/name@requirement``; requirement "latest" when absent."""

    namespace: str
    name: str
    requirement: str = "latest"

    @classmethod
    def parse(cls, text: str) -> ModuleRef:
        """Parse ``ns/name[@req]``; raises ValueError naming what is wrong."""
        ref, _, req = text.partition("@")
        ns, sep, name = ref.partition("/")
        if not sep or not _NS_NAME.match(ns) or not _NS_NAME.match(name):
            raise ValueError(f"{text!r} is not 'namespace/name[@requirement]'")
        req = req.strip() or "latest"
        if not _REQ.match(req):
            raise ValueError(
                f"version requirement {req!r} has characters outside [0-9A-Za-z^~<>=*.,+ -]"
            )
        return cls(ns, name, req)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}@{self.requirement}"


@dataclass(frozen=True)
class Limits:
    """Per-call resource limits passed to the runtime (None: the runtime's default)."""

    timeout_seconds: float | None = None
    memory_bytes: int | None = None
    fuel: int | None = None
    max_output_bytes: int | None = None


@dataclass(frozen=True)
class ScratchConfig:
    """A private writable directory per call (None fields: the runtime's defaults)."""

    path: str | None = None
    max_bytes: int | None = None
    max_files: int | None = None


@dataclass(frozen=True)
class AuthConfig:
    """Require a valid token carrying every scope listed."""

    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RateLimitConfig:
    """``limit`` requests per ``window_seconds`` per key; token bucket bursts to ``burst``."""

    algorithm: Algorithm
    limit: int
    window_seconds: float
    key: RateKey = "ip"
    burst: int | None = None


@dataclass(frozen=True)
class CacheConfig:
    """Cache successful responses for ``ttl_seconds``, keyed also by the ``vary`` headers."""

    ttl_seconds: float
    vary: tuple[str, ...] = ()


@dataclass(frozen=True)
class CorsConfig:
    """CORS answers for browsers (preflight and simple requests)."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age_seconds: int = 600

    def origin_allowed(self, origin: str) -> bool:
        """Whether `origin` may read responses."""
        return "*" in self.allow_origins or origin in self.allow_origins


@dataclass(frozen=True)
class Middleware:
    """Per-route middleware, each optional, applied in a fixed order.

    Order: CORS (preflight answered first) → body limit → auth → rate limit →
    cache lookup → timeout around the upstream call.
    """

    auth: AuthConfig | None = None
    rate_limit: RateLimitConfig | None = None
    cache: CacheConfig | None = None
    timeout_seconds: float | None = None
    body_limit_bytes: int | None = None
    cors: CorsConfig | None = None

    def describe(self) -> list[dict[str, Any]]:
        """The chain in the order it runs, as JSON-able items (``GET /v1/routes``)."""
        chain: list[dict[str, Any]] = []
        if self.cors:
            chain.append({"cors": {"allow_origins": list(self.cors.allow_origins)}})
        if self.body_limit_bytes is not None:
            chain.append({"body_limit": self.body_limit_bytes})
        if self.auth:
            chain.append({"auth": {"scopes": list(self.auth.scopes)}})
        if self.rate_limit:
            rl = self.rate_limit
            chain.append(
                {
                    "rate_limit": {
                        "algorithm": rl.algorithm,
                        "limit": rl.limit,
                        "window_seconds": rl.window_seconds,
                        "key": rl.key,
                        "burst": rl.burst,
                    }
                }
            )
        if self.cache:
            chain.append(
                {"cache": {"ttl_seconds": self.cache.ttl_seconds, "vary": list(self.cache.vary)}}
            )
        if self.timeout_seconds is not None:
            chain.append({"timeout": self.timeout_seconds})
        return chain


#: No middleware at all: the fixed ``/v1/run`` and ``/v1/call`` endpoints.
NO_MIDDLEWARE = Middleware()


@dataclass(frozen=True)
class PathPattern:
    """A parsed route path: literal segments, ``{param}`` segments, maybe a ``/*`` tail."""

    text: str
    segments: tuple[str, ...]  # literal segments, or "{name}" for params
    prefix: bool

    @property
    def params(self) -> tuple[str, ...]:
        """Parameter names, in order."""
        return tuple(s[1:-1] for s in self.segments if s.startswith("{"))

    def sort_key(self) -> tuple[int, ...]:
        """Literal before ``{param}`` segment by segment, exact before prefix."""
        ranks = [1 if s.startswith("{") else 0 for s in self.segments]
        return (*ranks, 2 if self.prefix else -1)

    def match(self, parts: Sequence[str]) -> tuple[dict[str, str], str] | None:
        """(params, remaining path) when `parts` (the split request path) matches."""
        n = len(self.segments)
        if len(parts) < n or (not self.prefix and len(parts) != n):
            return None
        params: dict[str, str] = {}
        for seg, part in zip(self.segments, parts, strict=False):
            if seg.startswith("{"):
                if not part:
                    return None
                params[seg[1:-1]] = part
            elif seg != part:
                return None
        rest = "/".join(parts[n:])
        return params, ("/" + rest if rest else "")

    def openapi_path(self) -> str:
        """The pattern as an OpenAPI path template."""
        path = "/" + "/".join(self.segments)
        return path.rstrip("/") + "/{path}" if self.prefix else path


@dataclass(frozen=True)
class Route:
    """One validated route."""

    name: str
    path: PathPattern
    module: ModuleRef
    host: str | None = None
    methods: frozenset[str] | None = None
    mode: Mode = "command"
    function: str | None = None
    args: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    middleware: Middleware = field(default_factory=Middleware)
    scratch: ScratchConfig | None = None

    def host_rank(self) -> int:
        """Exact host (2) before ``*.suffix`` (1) before any host (0)."""
        if self.host is None:
            return 0
        return 1 if self.host.startswith("*.") else 2

    def host_matches(self, host: str) -> bool:
        """Whether the (normalized) request `host` is this route's."""
        if self.host is None:
            return True
        if self.host.startswith("*."):
            suffix = self.host[1:]
            return host.endswith(suffix) and len(host) > len(suffix)
        return host == self.host

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for ``GET /v1/routes``."""
        doc: dict[str, Any] = {
            "name": self.name,
            "host": self.host,
            "methods": sorted(self.methods) if self.methods else None,
            "path": self.path.text,
            "module": str(self.module),
            "mode": self.mode,
            "middleware": self.middleware.describe(),
        }
        if self.function:
            doc["function"] = self.function
        if self.args:
            doc["args"] = list(self.args)
        limits = {k: v for k, v in vars(self.limits).items() if v is not None}
        if limits:
            doc["limits"] = limits
        if self.scratch is not None:
            doc["scratch"] = {k: v for k, v in vars(self.scratch).items() if v is not None}
        return doc


@dataclass(frozen=True)
class RouteMatch:
    """A matched route with its path params and the path below a prefix route."""

    route: Route
    params: dict[str, str]
    path_info: str
    script_name: str


@dataclass
class MatchResult:
    """A match, or why not: no route (404) or the methods the path allows (405)."""

    match: RouteMatch | None = None
    allowed: frozenset[str] = frozenset()


#: In a route's args, the guest path of the version's assets (replaced once resolved;
#: a path parameter of the same name is replaced first).
ASSETS_ARG = "{assets}"


def format_args(args: Sequence[str], params: Mapping[str, str]) -> list[str]:
    """Route args with ``{param}`` references replaced by the matched values."""
    out = []
    for arg in args:
        for key, value in params.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out
