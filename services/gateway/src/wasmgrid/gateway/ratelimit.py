"""Rate limiting: token bucket and sliding window, in memory or shared through Redis.

A limiter answers one question per request — may this key spend one unit now? —
with a :class:`Decision` that carries what the ``RateLimit-*`` headers need.
The Redis limiter makes every decision with ONE atomic Lua script that reads the
clock from Redis (``TIME``), so any number of gateway replicas share one limit
and one clock. When Redis fails the configured policy (fail open or closed)
decides, and the failure is logged and counted.
"""

from __future__ import annotations

import abc
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError

from wasmgrid.common.logs import Summarised
from wasmgrid.common.lru import LruMap
from wasmgrid.gateway.routes.model import Algorithm, RateLimitConfig

log = logging.getLogger(__name__)

RATE_LIMIT_DECISIONS = Counter(
    "wasmgrid_gateway_rate_limit_decisions_total",
    "Rate-limit decisions, by backend and result (allowed, limited, fail_open, fail_closed).",
    ["backend", "result"],
)
RATE_LIMIT_BACKEND_ERRORS = Counter(
    "wasmgrid_gateway_rate_limit_backend_errors_total",
    "Rate-limit decisions the Redis backend could not make.",
)


@dataclass(frozen=True)
class Decision:
    """The outcome of one rate-limit check."""

    allowed: bool
    limit: int
    remaining: int
    #: Seconds until the limit is fully available again (RateLimit-Reset).
    reset_seconds: float
    #: Seconds until one more request would be allowed (0 when allowed).
    retry_after_seconds: float

    def headers(self) -> dict[str, str]:
        """``RateLimit-*`` (IETF draft) and, when refused, ``Retry-After``."""
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(math.ceil(self.reset_seconds)),
        }
        if not self.allowed:
            out["Retry-After"] = str(max(1, math.ceil(self.retry_after_seconds)))
        return out


@dataclass(frozen=True)
class Rule:
    """What a limiter needs from a route's rate_limit config."""

    algorithm: Algorithm
    limit: int
    window_seconds: float
    burst: int

    @classmethod
    def from_config(cls, conf: RateLimitConfig) -> Rule:
        return cls(conf.algorithm, conf.limit, conf.window_seconds, conf.burst or conf.limit)

    @property
    def capacity(self) -> int:
        return self.burst if self.algorithm == "token_bucket" else self.limit

    @property
    def rate(self) -> float:
        """Tokens per second (token bucket)."""
        return self.limit / self.window_seconds


class Limiter(abc.ABC):
    """A rate limiter backend."""

    backend: str

    @abc.abstractmethod
    async def check(self, key: str, rule: Rule) -> Decision:
        """Spend one unit for `key` under `rule` if allowed."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class _Bucket:
    __slots__ = ("tokens", "ts")

    def __init__(self, tokens: float, ts: float) -> None:
        self.tokens = tokens
        self.ts = ts


#: Float refill sums drift (0.02 * 5 < 0.1); a token this close to whole counts as whole.
_EPSILON = 1e-9


def token_bucket_step(
    tokens: float, last: float, now: float, rule: Rule
) -> tuple[bool, float, Decision]:
    """Pure token-bucket step: (allowed, new token count, decision)."""
    cap = rule.capacity
    tokens = min(float(cap), tokens + max(0.0, now - last) * rule.rate)
    allowed = tokens >= 1.0 - _EPSILON
    if allowed:
        tokens = max(0.0, tokens - 1.0)
    missing = cap - tokens
    reset = missing / rule.rate
    retry = 0.0 if allowed else (1.0 - tokens) / rule.rate
    return allowed, tokens, Decision(allowed, cap, int(tokens), reset, retry)


class MemoryLimiter(Limiter):
    """Per-process limits; state for at most `max_keys` keys (least recently used evicted)."""

    backend = "memory"

    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: LruMap[str, _Bucket] = LruMap(max_keys)
        self._windows: LruMap[str, deque[float]] = LruMap(max_keys)

    async def check(self, key: str, rule: Rule) -> Decision:
        now = self.clock()
        if rule.algorithm == "token_bucket":
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(float(rule.capacity), now)
                self._buckets.put(key, bucket)
            _allowed, bucket.tokens, decision = token_bucket_step(
                bucket.tokens, bucket.ts, now, rule
            )
            bucket.ts = now
        else:
            log_ = self._windows.get(key)
            if log_ is None:
                log_ = deque()
                self._windows.put(key, log_)
            decision = sliding_window_step(log_, now, rule)
        RATE_LIMIT_DECISIONS.labels(
            self.backend, "allowed" if decision.allowed else "limited"
        ).inc()
        return decision


def sliding_window_step(log_: deque[float], now: float, rule: Rule) -> Decision:
    """Sliding-window log: at most `limit` admissions in any `window` seconds."""
    horizon = now - rule.window_seconds
    while log_ and log_[0] <= horizon:
        log_.popleft()
    allowed = len(log_) < rule.limit
    if allowed:
        log_.append(now)
    remaining = rule.limit - len(log_)
    reset = (log_[-1] + rule.window_seconds - now) if log_ else 0.0
    retry = 0.0 if allowed else log_[0] + rule.window_seconds - now
    return Decision(allowed, rule.limit, remaining, max(0.0, reset), max(0.0, retry))


# KEYS[1] bucket hash. ARGV: capacity, rate (tokens/s), ttl_ms.
# Returns {allowed, tokens*1000, reset_ms, retry_ms}.
TOKEN_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = cap; ts = now end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(cap, tokens + elapsed * rate)
local allowed = 0
if tokens >= 1 - 1e-9 then
  tokens = math.max(0, tokens - 1)
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
local reset_ms = math.ceil((cap - tokens) / rate * 1000)
local retry_ms = 0
if allowed == 0 then retry_ms = math.ceil((1 - tokens) / rate * 1000) end
return {allowed, math.floor(tokens * 1000), reset_ms, retry_ms}
"""  # noqa: S105 - a Lua script, not a password

# KEYS[1] sorted set of admission times (µs). ARGV: limit, window_us, member nonce.
# Returns {allowed, remaining, reset_ms, retry_ms}.
SLIDING_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
local reset_ms = 0
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] then reset_ms = math.ceil((tonumber(newest[2]) + window - now) / 1000) end
local retry_ms = 0
if allowed == 0 then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  retry_ms = math.ceil((tonumber(oldest[2]) + window - now) / 1000)
end
return {allowed, limit - count, reset_ms, retry_ms}
"""


#: Seconds between two log lines about a failing rate-limit backend.
BACKEND_LOG_INTERVAL = 1.0


class RedisLimiter(Limiter):
    """Limits shared by every gateway using the same Redis (one Lua script per decision)."""

    backend = "redis"

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "wasmgrid:rl:",
        fail_open: bool = True,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.fail_open = fail_open
        self._bucket = client.register_script(TOKEN_BUCKET_LUA)
        self._window = client.register_script(SLIDING_WINDOW_LUA)
        self._nonce = 0
        self._node = os.urandom(6).hex()
        self._failures: Summarised[str] = Summarised(BACKEND_LOG_INTERVAL)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        fail_open: bool = True,
        timeout: float = 0.25,
        max_connections: int = 64,
    ) -> RedisLimiter:
        """A limiter on its own connection pool; a decision waits at most `timeout` seconds.

        The pool blocks (up to `timeout`) rather than failing when all `max_connections`
        are busy, so a burst queues for a connection instead of failing open.
        """
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        return cls(aioredis.Redis(connection_pool=pool), fail_open=fail_open)

    def _log_failure(self, result: str, exc: BaseException) -> None:
        """One line per BACKEND_LOG_INTERVAL while Redis is down (the metric counts each
        failure): one a request would be thousands a second, under load, of the same."""
        counts = self._failures.add(result)
        if counts is not None:
            log.warning(
                "rate limit backend failed (%s) %d times since the last such line: %r",
                result,
                counts.total(),
                exc,
            )

    async def check(self, key: str, rule: Rule) -> Decision:
        try:
            if rule.algorithm == "token_bucket":
                ttl_ms = math.ceil(rule.capacity / rule.rate * 1000) + 1000
                raw = await self._bucket(
                    keys=[f"{self.prefix}tb:{key}"],
                    args=[rule.capacity, repr(rule.rate), ttl_ms],
                )
                allowed, tokens_milli, reset_ms, retry_ms = (int(v) for v in raw)
                remaining = tokens_milli // 1000
                limit = rule.capacity
            else:
                self._nonce += 1
                raw = await self._window(
                    keys=[f"{self.prefix}sw:{key}"],
                    args=[
                        rule.limit,
                        int(rule.window_seconds * 1_000_000),
                        f"{self._node}{self._nonce}",
                    ],
                )
                allowed, remaining, reset_ms, retry_ms = (int(v) for v in raw)
                limit = rule.limit
        except (RedisError, OSError) as exc:
            RATE_LIMIT_BACKEND_ERRORS.inc()
            result = "fail_open" if self.fail_open else "fail_closed"
            RATE_LIMIT_DECISIONS.labels(self.backend, result).inc()
            self._log_failure(result, exc)
            return Decision(
                self.fail_open, rule.limit, rule.limit if self.fail_open else 0, 1.0, 1.0
            )
        decision = Decision(bool(allowed), limit, remaining, reset_ms / 1000, retry_ms / 1000)
        RATE_LIMIT_DECISIONS.labels(self.backend, "allowed" if allowed else "limited").inc()
        return decision

    async def close(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()
