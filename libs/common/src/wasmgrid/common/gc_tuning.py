"""Python's garbage collector in a long-running service: the startup heap frozen, pauses measured.

A full (generation 2) collection walks every container object the process holds. After
startup a service holds about 70,000 (runtime) to 90,000 (gateway) of them — protobuf
descriptors, the OpenTelemetry and gRPC modules, the service's own tables — and walking
them takes 40-55 ms on this machine's cores, during which the event loop answers
nothing. They live as long as the process, so walking them again finds nothing to free.
:func:`freeze_startup_heap` moves them out of the collector's sight (``gc.freeze``) once
the service has started, so a full collection walks only what requests created since.

A young (generation 0) collection starts whenever the tracked containers allocated
since the last one outnumber those freed by 700, CPython's default. A request in flight
holds a few hundred (frames of its coroutines, dicts, lists, messages); with 32 in flight
the count crosses 700 every few requests although nearly all of it is freed by reference
counting moments later, and each collection then walks every container of every request
in flight (0.3 ms in the gateway under invoke load, 5 µs a request). The service raises
the threshold to :data:`YOUNG_THRESHOLD`, above what requests in flight hold, so young
collections run for garbage that only the collector can free (reference cycles), not
for requests still running.
:func:`watch_pauses` queues every collection's pause by generation and
:func:`record_pauses` (the kit's readiness loop, every few seconds) puts them in
:data:`GC_PAUSE`, so an operator can see what the collector costs the loop.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from typing import Any

from prometheus_client import Gauge, Histogram

#: Collector pauses span 10 µs (a young collection) to tens of ms (a full one).
PAUSE_BUCKETS = (1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25)

GC_PAUSE = Histogram(
    "wasmgrid_gc_pause_seconds",
    "Time Python's garbage collector stopped the process, by generation collected"
    " (2 is a full collection).",
    ["generation"],
    buckets=PAUSE_BUCKETS,
)
GC_FROZEN = Gauge(
    "wasmgrid_gc_frozen_objects",
    "Objects alive when the service finished starting, exempt from garbage collection.",
    ["service"],
    multiprocess_mode="all",
)
_BY_GENERATION = [GC_PAUSE.labels(str(g)) for g in range(3)]
#: Net new containers that start a young collection once a service runs: above what its
#: requests in flight hold, small enough that cyclic garbage stays a few MB at most.
YOUNG_THRESHOLD = 20_000
#: Pauses not yet in :data:`GC_PAUSE`: (generation, seconds), oldest first.
_unrecorded: deque[tuple[int, float]] = deque(maxlen=10_000)
_started = 0.0


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    # Runs inside whatever allocation set the collector off, possibly while that thread
    # holds a metric's lock (in multiprocess mode one lock serves every metric): taking a
    # lock here could deadlock, so the pause is only queued (deque.append is atomic)
    # and :func:`record_pauses` observes it later. The collector holds the GIL
    # throughout, so one start time is enough.
    global _started
    if phase == "start":
        _started = time.perf_counter()
    else:
        _unrecorded.append((info["generation"], time.perf_counter() - _started))


def watch_pauses() -> None:
    """Queue each collection's pause for :func:`record_pauses` (once per process)."""
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)


def record_pauses() -> int:
    """Observe the queued pauses in :data:`GC_PAUSE` (outside any collection); how many."""
    recorded = 0
    while _unrecorded:
        generation, seconds = _unrecorded.popleft()
        _BY_GENERATION[generation].observe(seconds)
        recorded += 1
    return recorded


def freeze_startup_heap(service: str) -> int:
    """Collect once, then exempt every object alive now from later collections and
    collect the young generation at :data:`YOUNG_THRESHOLD`; how many were exempted."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    frozen = gc.get_freeze_count()
    GC_FROZEN.labels(service).set(frozen)
    return frozen
