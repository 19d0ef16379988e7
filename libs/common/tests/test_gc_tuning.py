"""The startup heap is frozen out of the collector's walks, and every pause is measured."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from wasmgrid.common import gc_tuning


def _sample(metric: Any, name: str, **labels: str) -> float:
    for family in metric.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def _count(generation: int) -> float:
    return _sample(
        gc_tuning.GC_PAUSE, "wasmgrid_gc_pause_seconds_count", generation=str(generation)
    )


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as before


@pytest.mark.usefixtures("unfrozen")
def test_objects_alive_at_freeze_are_left_out_of_full_collections() -> None:
    kept = [[i] for i in range(50_000)]  # containers, so the collector tracks them
    frozen = gc_tuning.freeze_startup_heap("test")
    assert frozen >= len(kept)
    # Without the freeze, the collection just made would have left them in generation 2.
    assert not any(o is kept[0] for o in gc.get_objects(generation=2))
    assert _sample(gc_tuning.GC_FROZEN, "wasmgrid_gc_frozen_objects", service="test") == frozen


def test_each_collection_is_recorded_by_its_generation() -> None:
    gc_tuning.watch_pauses()
    gc_tuning.watch_pauses()  # twice is once
    assert gc.callbacks.count(gc_tuning._on_collection) == 1
    gc_tuning.record_pauses()
    before = _count(2), _count(0)
    gc.collect(2)
    gc.collect(0)
    # Queued by the callback, observed only when recorded (outside the collection).
    assert _count(2) == before[0]
    assert gc_tuning.record_pauses() >= 2
    assert _count(2) == before[0] + 1
    assert _count(0) >= before[1] + 1


def test_a_collection_inside_a_metric_lock_does_not_deadlock() -> None:
    # A collection can start in any allocation, also one made while its thread holds a
    # metric value's lock (in multiprocess mode one lock serves every value). Observing
    # from the callback would take that lock again and hang the thread for good.
    gc_tuning.watch_pauses()
    held = gc_tuning._BY_GENERATION[0]._sum._lock

    def collect_inside_the_lock() -> None:
        with held:
            gc.collect(0)

    worker = threading.Thread(target=collect_inside_the_lock, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "the collector's callback blocked on a metric lock"
    assert gc_tuning.record_pauses() >= 1
