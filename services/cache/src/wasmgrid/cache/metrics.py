"""Prometheus metrics of the cache service.

Labels are bounded: `namespace` by the max_namespaces setting, the rest by code.
Per-namespace counters are kept as plain integers on the hot path and pushed here by
the sweeper (every sweep_interval_seconds); RPC latency is the kit's
grpc_server_handling_seconds.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from wasmgrid.cache.namespace import Namespace

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


class NamespaceExporter:
    """Pushes one namespace's counters and sizes to the metrics above (the sweeper calls it)."""

    __slots__ = ("_pushed", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._pushed: dict[str, int] = {}

    def _advance(self, key: str, value: int) -> int:
        delta = value - self._pushed.get(key, 0)
        if delta > 0:
            self._pushed[key] = value
        return delta

    def push(self, ns: Namespace) -> None:
        """Add what the counters grew by since the last push; set the gauges."""
        c, name = ns.counters, self.name
        for (op, result), value in (
            (("get", "hit"), c.hits),
            (("get", "miss"), c.misses),
            (("set", "ok"), c.sets),
            (("set", "rejected"), c.rejected),
        ):
            if (delta := self._advance(f"{op}:{result}", value)) > 0:
                OPERATIONS.labels(name, op, result).inc(delta)
        for reason, value in (
            ("capacity", c.evicted_capacity),
            ("expiry", c.evicted_expiry),
            ("explicit", c.evicted_explicit),
        ):
            if (delta := self._advance(reason, value)) > 0:
                EVICTIONS.labels(name, reason).inc(delta)
        ENTRIES.labels(name).set(len(ns))
        BYTES.labels(name, "raw").set(ns.raw_bytes)
        BYTES.labels(name, "stored").set(ns.stored_bytes)
        BYTES.labels(name, "charged").set(ns.charged_bytes)
