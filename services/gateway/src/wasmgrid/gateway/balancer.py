"""Load balancing over runtime replicas: policies, health, outlier ejection, retry budget.

Everything here is synchronous, single-threaded state driven by the event loop:
the caller picks an endpoint, calls it, and reports the outcome. Time comes from
an injectable clock so tests drive ejection and backoff without sleeping.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

Policy = Literal[
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "random",
    "power_of_two",
    "consistent_hash",
]
POLICIES: tuple[Policy, ...] = get_args(Policy)

Clock = Callable[[], float]


@dataclass
class Endpoint:
    """One runtime replica as the balancer sees it."""

    address: str
    weight: int = 1
    #: Result of the last active health check (grpc.health.v1), or False from the moment a
    #: call lost its connection to it; True until either happens.
    healthy: bool = True
    #: When the knowledge in `healthy` was current (clock time): a health check's answer
    #: is as old as the moment it was sent, and an older one than this is stale.
    health_as_of: float = float("-inf")
    in_flight: int = 0
    consecutive_failures: int = 0
    ejections: int = 0
    ejected_until: float = 0.0
    #: Smooth weighted round robin's running weight.
    current_weight: int = 0

    def ejected(self, now: float) -> bool:
        """Whether passive outlier detection has this endpoint out right now."""
        return now < self.ejected_until


@dataclass(frozen=True)
class OutlierConfig:
    """Passive outlier ejection, after Envoy's ``consecutive_5xx`` detector.

    After `consecutive_failures` failures in a row an endpoint is ejected for
    ``base_ejection_seconds * 2**(ejections-1)`` capped at `max_ejection_seconds`;
    never more than `max_ejection_percent` of the endpoints are out at once.
    """

    consecutive_failures: int = 5
    base_ejection_seconds: float = 1.0
    max_ejection_seconds: float = 60.0
    max_ejection_percent: float = 50.0


class RetryBudget:
    """Retries allowed only while they stay ≤ `ratio` of requests (Finagle-style).

    Each request deposits `ratio` tokens (capped at `max_tokens`); a retry spends one.
    Over any period, retries ≤ ratio × requests + the balance carried in, and the
    balance starts at zero, so the budget is never more than `ratio` extra load.
    """

    def __init__(self, ratio: float = 0.2, max_tokens: float = 100.0) -> None:
        if not 0 <= ratio <= 1:
            raise ValueError(f"retry budget ratio {ratio} must be within 0..1")
        self.ratio = ratio
        self.max_tokens = max_tokens
        self.tokens = 0.0
        self.requests = 0
        self.retries = 0

    def record_request(self) -> None:
        """An original (not retried) request was sent."""
        self.requests += 1
        self.tokens = min(self.max_tokens, self.tokens + self.ratio)

    def try_retry(self) -> bool:
        """Spend one retry if the budget allows."""
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.retries += 1
            return True
        return False


def _hash64(data: str) -> int:
    return int.from_bytes(hashlib.blake2b(data.encode(), digest_size=8).digest(), "big")


class Balancer:
    """Picks a replica per call with one of :data:`POLICIES`.

    Only endpoints that are healthy and not ejected are candidates; when none is,
    the balancer falls back to all non-excluded endpoints (a possibly-stale health
    view beats refusing every call: Envoy's "panic threshold" at 0%).
    """

    def __init__(
        self,
        policy: Policy = "consistent_hash",
        *,
        outlier: OutlierConfig | None = None,
        virtual_nodes: int = 160,
        hash_balance_factor: float = 1.25,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"balancing policy {policy!r} is not one of {', '.join(POLICIES)}")
        if virtual_nodes < 1:
            raise ValueError(f"virtual_nodes {virtual_nodes} must be ≥ 1")
        if hash_balance_factor != 0 and hash_balance_factor < 1:
            raise ValueError(f"hash_balance_factor {hash_balance_factor} must be 0 (off) or ≥ 1")
        self.policy = policy
        self.hash_balance_factor = hash_balance_factor
        self.outlier = outlier or OutlierConfig()
        self.virtual_nodes = virtual_nodes
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - load spreading, not a secret
        self.endpoints: dict[str, Endpoint] = {}
        self._order: list[Endpoint] = []
        self._rr = 0
        self._ring: list[int] = []
        self._ring_owner: list[Endpoint] = []

    # -- membership ---------------------------------------------------------

    def set_endpoints(self, addresses: Iterable[str | tuple[str, int]]) -> None:
        """Replace the endpoint set, keeping the state of endpoints still present."""
        fresh: dict[str, Endpoint] = {}
        for item in addresses:
            address, weight = (item, 1) if isinstance(item, str) else item
            if weight < 1:
                raise ValueError(f"endpoint {address} weight {weight} must be ≥ 1")
            ep = self.endpoints.get(address) or Endpoint(address)
            ep.weight = weight
            fresh[address] = ep
        self.endpoints = fresh
        self._order = sorted(fresh.values(), key=lambda e: e.address)
        self._build_ring()

    def _build_ring(self) -> None:
        points: list[tuple[int, Endpoint]] = []
        for ep in self._order:
            for i in range(self.virtual_nodes * ep.weight):
                points.append((_hash64(f"{ep.address}#{i}"), ep))
        points.sort(key=lambda p: p[0])
        self._ring = [p[0] for p in points]
        self._ring_owner = [p[1] for p in points]

    # -- picking ------------------------------------------------------------

    def available(self, exclude: Sequence[str] = ()) -> list[Endpoint]:
        """Candidates for the next call."""
        now = self.clock()
        eligible = [e for e in self._order if e.address not in exclude]
        good = [e for e in eligible if e.healthy and not e.ejected(now)]
        return good or eligible

    def pick(self, key: str | None = None, exclude: Sequence[str] = ()) -> Endpoint | None:
        """The endpoint for the next call; `key` (the module digest) drives consistent_hash."""
        candidates = self.available(exclude)
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        policy = self.policy
        if policy == "round_robin":
            self._rr += 1
            return candidates[self._rr % len(candidates)]
        if policy == "weighted_round_robin":
            return self._smooth_weighted(candidates)
        if policy == "least_connections":
            least = min(e.in_flight for e in candidates)
            tied = [e for e in candidates if e.in_flight == least]
            return tied[0] if len(tied) == 1 else self.rng.choice(tied)
        if policy == "random":
            return self.rng.choice(candidates)
        if policy == "power_of_two":
            a, b = self.rng.sample(candidates, 2)
            return a if a.in_flight <= b.in_flight else b
        return self._by_hash(key, candidates)

    def _smooth_weighted(self, candidates: list[Endpoint]) -> Endpoint:
        # nginx's smooth weighted round robin: spreads heavy endpoints out, no bursts.
        total = 0
        best: Endpoint | None = None
        for ep in candidates:
            ep.current_weight += ep.weight
            total += ep.weight
            if best is None or ep.current_weight > best.current_weight:
                best = ep
        assert best is not None
        best.current_weight -= total
        return best

    def _by_hash(self, key: str | None, candidates: list[Endpoint]) -> Endpoint:
        # Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2016;
        # Envoy's hash_balance_factor): the key's owner on the ring takes the call unless
        # that would put it above `factor` times its weighted share of the calls in
        # flight; then the next owner clockwise that has room does. A module stays on
        # one replica at light load and a hot module spreads instead of saturating it.
        if key is None or not self._ring:
            return self.rng.choice(candidates)
        allowed = {id(e) for e in candidates}
        factor = self.hash_balance_factor
        total = sum(e.in_flight for e in candidates) + 1
        weights = sum(e.weight for e in candidates)
        start = bisect.bisect(self._ring, _hash64(key))
        n = len(self._ring)
        first: Endpoint | None = None
        for i in range(n):
            owner = self._ring_owner[(start + i) % n]
            if id(owner) not in allowed:
                continue
            if not factor or owner.in_flight + 1 <= math.ceil(
                factor * total * owner.weight / weights
            ):
                return owner
            first = first or owner
        # Unreachable when factor ≥ 1 (the caps sum to at least `total`); kept total.
        return first or candidates[0]

    # -- outcomes -----------------------------------------------------------

    def on_start(self, ep: Endpoint) -> None:
        """A call to `ep` started."""
        ep.in_flight += 1

    def on_finish(self, ep: Endpoint, *, ok: bool) -> None:
        """A call to `ep` ended; `ok` is False for transport-level failures only."""
        ep.in_flight = max(0, ep.in_flight - 1)
        if ok:
            ep.consecutive_failures = 0
            return
        ep.consecutive_failures += 1
        if ep.consecutive_failures >= self.outlier.consecutive_failures:
            self._maybe_eject(ep)

    def _maybe_eject(self, ep: Endpoint) -> None:
        now = self.clock()
        if ep.ejected(now):
            return
        out = sum(1 for e in self._order if e.ejected(now))
        cap = int(len(self._order) * self.outlier.max_ejection_percent / 100)
        if out + 1 > max(cap, 0):
            return
        ep.ejections += 1
        duration = min(
            self.outlier.base_ejection_seconds * 2 ** (ep.ejections - 1),
            self.outlier.max_ejection_seconds,
        )
        ep.ejected_until = now + duration
        ep.consecutive_failures = 0

    def set_health(self, address: str, healthy: bool, as_of: float | None = None) -> bool:
        """Record an active health-check result sent at `as_of` (default: now); a recovered
        endpoint's ejection count decays. A result older than what is known is ignored (a
        SERVING sent before a call saw the connection die); returns whether it was used."""
        ep = self.endpoints.get(address)
        if ep is None:
            return False
        as_of = self.clock() if as_of is None else as_of
        if as_of < ep.health_as_of:
            return False
        ep.health_as_of = as_of
        ep.healthy = healthy
        if (
            healthy
            and not ep.ejected(self.clock())
            and ep.ejections
            and ep.consecutive_failures == 0
        ):
            ep.ejections = max(0, ep.ejections - 1)
        return True

    def on_connection_lost(self, ep: Endpoint) -> None:
        """A call found `ep` unreachable (connection refused, reset or closed): it is down
        from now until a health check sent after this instant says otherwise, so no call
        picks it in between (gRPC's own balancers drop a subchannel that fails alike)."""
        self.set_health(ep.address, False)


@dataclass
class BalancerStats:
    """A snapshot for ``/v1/health`` and tests."""

    policy: str
    endpoints: list[dict[str, object]] = field(default_factory=list)


def snapshot(balancer: Balancer) -> BalancerStats:
    """The balancer's state as plain values."""
    now = balancer.clock()
    return BalancerStats(
        balancer.policy,
        [
            {
                "address": e.address,
                "weight": e.weight,
                "healthy": e.healthy,
                "ejected": e.ejected(now),
                "in_flight": e.in_flight,
                "ejections": e.ejections,
            }
            for e in balancer._order
        ],
    )
