"""Helpers for tests of wasmgrid services (shared, so no test suite keeps its own copy)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def poll_until(
    check: Callable[[], Awaitable[T | None]],
    description: str,
    timeout: float = 20.0,
    interval: float = 0.02,
) -> T:
    """Await `check` until it returns something truthy and return that; fail at the deadline.

    Tests wait for a condition this way instead of sleeping a fixed time: fast when the
    system is fast, patient when a shared machine is slow, and the failure names what
    never happened and the last value seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {description}; last: {last!r}"
            )
        await asyncio.sleep(interval)
