"""Anomaly detectors over a value's own recent history.

- :class:`ZScore`: (x - mean) / stddev of the samples kept over the history window.
- :class:`EwmaZScore`: (x - ewma) / sqrt(ewm variance), exponentially weighted
  with ``alpha`` (West's incremental form), so old samples fade instead of
  falling off a cliff.

Both score the new value against the history *before* adding it, and return
NaN until ``min_samples`` values have been seen.
"""

from __future__ import annotations

import math
from collections import deque

#: Floor on the standard deviation so a perfectly flat history does not divide by 0.
MIN_STDDEV = 1e-9


class ZScore:
    """Z-score of the newest value against the samples of the last `history` seconds."""

    def __init__(self, history: float, min_samples: int) -> None:
        self.history = history
        self.min_samples = min_samples
        self._samples: deque[tuple[float, float]] = deque()

    def score(self, t: float, x: float) -> float:
        """Score `x` observed at `t`, then add it to the history."""
        samples = self._samples
        while samples and samples[0][0] < t - self.history:
            samples.popleft()
        z = math.nan
        n = len(samples)
        if n >= self.min_samples:
            mean = sum(v for _, v in samples) / n
            var = sum((v - mean) ** 2 for _, v in samples) / n
            z = (x - mean) / max(math.sqrt(var), MIN_STDDEV * max(1.0, abs(mean)))
        samples.append((t, x))
        return z


class EwmaZScore:
    """Deviation of the newest value from an exponentially weighted mean and variance."""

    def __init__(self, alpha: float, min_samples: int) -> None:
        self.alpha = alpha
        self.min_samples = min_samples
        self.mean = 0.0
        self.var = 0.0
        self.count = 0

    def score(self, t: float, x: float) -> float:
        """Score `x`, then fold it into the mean and variance."""
        del t  # the EWMA weighs by sample, not by time
        z = math.nan
        if self.count >= self.min_samples:
            z = (x - self.mean) / max(math.sqrt(self.var), MIN_STDDEV * max(1.0, abs(self.mean)))
        if self.count == 0:
            self.mean = x
        else:
            diff = x - self.mean
            incr = self.alpha * diff
            self.mean += incr
            self.var = (1 - self.alpha) * (self.var + diff * incr)
        self.count += 1
        return z


def exceeds(z: float, deviations: float, direction: str) -> bool:
    """Whether score `z` is anomalous in the given direction ("up", "down", "both")."""
    if math.isnan(z):
        return False
    if direction == "up":
        return z > deviations
    if direction == "down":
        return z < -deviations
    return abs(z) > deviations
