"""SingleFlight: concurrent calls for one key share one run."""

from __future__ import annotations

import asyncio

import pytest

from wasmgrid.common.singleflight import SingleFlight
from wasmgrid.common.testing import poll_until


class Source:
    """Counts runs; each run waits until the test releases it."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def load(self) -> str:
        self.runs += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return f"value {self.runs}"


async def test_concurrent_calls_for_one_key_share_one_run() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    source = Source()
    calls = [asyncio.create_task(flight.run("k", source.load)) for _ in range(5)]
    await asyncio.sleep(0)
    assert flight.running("k")
    assert len(flight) == 1
    source.release.set()
    assert await asyncio.gather(*calls) == ["value 1"] * 5
    assert source.runs == 1
    assert not flight.running("k")


async def test_different_keys_run_separately() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    source = Source()
    source.release.set()
    a, b = await asyncio.gather(flight.run("a", source.load), flight.run("b", source.load))
    assert (a, b) == ("value 1", "value 2")


async def test_every_waiting_caller_gets_the_runs_exception_and_the_next_call_runs_again() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    source = Source()
    source.fail = LookupError("gone")
    calls = [asyncio.create_task(flight.run("k", source.load)) for _ in range(3)]
    await asyncio.sleep(0)
    source.release.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results)
    source.fail = None
    assert await flight.run("k", source.load) == "value 2"


async def test_a_cancelled_caller_leaves_the_run_going_for_the_others() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    source = Source()
    first = asyncio.create_task(flight.run("k", source.load))
    second = asyncio.create_task(flight.run("k", source.load))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    source.release.set()
    assert await second == "value 1"
    assert source.runs == 1


async def test_a_run_nobody_waits_for_any_more_still_completes() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    source = Source()
    only = asyncio.create_task(flight.run("k", source.load))
    await asyncio.sleep(0)
    only.cancel()
    source.fail = RuntimeError("nobody hears this")
    source.release.set()

    async def settled() -> bool:
        return not flight.running("k")

    assert await poll_until(settled, "the abandoned run to settle")


async def test_start_begins_a_run_without_waiting_and_says_since_when() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    source = Source()
    assert flight.started_at("k") is None
    task = flight.start("k", source.load)
    started = flight.started_at("k")
    assert started is not None
    assert flight.start("k", source.load) is task  # joined, not started again
    assert flight.started_at("k") == started
    source.release.set()
    assert await asyncio.shield(task) == "value 1"
    await poll_until(lambda: _settled(flight, "k"), "the run to settle")
    assert flight.started_at("k") is None
    assert source.runs == 1


async def _settled(flight: SingleFlight[str, str], key: str) -> bool:
    return not flight.running(key)
