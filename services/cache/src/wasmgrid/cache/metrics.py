"""Prometheus metrics of the cache service.

Labels are bounded: `namespace` by the max_namespaces setting, the rest by code.
Per-namespace counters are kept as plain integers on the hot path and pushed here by
the sweeper (every sweep_interval_seconds); RPC latency is the kit's
grpc_server_handling_seconds.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

OPERATIONS = Counter(
    "wasmgrid_cache_operations_total",
    "Cache operations by namespace, operation and result (hit, miss, ok, rejected).",
    ["namespace", "op", "result"],
)
EVICTIONS = Counter(
    "wasmgrid_cache_evictions_total",
    "Entries removed from memory by namespace and reason (capacity, expiry, explicit).",
    ["namespace", "reason"],
)
ENTRIES = Gauge("wasmgrid_cache_entries", "Entries in memory.", ["namespace"])
BYTES = Gauge(
    "wasmgrid_cache_bytes",
    "Bytes in memory: raw (uncompressed values), stored (values as kept), charged (bound).",
    ["namespace", "kind"],
)
SHARED_TIER_CONNECTED = Gauge(
    "wasmgrid_cache_shared_tier_connected", "1 while the Redis tier answers and is subscribed."
)
SHARED_TIER_DEGRADED = Gauge(
    "wasmgrid_cache_shared_tier_degraded",
    "1 while a configured Redis tier is unreachable (serving from memory only).",
)
SHARED_TIER_ERRORS = Counter(
    "wasmgrid_cache_shared_tier_errors_total", "Failed Redis operations by operation.", ["op"]
)
SHARED_TIER_RECONNECTS = Counter(
    "wasmgrid_cache_shared_tier_reconnects_total", "Recoveries after a Redis outage."
)
INVALIDATIONS = Counter(
    "wasmgrid_cache_invalidations_total",
    "Invalidation messages published by this replica or received from others.",
    ["direction"],
)
