"""Background tasks: the one way a service stops the loops it started."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel every task given (None: not started) and wait until each has ended.

    A task's own CancelledError is expected and swallowed; any other exception it ends
    with propagates, so a loop that crashed while stopping is not hidden.
    """
    running = [t for t in tasks if t is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task
