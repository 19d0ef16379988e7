"""The routes file (YAML) → a validated :class:`~wasmgrid.gateway.routes.table.RouteTable`.

Format::

    routes:
      - name: hello                    # unique, [a-z0-9_-]
        host: "*.example.com"          # optional: exact host or *.suffix
        methods: [GET, POST]           # optional: default any method
        path: /hello/{who}/*           # literal, {param} segments, trailing /* = prefix
        module: examples/hello@^1      # ns/name[@requirement]
        mode: command                  # command (WAGI/CGI) | function
        function: add                  # function mode: the export to call
        args: ["--who", "{who}"]       # command mode: argv after the module name;
                                       # {assets} is the version's assets mount
        limits: {timeout: 2s, memory: 64MiB, fuel: 100000000, max_output: 1MiB}
        scratch: {path: /tmp, max_size: 16MiB, max_files: 1000}  # command mode: a private
                                       # writable directory per call (omit: none)
        middleware:
          - auth: {scopes: [run]}
          - rate_limit: {algorithm: token_bucket, limit: 100, window: 1s, key: ip}
          - cache: {ttl: 30s, vary: [Accept]}
          - timeout: 2s
          - body_limit: 64KiB
          - cors: {allow_origins: ["https://app.example.com"]}

The shape of the file is declared once, as pydantic models (one per mapping, unknown
keys refused); the grammars of single values (paths, hosts, durations, sizes) are the
small validators of :mod:`.grammar`. An error names the route, the field path and the bad value:
``route 'hello'.middleware[2].rate_limit.key: 'user' is not ip, token, route or global``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    InstanceOf,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.guestpath import DEFAULT_SCRATCH_MOUNT, check_guest_path
from wasmgrid.gateway.routes.grammar import (
    Duration,
    HeaderNames,
    HttpMethods,
    OptionalDuration,
    OptionalSize,
    Strings,
    check_duration,
    check_host,
    check_http_methods,
    check_module,
    check_scopes,
    check_size,
    check_strings,
    int_in,
    parse_path,
    shown,
)
from wasmgrid.gateway.routes.model import (
    ASSETS_ARG,
    Algorithm,
    AuthConfig,
    CacheConfig,
    CorsConfig,
    Limits,
    Middleware,
    Mode,
    ModuleRef,
    PathPattern,
    RateKey,
    RateLimitConfig,
    Route,
    ScratchConfig,
)
from wasmgrid.gateway.routes.table import RouteTable

MAX_ROUTES = 10_000
#: Sliding windows keep one timestamp per admitted request.
MAX_SLIDING_WINDOW_LIMIT = 100_000
_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_FUNCTION = r"^[A-Za-z_][A-Za-z0-9_.$-]{0,127}$"
_ARG_REF = re.compile(r"\{([^}]*)\}")


class RouteError(ValueError):
    """An invalid routes file; the message names the route and the field."""


class _ItemError(ValueError):
    """A list validator's error about one item: the item's index joins the location."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def parse_duration(value: Any, where: str) -> float:
    """A routes-file duration (``500ms``, ``2s``, ``1m``, seconds): above 0, at most 24h."""
    try:
        return check_duration(value)
    except ValueError as exc:
        raise RouteError(f"{where}: {exc}") from None


def parse_size(value: Any, where: str) -> int:
    """A routes-file size (``64KiB``, ``1MiB``, ``100KB``, bytes): above 0, at most 1TiB."""
    try:
        return check_size(value)
    except ValueError as exc:
        raise RouteError(f"{where}: {exc}") from None


# ------------------------------------------------------------------ the file's shape


class _Spec(BaseModel):
    """One mapping of the routes file; a key it does not declare is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    #: Whether an empty value (``limits:``) means "all defaults" rather than an error.
    null_is_empty: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if value is None and cls.null_is_empty:
            return {}
        if not isinstance(value, dict):
            raise ValueError("must be a mapping")
        unknown = [key for key in value if key not in cls.model_fields]
        if unknown:
            raise ValueError(
                f"unknown field {shown(unknown[0])}"
                f" (expected one of {', '.join(sorted(cls.model_fields))})"
            )
        return value


class LimitsSpec(_Spec):
    """``limits``: what the runtime enforces on each call."""

    timeout: OptionalDuration = None
    memory: OptionalSize = None
    fuel: Annotated[int | None, int_in(1, 2**62)] = None
    max_output: OptionalSize = None

    def to_limits(self) -> Limits:
        return Limits(self.timeout, self.memory, self.fuel, self.max_output)


class ScratchSpec(_Spec):
    """``scratch``: a private writable directory for each call, removed after it."""

    path: str | None = None
    max_size: OptionalSize = None
    max_files: Annotated[int | None, int_in(1, 10_000_000)] = None

    @field_validator("path")
    @classmethod
    def _guest_path(cls, path: str | None) -> str | None:
        if path is None:
            return None
        try:
            return check_guest_path(path, "path", DEFAULT_SCRATCH_MOUNT)
        except InvalidArgument as exc:
            raise ValueError(str(exc).removeprefix("path ")) from None

    def to_config(self) -> ScratchConfig:
        return ScratchConfig(self.path, self.max_size, self.max_files)


class AuthSpec(_Spec):
    """``auth``: a valid token with every scope listed."""

    scopes: Annotated[Strings, AfterValidator(check_scopes)] = ()


class RateLimitSpec(_Spec):
    """``rate_limit``: `limit` requests per `window` per `key`."""

    algorithm: Algorithm = "token_bucket"
    limit: Annotated[int, int_in(1, 1_000_000)]
    window: Duration = 1.0
    key: RateKey = "ip"
    burst: Annotated[int | None, int_in(1, 1_000_000)] = None

    @field_validator("limit")
    @classmethod
    def _window_log_bound(cls, limit: int, info: ValidationInfo) -> int:
        if info.data.get("algorithm") == "sliding_window" and limit > MAX_SLIDING_WINDOW_LIMIT:
            raise ValueError(
                f"sliding_window keeps one entry per request; max {MAX_SLIDING_WINDOW_LIMIT}"
            )
        return limit

    @field_validator("burst")
    @classmethod
    def _burst_needs_a_bucket(cls, burst: int | None, info: ValidationInfo) -> int | None:
        if burst is not None and info.data.get("algorithm", "token_bucket") != "token_bucket":
            raise ValueError("only token_bucket has a burst")
        return burst

    def to_config(self) -> RateLimitConfig:
        return RateLimitConfig(self.algorithm, self.limit, self.window, self.key, self.burst)


class CacheSpec(_Spec):
    """``cache``: keep successful responses for `ttl`, keyed also by the `vary` headers."""

    ttl: Duration
    vary: HeaderNames = ()


class CorsSpec(_Spec):
    """``cors``: what browsers on other origins may do."""

    allow_origins: Strings = Field((), validate_default=True)
    allow_methods: HttpMethods = ()
    allow_headers: Strings = ()
    expose_headers: Strings = ()
    allow_credentials: bool = False
    max_age: Annotated[int, int_in(0, 86_400)] = 600

    @field_validator("allow_origins")
    @classmethod
    def _some_origin(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        if not origins:
            raise ValueError("at least one origin (or '*') is required")
        return origins

    @field_validator("allow_credentials")
    @classmethod
    def _credentials_need_origins(cls, allow: bool, info: ValidationInfo) -> bool:
        if allow and "*" in info.data.get("allow_origins", ()):
            raise ValueError("cannot be combined with allow_origins '*'")
        return allow

    def to_config(self) -> CorsConfig:
        return CorsConfig(
            self.allow_origins,
            self.allow_methods,
            self.allow_headers,
            self.expose_headers,
            self.allow_credentials,
            self.max_age,
        )


#: Middleware whose value is a mapping: ``- auth:`` alone means ``- auth: {}``.
_MAPPING_MIDDLEWARE = ("auth", "rate_limit", "cache", "cors")


class MiddlewareSpec(_Spec):
    """One item of a route's ``middleware`` list: a mapping with exactly one key."""

    auth: AuthSpec | None = None
    rate_limit: RateLimitSpec | None = None
    cache: CacheSpec | None = None
    timeout: OptionalDuration = None
    body_limit: OptionalSize = None
    cors: CorsSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if not isinstance(value, dict) or len(value) != 1:
            raise ValueError("must be a mapping with one key, e.g. {timeout: 2s}")
        ((kind, conf),) = value.items()
        if kind not in cls.model_fields:
            raise ValueError(
                f"unknown middleware {shown(kind)}"
                " (expected auth, rate_limit, cache, timeout, body_limit or cors)"
            )
        return {kind: {} if conf is None and kind in _MAPPING_MIDDLEWARE else conf}


def _middleware_list(value: Any) -> Any:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("must be a list of single-key mappings")
    first: dict[Any, int] = {}
    for i, item in enumerate(value):
        if isinstance(item, dict) and len(item) == 1:
            kind = next(iter(item))
            if kind in first:
                raise _ItemError(i, f"{kind} appears twice (also at [{first[kind]}])")
            first[kind] = i
    return tuple(value)


def _methods(value: Any) -> Any:
    return None if value is None else check_strings(value)


def _empty_mapping(value: Any) -> Any:
    return {} if value is None else value


class RouteSpec(_Spec):
    """One item of ``routes``."""

    null_is_empty: ClassVar[bool] = False

    name: str = Field(pattern=_NAME)
    path: Annotated[InstanceOf[PathPattern], BeforeValidator(parse_path)]
    module: Annotated[InstanceOf[ModuleRef], BeforeValidator(check_module)]
    host: Annotated[str | None, BeforeValidator(check_host)] = None
    methods: Annotated[tuple[str, ...] | None, BeforeValidator(_methods)] = None
    mode: Mode = "command"
    function: str | None = Field(None, pattern=_FUNCTION, validate_default=True)
    args: Strings = ()
    limits: LimitsSpec = LimitsSpec()
    #: ``scratch:`` left empty asks for the runtime's defaults; leaving it out, for none.
    scratch: Annotated[ScratchSpec | None, BeforeValidator(_empty_mapping)] = None
    middleware: Annotated[tuple[MiddlewareSpec, ...], BeforeValidator(_middleware_list)] = ()

    @field_validator("methods")
    @classmethod
    def _some_methods(cls, methods: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if methods is None:
            return None
        if not methods:
            raise ValueError("must list at least one HTTP method (or be left out: any method)")
        return check_http_methods(methods)

    @field_validator("function")
    @classmethod
    def _function_mode(cls, function: str | None, info: ValidationInfo) -> str | None:
        mode = info.data.get("mode")
        if mode == "function" and function is None:
            raise ValueError("function mode needs the export name to call")
        if mode == "command" and function is not None:
            raise ValueError("only allowed with mode: function")
        return function

    @field_validator("scratch")
    @classmethod
    def _scratch_mode(cls, scratch: ScratchSpec | None, info: ValidationInfo) -> ScratchSpec | None:
        if scratch is not None and info.data.get("mode") == "function":
            raise ValueError("only allowed with mode: command")
        return scratch

    @field_validator("args")
    @classmethod
    def _args_name_path_params(cls, args: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        path: PathPattern | None = info.data.get("path")
        for i, arg in enumerate(args):
            for ref in _ARG_REF.findall(arg):
                if path is not None and ref not in path.params and f"{{{ref}}}" != ASSETS_ARG:
                    raise _ItemError(i, f"{{{ref}}} is not a parameter of the path")
        return args

    def to_route(self) -> Route:
        chosen = {
            kind: getattr(item, kind) for item in self.middleware for kind in item.model_fields_set
        }
        auth, rate, cache, cors = (chosen.get(k) for k in _MAPPING_MIDDLEWARE)
        return Route(
            name=self.name,
            path=self.path,
            module=self.module,
            host=self.host,
            methods=_route_methods(self.methods),
            mode=self.mode,
            function=self.function,
            args=self.args,
            limits=self.limits.to_limits(),
            scratch=None if self.scratch is None else self.scratch.to_config(),
            middleware=Middleware(
                auth=AuthConfig(auth.scopes) if auth else None,
                rate_limit=rate.to_config() if rate else None,
                cache=CacheConfig(cache.ttl, cache.vary) if cache else None,
                timeout_seconds=chosen.get("timeout"),
                body_limit_bytes=chosen.get("body_limit"),
                cors=cors.to_config() if cors else None,
            ),
        )


def _route_methods(methods: tuple[str, ...] | None) -> frozenset[str] | None:
    """GET implies HEAD, as in HTTP itself."""
    if methods is None:
        return None
    return frozenset(methods) | ({"HEAD"} if "GET" in methods else set())


def _route_list(value: Any) -> Any:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("must be a list")
    if len(value) > MAX_ROUTES:
        raise ValueError(f"{len(value)} routes; the limit is {MAX_ROUTES}")
    return tuple(value)


class RoutesFileSpec(_Spec):
    """The whole file: one key, ``routes``."""

    routes: Annotated[tuple[RouteSpec, ...], BeforeValidator(_route_list)] = ()

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict) or set(value) - {"routes"}:
            raise ValueError("top level must be a mapping with one key, 'routes'")
        return value


# ------------------------------------------------------------------ errors and loading


def _where(loc: Sequence[int | str], doc: Any) -> str:
    """``('routes', 3, 'limits', 'timeout')`` → ``route 'hello'.limits.timeout`` (or
    ``routes[3].limits.timeout`` while the route has no valid name)."""
    parts = list(loc)
    out = ""
    if len(parts) >= 2 and parts[0] == "routes" and isinstance(parts[1], int):
        name = _route_name(doc, parts[1])
        out = f"route {name!r}" if name else f"routes[{parts[1]}]"
        parts = parts[2:]
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _route_name(doc: Any, index: int) -> str | None:
    try:
        name = doc["routes"][index]["name"]
    except (KeyError, IndexError, TypeError):
        return None
    return name if isinstance(name, str) and re.match(_NAME, name) else None


def _message(err: Mapping[str, Any]) -> str:
    """What pydantic found, in the words of the errors written by hand above."""
    kind, value = err["type"], err.get("input")
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind == "missing":
        return "required"
    if kind == "string_type":
        return f"{shown(value)} must be a string"
    if kind == "bool_type":
        return f"{shown(value)} must be true or false"
    if kind == "literal_error":
        return f"{shown(value)} is not {str(ctx.get('expected', '')).replace(chr(39), '')}"
    if kind == "string_pattern_mismatch":
        return f"{shown(value)} must match {str(ctx.get('pattern', '')).strip('^$')}"
    return f"{shown(value)}: {err['msg']}"


def _check_unique(routes: Sequence[Route]) -> None:
    """Names are unique, and no two routes claim the same host, path shape and method."""
    seen: dict[str, int] = {}
    claimed: dict[tuple[Any, ...], str] = {}
    for i, route in enumerate(routes):
        if route.name in seen:
            raise RouteError(
                f"routes[{i}].name: {route.name!r} already used by routes[{seen[route.name]}]"
            )
        seen[route.name] = i
        shape = tuple("{}" if s.startswith("{") else s for s in route.path.segments)
        for method in sorted(route.methods or {"*"}):
            key = (route.host, shape, route.path.prefix, method)
            if key in claimed:
                raise RouteError(
                    f"route {route.name!r}.path: {route.path.text!r} overlaps route"
                    f" {claimed[key]!r} for the same host and method {method}"
                )
            claimed[key] = route.name


def parse_routes(text: str) -> RouteTable:
    """Parse and validate a whole routes file; :class:`RouteError` names the first problem."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RouteError(f"not valid YAML: {exc}") from None
    except RecursionError:
        # PyYAML composes nested collections recursively: '[[[[…' a thousand deep
        # exhausts the stack before any rule applies.
        raise RouteError("not a routes file: YAML nested too deeply to read") from None
    try:
        spec = RoutesFileSpec.model_validate(doc)
    except RecursionError:
        raise RouteError("not a routes file: values nested too deeply to validate") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _ItemError):
            loc.append(cause.index)
        where = _where(loc, doc)
        raise RouteError(f"{where}: {_message(err)}" if where else _message(err)) from None
    routes = [route.to_route() for route in spec.routes]
    _check_unique(routes)
    return RouteTable(routes)
