"""Translation between cache.proto messages and the cache's domain records."""

from __future__ import annotations

from wasmgrid.api.cache.v1 import cache_pb2
from wasmgrid.cache.compression import CompressionMode
from wasmgrid.cache.namespace import NamespaceConfig
from wasmgrid.cache.policies import PolicyName
from wasmgrid.cache.records import (
    GetResult,
    InvalidateResult,
    NamespaceSnapshot,
    NamespaceSpec,
    SetResult,
    TierStatus,
)
from wasmgrid.cache.redis_tier import TierState
from wasmgrid.cache.stats import LatencyWindow
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.protoenum import ProtoEnum

POLICIES = ProtoEnum.members(cache_pb2.EvictionPolicy, PolicyName)
COMPRESSIONS = ProtoEnum.members(cache_pb2.CompressionMode, CompressionMode)
TIER_STATES = ProtoEnum.members(cache_pb2.SharedTierState, TierState)
#: ListNamespaces cursors name the last namespace of the page before.


def spec_from_pb(config: cache_pb2.NamespaceConfig) -> NamespaceSpec:
    """A domain namespace spec from the proto (0/UNSPECIFIED = default)."""
    policy = POLICIES.from_proto(config.policy, "config.policy")
    compression = COMPRESSIONS.from_proto(config.compression, "config.compression")
    if config.zstd_level < 0:
        raise InvalidArgument(f"config.zstd_level: {config.zstd_level} is negative")
    return NamespaceSpec(
        name=config.name,
        max_bytes=config.max_bytes,
        max_entries=config.max_entries,
        default_ttl_ms=config.default_ttl_ms,
        policy=policy,
        compression=compression,
        zstd_level=config.zstd_level,
        min_compress_bytes=config.min_compress_bytes,
        max_value_bytes=config.max_value_bytes,
        local_only=config.local_only,
    )


def config_to_pb(config: NamespaceConfig) -> cache_pb2.NamespaceConfig:
    """The proto form of an effective namespace configuration."""
    return cache_pb2.NamespaceConfig(
        name=config.name,
        max_bytes=config.max_bytes,
        max_entries=config.max_entries,
        default_ttl_ms=config.default_ttl_ms,
        policy=POLICIES.to_proto(config.policy),
        compression=COMPRESSIONS.to_proto(config.compression),
        zstd_level=config.zstd_level,
        min_compress_bytes=config.min_compress_bytes,
        max_value_bytes=config.max_value_bytes,
        local_only=config.local_only,
    )


def _latency(window: LatencyWindow) -> cache_pb2.LatencySummary:
    return cache_pb2.LatencySummary(
        p50_us=window.percentile(0.50) * 1e6,
        p99_us=window.percentile(0.99) * 1e6,
        samples=window.samples,
    )


def stats_to_pb(snap: NamespaceSnapshot) -> cache_pb2.NamespaceStats:
    """The proto form of a namespace snapshot."""
    c = snap.counters
    return cache_pb2.NamespaceStats(
        config=config_to_pb(snap.config),
        hits=c.hits,
        misses=c.misses,
        hit_ratio=c.hit_ratio,
        memory_hits=c.memory_hits,
        shared_hits=c.shared_hits,
        sets=c.sets,
        rejected=c.rejected,
        evictions=cache_pb2.Evictions(
            capacity=c.evicted_capacity, expiry=c.evicted_expiry, explicit=c.evicted_explicit
        ),
        entries=snap.entries,
        raw_bytes=snap.raw_bytes,
        stored_bytes=snap.stored_bytes,
        charged_bytes=snap.charged_bytes,
        compression_ratio=snap.compression_ratio,
        get_latency=_latency(c.get_latency),
        set_latency=_latency(c.set_latency),
    )


def tier_to_pb(status: TierStatus) -> cache_pb2.SharedTierStatus:
    """The proto form of the shared tier's status."""
    return cache_pb2.SharedTierStatus(
        state=TIER_STATES.to_proto(status.state),
        endpoint=status.endpoint,
        replica_id=status.replica_id,
        last_error=status.last_error,
        state_since_unix_ms=status.state_since_unix_ms,
        reconnects=status.reconnects,
        invalidations_published=status.published,
        invalidations_received=status.received,
    )


def get_to_pb(result: GetResult) -> cache_pb2.GetResponse:
    """A read's answer."""
    if not result.found:
        return cache_pb2.GetResponse(key=result.key, found=False)
    response = cache_pb2.GetResponse(
        key=result.key,
        found=True,
        value=result.value,
        ttl_remaining_ms=result.ttl_remaining_ms,
        priority=result.priority,
        version=result.version,
        tier=cache_pb2.TIER_SHARED if result.shared else cache_pb2.TIER_MEMORY,
    )
    if result.tags:  # setting a repeated field, even to nothing, costs as much as the rest
        response.tags.extend(result.tags)
    return response


def set_to_pb(result: SetResult) -> cache_pb2.SetResponse:
    """A write's outcome."""
    return cache_pb2.SetResponse(
        key=result.key,
        version=result.version,
        admitted=result.admitted,
        shared=result.shared,
        stored_bytes=result.stored_bytes,
    )


def invalidate_to_pb(result: InvalidateResult) -> cache_pb2.InvalidateResponse:
    """What an invalidation removed."""
    return cache_pb2.InvalidateResponse(
        invalidated=result.invalidated, shared_invalidated=result.shared_invalidated
    )
