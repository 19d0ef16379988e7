"""The startup heap is frozen out of the collector's walks, and every pause is measured."""

from __future__ import annotations

import gc
import threading
import weakref
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
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()  # the rest of the test session collects as before
    gc.set_threshold(*threshold)


class _Collections:
    """Counts the collections of each generation while it is installed."""

    def __init__(self) -> None:
        self.by_generation = [0, 0, 0]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            self.by_generation[info["generation"]] += 1


@pytest.fixture
def collections() -> Iterator[_Collections]:
    counter = _Collections()
    gc.callbacks.append(counter)
    yield counter
    gc.callbacks.remove(counter)


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


@pytest.mark.usefixtures("unfrozen")
def test_requests_in_flight_set_off_no_young_collection_once_started(
    collections: _Collections,
) -> None:
    gc_tuning.freeze_startup_heap("test")
    # 32 requests in flight, each holding 300 containers, then done: CPython's default
    # threshold (700) would walk them all several times over.
    for _ in range(20):
        in_flight = [[{"header": i}, [i]] for i in range(32 * 100)]
        del in_flight
    assert collections.by_generation[0] == 0


@pytest.mark.usefixtures("unfrozen")
def test_reference_cycles_are_still_collected_once_started(collections: _Collections) -> None:
    gc_tuning.freeze_startup_heap("test")

    class Node:
        def __init__(self) -> None:
            self.me = self

    first = Node()
    alive = weakref.ref(first)
    del first
    for _ in range(gc_tuning.YOUNG_THRESHOLD):  # cyclic garbage only the collector frees
        Node()
    assert collections.by_generation[0] >= 1
    assert alive() is None
