"""The bounded worker-thread pool that runs guests off the event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import wasmtime

from wasmgrid.common.errors import ResourceExhausted
from wasmgrid.runtime.engine import Interrupt
from wasmgrid.runtime.limits import AppliedLimits
from wasmgrid.runtime.metrics import IN_FLIGHT, REJECTED
from wasmgrid.runtime.sandbox import (
    CallSpec,
    CompiledModule,
    ExecutionResult,
    Outcome,
    execute,
    release_scratch,
)

log = logging.getLogger(__name__)

#: Extra time the asyncio backstop grants beyond the epoch deadline before it gives up
#: waiting on a worker thread (which should never happen: the epoch check stops guests).
BACKSTOP_SECONDS = 1.0


class ExecutionPool:
    """At most `max_concurrent` guests at once; one more is refused at once, never queued.

    Each execution holds a slot until its worker thread really returns, so a guest the
    backstop gave up on still counts against the limit.
    """

    def __init__(
        self, engine: wasmtime.Engine, max_concurrent: int, tmp_dir: str, tick_seconds: float
    ) -> None:
        self.engine = engine
        self.max_concurrent = max_concurrent
        self.tmp_dir = tmp_dir
        self.tick_seconds = tick_seconds
        self.in_flight = 0
        self.rejected = 0
        self._threads = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="wasm")

    def shutdown(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        release_scratch(self.tmp_dir)

    def _release(self, _: object) -> None:
        self.in_flight -= 1
        IN_FLIGHT.dec()

    async def run(
        self, compiled: CompiledModule, spec: CallSpec, limits: AppliedLimits, timeout: float
    ) -> ExecutionResult:
        """Run on a worker thread; `timeout` (seconds) is the wall-clock budget."""
        if self.in_flight >= self.max_concurrent:
            self.rejected += 1
            REJECTED.inc()
            raise ResourceExhausted(
                f"all {self.max_concurrent} execution slots are busy"
                " (WASMGRID_RUNTIME_MAX_CONCURRENT); retry later or on another replica"
            )
        self.in_flight += 1
        IN_FLIGHT.inc()
        interrupt = Interrupt(time.monotonic() + timeout)
        job = functools.partial(
            execute, self.engine, compiled, spec, limits, tmp_dir=self.tmp_dir, interrupt=interrupt
        )
        future = asyncio.get_running_loop().run_in_executor(self._threads, job)
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(
                asyncio.shield(future), timeout + 2 * self.tick_seconds + BACKSTOP_SECONDS
            )
        except TimeoutError:
            interrupt.stop("timeout")
            log.error(
                "guest outlived its epoch deadline; backstop answered TIMEOUT",
                extra={"digest": compiled.digest, "timeout_s": timeout},
            )
            return ExecutionResult(
                Outcome.TIMEOUT,
                message=f"wall-clock timeout of {limits.timeout_ms} ms exceeded (backstop)",
                wall_seconds=timeout,
            )
        except asyncio.CancelledError:
            interrupt.stop("cancelled")  # the caller is gone: stop the guest at the next tick
            self.engine.increment_epoch()
            raise
