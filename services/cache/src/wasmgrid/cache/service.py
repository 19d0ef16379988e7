"""The gRPC face of the cache (a thin servicer over :mod:`.convert` and the tiered cache)
and its lifecycle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from wasmgrid.api.cache.v1 import cache_pb2, cache_pb2_grpc
from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.cache import convert
from wasmgrid.cache.records import (
    SetItem,
)
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.cache.tiered import TieredCache
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.paging import cursor_binding, decode_cursor, encode_cursor, page_limit
from wasmgrid.common.server import Service

Context = grpc.aio.ServicerContext[Any, Any]

SERVICE_NAME: str = cache_pb2.DESCRIPTOR.services_by_name["CacheService"].full_name
DEFAULT_PAGE = 100
MAX_PAGE = 1000

_NAMESPACES_CURSOR = cursor_binding("namespaces")


class CacheServicer(cache_pb2_grpc.CacheServiceServicer):
    """CacheService over a :class:`TieredCache`."""

    def __init__(self, cache: TieredCache) -> None:
        self.cache = cache

    async def Get(self, request: cache_pb2.GetRequest, context: Context) -> cache_pb2.GetResponse:
        return convert.get_to_pb(await self.cache.get(request.namespace, request.key))

    async def Set(self, request: cache_pb2.SetRequest, context: Context) -> cache_pb2.SetResponse:
        item = SetItem(
            request.key, request.value, request.ttl_ms, request.priority, tuple(request.tags)
        )
        return convert.set_to_pb(await self.cache.set(request.namespace, item))

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
        return cache_pb2.GetManyResponse(results=[convert.get_to_pb(r) for r in results])

    async def SetMany(
        self, request: cache_pb2.SetManyRequest, context: Context
    ) -> cache_pb2.SetManyResponse:
        items = [
            SetItem(i.key, i.value, i.ttl_ms, i.priority, tuple(i.tags)) for i in request.items
        ]
        results = await self.cache.set_many(request.namespace, items)
        return cache_pb2.SetManyResponse(results=[convert.set_to_pb(r) for r in results])

    async def InvalidateByPrefix(
        self, request: cache_pb2.InvalidateByPrefixRequest, context: Context
    ) -> cache_pb2.InvalidateResponse:
        result = await self.cache.invalidate_prefix(request.namespace, request.prefix)
        return convert.invalidate_to_pb(result)

    async def InvalidateByTag(
        self, request: cache_pb2.InvalidateByTagRequest, context: Context
    ) -> cache_pb2.InvalidateResponse:
        return convert.invalidate_to_pb(
            await self.cache.invalidate_tag(request.namespace, request.tag)
        )

    async def Stats(
        self, request: cache_pb2.StatsRequest, context: Context
    ) -> cache_pb2.StatsResponse:
        snap = self.cache.snapshot(request.namespace)
        return cache_pb2.StatsResponse(
            stats=convert.stats_to_pb(snap),
            shared_tier=convert.tier_to_pb(self.cache.tier_status()),
        )

    async def ConfigureNamespace(
        self, request: cache_pb2.ConfigureNamespaceRequest, context: Context
    ) -> cache_pb2.ConfigureNamespaceResponse:
        if not request.HasField("config"):
            raise InvalidArgument("config: required")
        config, created = await self.cache.configure(convert.spec_from_pb(request.config))
        return cache_pb2.ConfigureNamespaceResponse(
            config=convert.config_to_pb(config), created=created
        )

    async def ListNamespaces(
        self, request: cache_pb2.ListNamespacesRequest, context: Context
    ) -> cache_pb2.ListNamespacesResponse:
        limit = page_limit(request.page.limit, default=DEFAULT_PAGE, maximum=MAX_PAGE)
        after = decode_cursor(request.page.cursor, _NAMESPACES_CURSOR, 1)
        snaps, more = self.cache.list_namespaces(str(after[0]) if after else "", limit)
        cursor = encode_cursor(_NAMESPACES_CURSOR, [snaps[-1].config.name]) if more else ""
        return cache_pb2.ListNamespacesResponse(
            namespaces=[convert.stats_to_pb(s) for s in snaps],
            page=common_pb2.PageResponse(next_cursor=cursor),
            shared_tier=convert.tier_to_pb(self.cache.tier_status()),
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
