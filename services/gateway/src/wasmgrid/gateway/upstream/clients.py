"""Clients of the registry (marketplace), the cache service and the monitor.

- :class:`Registry`: the marketplace, with a short-lived resolve cache
  (``ns/name@req`` → digest) and a token cache for route auth.
- :class:`ResponseCache`: the cache service, fronted by a small in-process near cache.
- :class:`Monitor`: fleet health, alerts and traces for the REST facade.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import Counter

from wasmgrid.api.cache.v1 import cache_pb2, cache_pb2_grpc
from wasmgrid.api.marketplace.v1 import marketplace_pb2, marketplace_pb2_grpc
from wasmgrid.api.monitor.v1 import monitor_pb2_grpc
from wasmgrid.common.channel import create_channel
from wasmgrid.common.lru import LruMap
from wasmgrid.common.singleflight import SingleFlight
from wasmgrid.gateway.routes.model import ScratchConfig
from wasmgrid.gateway.settings import GatewaySettings
from wasmgrid.gateway.upstream.calls import timed
from wasmgrid.gateway.upstream.response_cache import CachedResponse

log = logging.getLogger(__name__)

RESOLVE_CACHE = Counter(
    "wasmgrid_gateway_resolve_cache_total",
    "Module resolutions, by result (hit, miss, stale: the last resolution served while"
    " the registry could not answer).",
    ["result"],
)
RESPONSE_CACHE = Counter(
    "wasmgrid_gateway_response_cache_total",
    "Response cache lookups, by result (hit, miss, error) and tier (near, service).",
    ["result", "tier"],
)
# Children on the per-request path, resolved once.
_RESOLVE_HIT = RESOLVE_CACHE.labels("hit")
_RESOLVE_MISS = RESOLVE_CACHE.labels("miss")
_RESOLVE_STALE = RESOLVE_CACHE.labels("stale")
#: Answers that say the registry could not answer (not that the module is gone):
#: a last resolution may stand in for them.
REGISTRY_UNANSWERED = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)
_NEAR_HIT = RESPONSE_CACHE.labels("hit", "near")


#: Token lookups (by fingerprint) remembered for ``TOKEN_CACHE_TTL_SECONDS``.
MAX_CACHED_TOKENS = 10_000
#: Namespaces whose publish limit is remembered for ``NAMESPACE_LIMITS_TTL_SECONDS``.
MAX_CACHED_NAMESPACES = 10_000
#: Upload bytes beyond the module and assets caps: the metadata part and multipart framing.
METADATA_ROOM = 256 * 1024


def token_fingerprint(authorization: str) -> str:
    """A short, non-reversible stand-in for a credential, for cache and rate-limit keys:
    the credential itself never appears in memory keys, Redis or logs."""
    return hashlib.sha256(authorization.encode()).hexdigest()[:32]


@dataclass
class Resolved:
    """A module version resolved from ``ns/name@req``."""

    name: str
    version: str
    digest: str
    kind: int
    #: The version's read-only files (digest of their canonical tar, guest mount), if any.
    assets_digest: str = ""
    assets_mount: str = ""
    #: The scratch directory the version asks for each call (None: none).
    scratch: ScratchConfig | None = None


class Registry:
    """The marketplace client with short-lived resolve and token caches."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.channel = create_channel(
            settings.marketplace_addr, default_timeout=settings.upstream_timeout_seconds
        )
        self.stub = marketplace_pb2_grpc.MarketplaceServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self._resolved: LruMap[tuple[str, str], Resolved] = LruMap(
            settings.resolve_cache_max_entries, ttl_seconds=settings.resolve_cache_ttl_seconds
        )
        # The last answer per key, kept after the fresh entry expires: while the registry
        # or its database is down or hung, invokes of modules resolved before go on.
        self._last: LruMap[tuple[str, str], Resolved] | None = (
            LruMap(settings.resolve_cache_max_entries, ttl_seconds=settings.resolve_stale_seconds)
            if settings.resolve_stale_seconds > 0
            else None
        )
        self._resolving: SingleFlight[tuple[str, str], Resolved] = SingleFlight("resolve")
        self._tokens: LruMap[str, marketplace_pb2.WhoAmIResponse] = LruMap(
            MAX_CACHED_TOKENS, ttl_seconds=settings.token_cache_ttl_seconds
        )
        self._limits: LruMap[str, int] = LruMap(
            MAX_CACHED_NAMESPACES, ttl_seconds=settings.namespace_limits_ttl_seconds
        )

    async def close(self) -> None:
        await self.channel.close(None)

    async def serving(self) -> str | None:
        """None when the marketplace reports SERVING, else why not."""
        try:
            resp = await self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.aio.AioRpcError as err:
            return f"marketplace unreachable: {err.code().name}"
        if resp.status != health_pb2.HealthCheckResponse.SERVING:
            return "marketplace not serving"
        return None

    def resolved(self, name: str, requirement: str) -> Resolved | None:
        """The live resolution of ``name@requirement`` if one is held, without a call:
        what :meth:`resolve` answers at once (a request then needs no coroutine for it)."""
        hit = self._resolved.get((name.lower(), requirement))
        if hit is not None:
            _RESOLVE_HIT.inc()
        return hit

    async def resolve(
        self, name: str, requirement: str, metadata: Sequence[tuple[str, str]] = ()
    ) -> Resolved:
        """``ns/name`` + requirement → exact version and digest, reused for the cache TTL.

        Concurrent resolutions of one key share one RPC. With TTL t a publish or yank
        is visible to new calls at most t seconds later. When the registry cannot answer
        (down, hung past ``RESOLVE_REFRESH_TIMEOUT_SECONDS``, failing), the last
        resolution of the key serves if it is at most ``RESOLVE_STALE_SECONDS`` old, and
        again for the next TTL before the registry is asked again.
        """
        hit = self.resolved(name, requirement)
        if hit is not None:
            return hit
        key = (name.lower(), requirement)
        if self._resolving.running(key):
            _RESOLVE_HIT.inc()
        else:
            _RESOLVE_MISS.inc()
        last = self._last.get(key) if self._last is not None else None

        async def fetch() -> Resolved:
            timeout = None if last is None else self.settings.resolve_refresh_timeout_seconds
            try:
                resp = await timed(
                    "marketplace",
                    "Resolve",
                    self.stub.Resolve(
                        marketplace_pb2.ResolveRequest(name=name, requirement=requirement),
                        metadata=tuple(metadata) or None,
                        timeout=timeout,
                    ),
                )
            except grpc.aio.AioRpcError as err:
                if last is None or err.code() not in REGISTRY_UNANSWERED:
                    raise
                _RESOLVE_STALE.inc()
                log.warning(
                    "registry did not answer Resolve (%s): serving the last resolution of"
                    " %s@%s (%s)",
                    err.code().name,
                    name,
                    requirement,
                    last.version,
                )
                self._resolved.put(key, last)
                return last
            result = Resolved(
                resp.name,
                resp.version,
                resp.digest,
                resp.kind,
                resp.assets.digest,
                resp.assets.mount,
                ScratchConfig(
                    resp.scratch.mount or None,
                    resp.scratch.max_bytes or None,
                    resp.scratch.max_files or None,
                )
                if resp.HasField("scratch")
                else None,
            )
            self._resolved.put(key, result)
            if self._last is not None:
                self._last.put(key, result)
            return result

        return await self._resolving.run(key, fetch)

    async def publish_limit(self, namespace: str) -> int:
        """Bytes a publish to `namespace` may upload: its module and assets caps plus the
        metadata part, remembered for the TTL; the gateway's own ceiling when the
        marketplace cannot say (it enforces the caps itself in any case)."""
        key = namespace.lower()
        hit = self._limits.get(key)
        if hit is not None:
            return hit
        ceiling = self.settings.max_publish_bytes
        try:
            resp: marketplace_pb2.NamespaceLimits = await timed(
                "marketplace",
                "GetNamespaceLimits",
                self.stub.GetNamespaceLimits(
                    marketplace_pb2.GetNamespaceLimitsRequest(namespace=namespace)
                ),
            )
        except grpc.aio.AioRpcError as err:
            log.info(
                "namespace limits unavailable (%s); using the gateway's ceiling",
                err.code().name,
                extra={"namespace": namespace},
            )
            return ceiling
        limit = min(ceiling, resp.max_module_bytes + resp.max_assets_bytes + METADATA_ROOM)
        self._limits.put(key, limit)
        return limit

    async def whoami(self, authorization: str) -> marketplace_pb2.WhoAmIResponse:
        """The token's user and scopes, cached briefly by the token's fingerprint."""
        key = token_fingerprint(authorization)
        hit = self._tokens.get(key)
        if hit is not None:
            return hit
        resp: marketplace_pb2.WhoAmIResponse = await timed(
            "marketplace",
            "WhoAmI",
            self.stub.WhoAmI(
                marketplace_pb2.WhoAmIRequest(), metadata=(("authorization", authorization),)
            ),
        )
        self._tokens.put(key, resp)
        return resp


class ResponseCache:
    """Cached module responses in the cache service, with an in-process near cache.

    The near cache keeps a copy for at most ``near_cache_max_ttl_seconds`` (and never
    past the entry's own TTL), so a hot key costs no RPC while replicas still agree
    within a second. Cache-service failures are misses, never request failures.
    """

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.namespace = settings.cache_namespace
        self.channel: grpc.aio.Channel | None = None
        self.stub: cache_pb2_grpc.CacheServiceAsyncStub | None = None
        if settings.cache_addr:
            self.channel = create_channel(settings.cache_addr, default_timeout=1.0)
            self.stub = cache_pb2_grpc.CacheServiceStub(self.channel)
        self._near: LruMap[str, CachedResponse] = LruMap(settings.near_cache_entries)
        self._fetching: SingleFlight[str, CachedResponse | None] = SingleFlight("cache-get")

    @property
    def enabled(self) -> bool:
        return self.stub is not None

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close(None)

    def _near_put(self, key: str, value: CachedResponse, ttl: float) -> None:
        self._near.put(key, value, ttl_seconds=min(ttl, self.settings.near_cache_max_ttl_seconds))

    def near(self, key: str) -> CachedResponse | None:
        """The near cache's copy of `key`, without a call (None: ask :meth:`get`)."""
        near = self._near.get(key)
        if near is not None:
            _NEAR_HIT.inc()
        return near

    async def get(self, key: str) -> CachedResponse | None:
        """The cached response for `key`, or None (a miss; errors are misses too).

        Concurrent lookups of one key share one RPC, so a hot key whose near-cache copy
        just expired costs one call to the cache service, not one per request.
        """
        near = self.near(key)
        if near is not None:
            return near
        if self.stub is None:
            return None
        return await self._fetching.run(key, lambda: self._fetch(key))

    async def _fetch(self, key: str) -> CachedResponse | None:
        assert self.stub is not None
        try:
            resp = await timed(
                "cache",
                "Get",
                self.stub.Get(cache_pb2.GetRequest(namespace=self.namespace, key=key)),
            )
        except grpc.aio.AioRpcError as err:
            RESPONSE_CACHE.labels("error", "service").inc()
            log.warning("response cache get failed: %s %s", err.code().name, err.details())
            return None
        if not resp.found:
            RESPONSE_CACHE.labels("miss", "service").inc()
            return None
        value = CachedResponse.decode(resp.value)
        if value is None:
            RESPONSE_CACHE.labels("miss", "service").inc()
            return None
        RESPONSE_CACHE.labels("hit", "service").inc()
        if resp.ttl_remaining_ms:
            self._near_put(key, value, resp.ttl_remaining_ms / 1000)
        return value

    async def put(self, key: str, value: CachedResponse, ttl: float) -> None:
        if self.stub is None:
            return
        self._near_put(key, value, ttl)
        try:
            await timed(
                "cache",
                "Set",
                self.stub.Set(
                    cache_pb2.SetRequest(
                        namespace=self.namespace,
                        key=key,
                        value=value.encode(),
                        ttl_ms=max(1, int(ttl * 1000)),
                    )
                ),
            )
        except grpc.aio.AioRpcError as err:
            log.warning("response cache set failed: %s %s", err.code().name, err.details())


class Monitor:
    """The monitor client (fleet health, alerts, traces)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.channel: grpc.aio.Channel | None = None
        self.stub: monitor_pb2_grpc.MonitorServiceAsyncStub | None = None
        if settings.monitor_addr:
            self.channel = create_channel(
                settings.monitor_addr, default_timeout=settings.upstream_timeout_seconds
            )
            self.stub = monitor_pb2_grpc.MonitorServiceStub(self.channel)

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close(None)
