"""The startup heap is frozen out of the collector's walks, and every pause is measured."""

from __future__ import annotations

import gc
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
    assert frozen == gc.get_freeze_count()
    assert frozen >= len(kept)
    # Without the freeze, the collection just made would have left them in generation 2.
    assert not any(o is kept[0] for o in gc.get_objects(generation=2))
    assert _sample(gc_tuning.GC_FROZEN, "wasmgrid_gc_frozen_objects", service="test") == frozen


def test_each_collection_is_recorded_by_its_generation() -> None:
    gc_tuning.watch_pauses()
    gc_tuning.watch_pauses()  # twice is once
    assert gc.callbacks.count(gc_tuning._on_collection) == 1
    before = _count(2), _count(0)
    gc.collect(2)
    gc.collect(0)
    assert _count(2) == before[0] + 1
    assert _count(0) >= before[1] + 1
