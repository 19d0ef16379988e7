"""The admission policy alone, on a fake clock: who is refused on arrival, who queues,
and that a queued call is not refused for waiting, only when its deadline passes."""

from __future__ import annotations

import asyncio
import json

import pytest

from wasmgrid.gateway.admission import REFUSED, Admission, Reason, Refused
from wasmgrid.gateway.problem import FAULT


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def busy(limit: int, queue_seconds: float, call_seconds: float) -> tuple[Admission, Clock]:
    """An admission whose `limit` slots are all taken, with calls of `call_seconds`."""
    clock = Clock()
    adm = Admission(limit, queue_seconds, clock=clock)
    adm.call_seconds = call_seconds
    adm.running = limit
    return adm, clock


async def queue_one(adm: Admission, deadline: float) -> asyncio.Task[float]:
    """Start a call that queues; returns once it is in the queue."""
    before = adm.waiting
    task = asyncio.ensure_future(adm.enter(deadline))
    await asyncio.sleep(0)  # the task runs up to its wait for a slot
    assert adm.waiting == before + 1
    return task


async def test_a_free_slot_starts_a_call_at_once_whatever_its_deadline() -> None:
    clock = Clock()
    adm = Admission(2, 0.1, clock=clock)
    adm.check(clock.now)  # no wait predicted: nothing to refuse
    assert await adm.enter(clock.now) == clock.now
    assert adm.running == 1
    adm.leave(clock.now)
    assert adm.running == 0


async def test_a_call_that_would_wait_past_the_queue_budget_is_refused_on_arrival() -> None:
    # 4 slots of 200 ms calls: a slot frees every 50 ms on average.
    adm, clock = busy(4, queue_seconds=0.1, call_seconds=0.2)
    # First in the queue: about 50 ms to wait, within 100 ms: admitted to the queue.
    first = await queue_one(adm, clock.now + 10)
    # Second: about 100 ms, still within. Third: about 150 ms, refused before waiting.
    second = await queue_one(adm, clock.now + 10)
    with pytest.raises(Refused) as refused:
        adm.check(clock.now + 10)
    assert refused.value.reason is Reason.WAIT
    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"] == "1"
    assert refused.value.fault == "overload"
    assert "would wait about 150 ms to start, more than its 100 ms budget" in str(refused.value)
    with pytest.raises(Refused):
        await adm.enter(clock.now + 10)  # enter decides the same way, without waiting
    assert adm.waiting == 2
    # Slots free in order: the queued calls start, nobody refused them for waiting.
    adm.leave(clock.now - 0.2)
    adm.leave(clock.now - 0.2)
    assert await first == clock.now
    assert await second == clock.now
    assert adm.running == 4


async def test_the_deadline_of_the_request_shortens_its_budget() -> None:
    adm, clock = busy(4, queue_seconds=1.0, call_seconds=0.2)
    # A 50 ms wait fits a 1 s queue budget, but not a deadline 150 ms away (not even the
    # 200 ms call fits) ...
    with pytest.raises(Refused) as refused:
        adm.check(clock.now + 0.15)
    assert refused.value.reason is Reason.DEADLINE
    # ... nor one 240 ms away (40 ms left to wait, 50 ms predicted) ...
    with pytest.raises(Refused) as refused:
        adm.check(clock.now + 0.24)
    assert refused.value.reason is Reason.WAIT
    assert "more than its 40 ms budget" in str(refused.value)
    # ... while one 300 ms away leaves 100 ms: admitted.
    adm.check(clock.now + 0.3)


async def test_a_stalled_queue_refuses_newcomers_by_the_age_of_its_head() -> None:
    adm, clock = busy(4, queue_seconds=0.1, call_seconds=0.001)
    head = await queue_one(adm, clock.now + 10)
    # Calls have stopped completing: the 1 ms average is stale, the head has waited 500 ms.
    clock.now += 0.5
    assert adm.predicted_wait(clock.now) == pytest.approx(0.5)
    with pytest.raises(Refused) as refused:
        adm.check(clock.now + 10)
    assert refused.value.reason is Reason.WAIT
    # The head itself is not refused for it: it starts when a slot frees.
    adm.leave(clock.now - 0.6)
    assert await head == clock.now


async def test_a_queued_call_is_refused_only_when_its_deadline_would_pass() -> None:
    clock = Clock()
    adm = Admission(1, queue_seconds=5.0, clock=clock)
    adm.running = 1
    adm.call_seconds = 0.001
    # A real-time patience: its deadline 50 ms away, minus one call's time.
    task = await queue_one(adm, clock.now + 0.05)
    with pytest.raises(Refused) as refused:
        await task
    assert refused.value.reason is Reason.EXPIRED
    assert adm.waiting == 0
    assert adm.running == 1  # the slot is still the running call's


async def test_a_cancelled_waiter_leaves_the_queue_and_the_slot_passes_on() -> None:
    adm, clock = busy(1, queue_seconds=1.0, call_seconds=0.01)
    gone = await queue_one(adm, clock.now + 10)
    stays = await queue_one(adm, clock.now + 10)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert adm.waiting == 1
    adm.leave(clock.now)
    assert await stays == clock.now
    adm.leave(clock.now)
    assert (adm.running, adm.waiting) == (0, 0)


async def test_the_time_per_call_follows_the_calls_that_end() -> None:
    clock = Clock()
    adm = Admission(8, 0.1, clock=clock)
    for _ in range(100):
        started = await adm.enter(clock.now + 10)
        clock.now += 0.04
        adm.leave(started)
    assert adm.call_seconds == pytest.approx(0.04, rel=0.01)


def test_a_refusal_is_a_marked_problem_response_with_retry_after() -> None:
    response = Refused(Reason.WAIT, "this call would wait about 150 ms").response("/v1/run/x")
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert response[REFUSED] == "wait"
    assert response.body is not None
    doc = json.loads(bytes(response.body))  # type: ignore[arg-type]
    assert doc["type"] == "https://wasmgrid.dev/problems/unavailable"
    assert doc["detail"] == "gateway overloaded: this call would wait about 150 ms"
    assert doc["fault"] == "overload"


@pytest.mark.parametrize("instance", [None, "/v1/run/ns/m", '/v1/run/ns/"q"/ü'])
def test_a_refusal_is_the_problem_document_with_its_instance(instance: str | None) -> None:
    refused = Refused(Reason.DEADLINE, 'its deadline leaves no time "now", ü')
    response = refused.response(instance)
    assert response.body == json.dumps(refused.document(instance), separators=(",", ":")).encode()
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response[FAULT] == "overload"
