"""The routes file: host/method/path rules → a module, a mode, limits and middleware.

Format (YAML)::

    routes:
      - name: hello                    # unique, [a-z0-9_-]
        host: "*.example.com"          # optional: exact host or *.suffix
        methods: [GET, POST]           # optional: default any method
        path: /hello/{who}/*           # literal, {param} segments, trailing /* = prefix
        module: examples/hello@^1      # ns/name[@requirement]
        mode: command                  # command (WAGI/CGI) | function
        function: add                  # function mode: the export to call
        args: ["--who", "{who}"]       # command mode: argv after the module name
        limits: {timeout: 2s, memory: 64MiB, fuel: 100000000, max_output: 1MiB}
        middleware:
          - auth: {scopes: [run]}
          - rate_limit: {algorithm: token_bucket, limit: 100, window: 1s, key: ip}
          - cache: {ttl: 30s, vary: [Accept]}
          - timeout: 2s
          - body_limit: 64KiB
          - cors: {allow_origins: ["https://app.example.com"]}

Paths never become regexes: a path is split into segments and matched segment by
segment. Among matching routes the most specific wins: an exact host before a
wildcard host before no host, then literal segments before ``{param}`` before a
``/*`` tail, and an exact path before a prefix.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from prometheus_client import Counter, Gauge

from wasmgrid.api.marketplace.v1 import marketplace_pb2
from wasmgrid.common import units
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.lru import LruMap
from wasmgrid.common.protoenum import ProtoEnum

log = logging.getLogger(__name__)

ROUTE_RELOADS = Counter(
    "wasmgrid_gateway_route_reloads_total",
    "Routes file loads, by result (ok, invalid).",
    ["result"],
)
ROUTES_ACTIVE = Gauge("wasmgrid_gateway_routes", "Routes in the active route table.")

#: Path prefixes owned by the fixed HTTP API; a route may not shadow them.
RESERVED_PREFIXES = (
    "/v1/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    # The web pages under a prefix (``web.PAGES``).
    "/modules/",
    "/traces/",
    "/assets/",
)
#: Web pages at exactly these paths (with or without a final slash); "/statusboard" is free.
RESERVED_PAGES = ("/", "/status", "/publish")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_ROUTES = 10_000
#: Token scopes a route's auth middleware may require (the marketplace's Scope enum).
TOKEN_SCOPES = ProtoEnum.names(marketplace_pb2.Scope)
#: Static matches a table remembers (hosts come from clients, so the memo is bounded).
STATIC_MATCH_MEMO = 1024

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]{0,31})\}$")
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()+,;=:@%-]+$")
_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_NS_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_REQ = re.compile(r"^[0-9A-Za-z^~<>=*.,+ -]{1,64}$")
#: Longest duration (timeouts, TTLs, windows) and largest size a routes file may set.
MAX_DURATION_SECONDS = 86_400
MAX_SIZE_BYTES = 1024**4


class RouteError(ValueError):
    """An invalid routes file; the message names the route and the field."""


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
class AuthConfig:
    """Require a valid token carrying every scope listed."""

    scopes: tuple[str, ...] = ()


RateKey = Literal["ip", "token", "route", "global"]
Algorithm = Literal["token_bucket", "sliding_window"]


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


@dataclass(frozen=True)
class PathPattern:
    """A parsed route path."""

    text: str
    segments: tuple[str, ...]  # literal segments, or "{name}" for params
    prefix: bool

    @property
    def params(self) -> tuple[str, ...]:
        """Parameter names, in order."""
        return tuple(s[1:-1] for s in self.segments if s.startswith("{"))

    def sort_key(self) -> tuple[int, ...]:
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
    mode: Literal["command", "function"] = "command"
    function: str | None = None
    args: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    middleware: Middleware = field(default_factory=Middleware)

    def host_rank(self) -> int:
        if self.host is None:
            return 0
        return 1 if self.host.startswith("*.") else 2

    def host_matches(self, host: str) -> bool:
        if self.host is None:
            return True
        if self.host.startswith("*."):
            suffix = self.host[1:]
            return host.endswith(suffix) and len(host) > len(suffix)
        return host == self.host

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for ``GET /v1/routes``."""
        mw = self.middleware
        doc: dict[str, Any] = {
            "name": self.name,
            "host": self.host,
            "methods": sorted(self.methods) if self.methods else None,
            "path": self.path.text,
            "module": str(self.module),
            "mode": self.mode,
            "middleware": [],
        }
        if self.function:
            doc["function"] = self.function
        if self.args:
            doc["args"] = list(self.args)
        limits = {k: v for k, v in vars(self.limits).items() if v is not None}
        if limits:
            doc["limits"] = limits
        chain: list[dict[str, Any]] = doc["middleware"]
        if mw.cors:
            chain.append({"cors": {"allow_origins": list(mw.cors.allow_origins)}})
        if mw.body_limit_bytes is not None:
            chain.append({"body_limit": mw.body_limit_bytes})
        if mw.auth:
            chain.append({"auth": {"scopes": list(mw.auth.scopes)}})
        if mw.rate_limit:
            rl = mw.rate_limit
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
        if mw.cache:
            chain.append(
                {"cache": {"ttl_seconds": mw.cache.ttl_seconds, "vary": list(mw.cache.vary)}}
            )
        if mw.timeout_seconds is not None:
            chain.append({"timeout": mw.timeout_seconds})
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


class RouteTable:
    """Routes sorted by specificity; matching is a linear scan over segments."""

    def __init__(self, routes: Sequence[Route] = ()) -> None:
        self.routes: tuple[Route, ...] = tuple(
            sorted(routes, key=lambda r: (-r.host_rank(), r.path.sort_key()))
        )
        self.by_name = {r.name: r for r in self.routes}
        #: Callers' memo of work derived from a match, keyed as they choose. It lives and
        #: dies with this table, so a reload (a new table) can never serve a stale entry.
        self.memo: LruMap[Any, Any] = LruMap(STATIC_MATCH_MEMO)

    def __len__(self) -> int:
        return len(self.routes)

    def match(self, host: str, method: str, path: str) -> MatchResult:
        """The most specific route for host/method/path."""
        host = _normalize_host(host)
        parts = path.split("/")[1:] if path.startswith("/") else path.split("/")
        if parts and parts[-1] == "" and len(parts) > 1:
            parts = parts[:-1]
        if parts == [""]:
            parts = []
        allowed: set[str] = set()
        method = method.upper()
        for route in self.routes:
            if not route.host_matches(host):
                continue
            found = route.path.match(parts)
            if found is None:
                continue
            if route.methods is not None and method not in route.methods:
                if not (method == "OPTIONS" and route.middleware.cors is not None):
                    allowed |= route.methods
                    continue
            params, rest = found
            script = path[: len(path) - len(rest)] if rest else path
            return MatchResult(RouteMatch(route, params, rest, script))
        return MatchResult(None, frozenset(allowed))


def _normalize_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def parse_duration(value: Any, where: str) -> float:
    """A routes-file duration (``500ms``, ``2s``, ``1m``, seconds): above 0, at most 24h."""
    try:
        return units.parse_duration(value, where, positive=True, maximum=MAX_DURATION_SECONDS)
    except InvalidArgument as exc:
        raise RouteError(exc.message) from None


def parse_size(value: Any, where: str) -> int:
    """A routes-file size (``64KiB``, ``1MiB``, ``100KB``, bytes): above 0, at most 1TiB."""
    try:
        return units.parse_size(value, where, positive=True, maximum=MAX_SIZE_BYTES)
    except InvalidArgument as exc:
        raise RouteError(exc.message) from None


def parse_path(text: Any, where: str) -> PathPattern:
    """Validate a route path; see the module docstring for the syntax."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise RouteError(f"{where}: {text!r} must be a string starting with '/'")
    if len(text) > 1024:
        raise RouteError(f"{where}: longer than 1024 characters")
    if text in RESERVED_PAGES or text.rstrip("/") in RESERVED_PAGES:
        raise RouteError(f"{where}: {text!r} is a page of the gateway, reserved")
    for reserved in RESERVED_PREFIXES:
        if text == reserved.rstrip("/") or text.startswith(reserved):
            raise RouteError(
                f"{where}: {text!r} is under {reserved!r},"
                " reserved by the gateway (its API and pages)"
            )
    raw = text[1:].split("/") if text != "/" else []
    prefix = False
    if raw and raw[-1] == "*":
        prefix = True
        raw = raw[:-1]
    if raw and raw[-1] == "":
        raw = raw[:-1]
    seen: set[str] = set()
    for i, seg in enumerate(raw):
        if m := _PARAM.match(seg):
            if m.group(1) in seen:
                raise RouteError(f"{where}: parameter {{{m.group(1)}}} appears twice")
            seen.add(m.group(1))
        elif not seg or not _LITERAL.match(seg) or "*" in seg:
            raise RouteError(
                f"{where}: segment {i + 1} {seg!r} must be a literal, a {{param}}, or a final '*'"
            )
    return PathPattern(text, tuple(raw), prefix)


def _parse_host(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RouteError(f"{where}: {value!r} must be a host name")
    host = value.strip().lower()
    labels = host[2:].split(".") if host.startswith("*.") else host.split(".")
    if not labels or not all(_HOST_LABEL.match(label) for label in labels):
        raise RouteError(f"{where}: {value!r} is not a host name or '*.domain'")
    return host


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RouteError(f"{where}: must be a list of strings")
    return tuple(value)


def _mapping(value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RouteError(f"{where}: must be a mapping")
    unknown = set(value) - allowed
    if unknown:
        raise RouteError(
            f"{where}: unknown field {sorted(unknown)[0]!r}"
            f" (expected one of {', '.join(sorted(allowed))})"
        )
    return value


def _positive_int(value: Any, where: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
        raise RouteError(f"{where}: {value!r} must be an integer in 1..{maximum}")
    return value


def _parse_rate_limit(value: Any, where: str) -> RateLimitConfig:
    doc = _mapping(value, where, {"algorithm", "limit", "window", "key", "burst"})
    algorithm = doc.get("algorithm", "token_bucket")
    if algorithm not in ("token_bucket", "sliding_window"):
        raise RouteError(f"{where}.algorithm: {algorithm!r} is not token_bucket or sliding_window")
    if "limit" not in doc:
        raise RouteError(f"{where}.limit: required")
    limit = _positive_int(doc["limit"], f"{where}.limit", 1_000_000)
    window = parse_duration(doc.get("window", "1s"), f"{where}.window")
    key = doc.get("key", "ip")
    if key not in ("ip", "token", "route", "global"):
        raise RouteError(f"{where}.key: {key!r} is not ip, token, route or global")
    burst = None
    if "burst" in doc:
        if algorithm != "token_bucket":
            raise RouteError(f"{where}.burst: only token_bucket has a burst")
        burst = _positive_int(doc["burst"], f"{where}.burst", 1_000_000)
    if algorithm == "sliding_window" and limit > 100_000:
        raise RouteError(f"{where}.limit: sliding_window keeps one entry per request; max 100000")
    return RateLimitConfig(algorithm, limit, window, key, burst)


def _parse_cors(value: Any, where: str) -> CorsConfig:
    doc = _mapping(
        value,
        where,
        {
            "allow_origins",
            "allow_methods",
            "allow_headers",
            "expose_headers",
            "allow_credentials",
            "max_age",
        },
    )
    origins = _str_list(doc.get("allow_origins"), f"{where}.allow_origins")
    if not origins:
        raise RouteError(f"{where}.allow_origins: at least one origin (or '*') is required")
    credentials = doc.get("allow_credentials", False)
    if not isinstance(credentials, bool):
        raise RouteError(f"{where}.allow_credentials: must be true or false")
    if credentials and "*" in origins:
        raise RouteError(f"{where}: allow_credentials cannot be combined with origin '*'")
    methods = tuple(
        m.upper() for m in _str_list(doc.get("allow_methods"), f"{where}.allow_methods")
    )
    bad = [m for m in methods if m not in HTTP_METHODS]
    if bad:
        raise RouteError(f"{where}.allow_methods: {bad[0]!r} is not an HTTP method")
    max_age = doc.get("max_age", 600)
    if isinstance(max_age, bool) or not isinstance(max_age, int) or not 0 <= max_age <= 86_400:
        raise RouteError(f"{where}.max_age: {max_age!r} must be 0..86400 seconds")
    return CorsConfig(
        origins,
        methods,
        _str_list(doc.get("allow_headers"), f"{where}.allow_headers"),
        _str_list(doc.get("expose_headers"), f"{where}.expose_headers"),
        credentials,
        max_age,
    )


def _parse_middleware(value: Any, where: str) -> Middleware:
    if value is None:
        return Middleware()
    if not isinstance(value, list):
        raise RouteError(f"{where}: must be a list of single-key mappings")
    found: dict[str, Any] = {}
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or len(item) != 1:
            raise RouteError(f"{at}: must be a mapping with one key, e.g. {{timeout: 2s}}")
        ((kind, conf),) = item.items()
        if kind in found:
            raise RouteError(f"{at}: {kind} appears twice")
        at = f"{at}.{kind}"
        if kind == "auth":
            doc = _mapping(conf, at, {"scopes"})
            scopes = _str_list(doc.get("scopes"), f"{at}.scopes")
            bad = [s for s in scopes if s not in TOKEN_SCOPES.choices]
            if bad:
                raise RouteError(
                    f"{at}.scopes: {bad[0]!r} is not a token scope"
                    f" ({', '.join(TOKEN_SCOPES.choices)})"
                )
            found[kind] = AuthConfig(scopes)
        elif kind == "rate_limit":
            found[kind] = _parse_rate_limit(conf, at)
        elif kind == "cache":
            doc = _mapping(conf, at, {"ttl", "vary"})
            if "ttl" not in doc:
                raise RouteError(f"{at}.ttl: required")
            vary = tuple(h.lower() for h in _str_list(doc.get("vary"), f"{at}.vary"))
            found[kind] = CacheConfig(parse_duration(doc["ttl"], f"{at}.ttl"), vary)
        elif kind == "timeout":
            found[kind] = parse_duration(conf, at)
        elif kind == "body_limit":
            found[kind] = parse_size(conf, at)
        elif kind == "cors":
            found[kind] = _parse_cors(conf, at)
        else:
            raise RouteError(
                f"{at}: unknown middleware (expected auth, rate_limit, cache, timeout,"
                " body_limit or cors)"
            )
    return Middleware(
        auth=found.get("auth"),
        rate_limit=found.get("rate_limit"),
        cache=found.get("cache"),
        timeout_seconds=found.get("timeout"),
        body_limit_bytes=found.get("body_limit"),
        cors=found.get("cors"),
    )


def _parse_limits(value: Any, where: str) -> Limits:
    doc = _mapping(value, where, {"timeout", "memory", "fuel", "max_output"})
    return Limits(
        timeout_seconds=parse_duration(doc["timeout"], f"{where}.timeout")
        if "timeout" in doc
        else None,
        memory_bytes=parse_size(doc["memory"], f"{where}.memory") if "memory" in doc else None,
        fuel=_positive_int(doc["fuel"], f"{where}.fuel", 2**62) if "fuel" in doc else None,
        max_output_bytes=parse_size(doc["max_output"], f"{where}.max_output")
        if "max_output" in doc
        else None,
    )


_ROUTE_FIELDS = {
    "name",
    "host",
    "methods",
    "path",
    "module",
    "mode",
    "function",
    "args",
    "limits",
    "middleware",
}


def parse_route(doc: Any, index: int) -> Route:
    """One route mapping → :class:`Route`; errors name ``routes[i] (name).field``."""
    if not isinstance(doc, dict):
        raise RouteError(f"routes[{index}]: must be a mapping")
    name = doc.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RouteError(f"routes[{index}].name: {name!r} must match [a-z0-9][a-z0-9_-]{{0,63}}")
    where = f"route {name!r}"
    unknown = set(doc) - _ROUTE_FIELDS
    if unknown:
        raise RouteError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    path = parse_path(doc.get("path"), f"{where}.path")
    if "module" not in doc:
        raise RouteError(f"{where}.module: required")
    try:
        module = ModuleRef.parse(str(doc["module"]))
    except ValueError as exc:
        raise RouteError(f"{where}.module: {exc}") from None
    methods: frozenset[str] | None = None
    if doc.get("methods") is not None:
        listed = [m.upper() for m in _str_list(doc["methods"], f"{where}.methods")]
        bad = [m for m in listed if m not in HTTP_METHODS]
        if bad or not listed:
            raise RouteError(f"{where}.methods: {bad[0] if bad else '[]'!r} is not an HTTP method")
        methods = frozenset(listed) | ({"HEAD"} if "GET" in listed else set())
    mode = doc.get("mode", "command")
    if mode not in ("command", "function"):
        raise RouteError(f"{where}.mode: {mode!r} is not command or function")
    function = doc.get("function")
    if mode == "function":
        if not isinstance(function, str) or not re.match(
            r"^[A-Za-z_][A-Za-z0-9_.$-]{0,127}$", function
        ):
            raise RouteError(f"{where}.function: function mode needs the export name to call")
    elif function is not None:
        raise RouteError(f"{where}.function: only allowed with mode: function")
    args = _str_list(doc.get("args"), f"{where}.args")
    for i, arg in enumerate(args):
        for ref in re.findall(r"\{([^}]*)\}", arg):
            if ref not in path.params:
                raise RouteError(f"{where}.args[{i}]: {{{ref}}} is not a parameter of the path")
    return Route(
        name=name,
        path=path,
        module=module,
        host=_parse_host(doc.get("host"), f"{where}.host"),
        methods=methods,
        mode=mode,
        function=function,
        args=args,
        limits=_parse_limits(doc.get("limits"), f"{where}.limits"),
        middleware=_parse_middleware(doc.get("middleware"), f"{where}.middleware"),
    )


def parse_routes(text: str) -> RouteTable:
    """Parse and validate a whole routes file."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RouteError(f"not valid YAML: {exc}") from None
    if doc is None:
        return RouteTable()
    if not isinstance(doc, dict) or set(doc) - {"routes"}:
        raise RouteError("top level must be a mapping with one key, 'routes'")
    items = doc.get("routes") or []
    if not isinstance(items, list):
        raise RouteError("routes: must be a list")
    if len(items) > MAX_ROUTES:
        raise RouteError(f"routes: {len(items)} routes; the limit is {MAX_ROUTES}")
    routes = [parse_route(item, i) for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    keys: dict[tuple[Any, ...], str] = {}
    for i, route in enumerate(routes):
        if route.name in seen:
            raise RouteError(
                f"routes[{i}].name: {route.name!r} already used by routes[{seen[route.name]}]"
            )
        seen[route.name] = i
        shape = tuple("{}" if s.startswith("{") else s for s in route.path.segments)
        for method in route.methods or {"*"}:
            key = (route.host, shape, route.path.prefix, method)
            if key in keys:
                raise RouteError(
                    f"route {route.name!r}.path: {route.path.text!r} overlaps route"
                    f" {keys[key]!r} for the same host and method {method}"
                )
            keys[key] = route.name
    return RouteTable(routes)


class RouteStore:
    """The active route table, reloaded from a file when it changes or on demand.

    A file that fails validation leaves the previous table active; the reason is
    logged and counted (``wasmgrid_gateway_route_reloads_total{result="invalid"}``).
    """

    def __init__(self, path: Path | None, table: RouteTable | None = None) -> None:
        self.path = path
        self.table = table or RouteTable()
        self.last_error: str | None = None
        self._stamp: tuple[int, int, int] | None = None
        ROUTES_ACTIVE.set(len(self.table))

    def _file_stamp(self) -> tuple[int, int, int] | None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload(self) -> bool:
        """Load the file now; True when the new table is active."""
        if self.path is None:
            return False
        self._stamp = self._file_stamp()
        try:
            text = self.path.read_text(encoding="utf-8")
            table = parse_routes(text)
        except (OSError, UnicodeDecodeError, RouteError) as exc:
            self.last_error = f"{self.path.name}: {exc}"
            ROUTE_RELOADS.labels("invalid").inc()
            log.error(
                "routes file rejected, keeping %d active routes: %s",
                len(self.table),
                self.last_error,
            )
            return False
        self.table = table
        self.last_error = None
        ROUTE_RELOADS.labels("ok").inc()
        ROUTES_ACTIVE.set(len(table))
        log.info("routes loaded: %d routes from %s", len(table), self.path.name)
        return True

    def changed(self) -> bool:
        """Whether the file's mtime, size or inode moved since the last load."""
        return self.path is not None and self._file_stamp() != self._stamp

    async def watch(self, interval: float) -> None:
        """Poll the file every `interval` seconds and reload on change (runs until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            if self.changed():
                self.reload()


def load_route_store(path: str | None) -> RouteStore:
    """A store for `path`; an invalid file at start-up is an error (nothing to fall back to)."""
    if not path:
        return RouteStore(None)
    store = RouteStore(Path(path))
    if not store.reload():
        raise RouteError(store.last_error or f"cannot load {path}")
    return store


def format_args(args: Sequence[str], params: Mapping[str, str]) -> list[str]:
    """Route args with ``{param}`` references replaced by the matched values."""
    out = []
    for arg in args:
        for key, value in params.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out
