"""Periodic background loops that survive a failed round."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

log = logging.getLogger(__name__)

LOOP_ERRORS = Counter(
    "wasmgrid_monitor_loop_errors_total",
    "Background rounds that raised an unexpected error, by loop.",
    ["loop"],
)


async def every(name: str, interval: float, round_: Callable[[], Awaitable[None]]) -> None:
    """Run `round_` every `interval` seconds (start to start) until cancelled.

    An unexpected exception in one round is logged with its traceback and counted,
    and the next round runs as usual: one bad scrape or rule must not stop alerting.
    """
    while True:
        started = time.monotonic()
        try:
            await round_()
        except asyncio.CancelledError:
            raise
        except Exception:  # logged with traceback and counted; the loop must go on
            LOOP_ERRORS.labels(name).inc()
            log.exception("%s round failed", name)
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
