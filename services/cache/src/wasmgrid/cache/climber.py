"""The adaptive window of W-TinyLFU: a hill climber on the hit rate, as Caffeine's.

A small window suits frequency-skewed workloads (the main area, guarded by the
frequency filter, holds the popular keys); a large one suits recency-skewed ones
(bursts of new keys that are reused soon, which the filter would turn away). The
climber learns which: every sample of requests (hits and misses of the namespace)
it moves the window's share of the cache by a step, keeps the direction while the
hit rate improves and reverses it when the hit rate falls. The step decays by 2%
each sample so the window settles, and starts afresh (6.25% of the cache) when the
hit rate changes by 5 points or more, which signals a new workload.

Off by default (``WASMGRID_CACHE_ADAPTIVE_WINDOW``): on the benchmark's traces it
never beat the fixed 1% window and lost up to 1.5 points (hit-rate samples are noisy
next to the effect of one step, so the climb mostly wanders); docs/benchmarks.md.

References: Einziger, Eytan, Friedman & Manes, "Adaptive Software Cache Management"
(Middleware 2018); Caffeine's ``BoundedLocalCache.climb``.
"""

from __future__ import annotations

#: Share of the cache the window starts with.
INITIAL_WINDOW = 0.01
#: Bounds of the window's share (the rest is the main area).
MIN_WINDOW = 0.0
MAX_WINDOW = 0.80
#: The first step and the step after a restart, as a share of the cache.
STEP = 0.0625
#: Each step is this times the previous one.
STEP_DECAY = 0.98
#: A hit-rate change this large (absolute) restarts the climb with a full step.
RESTART_THRESHOLD = 0.05


class WindowClimber:
    """The window's share of one namespace's cache, adapted to its hit rate."""

    __slots__ = ("_hits", "_misses", "_previous", "_step", "sample", "version", "window")

    def __init__(self, sample: int, window: float = INITIAL_WINDOW) -> None:
        #: Requests per adjustment (the frequency sketch's sample, as in Caffeine).
        self.sample = max(1, sample)
        #: The window's share of the cache now.
        self.window = window
        #: Bumped at every change of `window`, so policies resize lazily.
        self.version = 0
        self._hits = 0
        self._misses = 0
        self._previous = 0.0
        # Caffeine's first move shrinks the window: most workloads favour frequency.
        self._step = -STEP

    def record(self, hit: bool) -> None:
        """Count one request of the namespace; adjust the window after each sample."""
        if hit:
            self._hits += 1
        else:
            self._misses += 1
        if self._hits + self._misses >= self.sample:
            self._climb()

    def _climb(self) -> None:
        rate = self._hits / (self._hits + self._misses)
        change = rate - self._previous
        amount = self._step if change >= 0 else -self._step
        if abs(change) >= RESTART_THRESHOLD:
            self._step = STEP if amount >= 0 else -STEP
        else:
            self._step = STEP_DECAY * amount
        self._previous = rate
        self._hits = self._misses = 0
        window = min(MAX_WINDOW, max(MIN_WINDOW, self.window + amount))
        if window != self.window:
            self.window = window
            self.version += 1
