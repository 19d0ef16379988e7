"""The gateway's process state: upstream clients, limiter, routes, readiness, counters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from wasmgrid.common.lru import LruMap
from wasmgrid.gateway.admission import Admission
from wasmgrid.gateway.authguard import AuthGuard
from wasmgrid.gateway.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from wasmgrid.gateway.routes import RouteStore
from wasmgrid.gateway.settings import GatewaySettings
from wasmgrid.gateway.upstream import Monitor, Registry, ResponseCache, RuntimePool

#: Modules whose export signatures are remembered for function calls.
MAX_SIGNATURE_MODULES = 1000


@dataclass
class Gateway:
    """Everything a request handler needs, owned by the aiohttp app (``GATEWAY`` key)."""

    settings: GatewaySettings
    routes: RouteStore
    pool: RuntimePool
    registry: Registry
    cache: ResponseCache
    monitor: Monitor
    limiter: Limiter
    admission: Admission
    auth_guard: AuthGuard
    in_flight: int = 0
    draining: bool = False
    _market_checked: float = 0.0
    _market_reason: str | None = "not checked yet"
    #: digest → export name → (parameter types, result types), from the runtime's Warm.
    signatures: LruMap[str, dict[str, tuple[list[str], list[str]]]] = field(
        default_factory=lambda: LruMap(MAX_SIGNATURE_MODULES)
    )

    @classmethod
    def create(cls, settings: GatewaySettings, routes: RouteStore) -> Gateway:
        """Build the clients (no I/O yet: channels connect lazily)."""
        limiter: Limiter
        if settings.redis_url:
            limiter = RedisLimiter.from_url(
                settings.redis_url,
                fail_open=settings.rate_limit_fail_open,
                timeout=settings.rate_limit_redis_timeout_seconds,
            )
        else:
            limiter = MemoryLimiter(max_keys=settings.rate_limit_max_keys)
        return cls(
            settings=settings,
            routes=routes,
            pool=RuntimePool(settings),
            registry=Registry(settings),
            cache=ResponseCache(settings),
            monitor=Monitor(settings),
            limiter=limiter,
            admission=Admission(settings.invoke_concurrency, settings.invoke_queue_seconds),
            auth_guard=AuthGuard(limiter, settings.auth_failures_per_minute),
        )

    async def start(self) -> None:
        """Resolve runtime replicas and run the first health checks."""
        await self.pool.start()

    async def close(self) -> None:
        """Close every client."""
        await self.pool.close()
        await self.registry.close()
        await self.cache.close()
        await self.monitor.close()
        await self.limiter.close()

    async def check_ready(self) -> str | None:
        """None when a healthy runtime and a SERVING marketplace are reachable, else why not."""
        if self.draining:
            return "draining: shutting down"
        if self.pool.healthy_count() == 0:
            return "no healthy runtime replica"
        now = time.monotonic()
        if now - self._market_checked > 1.0:
            self._market_reason = await self.registry.serving()
            self._market_checked = now
        return self._market_reason


GATEWAY = web.AppKey("gateway", Gateway)
