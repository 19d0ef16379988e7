"""Balancing policy distributions, outlier ejection with backoff, and the retry budget."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from wasmgrid.gateway.balancer import POLICIES, Balancer, OutlierConfig, RetryBudget


class FakeClock:
    """A manual clock: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


ADDRS = ["10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.3:50051"]


def _balancer(policy: str, **kw: object) -> Balancer:
    b = Balancer(policy, rng=random.Random(7), **kw)  # type: ignore[arg-type]
    b.set_endpoints(ADDRS)
    return b


def _spread(b: Balancer, n: int, key: str | None = None) -> Counter[str]:
    counts: Counter[str] = Counter()
    for i in range(n):
        ep = b.pick(key if key is not None else None)
        assert ep is not None
        counts[ep.address] += 1
        _ = i
    return counts


def test_round_robin_is_exactly_even() -> None:
    counts = _spread(_balancer("round_robin"), 300)
    assert set(counts.values()) == {100}


def test_smooth_weighted_round_robin_follows_weights_without_bursts() -> None:
    b = Balancer("weighted_round_robin")
    b.set_endpoints([("a", 5), ("b", 1), ("c", 1)])
    seq = [b.pick().address for _ in range(70)]  # type: ignore[union-attr]
    assert Counter(seq) == {"a": 50, "b": 10, "c": 10}
    # nginx's smooth WRR interleaves: a a b a c a a per cycle, not a a a a a b c.
    assert "".join(seq[:7]) == "aabacaa"
    assert "aaaaa" not in "".join(seq)


def test_random_is_roughly_uniform() -> None:
    counts = _spread(_balancer("random"), 6000)
    assert all(1800 < c < 2200 for c in counts.values()), counts


def test_least_connections_prefers_idle_endpoint() -> None:
    b = _balancer("least_connections")
    busy = [b.endpoints[ADDRS[0]], b.endpoints[ADDRS[1]]]
    for ep in busy:
        b.on_start(ep)
    assert b.pick().address == ADDRS[2]  # type: ignore[union-attr]
    # Simulated load: always start on the pick, finish the oldest: stays balanced.
    held = []
    for _ in range(300):
        picked = b.pick()
        assert picked is not None
        b.on_start(picked)
        held.append(picked)
        if len(held) > 6:
            b.on_finish(held.pop(0), ok=True)
    loads = [e.in_flight for e in b.endpoints.values()]
    assert max(loads) - min(loads) <= 1


def test_power_of_two_avoids_the_most_loaded() -> None:
    b = _balancer("power_of_two")
    hot = b.endpoints[ADDRS[0]]
    hot.in_flight = 50
    counts = _spread(b, 3000)
    # The hot endpoint wins a pair only when sampled with itself, which never happens.
    assert counts[ADDRS[0]] == 0
    assert abs(counts[ADDRS[1]] - counts[ADDRS[2]]) < 300


def test_consistent_hash_is_sticky_and_spreads_keys() -> None:
    b = _balancer("consistent_hash")
    for key in ("a" * 64, "b" * 64):
        first = b.pick(key)
        assert all(b.pick(key) is first for _ in range(20))
    keys = [f"{i:064x}" for i in range(3000)]
    owners = Counter(b.pick(k).address for k in keys)  # type: ignore[union-attr]
    assert all(800 < c < 1200 for c in owners.values()), owners


def test_consistent_hash_spreads_a_hot_key_past_its_owners_bounded_share() -> None:
    b = _balancer("consistent_hash")
    key = "c" * 64
    owner = b.pick(key)
    assert owner is not None
    # One call at a time: every call stays on the key's owner.
    assert all(b.pick(key) is owner for _ in range(10))
    # 30 calls held in flight at once: the owner takes no more than ceil(1.25 × its
    # share) of them and the others overflow clockwise, each within its own bound.
    held = []
    for _ in range(30):
        ep = b.pick(key)
        assert ep is not None
        b.on_start(ep)
        held.append(ep)
    counts = Counter(ep.address for ep in held)
    assert counts[owner.address] == max(counts.values())
    assert all(c <= 13 for c in counts.values()), counts  # ceil(1.25 * 30 / 3)
    assert len(counts) == 3
    # As the calls end the key goes home again.
    for ep in held:
        b.on_finish(ep, ok=True)
    assert b.pick(key) is owner


def test_consistent_hash_without_a_bound_keeps_a_hot_key_on_its_owner() -> None:
    b = _balancer("consistent_hash", hash_balance_factor=0)
    key = "c" * 64
    owner = b.pick(key)
    assert owner is not None
    for _ in range(30):
        ep = b.pick(key)
        assert ep is owner
        b.on_start(ep)
    with pytest.raises(ValueError, match=r"hash_balance_factor 0\.5"):
        Balancer("consistent_hash", hash_balance_factor=0.5)


def test_consistent_hash_moves_only_the_removed_endpoints_keys() -> None:
    b = _balancer("consistent_hash")
    keys = [f"{i:064x}" for i in range(2000)]
    before = {k: b.pick(k).address for k in keys}  # type: ignore[union-attr]
    b.set_endpoints(ADDRS[:2])
    after = {k: b.pick(k).address for k in keys}  # type: ignore[union-attr]
    moved = [k for k in keys if before[k] != after[k]]
    assert all(before[k] == ADDRS[2] for k in moved)
    # Ejecting an endpoint sends its keys elsewhere without moving the others.
    b.set_endpoints(ADDRS)
    b.set_health(ADDRS[0], False)
    shifted = {k: b.pick(k).address for k in keys}  # type: ignore[union-attr]
    assert all(shifted[k] == before[k] for k in keys if before[k] != ADDRS[0])
    assert ADDRS[0] not in shifted.values()


@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_skips_unhealthy_and_excluded(policy: str) -> None:
    b = _balancer(policy)
    b.set_health(ADDRS[1], False)
    picks = {b.pick("k" * 64, exclude=[ADDRS[0]]).address for _ in range(50)}  # type: ignore[union-attr]
    assert picks == {ADDRS[2]}


def test_all_unhealthy_falls_back_to_everyone() -> None:
    b = _balancer("round_robin")
    for a in ADDRS:
        b.set_health(a, False)
    assert b.pick() is not None
    assert b.pick(exclude=ADDRS) is None


def test_a_lost_connection_takes_an_endpoint_out_until_a_later_check_says_serving() -> None:
    clock = FakeClock()
    b = Balancer("round_robin", clock=clock)
    b.set_endpoints(ADDRS[:2])
    sent_before = clock.now  # a health check is on its way when the replica dies
    clock.now += 0.1
    b.on_connection_lost(b.endpoints[ADDRS[0]])
    assert {b.pick().address for _ in range(10)} == {ADDRS[1]}  # type: ignore[union-attr]
    # Its SERVING answer was true when sent, not now: ignored.
    assert not b.set_health(ADDRS[0], True, as_of=sent_before)
    assert not b.endpoints[ADDRS[0]].healthy
    clock.now += 0.1
    assert b.set_health(ADDRS[0], True, as_of=clock.now)  # a check sent after the loss
    assert {b.pick().address for _ in range(10)} == set(ADDRS[:2])  # type: ignore[union-attr]


def test_outlier_ejection_with_exponential_backoff_and_max_percent() -> None:
    clock = FakeClock()
    b = Balancer(
        "round_robin",
        clock=clock,
        outlier=OutlierConfig(
            consecutive_failures=3,
            base_ejection_seconds=1,
            max_ejection_seconds=4,
            max_ejection_percent=34,
        ),
    )
    b.set_endpoints(ADDRS)
    bad, other = b.endpoints[ADDRS[0]], b.endpoints[ADDRS[1]]
    for _ in range(3):
        b.on_start(bad)
        b.on_finish(bad, ok=False)
    assert bad.ejected(clock.now)
    assert all(b.pick().address != ADDRS[0] for _ in range(10))  # type: ignore[union-attr]
    # Max 34% of 3 endpoints: only one may be out at a time.
    for _ in range(3):
        b.on_start(other)
        b.on_finish(other, ok=False)
    assert not other.ejected(clock.now)
    # Backoff doubles: 1 s, then 2 s, then 4 s (the cap).
    durations = [bad.ejected_until - clock.now]
    for _ in range(3):
        clock.now = bad.ejected_until
        for _ in range(3):
            b.on_finish(bad, ok=False)
        durations.append(bad.ejected_until - clock.now)
    assert durations == [1, 2, 4, 4]
    # A success resets the consecutive-failure count.
    clock.now = bad.ejected_until
    b.on_finish(bad, ok=False)
    b.on_finish(bad, ok=True)
    b.on_finish(bad, ok=False)
    assert not bad.ejected(clock.now)


def test_single_endpoint_is_never_ejected() -> None:
    b = Balancer("round_robin", outlier=OutlierConfig(consecutive_failures=1))
    b.set_endpoints(ADDRS[:1])
    b.on_finish(b.endpoints[ADDRS[0]], ok=False)
    assert not b.endpoints[ADDRS[0]].ejected(b.clock())


def test_retry_budget_stays_within_twenty_percent() -> None:
    budget = RetryBudget(0.2)
    assert not budget.try_retry()  # no credit before any request
    retried = 0
    for _ in range(1000):
        budget.record_request()
        if budget.try_retry():  # every request fails and wants a retry
            retried += 1
    assert retried == 200
    assert budget.retries <= 0.2 * budget.requests
    with pytest.raises(ValueError, match="ratio"):
        RetryBudget(1.5)


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of"):
        Balancer("fastest")  # type: ignore[arg-type]
