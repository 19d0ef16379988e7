"""Trace-driven hit-ratio simulation of the namespace store (as Caffeine's simulator does).

Used by the benchmark and the tests to compare eviction policies on synthetic
traces: Zipf-distributed keys (stdlib only: inverse CDF by bisection) and Zipf
with periodic sequential scans of never-repeated keys. :func:`optimal` replays a
trace with Belady's clairvoyant policy, the ceiling no real policy can pass.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from wasmgrid.cache.compression import CompressionMode
from wasmgrid.cache.namespace import Entry, Namespace, NamespaceConfig
from wasmgrid.cache.policies import PolicyName


class ZipfSampler:
    """Ranks 0..n-1 with P(rank k) ∝ 1/(k+1)^s, sampled by bisecting a precomputed CDF."""

    def __init__(self, n: int, s: float, rng: random.Random) -> None:
        weights = [1.0 / (k + 1) ** s for k in range(n)]
        total = sum(weights)
        self._cdf = list(itertools.accumulate(w / total for w in weights))
        self._cdf[-1] = 1.0
        self._rng = rng

    def sample(self) -> int:
        """One rank."""
        return bisect.bisect_left(self._cdf, self._rng.random())


def zipf_trace(n_keys: int, s: float, length: int, seed: int = 1) -> list[int]:
    """`length` key ids from a Zipf(s) distribution over `n_keys` keys."""
    sampler = ZipfSampler(n_keys, s, random.Random(seed))  # noqa: S311 - seeded trace
    return [sampler.sample() for _ in range(length)]


def zipf_with_scans(
    n_keys: int,
    s: float,
    length: int,
    *,
    scan_every: int,
    scan_length: int,
    seed: int = 1,
) -> list[int]:
    """A Zipf trace interrupted every `scan_every` accesses by a scan of `scan_length`
    distinct keys that are never used again (ids ≥ n_keys): the pattern that flushes LRU."""
    sampler = ZipfSampler(n_keys, s, random.Random(seed))  # noqa: S311 - seeded trace
    trace: list[int] = []
    fresh = itertools.count(n_keys)
    while len(trace) < length:
        trace.extend(sampler.sample() for _ in range(scan_every))
        trace.extend(itertools.islice(fresh, scan_length))
    return trace[:length]


def zipf_shifting(
    n_keys: int, s: float, length: int, *, shift_every: int, seed: int = 1
) -> list[int]:
    """A Zipf trace whose popular keys change every `shift_every` accesses (the ranks move
    to other keys): recency predicts the next request better than long-run frequency."""
    rng = random.Random(seed)  # noqa: S311 - seeded trace
    sampler = ZipfSampler(n_keys, s, rng)
    trace: list[int] = []
    while len(trace) < length:
        offset = rng.randrange(1 << 30)
        trace.extend(offset + sampler.sample() for _ in range(shift_every))
    return trace[:length]


@dataclass(frozen=True)
class SimResult:
    """Outcome of replaying one trace."""

    policy: str  # a PolicyName, or "optimal"
    capacity: int
    requests: int
    hits: int

    @property
    def hit_ratio(self) -> float:
        """hits / requests."""
        return self.hits / self.requests if self.requests else 0.0


def simulate(
    policy: PolicyName, capacity: int, trace: Sequence[int], *, adaptive_window: bool = True
) -> SimResult:
    """Replay `trace` (get, and set on a miss) against a namespace of `capacity` entries:
    the service's own Namespace and policy code, not a model of it (`adaptive_window` as
    the service's setting, on by default)."""
    ns = Namespace(
        NamespaceConfig(
            name="sim",
            max_bytes=1 << 62,
            max_entries=capacity,
            policy=policy,
            compression=CompressionMode.NONE,
            adaptive_window=adaptive_window,
        )
    )
    hits = 0
    for key_id in trace:
        key = str(key_id)
        if ns.get(key, 0.0) is not None:
            hits += 1
        else:
            ns.put(key, Entry(b"", 0, 0, 0.0, 0, (), 0, 1))
    return SimResult(policy, capacity, len(trace), hits)


OPTIMAL = "optimal"


def optimal(capacity: int, trace: Sequence[int]) -> SimResult:
    """Belady's optimum for `trace` in `capacity` entries: on a miss, evict the key whose
    next use lies furthest ahead, or decline the new key when it is that one (a cache may
    refuse admission, as W-TinyLFU does). No policy that cannot see the future does better.
    """
    never = len(trace)
    following = [never] * len(trace)
    seen: dict[int, int] = {}
    for i in range(len(trace) - 1, -1, -1):
        following[i] = seen.get(trace[i], never)
        seen[trace[i]] = i
    held: dict[int, int] = {}  # key -> its next use
    furthest: list[tuple[int, int]] = []  # (-next use, key), stale items skipped lazily
    hits = 0
    for i, key in enumerate(trace):
        upcoming = following[i]
        if key in held:
            hits += 1
        elif len(held) >= capacity:
            while -furthest[0][0] != held.get(furthest[0][1]):
                heapq.heappop(furthest)
            if -furthest[0][0] <= upcoming:
                continue  # the new key is needed last of all: do not cache it
            del held[heapq.heappop(furthest)[1]]
        if upcoming == never:
            held.pop(key, None)  # never used again: holding it can only cost a slot
            continue
        held[key] = upcoming
        heapq.heappush(furthest, (-upcoming, key))
    return SimResult(OPTIMAL, capacity, len(trace), hits)


STATIC = "static-top"


def static_top(capacity: int, trace: Sequence[int]) -> SimResult:
    """The best online policy on these synthetic traces: hold the `capacity` most probable
    keys (ids 0..capacity-1, the Zipf ranks) and nothing else. For independent draws, which
    these traces are besides their scan keys (never requested twice), no policy that cannot
    see the future has a higher expected hit ratio (the A0 policy of Aho, Denning & Ullman,
    1971), so this is the ceiling of any real cache here; Belady's is looser."""
    seen: set[int] = set()
    hits = 0
    for key in trace:
        if key < capacity:
            if key in seen:
                hits += 1
            else:
                seen.add(key)
    return SimResult(STATIC, capacity, len(trace), hits)


def unique_keys(trace: Sequence[int]) -> Iterator[int]:
    """Distinct key ids in first-seen order."""
    seen: set[int] = set()
    for k in trace:
        if k not in seen:
            seen.add(k)
            yield k
