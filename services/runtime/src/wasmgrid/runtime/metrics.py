"""Prometheus metrics of the runtime. Labels are bounded enums, never module names."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from wasmgrid.common.metrics import LATENCY_BUCKETS

INVOCATIONS = Counter(
    "wasmgrid_runtime_invocations_total",
    "Guest executions, by mode (invoke|call), outcome and kind (module|component).",
    ["mode", "outcome", "kind"],
)
EXECUTION_SECONDS = Histogram(
    "wasmgrid_runtime_execution_seconds",
    "Wall time of one execution (instantiate + run), by mode and kind (module|component).",
    ["mode", "kind"],
    buckets=LATENCY_BUCKETS,
)
FUEL_CONSUMED = Histogram(
    "wasmgrid_runtime_fuel_consumed",
    "Fuel units consumed by one execution.",
    buckets=(1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10),
)
COMPILE_SECONDS = Histogram(
    "wasmgrid_runtime_compile_seconds",
    "Time to obtain compiled code that was not in memory (fetch, verify, compile or load"
    " the disk artifact), by source (disk|compiled).",
    ["source"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
COMPILES_IN_PROGRESS = Gauge(
    "wasmgrid_runtime_compiles_in_progress",
    "Module loads (fetch + compile or artifact load) running now.",
    multiprocess_mode="livesum",
)
COMPILING_ANSWERS = Counter(
    "wasmgrid_runtime_compiling_answers_total",
    "Calls answered UNAVAILABLE 'compiling' because their deadline came before the"
    " module's compile finished (the compile goes on).",
)
MODULE_CACHE_BYTES = Gauge(
    "wasmgrid_runtime_module_cache_bytes",
    "Compiled code held by the in-memory module cache, bytes.",
    multiprocess_mode="livesum",
)
COMPILED_CACHE = Counter(
    "wasmgrid_runtime_compiled_cache_total",
    "Compiled-module lookups, by result (memory_hit|disk_hit|miss).",
    ["result"],
)
ARTIFACTS_REJECTED = Counter(
    "wasmgrid_runtime_artifacts_rejected_total",
    "On-disk compiled artifacts refused and recompiled, by reason (hmac|corrupt|load).",
    ["reason"],
)
FETCHES = Counter(
    "wasmgrid_runtime_fetches_total",
    "Module downloads from the marketplace, by result"
    " (ok|not_found|digest_mismatch|too_large|unavailable|error).",
    ["result"],
)
FETCH_BYTES = Counter("wasmgrid_runtime_fetch_bytes_total", "Module bytes downloaded.")
IN_FLIGHT = Gauge(
    "wasmgrid_runtime_in_flight",
    "Executions running now.",
    multiprocess_mode="livesum",
)
REJECTED = Counter(
    "wasmgrid_runtime_rejected_total",
    "Calls refused with RESOURCE_EXHAUSTED because every execution slot was busy.",
)
LANES = Counter(
    "wasmgrid_runtime_lane_total",
    "Executions by lane: inline (finished within the inline budget on the event loop),"
    " spilled (stopped at the budget and re-run on a worker thread), thread (run there"
    " from the start).",
    ["lane"],
)
