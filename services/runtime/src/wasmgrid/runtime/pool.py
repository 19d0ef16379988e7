"""The bounded worker-thread pool that runs guests off the event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import wasmtime

from wasmgrid.common.errors import Busy
from wasmgrid.common.lru import LruMap
from wasmgrid.common.metrics import child
from wasmgrid.runtime.engine import Interrupt
from wasmgrid.runtime.limits import AppliedLimits
from wasmgrid.runtime.metrics import IN_FLIGHT, LANES, REJECTED
from wasmgrid.runtime.sandbox import CallSpec, Compiled, ExecutionResult, Outcome, execute
from wasmgrid.runtime.stdio import release_output_files

log = logging.getLogger(__name__)

#: Extra time the asyncio backstop grants beyond the epoch deadline before it gives up
#: waiting on a worker thread (which should never happen: the epoch check stops guests).
BACKSTOP_SECONDS = 1.0


#: Wall-clock guard of an inline attempt: the epoch check stops it at the next tick.
INLINE_WALL_SECONDS = 0.002
#: A module that spilled this many calls in a row goes straight to a thread ...
LONG_AFTER_SPILLS = 2
#: ... except every this-many-th call, which tries inline again (inputs change).
RETRY_INLINE_EVERY = 16
#: Modules whose spill streak is remembered (least recently spilled dropped).
MAX_TRACKED_MODULES = 4096


class ExecutionPool:
    """At most `max_concurrent` guests at once; one more is refused at once, never queued.

    Each execution holds a slot until its worker thread really returns, so a guest the
    backstop gave up on still counts against the limit.

    **Inline lane.** Handing a call to a worker thread and back costs more CPU than a
    short guest itself (docs/benchmarks.md). So each call first runs on the event loop with at most
    `inline_fuel` fuel and a one-tick wall-clock guard. A guest that finishes within
    that is answered as is; one stopped by the budget (not by its own limits) is run
    again from the start on a worker thread with its real limits. Re-running is safe
    because a guest has no effects outside its own fresh instance: no preopened
    directories, no sockets, output captured per run. The loop is blocked for at most
    the budget (about 1–3 ms for 1M fuel, or one epoch tick). A module that keeps
    spilling goes straight to a thread (retrying inline now and then), so long guests
    do not pay for a failed attempt on every call.
    """

    def __init__(
        self,
        engine: wasmtime.Engine,
        max_concurrent: int,
        tmp_dir: str,
        tick_seconds: float,
        *,
        inline_fuel: int = 0,
    ) -> None:
        self.engine = engine
        self.max_concurrent = max_concurrent
        self.tmp_dir = tmp_dir
        self.tick_seconds = tick_seconds
        self.inline_fuel = inline_fuel
        #: digest -> (consecutive spills, calls sent straight to a thread since).
        self._spills: LruMap[str, tuple[int, int]] = LruMap(MAX_TRACKED_MODULES)
        self.in_flight = 0
        self.rejected = 0
        self._threads = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="wasm")

    def shutdown(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        release_output_files(self.tmp_dir)

    def _release(self, _: object) -> None:
        self.in_flight -= 1
        IN_FLIGHT.dec()

    def _admit(self) -> None:
        if self.in_flight >= self.max_concurrent:
            self.rejected += 1
            REJECTED.inc()
            raise Busy(
                f"all {self.max_concurrent} execution slots are busy"
                " (WASMGRID_RUNTIME_MAX_CONCURRENT); retry later or on another replica",
                "execution-slots",
            )
        self.in_flight += 1
        IN_FLIGHT.inc()

    def _inline(
        self, compiled: Compiled, spec: CallSpec, limits: AppliedLimits, timeout: float
    ) -> ExecutionResult | None:
        """The result of an inline attempt, or None when the budget (not a limit) stopped it."""
        fuel = min(limits.fuel, self.inline_fuel)
        wall = min(timeout, INLINE_WALL_SECONDS)
        interrupt = Interrupt(time.monotonic() + wall)
        result = execute(
            self.engine,
            compiled,
            spec,
            limits,
            tmp_dir=self.tmp_dir,
            interrupt=interrupt,
            fuel=fuel,
        )
        budget_hit = (result.outcome is Outcome.FUEL_EXHAUSTED and fuel < limits.fuel) or (
            result.outcome is Outcome.TIMEOUT and wall < timeout
        )
        return None if budget_hit else result

    def _try_inline(self, digest: str) -> bool:
        if self.inline_fuel <= 0:
            return False
        streak = self._spills.get(digest)
        if streak is None or streak[0] < LONG_AFTER_SPILLS:
            return True
        spills, skipped = streak
        self._spills.put(digest, (spills, skipped + 1))
        return (skipped + 1) % RETRY_INLINE_EVERY == 0

    def _note_spill(self, digest: str) -> None:
        spills, skipped = self._spills.pop(digest) or (0, 0)
        self._spills.put(digest, (spills + 1, skipped))

    async def run(
        self, compiled: Compiled, spec: CallSpec, limits: AppliedLimits, timeout: float
    ) -> ExecutionResult:
        """Run inline within the budget, else on a worker thread; `timeout` in seconds."""
        self._admit()
        started = time.monotonic()
        if not compiled.may_block and self._try_inline(compiled.digest):
            try:
                result = self._inline(compiled, spec, limits, timeout)
            except BaseException:
                self._release(None)
                raise
            if result is not None:
                self._release(None)
                self._spills.pop(compiled.digest)
                child(LANES, "inline").inc()
                return result
            self._note_spill(compiled.digest)
            child(LANES, "spilled").inc()
            spent = time.monotonic() - started
            result = await self._on_thread(compiled, spec, limits, max(0.001, timeout - spent))
            # The caller's wall clock includes the attempt; fuel is the run that answered.
            result.wall_seconds += spent
            return result
        child(LANES, "thread").inc()
        return await self._on_thread(compiled, spec, limits, timeout)

    async def _on_thread(
        self, compiled: Compiled, spec: CallSpec, limits: AppliedLimits, timeout: float
    ) -> ExecutionResult:
        """Run on a worker thread (the slot is already held and released when it returns)."""
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
