"""Deadline-aware queue admission for module calls: overload is refused at once.

Module calls run at most ``INVOKE_CONCURRENCY`` at a time; the rest wait in one FIFO
queue. A call that cannot start in time is refused before it waits at all: its
expected wait — its place in the queue over the concurrency, times the recent time
per call — must fit in the queue budget, the smaller of ``INVOKE_QUEUE_SECONDS`` and
what its deadline leaves after one call's time. A call whose wait outlasts that budget
anyway leaves the queue with the same refusal. Refusals are 503s with ``Retry-After``
(the platform is saturated: ``fault=platform``), answered in the time it takes to
decide, so an overloaded gateway keeps its goodput for the calls it admits instead of
letting every call's latency grow until clients time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from prometheus_client import Counter, Gauge

from wasmgrid.gateway.problem import Problem

ADMISSION = Counter(
    "wasmgrid_gateway_admission_total",
    "Module calls by admission result: started (at once), queued (started after"
    " waiting), refused (could not start within its budget).",
    ["result"],
)
QUEUED = Gauge("wasmgrid_gateway_admission_queue", "Module calls waiting to start.")
_STARTED = ADMISSION.labels("started")
_QUEUED = ADMISSION.labels("queued")
_REFUSED = ADMISSION.labels("refused")
#: Weight of the newest call in the time-per-call average.
_EWMA = 0.1


class Admission:
    """At most `limit` calls at once, the rest queued within `queue_seconds`."""

    def __init__(self, limit: int, queue_seconds: float) -> None:
        self.limit = limit
        self.queue_seconds = queue_seconds
        self.running = 0
        #: Recent seconds per call (exponentially weighted); starts optimistic.
        self.call_seconds = 0.005
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _refuse(self, why: str) -> Problem:
        _REFUSED.inc()
        return Problem(
            503,
            f"gateway overloaded: {why}; {self.running} module calls running (limit"
            f" {self.limit}), {len(self._waiters)} waiting",
            headers={"Retry-After": "1"},
        )

    async def enter(self, deadline: float) -> float:
        """Wait for a slot (the caller must :meth:`leave` after); the monotonic time the
        call starts. Refused (a :class:`Problem`) when it cannot start in time."""
        if self.running < self.limit and not self._waiters:
            self.running += 1
            _STARTED.inc()
            return time.monotonic()
        now = time.monotonic()
        budget = min(self.queue_seconds, deadline - now - self.call_seconds)
        expected = (len(self._waiters) + 1) / self.limit * self.call_seconds
        if budget <= 0 or expected > budget:
            raise self._refuse(
                f"this call would wait about {expected * 1000:.0f} ms to start, more than"
                f" its {max(budget, 0) * 1000:.0f} ms budget"
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        QUEUED.inc()
        try:
            await asyncio.wait_for(waiter, budget)
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._pass_on()  # a slot came just as it gave up: the next one takes it
            else:
                with contextlib.suppress(ValueError):  # already handed a slot and gone
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise self._refuse(f"no slot within its {budget * 1000:.0f} ms budget") from None
            raise
        finally:
            QUEUED.dec()
        _QUEUED.inc()
        return time.monotonic()

    def leave(self, started: float) -> None:
        """The call that started at `started` ended: its slot goes to the next waiter."""
        elapsed = time.monotonic() - started
        self.call_seconds += _EWMA * (elapsed - self.call_seconds)
        self._pass_on()

    def _pass_on(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: running stays the same
                return
        self.running -= 1
