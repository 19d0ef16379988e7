"""gRPC clients for the services behind the gateway.

- :mod:`.calls`: what every upstream call shares (latency metric, runtime trailers).
- :mod:`.runtime`: the runtime replicas, balanced, health-checked, retried.
- :mod:`.clients`: the registry (resolve and token caches), the response cache service
  (with a near cache) and the monitor.
- :mod:`.response_cache`: what the response cache stores and under which key.
"""

from wasmgrid.gateway.upstream.calls import compiling_seconds, retry_after_hint, timed
from wasmgrid.gateway.upstream.clients import (
    Monitor,
    Registry,
    Resolved,
    ResponseCache,
    token_fingerprint,
)
from wasmgrid.gateway.upstream.response_cache import (
    CachedResponse,
    cacheable,
    response_cache_key,
)
from wasmgrid.gateway.upstream.runtime import (
    NoReplica,
    RuntimePool,
    RuntimeReplica,
    not_executed,
    worker_groups,
)

__all__ = [
    "CachedResponse",
    "Monitor",
    "NoReplica",
    "Registry",
    "Resolved",
    "ResponseCache",
    "RuntimePool",
    "RuntimeReplica",
    "cacheable",
    "compiling_seconds",
    "not_executed",
    "response_cache_key",
    "retry_after_hint",
    "timed",
    "token_fingerprint",
    "worker_groups",
]
