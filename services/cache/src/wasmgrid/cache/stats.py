"""Per-namespace counters and a sliding window of operation latencies."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

LATENCY_SAMPLES = 2048


class LatencyWindow:
    """The most recent `size` latencies (seconds) in a ring; percentiles on demand."""

    __slots__ = ("_count", "_next", "_ring", "_size")

    def __init__(self, size: int = LATENCY_SAMPLES) -> None:
        self._ring = array("d", bytes(8 * size))
        self._next = 0
        self._count = 0
        self._size = size

    def observe(self, seconds: float) -> None:
        """Record one operation's latency."""
        self._ring[self._next] = seconds
        self._next = (self._next + 1) % self._size
        if self._count < self._size:
            self._count += 1

    @property
    def samples(self) -> int:
        """How many latencies the window holds."""
        return self._count

    def percentile(self, q: float) -> float:
        """The q-quantile (0..1, nearest rank) in seconds; 0 when empty."""
        if not self._count:
            return 0.0
        values = sorted(self._ring[: self._count])
        return values[min(self._count - 1, max(0, round(q * (self._count - 1))))]


@dataclass
class NamespaceCounters:
    """What a namespace counts since it was created (reads, writes, removals by reason)."""

    hits: int = 0
    misses: int = 0
    memory_hits: int = 0
    shared_hits: int = 0
    sets: int = 0
    rejected: int = 0
    evicted_capacity: int = 0
    evicted_expiry: int = 0
    evicted_explicit: int = 0
    get_latency: LatencyWindow = field(default_factory=LatencyWindow)
    set_latency: LatencyWindow = field(default_factory=LatencyWindow)

    @property
    def hit_ratio(self) -> float:
        """hits / (hits + misses), 0 without reads."""
        reads = self.hits + self.misses
        return self.hits / reads if reads else 0.0
