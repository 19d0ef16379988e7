"""What the HTTP API answers, as frozen dataclasses.

Field names follow the API's JSON (the proto field names). Enums are short
lowercase strings (``"publisher"``, ``"command"``, ``"serving"``) so a value a
newer server adds still parses; 64-bit counters are ints; timestamps are aware
datetimes (``None`` when the server leaves them unset); durations are seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wasmgrid.client._convert import duration_field, enum_field, enum_list

# ------------------------------------------------------------------ identity


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A registry account."""

    username: str = ""
    #: ``user``, ``publisher`` or ``admin``.
    role: str = enum_field("ROLE_")
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """An API token's public description (the secret is shown only when it is created)."""

    id: str = ""
    name: str = ""
    #: The first 12 characters of the secret, to recognise it.
    prefix: str = ""
    #: ``publish``, ``yank``, ``rate``, ``admin``.
    scopes: tuple[str, ...] = enum_list("SCOPE_")
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    username: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedUser:
    """A new user with its first token; `secret` is shown only here."""

    user: User = field(default_factory=User)
    token: Token = field(default_factory=Token)
    secret: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedToken:
    """A new token; `secret` is shown only here."""

    token: Token = field(default_factory=Token)
    secret: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WhoAmI:
    """The user and token behind the credentials, and the namespaces the user owns."""

    user: User = field(default_factory=User)
    token: Token = field(default_factory=Token)
    namespaces: tuple[str, ...] = ()


# ------------------------------------------------------------------ validation


@dataclass(frozen=True, slots=True, kw_only=True)
class WasmImport:
    """One import of a module."""

    module: str = ""
    name: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WasmExport:
    """One export of a module."""

    name: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WasmMemory:
    """A linear memory declared or imported by a module (sizes in 64 KiB pages)."""

    min_pages: int = 0
    max_pages: int = 0
    has_max: bool = False
    shared: bool = False
    memory64: bool = False
    imported: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Producer:
    """One entry of the ``producers`` custom section."""

    field: str = ""
    name: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One result of the publish-time validation and security scan."""

    #: ``info``, ``warning`` or ``error``.
    severity: str = enum_field("SEVERITY_")
    code: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    """What the registry found when the version was published."""

    valid: bool = False
    #: ``command`` (exports ``_start``) or ``reactor`` (callable exports).
    kind: str = enum_field("MODULE_KIND_")
    size_bytes: int = 0
    imports: tuple[WasmImport, ...] = ()
    exports: tuple[WasmExport, ...] = ()
    memories: tuple[WasmMemory, ...] = ()
    custom_sections: tuple[str, ...] = ()
    producers: tuple[Producer, ...] = ()
    language: str = ""
    toolchain: str = ""
    features: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    validator: str = ""


# ------------------------------------------------------------------ modules


@dataclass(frozen=True, slots=True, kw_only=True)
class Assets:
    """A version's read-only files, stored as one canonical tar."""

    #: Lowercase hex SHA-256 of the canonical tar.
    digest: str = ""
    size_bytes: int = 0
    file_count: int = 0
    #: Bytes of the files' contents.
    content_bytes: int = 0
    #: Guest path where a call sees them.
    mount: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleVersion:
    """One immutable published version."""

    name: str = ""
    version: str = ""
    #: Lowercase hex SHA-256 of the module bytes.
    digest: str = ""
    size_bytes: int = 0
    kind: str = enum_field("MODULE_KIND_")
    description: str = ""
    license: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    homepage: str = ""
    repository: str = ""
    published_at: datetime | None = None
    published_by: str = ""
    yanked: bool = False
    yank_reason: str = ""
    yanked_at: datetime | None = None
    #: Present from publish and :meth:`Client.version`; ``None`` in version lists.
    validation: ValidationReport | None = None
    downloads: int = 0
    prerelease: bool = False
    #: The version's read-only files; ``None`` when it has none.
    assets: Assets | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Module:
    """A module's registry entry; the metadata is its latest version's."""

    name: str = ""
    namespace: str = ""
    latest_version: str = ""
    description: str = ""
    license: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    homepage: str = ""
    repository: str = ""
    kind: str = enum_field("MODULE_KIND_")
    downloads: int = 0
    runtime_fetches: int = 0
    rating_average: float = 0.0
    rating_count: int = 0
    version_count: int = 0
    owners: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    all_yanked: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleSummary:
    """One search hit."""

    name: str = ""
    latest_version: str = ""
    description: str = ""
    license: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    kind: str = enum_field("MODULE_KIND_")
    downloads: int = 0
    rating_average: float = 0.0
    rating_count: int = 0
    updated_at: datetime | None = None
    score: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPage:
    """A page of search results; `next_cursor` is empty on the last page."""

    modules: tuple[ModuleSummary, ...] = ()
    next_cursor: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionPage:
    """A page of versions, highest precedence first."""

    versions: tuple[ModuleVersion, ...] = ()
    next_cursor: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rating:
    """One user's rating of a module."""

    username: str = ""
    stars: int = 0
    review: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingSummary:
    """The exact aggregate of a module's ratings; `histogram` counts 1..5 stars."""

    count: int = 0
    average: float = 0.0
    histogram: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RatedModule:
    """The rating just stored and the module's new aggregate."""

    rating: Rating = field(default_factory=Rating)
    summary: RatingSummary = field(default_factory=RatingSummary)


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingsPage:
    """A page of ratings, newest first, with the aggregate."""

    ratings: tuple[Rating, ...] = ()
    summary: RatingSummary = field(default_factory=RatingSummary)
    next_cursor: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionDownloads:
    """Downloads of one version: in the window and all time."""

    version: str = ""
    user_downloads: int = 0
    runtime_fetches: int = 0
    user_downloads_total: int = 0
    runtime_fetches_total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyDownloads:
    """Downloads on one UTC day (``date`` is ``YYYY-MM-DD``)."""

    date: str = ""
    user_downloads: int = 0
    runtime_fetches: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadStats:
    """Download totals over the last `days` days and all time, per version and per day."""

    name: str = ""
    days: int = 0
    user_downloads: int = 0
    runtime_fetches: int = 0
    user_downloads_total: int = 0
    runtime_fetches_total: int = 0
    versions: tuple[VersionDownloads, ...] = ()
    daily: tuple[DailyDownloads, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Download:
    """A downloaded version whose bytes matched the digest the server announced."""

    name: str
    version: str
    digest: str
    size_bytes: int
    #: The module bytes (empty when written to a file by :meth:`Client.download_to`).
    data: bytes = b""


# ------------------------------------------------------------------ invoking


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """The HTTP response a WAGI module produced."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    #: ``namespace/name@version`` that answered (the ``X-Wasmgrid-Module`` header).
    module: str = ""
    #: ``HIT`` or ``MISS`` on a route with a response cache, else empty.
    cache: str = ""
    #: The W3C trace id of this request (``wasmgrid trace`` draws it).
    trace_id: str = ""

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallResult:
    """An exported function's results and what the call cost."""

    module: str = ""
    version: str = ""
    digest: str = ""
    function: str = ""
    #: A core module's numbers, or a component's JSON values (see :meth:`Client.call`).
    results: tuple[Any, ...] = ()
    #: The wasm type of each result of a core module: ``i32``, ``i64``, ``f32`` or
    #: ``f64``; empty for a component.
    types: tuple[str, ...] = ()
    fuel_consumed: int = 0
    wall_time_us: int = 0


@dataclass(frozen=True, slots=True)
class TypedArg:
    """A function argument with an explicit wasm type, e.g. ``TypedArg("i64", 2**40)``."""

    type: str
    value: int | float

    def to_json(self) -> dict[str, int | float | str]:
        """The API's ``{"i64": n}`` form (non-finite floats as strings)."""
        if isinstance(self.value, float) and not math.isfinite(self.value):
            return {self.type: str(self.value)}
        return {self.type: self.value}


# ------------------------------------------------------------------ operations


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceHealth:
    """The aggregate health of one service over its replicas."""

    service: str = ""
    #: ``serving``, ``not_serving``, ``unreachable`` or ``unknown``.
    status: str = enum_field("SERVING_STATUS_")
    replicas: int = 0
    replicas_serving: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetHealth:
    """The health of one replica, from grpc.health.v1 and its metrics scrape."""

    service: str = ""
    instance: str = ""
    metrics_url: str = ""
    status: str = enum_field("SERVING_STATUS_")
    since: datetime | None = None
    reason: str = ""
    last_check: datetime | None = None
    check_latency: float = duration_field()
    consecutive_failures: int = 0
    metrics_up: bool = False
    metrics_error: str = ""
    last_scrape: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChange:
    """One status transition of one replica."""

    service: str = ""
    instance: str = ""
    from_status: str = enum_field("SERVING_STATUS_")
    to_status: str = enum_field("SERVING_STATUS_")
    at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetHealth:
    """Every service's health (from the monitor) and the gateway's runtime balancing."""

    overall: str = enum_field("SERVING_STATUS_")
    services: tuple[ServiceHealth, ...] = ()
    targets: tuple[TargetHealth, ...] = ()
    changes: tuple[StatusChange, ...] = ()
    generated_at: datetime | None = None
    #: The gateway's own view: runtime endpoints, balancing policy, route count.
    gateway: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert: a rule applied to one labelled result of its expression."""

    rule: str = ""
    fingerprint: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    #: ``pending``, ``firing`` or ``resolved``.
    state: str = enum_field("ALERT_STATE_")
    #: ``info``, ``warning`` or ``critical``.
    severity: str = enum_field("SEVERITY_")
    value: float = 0.0
    active_since: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    last_evaluated: datetime | None = None
    silenced_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertList:
    """Alerts, firing first; `truncated` when more matched than the limit."""

    alerts: tuple[Alert, ...] = ()
    truncated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanEvent:
    """A timestamped event inside a span."""

    name: str = ""
    time: datetime | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """One span of a trace."""

    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str = ""
    name: str = ""
    service: str = ""
    #: ``server``, ``client``, ``internal``, ``producer`` or ``consumer``.
    kind: str = enum_field("SPAN_KIND_")
    start_time: datetime | None = None
    duration: float = duration_field()
    #: ``unset``, ``ok`` or ``error``.
    status: str = enum_field("SPAN_STATUS_")
    status_message: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    scope: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceSummary:
    """What a trace amounts to."""

    trace_id: str = ""
    root_service: str = ""
    root_name: str = ""
    start_time: datetime | None = None
    duration: float = duration_field()
    span_count: int = 0
    error_count: int = 0
    services: tuple[str, ...] = ()
    has_root: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    """A trace with every span the monitor received, ordered by start time."""

    trace_id: str = ""
    spans: tuple[Span, ...] = ()
    summary: TraceSummary = field(default_factory=TraceSummary)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteList:
    """The gateway's active custom routes (each as the gateway describes it)."""

    routes: tuple[dict[str, Any], ...] = ()
    #: The routes file's name, or ``None`` when no file is configured.
    file: str | None = None
    #: Why the last reload of the routes file failed, or ``None``.
    last_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencySummary:
    """Latency percentiles over the most recent operations, in microseconds."""

    p50_us: float = 0.0
    p99_us: float = 0.0
    samples: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Evictions:
    """Entries removed from memory, by reason."""

    capacity: int = 0
    expiry: int = 0
    explicit: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceConfig:
    """A cache namespace's effective configuration."""

    name: str = ""
    max_bytes: int = 0
    max_entries: int = 0
    default_ttl_ms: int = 0
    policy: str = enum_field("EVICTION_POLICY_")
    compression: str = enum_field("COMPRESSION_MODE_")
    zstd_level: int = 0
    min_compress_bytes: int = 0
    max_value_bytes: int = 0
    local_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceStats:
    """Counters and gauges of one cache namespace on the replica that answered."""

    config: NamespaceConfig = field(default_factory=NamespaceConfig)
    hits: int = 0
    misses: int = 0
    hit_ratio: float = 0.0
    memory_hits: int = 0
    shared_hits: int = 0
    sets: int = 0
    rejected: int = 0
    evictions: Evictions = field(default_factory=Evictions)
    entries: int = 0
    raw_bytes: int = 0
    stored_bytes: int = 0
    charged_bytes: int = 0
    compression_ratio: float = 0.0
    get_latency: LatencySummary = field(default_factory=LatencySummary)
    set_latency: LatencySummary = field(default_factory=LatencySummary)


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedTier:
    """The cache's Redis tier as the answering replica sees it."""

    #: ``disabled``, ``connected`` or ``degraded``.
    state: str = enum_field("SHARED_TIER_STATE_")
    endpoint: str = ""
    replica_id: str = ""
    last_error: str = ""
    state_since_unix_ms: int = 0
    reconnects: int = 0
    invalidations_published: int = 0
    invalidations_received: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheNamespaces:
    """A page of cache namespaces with their stats."""

    namespaces: tuple[NamespaceStats, ...] = ()
    shared_tier: SharedTier = field(default_factory=SharedTier)
    next_cursor: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """One cache namespace's stats."""

    stats: NamespaceStats = field(default_factory=NamespaceStats)
    shared_tier: SharedTier = field(default_factory=SharedTier)
