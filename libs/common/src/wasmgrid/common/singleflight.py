"""Single flight: concurrent requests for one key share one execution."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Runs `fn` once per key at a time; callers that arrive meanwhile await that run.

    The run is a task of its own, and every caller awaits it through a shield: a caller
    that is cancelled or times out leaves, the run goes on for the others (and still
    completes whatever it fills). Its result or exception goes to every caller; the next
    call after it settles starts a new run.
    """

    def __init__(self, name: str = "single-flight") -> None:
        self.name = name
        self._runs: dict[K, asyncio.Task[V]] = {}
        self._started: dict[K, float] = {}

    def __len__(self) -> int:
        """Runs in flight."""
        return len(self._runs)

    def running(self, key: K) -> bool:
        """Whether a run for `key` is in flight (a call now would join it)."""
        return key in self._runs

    def start(self, key: K, fn: Callable[[], Coroutine[Any, Any, V]]) -> asyncio.Task[V]:
        """The run for `key`: the one in flight, else `fn()` started now. Await it through
        :func:`asyncio.shield` (as :meth:`run` does) so that leaving does not cancel it."""
        task = self._runs.get(key)
        if task is None:
            task = asyncio.create_task(fn(), name=f"{self.name}:{key!s:.64}")
            self._runs[key] = task
            self._started[key] = time.monotonic()
            task.add_done_callback(lambda done: self._settled(key, done))
        return task

    def started_at(self, key: K) -> float | None:
        """When (``time.monotonic()``) the run for `key` in flight started; None if none is."""
        return self._started.get(key)

    async def run(self, key: K, fn: Callable[[], Coroutine[Any, Any, V]]) -> V:
        """The result of `fn()`, or of the run for `key` already in flight."""
        return await asyncio.shield(self.start(key, fn))

    def _settled(self, key: K, task: asyncio.Task[V]) -> None:
        if self._runs.get(key) is task:
            del self._runs[key]
            del self._started[key]
        if not task.cancelled():
            task.exception()  # retrieved: a run nobody waits for any more warns of nothing
