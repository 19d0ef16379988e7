"""The gRPC face of the cache: translates CacheService messages to and from the domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from wasmgrid.api.cache.v1 import cache_pb2, cache_pb2_grpc
from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.cache.compression import CompressionMode
from wasmgrid.cache.namespace import NamespaceConfig
from wasmgrid.cache.policies import PolicyName
from wasmgrid.cache.records import (
    GetResult,
    InvalidateResult,
    NamespaceSnapshot,
    NamespaceSpec,
    SetItem,
    SetResult,
    TierStatus,
)
from wasmgrid.cache.redis_tier import TierState
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.cache.stats import LatencyWindow
from wasmgrid.cache.tiered import TieredCache
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.paging import cursor_binding, decode_cursor, encode_cursor, page_limit
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.common.server import Service

Context = grpc.aio.ServicerContext[Any, Any]

SERVICE_NAME: str = cache_pb2.DESCRIPTOR.services_by_name["CacheService"].full_name
DEFAULT_PAGE = 100
MAX_PAGE = 1000

_POLICIES = ProtoEnum.members(cache_pb2.EvictionPolicy, PolicyName)
_COMPRESSIONS = ProtoEnum.members(cache_pb2.CompressionMode, CompressionMode)
_TIER_STATES = ProtoEnum.members(cache_pb2.SharedTierState, TierState)
#: ListNamespaces cursors name the last namespace of the page before.
_NAMESPACES_CURSOR = cursor_binding("namespaces")


def spec_from_pb(config: cache_pb2.NamespaceConfig) -> NamespaceSpec:
    """A domain namespace spec from the proto (0/UNSPECIFIED = default)."""
    policy = _POLICIES.from_proto(config.policy, "config.policy")
    compression = _COMPRESSIONS.from_proto(config.compression, "config.compression")
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
        policy=_POLICIES.to_proto(config.policy),
        compression=_COMPRESSIONS.to_proto(config.compression),
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
        state=_TIER_STATES.to_proto(status.state),
        endpoint=status.endpoint,
        replica_id=status.replica_id,
        last_error=status.last_error,
        state_since_unix_ms=status.state_since_unix_ms,
        reconnects=status.reconnects,
        invalidations_published=status.published,
        invalidations_received=status.received,
    )


def _get_to_pb(result: GetResult) -> cache_pb2.GetResponse:
    if not result.found:
        return cache_pb2.GetResponse(key=result.key, found=False)
    return cache_pb2.GetResponse(
        key=result.key,
        found=True,
        value=result.value,
        ttl_remaining_ms=result.ttl_remaining_ms,
        priority=result.priority,
        tags=result.tags,
        version=result.version,
        tier=cache_pb2.TIER_SHARED if result.shared else cache_pb2.TIER_MEMORY,
    )


def _set_to_pb(result: SetResult) -> cache_pb2.SetResponse:
    return cache_pb2.SetResponse(
        key=result.key,
        version=result.version,
        admitted=result.admitted,
        shared=result.shared,
        stored_bytes=result.stored_bytes,
    )


def _invalidate_to_pb(result: InvalidateResult) -> cache_pb2.InvalidateResponse:
    return cache_pb2.InvalidateResponse(
        invalidated=result.invalidated, shared_invalidated=result.shared_invalidated
    )


class CacheServicer(cache_pb2_grpc.CacheServiceServicer):
    """CacheService over a :class:`TieredCache`."""

    def __init__(self, cache: TieredCache) -> None:
        self.cache = cache

    async def Get(self, request: cache_pb2.GetRequest, context: Context) -> cache_pb2.GetResponse:
        return _get_to_pb(await self.cache.get(request.namespace, request.key))

    async def Set(self, request: cache_pb2.SetRequest, context: Context) -> cache_pb2.SetResponse:
        item = SetItem(
            request.key, request.value, request.ttl_ms, request.priority, tuple(request.tags)
        )
        return _set_to_pb(await self.cache.set(request.namespace, item))

    async def Delete(
        self, request: cache_pb2.DeleteRequest, context: Context
    ) -> cache_pb2.DeleteResponse:
        return cache_pb2.DeleteResponse(
            deleted=await self.cache.delete(request.namespace, request.key)
        )

    async def GetMany(
        self, request: cache_pb2.GetManyRequest, context: Context
    ) -> cache_pb2.GetManyResponse:
        results = await self.cache.get_many(request.namespace, list(request.keys))
        return cache_pb2.GetManyResponse(results=[_get_to_pb(r) for r in results])

    async def SetMany(
        self, request: cache_pb2.SetManyRequest, context: Context
    ) -> cache_pb2.SetManyResponse:
        items = [
            SetItem(i.key, i.value, i.ttl_ms, i.priority, tuple(i.tags)) for i in request.items
        ]
        results = await self.cache.set_many(request.namespace, items)
        return cache_pb2.SetManyResponse(results=[_set_to_pb(r) for r in results])

    async def InvalidateByPrefix(
        self, request: cache_pb2.InvalidateByPrefixRequest, context: Context
    ) -> cache_pb2.InvalidateResponse:
        result = await self.cache.invalidate_prefix(request.namespace, request.prefix)
        return _invalidate_to_pb(result)

    async def InvalidateByTag(
        self, request: cache_pb2.InvalidateByTagRequest, context: Context
    ) -> cache_pb2.InvalidateResponse:
        return _invalidate_to_pb(await self.cache.invalidate_tag(request.namespace, request.tag))

    async def Stats(
        self, request: cache_pb2.StatsRequest, context: Context
    ) -> cache_pb2.StatsResponse:
        snap = self.cache.snapshot(request.namespace)
        return cache_pb2.StatsResponse(
            stats=stats_to_pb(snap), shared_tier=tier_to_pb(self.cache.tier_status())
        )

    async def ConfigureNamespace(
        self, request: cache_pb2.ConfigureNamespaceRequest, context: Context
    ) -> cache_pb2.ConfigureNamespaceResponse:
        if not request.HasField("config"):
            raise InvalidArgument("config: required")
        config, created = await self.cache.configure(spec_from_pb(request.config))
        return cache_pb2.ConfigureNamespaceResponse(config=config_to_pb(config), created=created)

    async def ListNamespaces(
        self, request: cache_pb2.ListNamespacesRequest, context: Context
    ) -> cache_pb2.ListNamespacesResponse:
        limit = page_limit(request.page.limit, default=DEFAULT_PAGE, maximum=MAX_PAGE)
        after = decode_cursor(request.page.cursor, _NAMESPACES_CURSOR, 1)
        snaps, more = self.cache.list_namespaces(str(after[0]) if after else "", limit)
        cursor = encode_cursor(_NAMESPACES_CURSOR, [snaps[-1].config.name]) if more else ""
        return cache_pb2.ListNamespacesResponse(
            namespaces=[stats_to_pb(s) for s in snaps],
            page=common_pb2.PageResponse(next_cursor=cursor),
            shared_tier=tier_to_pb(self.cache.tier_status()),
        )


class CacheService(Service):
    """The cache as the kit's runner sees it."""

    name = "cache"

    def __init__(self, settings: CacheSettings) -> None:
        self.settings = settings
        self.cache = TieredCache(settings)

    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        cache_pb2_grpc.add_CacheServiceServicer_to_server(CacheServicer(self.cache), server)
        return [SERVICE_NAME]

    async def start(self) -> None:
        await self.cache.start()

    async def stop(self) -> None:
        await self.cache.stop()

    async def check_ready(self) -> str | None:
        # A Redis outage degrades the cache (L1 only, visible in Stats and metrics) but the
        # service still answers every RPC correctly, so it stays SERVING: taking every
        # replica out of rotation when the shared tier blips would turn a slower cache
        # into no cache at all.
        return None


class UntracedCacheService(CacheService):
    """The cache without OpenTelemetry server spans (``WASMGRID_CACHE_TRACE_RPCS=false``):
    a server span costs more than a memory hit (see README)."""

    untraced_prefixes = (SERVICE_NAME,)


def create_service(settings: CacheSettings) -> CacheService:
    """The cache service for `settings` (traced unless trace_rpcs is false)."""
    return CacheService(settings) if settings.trace_rpcs else UntracedCacheService(settings)
