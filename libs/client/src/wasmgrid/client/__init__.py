"""Typed asyncio SDK for wasmgrid's HTTP API, with a small blocking facade.

>>> async with Client("http://127.0.0.1:8080", token=token) as wg:
...     print((await wg.run("examples/hello", b"hi")).text)

Every refusal is a :class:`ProblemError` carrying the server's RFC 9457 fields;
a server that cannot be reached is an :class:`UnreachableError`; both are
:class:`WasmgridError`.
"""

from wasmgrid.client._assets import pack_directory
from wasmgrid.client._client import DEFAULT_URL, Client
from wasmgrid.client._convert import from_json, to_jsonable
from wasmgrid.client._errors import IntegrityError, ProblemError, UnreachableError, WasmgridError
from wasmgrid.client._sync import SyncClient
from wasmgrid.client._wire import Progress, module_path
from wasmgrid.client.models import (
    Alert,
    AlertList,
    Assets,
    AuditEvent,
    AuditPage,
    CacheNamespaces,
    CacheStats,
    CallResult,
    CreatedToken,
    CreatedUser,
    Download,
    DownloadStats,
    Finding,
    FleetHealth,
    Module,
    ModuleSummary,
    ModuleVersion,
    NamespaceStats,
    RatedModule,
    Rating,
    RatingsPage,
    RoleChange,
    RouteList,
    RunResult,
    SearchPage,
    ServiceHealth,
    Span,
    Token,
    Trace,
    TypedArg,
    User,
    UserPage,
    ValidationReport,
    VersionPage,
    WhoAmI,
)

__all__ = [
    "DEFAULT_URL",
    "Alert",
    "AlertList",
    "Assets",
    "AuditEvent",
    "AuditPage",
    "CacheNamespaces",
    "CacheStats",
    "CallResult",
    "Client",
    "CreatedToken",
    "CreatedUser",
    "Download",
    "DownloadStats",
    "Finding",
    "FleetHealth",
    "IntegrityError",
    "Module",
    "ModuleSummary",
    "ModuleVersion",
    "NamespaceStats",
    "ProblemError",
    "Progress",
    "RatedModule",
    "Rating",
    "RatingsPage",
    "RoleChange",
    "RouteList",
    "RunResult",
    "SearchPage",
    "ServiceHealth",
    "Span",
    "SyncClient",
    "Token",
    "Trace",
    "TypedArg",
    "UnreachableError",
    "User",
    "UserPage",
    "ValidationReport",
    "VersionPage",
    "WasmgridError",
    "WhoAmI",
    "from_json",
    "module_path",
    "pack_directory",
    "to_jsonable",
]
