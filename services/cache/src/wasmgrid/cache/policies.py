"""Eviction policies: which key a full cache gives up next.

A policy only orders keys; the namespace owns the entries and their bytes. The
namespace tells the policy about every insertion, access, resize and removal,
and while it is over its bounds it asks :meth:`EvictionPolicy.victim` for the
next key to evict, then removes that key (which the policy hears through
:meth:`EvictionPolicy.remove`). Weights are the bytes an entry is charged.

* :class:`LruPolicy`: least recently used.
* :class:`FifoPolicy`: oldest insertion (a replaced key is queued again).
* :class:`LfuPolicy`: fewest accesses since insertion, least recent among equals.
* :class:`TtlFirstPolicy`: soonest expiry; entries without a TTL last, oldest first.
* :class:`WTinyLfuPolicy`: Window TinyLFU (Einziger, Friedman & Manes, 2017) as in
  Caffeine: a window LRU (1% of the capacity, or sized by a
  :class:`~wasmgrid.cache.window.WindowSizer` when one is given) in front of a segmented LRU
  main area (probation 20%, protected 80%); an entry leaving the window enters the
  main area only if the frequency sketch says it is used more often than the
  main area's own victim. Scans and one-hit wonders stay in the small window.
"""

from __future__ import annotations

import abc
import heapq
import itertools
import random
from collections import OrderedDict
from collections.abc import Callable, Hashable
from enum import StrEnum

from wasmgrid.cache.sketch import FrequencySketch
from wasmgrid.cache.window import DEFAULT_SHARE, PROTECTED_SHARE, WindowSizer

Key = Hashable

WINDOW_FRACTION = DEFAULT_SHARE
PROTECTED_FRACTION = PROTECTED_SHARE
#: A candidate at least this warm is admitted at random 1/128 of the time even when it
#: loses the duel, so an attacker cannot pin a victim by inflating its frequency.
WARM_CANDIDATE = 6


class PolicyName(StrEnum):
    """The eviction policies a namespace can use."""

    W_TINYLFU = "w-tinylfu"
    LRU = "lru"
    LFU = "lfu"
    FIFO = "fifo"
    TTL_FIRST = "ttl-first"


class EvictionPolicy(abc.ABC):
    """Orders the keys of one cache (or one priority class of it) for eviction."""

    @abc.abstractmethod
    def add(self, key: Key, weight: int, expires_at: float) -> None:
        """A new key was inserted (`expires_at` 0 = never)."""

    @abc.abstractmethod
    def access(self, key: Key) -> None:
        """A present key was read."""

    @abc.abstractmethod
    def update(self, key: Key, weight: int, expires_at: float) -> None:
        """A present key got a new value (new weight and expiry)."""

    @abc.abstractmethod
    def remove(self, key: Key) -> None:
        """A present key left the cache (evicted, expired, deleted)."""

    @abc.abstractmethod
    def victim(self) -> Key | None:
        """The key to evict next, or None when empty. Does not remove it."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of keys tracked."""

    def record_miss(self, key: Key) -> None:  # noqa: B027 - only frequency policies care
        """A read of an absent key (frequency-based admission counts it)."""


class LruPolicy(EvictionPolicy):
    """Least recently used first."""

    def __init__(self) -> None:
        self._order: OrderedDict[Key, None] = OrderedDict()

    def add(self, key: Key, weight: int, expires_at: float) -> None:
        self._order[key] = None

    def access(self, key: Key) -> None:
        self._order.move_to_end(key)

    def update(self, key: Key, weight: int, expires_at: float) -> None:
        self._order.move_to_end(key)

    def remove(self, key: Key) -> None:
        del self._order[key]

    def victim(self) -> Key | None:
        return next(iter(self._order), None)

    def __len__(self) -> int:
        return len(self._order)


class FifoPolicy(LruPolicy):
    """Oldest insertion first; reads do not change the order."""

    def access(self, key: Key) -> None:
        pass


class LfuPolicy(EvictionPolicy):
    """Fewest reads since insertion first; least recently used among equal counts."""

    def __init__(self) -> None:
        self._count: dict[Key, int] = {}
        self._buckets: dict[int, OrderedDict[Key, None]] = {}
        self._min = 0

    def _place(self, key: Key, count: int) -> None:
        bucket = self._buckets.get(count)
        if bucket is None:
            bucket = self._buckets[count] = OrderedDict()
        bucket[key] = None
        self._count[key] = count

    def _unplace(self, key: Key) -> int:
        count = self._count.pop(key)
        bucket = self._buckets[count]
        del bucket[key]
        if not bucket:
            del self._buckets[count]
            if count == self._min:
                self._min = min(self._buckets, default=0)
        return count

    def add(self, key: Key, weight: int, expires_at: float) -> None:
        self._place(key, 1)
        self._min = 1

    def access(self, key: Key) -> None:
        count = self._unplace(key) + 1
        self._place(key, count)
        if not self._min or count < self._min:
            self._min = count

    def update(self, key: Key, weight: int, expires_at: float) -> None:
        self.access(key)

    def remove(self, key: Key) -> None:
        self._unplace(key)

    def victim(self) -> Key | None:
        bucket = self._buckets.get(self._min)
        if bucket is None:
            if not self._buckets:
                return None
            self._min = min(self._buckets)
            bucket = self._buckets[self._min]
        return next(iter(bucket))

    def __len__(self) -> int:
        return len(self._count)


class TtlFirstPolicy(EvictionPolicy):
    """Soonest expiry first (a heap with lazy deletion); no-TTL entries last, oldest first."""

    def __init__(self) -> None:
        self._expiring: dict[Key, tuple[float, int]] = {}
        self._heap: list[tuple[float, int, Key]] = []
        self._eternal: OrderedDict[Key, None] = OrderedDict()
        self._seq = itertools.count()

    def add(self, key: Key, weight: int, expires_at: float) -> None:
        if expires_at > 0:
            seq = next(self._seq)
            self._expiring[key] = (expires_at, seq)
            heapq.heappush(self._heap, (expires_at, seq, key))
            if len(self._heap) > 2 * len(self._expiring) + 64:
                self._heap = [(e, s, k) for k, (e, s) in self._expiring.items()]
                heapq.heapify(self._heap)
        else:
            self._eternal[key] = None

    def access(self, key: Key) -> None:
        pass

    def update(self, key: Key, weight: int, expires_at: float) -> None:
        self.remove(key)
        self.add(key, weight, expires_at)

    def remove(self, key: Key) -> None:
        if self._expiring.pop(key, None) is None:
            del self._eternal[key]

    def victim(self) -> Key | None:
        heap = self._heap
        while heap:
            expires_at, seq, key = heap[0]
            if self._expiring.get(key) == (expires_at, seq):
                return key
            heapq.heappop(heap)
        return next(iter(self._eternal), None)

    def __len__(self) -> int:
        return len(self._expiring) + len(self._eternal)


class WTinyLfuPolicy(EvictionPolicy):
    """Window TinyLFU with a segmented-LRU main area; see the module docstring."""

    def __init__(
        self,
        capacity: int,
        sketch: FrequencySketch,
        *,
        max_entries: int = 0,
        rng: random.Random | None = None,
        sizer: WindowSizer | None = None,
    ) -> None:
        self._sketch = sketch
        self._sizer = sizer
        self._sized = -1
        self._rng = rng or random.Random()  # noqa: S311 - duel tie-breaks, not a secret
        self._weights: dict[Key, int] = {}
        self._window: OrderedDict[Key, None] = OrderedDict()
        self._probation: OrderedDict[Key, None] = OrderedDict()
        self._protected: OrderedDict[Key, None] = OrderedDict()
        # Keys that just left the window and still have to win their admission duel.
        self._candidates: OrderedDict[Key, None] = OrderedDict()
        self._window_weight = 0
        self._protected_weight = 0
        self._window_max = 0
        self._protected_max = 0
        self._window_max_entries = 0
        self._protected_max_entries = 0
        self._capacity = capacity
        self._max_entries = max_entries
        self.resize(capacity, max_entries)

    @property
    def window_share(self) -> float:
        """The window's share of the cache now (the sizer's, else the fixed 1%)."""
        return WINDOW_FRACTION if self._sizer is None else self._sizer.window

    def resize(self, capacity: int, max_entries: int = 0) -> None:
        """Size the window and protected segments as fractions of the cache's bounds:
        `capacity` in bytes and, when non-zero, `max_entries` in entries."""
        self._capacity, self._max_entries = capacity, max_entries
        if self._sizer is not None:
            self._sized = self._sizer.version
        share = self.window_share
        self._window_max = max(1, int(capacity * share))
        self._protected_max = int((capacity - self._window_max) * PROTECTED_FRACTION)
        if max_entries:
            self._window_max_entries = max(1, int(max_entries * share))
            self._protected_max_entries = max(
                1, int((max_entries - self._window_max_entries) * PROTECTED_FRACTION)
            )
        else:
            self._window_max_entries = self._protected_max_entries = 1 << 62
        # A smaller window hands its oldest entries to probation (no duel: the cache's
        # size did not change); a smaller protected segment demotes its oldest.
        self._drain_window(duel=False)
        self._demote_protected()

    def _follow_sizer(self) -> None:
        sizer = self._sizer
        if sizer is not None and sizer.version != self._sized:
            self.resize(self._capacity, self._max_entries)

    def _segment(self, key: Key) -> OrderedDict[Key, None]:
        if key in self._window:
            return self._window
        if key in self._probation:
            return self._probation
        return self._protected

    def record_miss(self, key: Key) -> None:
        self._sketch.increment(key)

    def add(self, key: Key, weight: int, expires_at: float) -> None:
        self._follow_sizer()
        # Candidates left over from an earlier operation fitted: they are admitted.
        self._candidates.clear()
        self._sketch.increment(key)
        self._weights[key] = weight
        self._window[key] = None
        self._window_weight += weight
        self._drain_window()

    def _drain_window(self, *, duel: bool = True) -> None:
        while len(self._window) > 1 and (
            self._window_weight > self._window_max or len(self._window) > self._window_max_entries
        ):
            key, _ = self._window.popitem(last=False)
            self._window_weight -= self._weights[key]
            self._probation[key] = None
            if duel:
                self._candidates[key] = None

    def access(self, key: Key) -> None:
        self._follow_sizer()
        self._sketch.increment(key)
        if key in self._window:
            self._window.move_to_end(key)
        elif key in self._probation:
            del self._probation[key]
            self._candidates.pop(key, None)
            self._protected[key] = None
            self._protected_weight += self._weights[key]
            self._demote_protected()
        else:
            self._protected.move_to_end(key)

    def _demote_protected(self) -> None:
        while len(self._protected) > 1 and (
            self._protected_weight > self._protected_max
            or len(self._protected) > self._protected_max_entries
        ):
            key, _ = self._protected.popitem(last=False)
            self._protected_weight -= self._weights[key]
            self._probation[key] = None

    def update(self, key: Key, weight: int, expires_at: float) -> None:
        old = self._weights[key]
        self._weights[key] = weight
        segment = self._segment(key)
        if segment is self._window:
            self._window_weight += weight - old
            self._window.move_to_end(key)
            self._candidates.clear()
            self._drain_window()
        elif segment is self._protected:
            self._protected_weight += weight - old
            self._protected.move_to_end(key)
            self._demote_protected()
        else:
            self._probation.move_to_end(key)
        self._sketch.increment(key)

    def remove(self, key: Key) -> None:
        weight = self._weights.pop(key)
        self._candidates.pop(key, None)
        if key in self._window:
            del self._window[key]
            self._window_weight -= weight
        elif key in self._probation:
            del self._probation[key]
        else:
            del self._protected[key]
            self._protected_weight -= weight

    def _admit(self, candidate: Key, victim: Key) -> bool:
        candidate_freq = self._sketch.frequency(candidate)
        victim_freq = self._sketch.frequency(victim)
        if candidate_freq > victim_freq:
            return True
        if candidate_freq < WARM_CANDIDATE:
            return False
        return self._rng.random() < 1 / 128

    def victim(self) -> Key | None:
        while self._candidates:
            candidate = next(iter(self._candidates))
            victim = next(iter(self._probation))
            if victim == candidate:
                # Only candidates left in probation: duel against the protected LRU instead.
                victim = next(iter(self._protected), None)
                if victim is None:
                    return candidate
            if self._admit(candidate, victim):
                del self._candidates[candidate]  # admitted: a plain probation entry now
                return victim
            return candidate
        for segment in (self._probation, self._protected, self._window):
            key = next(iter(segment), None)
            if key is not None:
                return key
        return None

    def __len__(self) -> int:
        return len(self._weights)


PolicyFactory = Callable[[], EvictionPolicy]


def policy_factory(
    name: PolicyName,
    capacity: int,
    max_entries: int,
    sketch: FrequencySketch,
    sizer: WindowSizer | None = None,
) -> PolicyFactory:
    """A constructor of fresh policies of kind `name` (one per priority class; W-TinyLFU
    classes share the namespace's sketch and window sizer)."""
    if name is PolicyName.W_TINYLFU:
        return lambda: WTinyLfuPolicy(capacity, sketch, max_entries=max_entries, sizer=sizer)
    if name is PolicyName.LRU:
        return LruPolicy
    if name is PolicyName.LFU:
        return LfuPolicy
    if name is PolicyName.FIFO:
        return FifoPolicy
    return TtlFirstPolicy
