"""Custom routes: the model, the routes file that declares them, the table that matches
them and the store that reloads them.

Read top-down: :mod:`.model` (what a route is), :mod:`.config` (the YAML file, validated
by pydantic models, with the grammars of single values in :mod:`.grammar`), :mod:`.table`
(matching by specificity), :mod:`.watcher` (the active table, reloaded on change or
SIGHUP).
"""

from wasmgrid.gateway.routes.config import RouteError, parse_duration, parse_routes, parse_size
from wasmgrid.gateway.routes.grammar import RESERVED_PAGES, RESERVED_PREFIXES, parse_path
from wasmgrid.gateway.routes.model import (
    ASSETS_ARG,
    NO_MIDDLEWARE,
    TOKEN_SCOPES,
    AuthConfig,
    CacheConfig,
    CorsConfig,
    Limits,
    MatchResult,
    Middleware,
    ModuleRef,
    PathPattern,
    RateLimitConfig,
    Route,
    RouteMatch,
    ScratchConfig,
    format_args,
)
from wasmgrid.gateway.routes.table import RouteTable
from wasmgrid.gateway.routes.watcher import RouteStore, load_route_store

__all__ = [
    "ASSETS_ARG",
    "NO_MIDDLEWARE",
    "RESERVED_PAGES",
    "RESERVED_PREFIXES",
    "TOKEN_SCOPES",
    "AuthConfig",
    "CacheConfig",
    "CorsConfig",
    "Limits",
    "MatchResult",
    "Middleware",
    "ModuleRef",
    "PathPattern",
    "RateLimitConfig",
    "Route",
    "RouteError",
    "RouteMatch",
    "RouteStore",
    "RouteTable",
    "ScratchConfig",
    "format_args",
    "load_route_store",
    "parse_duration",
    "parse_path",
    "parse_routes",
    "parse_size",
]
