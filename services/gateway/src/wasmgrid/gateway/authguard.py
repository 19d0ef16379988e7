"""Failed authentications, rate-limited per client address.

Every 401 the gateway answers spends one unit of the client's failure budget
(``AUTH_FAILURES_PER_MINUTE``, a token bucket in the rate limiter's backend: Redis when
configured, so every gateway replica counts together). Once it is spent, requests from
that address that carry credentials are answered 429 with ``Retry-After`` until the
bucket refills, without asking the marketplace: guessing tokens costs the guesser, not
the registry. Requests without credentials are not held back.
"""

from __future__ import annotations

import logging
import math
import time

from prometheus_client import Counter

from wasmgrid.common.lru import LruMap
from wasmgrid.gateway.problem import Problem
from wasmgrid.gateway.ratelimit import Limiter, Rule

log = logging.getLogger(__name__)

AUTH_FAILURES = Counter(
    "wasmgrid_gateway_auth_failures_total",
    "Requests answered 401, and those refused (429) because their address failed too often.",
    ["result"],
)
_FAILED = AUTH_FAILURES.labels("failed")
_BLOCKED = AUTH_FAILURES.labels("blocked")
#: Addresses remembered as blocked (bounded: the blocked set comes from the network).
MAX_BLOCKED = 100_000


class AuthGuard:
    """Counts each address's failed authentications and blocks it past its budget."""

    def __init__(self, limiter: Limiter, per_minute: int) -> None:
        self.limiter = limiter
        self.rule = Rule("token_bucket", per_minute, 60.0, per_minute) if per_minute > 0 else None
        self._blocked: LruMap[str, float] = LruMap(MAX_BLOCKED)

    def refusal(self, address: str) -> Problem | None:
        """The 429 for a request with credentials from `address` while it is blocked."""
        until = self._blocked.get(address)
        if until is None:
            return None
        left = until - time.monotonic()
        if left <= 0:
            return None
        _BLOCKED.inc()
        return Problem(
            429,
            "too many failed authentications from this address; try again later",
            headers={"Retry-After": str(max(1, math.ceil(left)))},
        )

    async def failed(self, address: str) -> None:
        """One failed authentication from `address` (a 401 was answered)."""
        _FAILED.inc()
        if self.rule is None:
            return
        decision = await self.limiter.check(f"authfail:{address}", self.rule)
        if not decision.allowed:
            self._blocked.put(address, time.monotonic() + decision.retry_after_seconds)
            log.warning(
                "failed authentications from %s exceed %d per minute: blocked for %.0f s",
                address,
                self.rule.limit,
                decision.retry_after_seconds,
            )
