"""Operating the platform: fleet health, alerts, traces, routes, cache statistics, the
audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wasmgrid.client._convert import duration_field, enum_field


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


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One change of the registry: who made it, when, from where, in which trace."""

    id: int = 0
    at: datetime | None = None
    #: The acting user as named then; empty when no user acted (an anonymous sign-up,
    #: the service's bootstrap admin).
    actor: str = ""
    #: ``publish``, ``yank``, ``unyank``, ``token_create``, ``token_revoke``,
    #: ``user_create``, ``owner_add``, ``owner_remove``, ``limits_set``, ``rate`` or
    #: ``role_change``.
    action: str = enum_field("AUDIT_ACTION_")
    namespace: str = ""
    module: str = ""
    version: str = ""
    token_id: str = ""
    #: The user acted upon (created, made or unmade an owner, whose token was revoked).
    subject: str = ""
    #: What else the action records (a yank's reason, caps before and after, scopes).
    detail: dict[str, Any] = field(default_factory=dict)
    client_address: str = ""
    peer_address: str = ""
    trace_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditPage:
    """A page of the audit log, newest first; ``next_cursor`` is empty after the last."""

    events: tuple[AuditEvent, ...] = ()
    next_cursor: str = ""
