"""Token bucket and sliding window, in memory and through a real Redis."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis

from wasmgrid.gateway.ratelimit import MemoryLimiter, RedisLimiter, Rule


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


TB = Rule("token_bucket", limit=10, window_seconds=1.0, burst=10)
SW = Rule("sliding_window", limit=10, window_seconds=1.0, burst=10)


async def test_token_bucket_burst_then_refill_rate() -> None:
    clock = FakeClock()
    lim = MemoryLimiter(clock=clock)
    results = [await lim.check("k", TB) for _ in range(12)]
    assert [r.allowed for r in results] == [True] * 10 + [False] * 2
    assert results[0].remaining == 9
    assert results[9].remaining == 0
    denied = results[-1]
    assert denied.retry_after_seconds == pytest.approx(0.1)
    assert denied.headers()["Retry-After"] == "1"
    assert denied.headers()["RateLimit-Limit"] == "10"
    # Over 10 s of 5x offered load, admitted = burst + rate * 10 s.
    admitted = 0
    for _ in range(500):
        clock.now += 0.02
        admitted += (await lim.check("k", TB)).allowed
    assert admitted == 100
    # Keys are independent.
    assert (await lim.check("other", TB)).allowed


async def test_sliding_window_never_exceeds_limit_in_any_window() -> None:
    clock = FakeClock()
    lim = MemoryLimiter(clock=clock)
    times: list[float] = []
    for _ in range(1000):
        clock.now += 0.01
        d = await lim.check("k", SW)
        if d.allowed:
            times.append(clock.now)
    assert len(times) == 100  # 10 per second over 10 s
    for i in range(len(times) - 10):
        assert times[i + 10] - times[i] > 1.0
    d = await lim.check("k", SW)
    assert not d.allowed
    assert 0 < d.retry_after_seconds <= 1.0


async def test_memory_limiter_bounds_keys() -> None:
    lim = MemoryLimiter(max_keys=5)
    for i in range(50):
        await lim.check(f"k{i}", TB)
        await lim.check(f"k{i}", SW)
    assert len(lim._buckets) == 5
    assert len(lim._windows) == 5


async def test_redis_token_bucket_and_window(redis_url: str) -> None:
    lim = RedisLimiter.from_url(redis_url)
    try:
        tb = [await lim.check("tb", TB) for _ in range(12)]
        assert [d.allowed for d in tb] == [True] * 10 + [False] * 2
        assert tb[0].remaining == 9
        assert tb[-1].retry_after_seconds > 0
        sw = [await lim.check("sw", SW) for _ in range(12)]
        assert [d.allowed for d in sw] == [True] * 10 + [False] * 2
        assert sw[4].remaining == 5
        assert 0 < sw[-1].retry_after_seconds <= 1.0
    finally:
        await lim.close()


async def test_two_redis_clients_share_one_limit(redis_url: str) -> None:
    a = RedisLimiter.from_url(redis_url, timeout=5, max_connections=8)
    b = RedisLimiter.from_url(redis_url, timeout=5, max_connections=8)
    try:
        rule = Rule("sliding_window", limit=50, window_seconds=5.0, burst=50)
        results = await asyncio.gather(
            *[(a if i % 2 else b).check("shared", rule) for i in range(200)]
        )
        assert sum(d.allowed for d in results) == 50
    finally:
        await a.close()
        await b.close()


@pytest.fixture
async def dead(redis_url: str) -> str:
    """A Redis URL beside the real one's port, where nothing listens."""
    client = aioredis.Redis.from_url(redis_url)
    port = client.connection_pool.connection_kwargs["port"]
    await client.aclose()
    return f"redis://127.0.0.1:{port + 1 if port < 65535 else port - 1}/0"


async def test_redis_down_is_logged_once_a_second_with_a_count_not_once_a_request(
    dead: str, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RedisLimiter.from_url(dead, fail_open=True, timeout=0.2)
    caplog.set_level(logging.WARNING, logger="wasmgrid.gateway.ratelimit")
    try:
        for _ in range(30):
            assert (await limiter.check("k", TB)).allowed
        lines = [r.getMessage() for r in caplog.records if "backend failed" in r.getMessage()]
        assert len(lines) == 1, lines
        assert "(fail_open) 1 times" in lines[0]
        limiter._failures._at -= 1.0  # a second later: the next failure reports the rest
        await limiter.check("k", TB)
        lines = [r.getMessage() for r in caplog.records if "backend failed" in r.getMessage()]
        assert len(lines) == 2
        assert "(fail_open) 30 times since the last such line" in lines[1]
    finally:
        await limiter.close()


async def test_redis_down_fails_open_or_closed(dead: str) -> None:
    open_ = RedisLimiter.from_url(dead, fail_open=True, timeout=0.2)
    closed = RedisLimiter.from_url(dead, fail_open=False, timeout=0.2)
    try:
        assert (await open_.check("k", TB)).allowed
        refused = await closed.check("k", TB)
        assert not refused.allowed
        assert refused.headers()["Retry-After"] == "1"
    finally:
        await open_.close()
        await closed.close()
