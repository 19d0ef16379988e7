"""LruMap: the one bounded map behind every in-process cache and memo."""

from __future__ import annotations

import pytest

from wasmgrid.common.lru import LruMap


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_least_recently_used_entry_goes_first_when_full() -> None:
    m: LruMap[str, int] = LruMap(2)
    m.put("a", 1)
    m.put("b", 2)
    assert m.get("a") == 1  # a is now the most recently used
    m.put("c", 3)
    assert list(m) == ["a", "c"]
    assert m.evictions == 1


def test_peek_does_not_count_as_a_use() -> None:
    m: LruMap[str, int] = LruMap(2)
    m.put("a", 1)
    m.put("b", 2)
    assert m.peek("a") == 1
    m.put("c", 3)
    assert "a" not in m
    assert m.get("b") == 2
    assert m.get("c") == 3


def test_putting_a_key_again_replaces_it_and_makes_it_most_recent() -> None:
    m: LruMap[str, int] = LruMap(2)
    m.put("a", 1)
    m.put("b", 2)
    m.put("a", 10)
    m.put("c", 3)
    assert m.items() == [("a", 10), ("c", 3)]


def test_entries_expire_after_the_map_ttl_and_are_removed_when_looked_up() -> None:
    clock = Clock()
    m: LruMap[str, int] = LruMap(10, ttl_seconds=5, clock=clock)
    m.put("a", 1)
    clock.now += 4.9
    assert m.get("a") == 1
    clock.now += 0.1
    assert m.get("a") is None
    assert len(m) == 0
    assert m.evictions == 0  # an expiry is not an eviction


def test_a_ttl_given_to_one_put_overrides_the_maps() -> None:
    clock = Clock()
    m: LruMap[str, int] = LruMap(10, ttl_seconds=60, clock=clock)
    m.put("short", 1, ttl_seconds=1)
    m.put("long", 2)
    clock.now += 2
    assert m.values() == [2]
    assert "short" not in m
    assert "long" in m


def test_a_ttl_of_zero_or_less_holds_nothing_and_drops_an_older_value() -> None:
    m: LruMap[str, int] = LruMap(10)
    m.put("a", 1)
    assert m.put("a", 2, ttl_seconds=0) is False
    assert m.get("a") is None


def test_weights_bound_the_total_and_a_too_heavy_value_is_refused() -> None:
    m: LruMap[str, bytes] = LruMap(100, max_weight=10, weight=len)
    assert m.put("a", b"xxxx")
    assert m.put("b", b"yyyy")
    assert m.put("c", b"zzzz")  # 12 > 10: a goes
    assert list(m) == ["b", "c"]
    assert m.weight == 8
    assert m.put("huge", b"h" * 11) is False
    assert list(m) == ["b", "c"]
    assert m.pop("b") == b"yyyy"
    assert m.weight == 4


def test_keep_newest_holds_a_too_heavy_value_alone_until_the_next_put() -> None:
    m: LruMap[str, bytes] = LruMap(100, max_weight=10, weight=len, keep_newest=True)
    assert m.put("a", b"xxxx")
    assert m.put("huge", b"h" * 11)
    assert list(m) == ["huge"]
    assert m.weight == 11
    assert m.put("b", b"yyyy")
    assert list(m) == ["b"]
    assert m.weight == 4


def test_pop_of_an_expired_entry_returns_nothing() -> None:
    clock = Clock()
    m: LruMap[str, int] = LruMap(10, ttl_seconds=1, clock=clock)
    m.put("a", 1)
    clock.now += 2
    assert m.pop("a") is None
    assert m.pop("never") is None


def test_a_map_of_zero_entries_holds_nothing() -> None:
    m: LruMap[str, int] = LruMap(0)
    assert m.put("a", 1) is False
    assert len(m) == 0


def test_clear_empties_the_map_and_its_weight() -> None:
    m: LruMap[str, bytes] = LruMap(10, max_weight=100, weight=len)
    m.put("a", b"abc")
    m.clear()
    assert len(m) == 0
    assert m.weight == 0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        LruMap(-1)
    with pytest.raises(ValueError, match="go together"):
        LruMap(1, max_weight=10)
