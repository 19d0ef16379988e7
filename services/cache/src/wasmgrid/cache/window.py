"""The adaptive window of W-TinyLFU, sized by miniature simulations ("ghost" caches).

A small window suits frequency-skewed workloads (the main area, guarded by the
frequency filter, holds the popular keys); a large one suits recency-skewed ones
(bursts of new keys that are reused soon, which the filter would turn away while the
old popular keys' counts decay). Which one a namespace sees is measured, not guessed:
a spatially sampled share of its keys (those whose hash is a multiple of the sampling
rate) is replayed through a few key-only W-TinyLFU caches scaled down by that rate,
one per window share of :data:`SHARES` ("miniature simulation", Waldspurger et al.,
USENIX ATC 2017). They share the namespace's frequency sketch, whose counts do not
depend on the window, so a ghost decides its admissions exactly as the real cache
would with that window.

The ghosts see the same requests, so they are compared pairwise: every
:data:`PERIOD_FACTOR` × ghost-size sampled requests, the window moves to the share
whose ghost beat the current one significantly by McNemar's test (the requests where
exactly one of the two hit; ``(wins - losses)² > Z² · (wins + losses)``). Counts are
halved each period, so the comparison follows the recent workload. A sampled hit rate
alone is too noisy to steer by (the hill climber this replaces moved on noise and lost
up to 2 points on stationary traces, docs/benchmarks.md); the paired test does not move
unless one window really does better on this traffic.

Each ghost needs :data:`MIN_GHOST_ENTRIES` entries to hold the smallest share's window
(1%) in at least one entry, and keys are sampled at 1 in :data:`MIN_SAMPLING` or
rarer to bound the cost on a Get, so namespaces under
``MIN_GHOST_ENTRIES × MIN_SAMPLING`` entries keep the fixed 1% window.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from wasmgrid.cache.sketch import FrequencySketch

#: Window shares the ghosts try; the first is the default (Caffeine's initial 1%).
SHARES = (0.01, 0.10, 0.40, 0.80)
DEFAULT_SHARE = SHARES[0]
#: The main area's protected segment, as a share of the main area (as in the policy).
PROTECTED_SHARE = 0.80
#: A ghost smaller than this cannot hold a 1% window.
MIN_GHOST_ENTRIES = 100
#: Ghost entries at most (bounds their memory in big namespaces: ~100 bytes each).
MAX_GHOST_ENTRIES = 4096
#: Sample at most 1 key in this many (4 ghosts per sampled Get: ~0.25 of one per Get).
MIN_SAMPLING = 16
#: Sampled requests per decision, per ghost entry (the sketch's sample, scaled down).
PERIOD_FACTOR = 10
#: Standard deviations by which a share must beat the current one to be taken.
Z = 3.0


class GhostCache:
    """A key-only W-TinyLFU of `capacity` entries: window LRU, probation, protected."""

    __slots__ = (
        "_capacity",
        "_frequency",
        "_probation",
        "_protected",
        "_protected_max",
        "_window",
        "_window_max",
        "share",
    )

    def __init__(self, capacity: int, share: float, frequency: Callable[[int], int]) -> None:
        self.share = share
        self._frequency = frequency
        self._window: OrderedDict[int, None] = OrderedDict()
        self._probation: OrderedDict[int, None] = OrderedDict()
        self._protected: OrderedDict[int, None] = OrderedDict()
        self._capacity = self._window_max = self._protected_max = 0
        self.resize(capacity)

    @property
    def capacity(self) -> int:
        """Entries the ghost holds at most."""
        return self._capacity

    def resize(self, capacity: int) -> None:
        """Change the capacity (a smaller ghost shrinks as new keys come in)."""
        self._capacity = max(1, capacity)
        self._window_max = max(1, int(self._capacity * self.share))
        self._protected_max = max(1, int((self._capacity - self._window_max) * PROTECTED_SHARE))

    def __len__(self) -> int:
        return len(self._window) + len(self._probation) + len(self._protected)

    def request(self, key: int) -> bool:
        """Replay one request of `key` (a fill on a miss); whether it hit."""
        if key in self._window:
            self._window.move_to_end(key)
            return True
        probation, protected = self._probation, self._protected
        if key in probation:
            del probation[key]
            protected[key] = None
            if len(protected) > self._protected_max:
                probation[protected.popitem(last=False)[0]] = None
            return True
        if key in protected:
            protected.move_to_end(key)
            return True
        self._window[key] = None
        while len(self._window) > self._window_max:
            self._admit(self._window.popitem(last=False)[0])
        return False

    def _admit(self, candidate: int) -> None:
        # The window's victim duels the main area's (probation's LRU), as in the policy.
        probation, protected = self._probation, self._protected
        if len(self) < self._capacity:
            probation[candidate] = None
        else:
            segment = probation or protected
            victim = next(iter(segment), None)
            if victim is None:
                return  # a one-entry ghost: its window is all of it
            if self._frequency(candidate) > self._frequency(victim):
                del segment[victim]
                probation[candidate] = None
        while len(self) > self._capacity:  # shrunk: plain LRU evictions
            segment = probation or protected or self._window
            segment.popitem(last=False)


class WindowSizer:
    """The window share of one namespace's W-TinyLFU, chosen by ghost caches."""

    __slots__ = ("_count", "_current", "_ghosts", "_losses", "_period", "_wins", "rate", "version")

    def __init__(self, entries: int, sketch: FrequencySketch, rate: int | None = None) -> None:
        #: One key in `rate` (by hash) is replayed through the ghosts.
        self.rate = rate or max(MIN_SAMPLING, -(-entries // MAX_GHOST_ENTRIES))
        #: Bumped at every change of `window`, so policies resize lazily.
        self.version = 0
        frequency = sketch.frequency_of_hash
        size = entries // self.rate
        self._ghosts = [GhostCache(size, share, frequency) for share in SHARES]
        self._current = 0
        self._wins = [0.0] * len(SHARES)
        self._losses = [0.0] * len(SHARES)
        self._count = 0
        self._period = PERIOD_FACTOR * max(size, MIN_GHOST_ENTRIES)

    @property
    def window(self) -> float:
        """The window's share of the cache now."""
        return self._ghosts[self._current].share

    def resize(self, entries: int) -> None:
        """Follow the namespace's size in entries (its bound, or what a byte bound holds)."""
        size = entries // self.rate
        if size != self._ghosts[0].capacity:
            for ghost in self._ghosts:
                ghost.resize(size)
            self._period = PERIOD_FACTOR * max(size, MIN_GHOST_ENTRIES)

    def record(self, key_hash: int) -> None:
        """Replay a request of a sampled key (`hash(key) % rate == 0`) through the ghosts."""
        hits = [ghost.request(key_hash) for ghost in self._ghosts]
        current = hits[self._current]
        if hits.count(current) != len(hits):  # most requests: every ghost agrees
            for i, hit in enumerate(hits):
                if hit != current:
                    if hit:
                        self._wins[i] += 1
                    else:
                        self._losses[i] += 1
        self._count += 1
        if self._count >= self._period:
            self._decide()

    def _decide(self) -> None:
        self._count = 0
        best, margin = 0, 0.0  # ghosts too small to tell: back to the default
        if self._ghosts[0].capacity >= MIN_GHOST_ENTRIES:
            best = self._current
            for i, (wins, losses) in enumerate(zip(self._wins, self._losses, strict=True)):
                lead = wins - losses
                if lead > margin and lead * lead > Z * Z * (wins + losses):
                    best, margin = i, lead
        if best != self._current:
            self._current = best
            self.version += 1
            self._wins = [0.0] * len(SHARES)
            self._losses = [0.0] * len(SHARES)
        else:
            self._wins = [w / 2 for w in self._wins]
            self._losses = [n / 2 for n in self._losses]
