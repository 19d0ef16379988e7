"""Per-module aggregates for GetStats, bounded to a fixed number of modules."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from wasmgrid.common.lru import LruMap
from wasmgrid.runtime.sandbox import Outcome

MAX_NAME = 200


@dataclass
class ModuleAggregate:
    """Counters for one digest since this process started."""

    digest: str
    display_name: str = ""
    invocations: int = 0
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    total_wall_us: int = 0
    max_wall_us: int = 0
    total_fuel: int = 0
    last_unix_ms: int = 0


class StatsTable:
    """Totals plus per-module aggregates for at most `capacity` modules.

    When full, the module called least recently is dropped, so memory stays
    bounded whatever the number of distinct digests callers send.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.modules: LruMap[str, ModuleAggregate] = LruMap(capacity)
        self.invocations = 0
        self.outcomes: Counter[Outcome] = Counter()

    def record(
        self, digest: str, name: str, outcome: Outcome, wall_seconds: float, fuel: int
    ) -> None:
        self.invocations += 1
        self.outcomes[outcome] += 1
        agg = self.modules.get(digest)
        if agg is None:
            agg = ModuleAggregate(digest)
            self.modules.put(digest, agg)
        if name:
            agg.display_name = name[:MAX_NAME]
        wall_us = int(wall_seconds * 1e6)
        agg.invocations += 1
        agg.outcomes[outcome] += 1
        agg.total_wall_us += wall_us
        agg.max_wall_us = max(agg.max_wall_us, wall_us)
        agg.total_fuel += fuel
        agg.last_unix_ms = int(time.time() * 1000)

    def top(self, n: int) -> list[ModuleAggregate]:
        """The `n` modules with the most invocations (ties: most recent first)."""
        ranked = sorted(
            self.modules.values(), key=lambda a: (a.invocations, a.last_unix_ms), reverse=True
        )
        return ranked[:n]
