"""Deadline-aware queue admission for module calls: overload is refused on arrival.

Module calls run at most ``INVOKE_CONCURRENCY`` at a time; the rest wait in one FIFO
queue. Whether a call may wait is decided once, when it arrives, from a prediction:
its place in the queue times the recent time between call completions (the time per
call over the concurrency, by Little's law), or — when calls have stopped completing,
so the average is stale — the time the queue's head has already waited. A call whose
predicted wait does not fit its budget, the smaller of ``INVOKE_QUEUE_SECONDS`` and what
its deadline leaves after one call's time, is refused at once; a call admitted to the
queue is not refused for waiting longer than predicted, only when its own deadline
would pass before it could run. So a refusal costs the client the time to decide, never
a wait: 503 with ``Retry-After`` (the platform is saturated: ``fault=platform``), marked
on the response so that the edge neither keeps its span as an error nor writes an
access-log line for it — under overload those would be the storm that takes the CPU the
admitted calls need. Refusals are counted by reason and logged at most once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum

from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram

from wasmgrid.common.logs import Summarised
from wasmgrid.common.metrics import LATENCY_BUCKETS
from wasmgrid.gateway.problem import Problem

log = logging.getLogger(__name__)

ADMISSION = Counter(
    "wasmgrid_gateway_admission_total",
    "Module calls by admission result: started (at once), queued (started after"
    " waiting), refused (any reason, see wasmgrid_gateway_admission_refusals_total).",
    ["result"],
)
REFUSALS = Counter(
    "wasmgrid_gateway_admission_refusals_total",
    "Module calls refused by admission, by reason: wait (predicted wait longer than the"
    " budget), deadline (the call's deadline leaves no time), expired (queued, its"
    " deadline came before a slot).",
    ["reason"],
)
QUEUED = Gauge("wasmgrid_gateway_admission_queue", "Module calls waiting to start.")
QUEUE_WAIT = Histogram(
    "wasmgrid_gateway_admission_wait_seconds",
    "Time module calls waited for a slot before starting (0 when one was free).",
    buckets=LATENCY_BUCKETS,
)
_STARTED = ADMISSION.labels("started")
_QUEUED = ADMISSION.labels("queued")
_REFUSED = ADMISSION.labels("refused")
#: Weight of the newest call in the time-per-call average.
_EWMA = 0.1
#: Seconds between two log lines about refusals (each line counts those since the last).
LOG_INTERVAL = 1.0
#: What the edge finds on a response that refused work it did not start.
REFUSED = web.ResponseKey("refused", str)


class Reason(StrEnum):
    """Why a module call was refused."""

    WAIT = "wait"
    DEADLINE = "deadline"
    EXPIRED = "expired"


_REASON_COUNTERS = {reason: REFUSALS.labels(reason.value) for reason in Reason}


class Refused(Problem):
    """503 + ``Retry-After`` for a call refused by admission; its response is marked."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(503, f"gateway overloaded: {detail}", headers=_RETRY, fault="overload")
        self.reason = reason

    def response(self, instance: str | None = None) -> web.Response:
        response = super().response(instance)
        response[REFUSED] = self.reason.value
        return response


_RETRY = {"Retry-After": "1"}


class Admission:
    """At most `limit` calls at once; the rest queued when they can start in time."""

    def __init__(
        self, limit: int, queue_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.queue_seconds = queue_seconds
        self.running = 0
        #: Recent seconds per call (exponentially weighted); starts optimistic.
        self.call_seconds = 0.005
        self._clock = clock
        #: Each waiter's future and when it joined the queue.
        self._waiters: deque[tuple[asyncio.Future[None], float]] = deque()
        self._refusals: Summarised[Reason] = Summarised(LOG_INTERVAL)

    @property
    def waiting(self) -> int:
        """Calls in the queue now."""
        return len(self._waiters)

    def predicted_wait(self, now: float) -> float:
        """Seconds a call arriving at `now` would wait for a slot."""
        if self.running < self.limit and not self._waiters:
            return 0.0
        model = (len(self._waiters) + 1) * self.call_seconds / self.limit
        head_age = now - self._waiters[0][1] if self._waiters else 0.0
        return max(model, head_age)

    def check(self, deadline: float) -> None:
        """Refuse (raise :class:`Refused`) a call that could not start in time, without
        taking anything: callers check before work a refusal would waste (reading the
        body), and :meth:`enter` decides again when the call is ready to run."""
        now = self._clock()
        self._decide(now, deadline, self.predicted_wait(now))

    def _decide(self, now: float, deadline: float, wait: float) -> None:
        if wait <= 0:
            return
        budget = min(self.queue_seconds, deadline - now - self.call_seconds)
        if budget <= 0:
            raise self._refuse(
                Reason.DEADLINE,
                f"its deadline leaves no time to wait (about {wait * 1000:.0f} ms) and run",
                now,
            )
        if wait > budget:
            raise self._refuse(
                Reason.WAIT,
                f"this call would wait about {wait * 1000:.0f} ms to start, more than its"
                f" {budget * 1000:.0f} ms budget",
                now,
            )

    async def enter(self, deadline: float) -> float:
        """Take a slot, at once or after queueing (the caller must :meth:`leave` after);
        the time the call starts. Refused (:class:`Refused`) when it cannot start in time."""
        now = self._clock()
        if self.running < self.limit and not self._waiters:
            self.running += 1
            _STARTED.inc()
            QUEUE_WAIT.observe(0.0)
            return now
        self._decide(now, deadline, self.predicted_wait(now))
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((waiter, now))
        QUEUED.inc()
        # Admitted: it waits for its slot as long as its deadline leaves time to run.
        patience = max(deadline - now - self.call_seconds, 0.0)
        try:
            async with asyncio.timeout(patience):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._pass_on()  # a slot came just as it gave up: the next one takes it
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove((waiter, now))
            if isinstance(exc, TimeoutError):
                raise self._refuse(
                    Reason.EXPIRED,
                    f"no slot came within the {patience * 1000:.0f} ms its deadline left",
                    self._clock(),
                ) from None
            raise
        finally:
            QUEUED.dec()
        started = self._clock()
        _QUEUED.inc()
        QUEUE_WAIT.observe(started - now)
        return started

    def leave(self, started: float) -> None:
        """The call that started at `started` ended: its slot goes to the next waiter."""
        elapsed = self._clock() - started
        self.call_seconds += _EWMA * (elapsed - self.call_seconds)
        self._pass_on()

    def _pass_on(self) -> None:
        while self._waiters:
            waiter, _ = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: running stays the same
                return
        self.running -= 1

    def _refuse(self, reason: Reason, why: str, now: float) -> Refused:
        _REFUSED.inc()
        _REASON_COUNTERS[reason].inc()
        counts = self._refusals.add(reason, now)
        if counts is not None:
            log.warning(
                "admission refused %d module calls since the last such line (%s): %d"
                " running (limit %d), %d waiting, %.1f ms per call",
                counts.total(),
                ", ".join(f"{r.value} {n}" for r, n in sorted(counts.items())),
                self.running,
                self.limit,
                len(self._waiters),
                self.call_seconds * 1000,
            )
        return Refused(
            reason,
            f"{why}; {self.running} module calls running (limit {self.limit}),"
            f" {len(self._waiters)} waiting",
        )
