"""The wasmtime engine: the WebAssembly features it runs, its pooled slots, the epoch ticker.

Features come from :mod:`wasmgrid.common.wasmfeatures`, the set the marketplace also
validates against: WebAssembly 2.0 and 3.0 (exceptions, GC with typed function
references, memory64, multi-memory, relaxed SIMD in its deterministic mode, extended
constant expressions, tail calls). Threads/shared memory and the proposals not yet
standardised stay off; a module needing one fails to compile with wasmtime's reason,
reported as INVALID_ARGUMENT.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.metadata
import logging
import os
import platform
import resource
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import wasmtime
from wasmtime import _ffi as ffi

from wasmgrid.common import wasmfeatures
from wasmgrid.runtime.components import MAX_CORE_INSTANCES

log = logging.getLogger(__name__)

#: (wasmtime Config attribute, value) applied to every engine config, in this order.
FEATURES: tuple[tuple[str, bool], ...] = wasmfeatures.engine_switches()


@dataclass(frozen=True)
class EngineOptions:
    """The engine-wide settings that shape compiled code (part of the fingerprint)."""

    stack_bytes: int = 512 * 1024
    cranelift_opt_level: str = "speed"
    #: Instance slots of wasmtime's pooling allocator; 0: allocate each instance afresh.
    pool_slots: int = 0
    #: Largest linear memory a pooled slot holds (the runtime's maximum memory limit).
    pool_memory_bytes: int = 1024 * 1024 * 1024
    #: Elements of the largest table a pooled slot holds.
    pool_table_elements: int = 100_000


#: Tables one instance may define (the store limit ``set_limits(tables=...)`` agrees).
MAX_TABLES = 8
#: Linear memories one instance may define (multi-memory; ``set_limits(memories=...)``).
MAX_MEMORIES = wasmfeatures.MAX_MEMORIES
#: Pooled memories per instance slot on average: its linear memory and, for a GC module,
#: its GC heap (wasmtime keeps GC objects in a memory of their own, from the same pool).
#: A module with several memories takes more; a pool out of memories answers
#: RESOURCE_EXHAUSTED like one out of instances.
MEMORIES_PER_SLOT = 2
#: Core instances a pooled slot may hold on average: a core module's call takes one, a
#: component's call one per core instance it creates (up to MAX_CORE_INSTANCES).
CORE_INSTANCES_PER_SLOT = 16
#: Largest per-instance state (vmctx) of a pooled slot.
MAX_INSTANCE_STATE_BYTES = 32 * 1024 * 1024
#: Bytes of each reused memory and table reset with memset instead of being returned to
#: the kernel: small guests then reuse warm pages instead of faulting fresh ones.
KEEP_RESIDENT_BYTES = 256 * 1024


def wasmtime_version() -> str:
    """The installed wasmtime-py version."""
    return importlib.metadata.version("wasmtime")


def engine_fingerprint(options: EngineOptions) -> str:
    """A hex id of everything that makes a serialized artifact loadable by this engine.

    An artifact produced under another wasmtime version, CPU architecture or
    feature/limit configuration has a different fingerprint and is never loaded.
    """
    parts = [
        f"wasmtime={wasmtime_version()}",
        f"machine={platform.machine()}",
        f"system={platform.system()}",
        f"stack={options.stack_bytes}",
        f"opt={options.cranelift_opt_level}",
        # Pooled slots bound memories and tables, which compiled code may assume.
        f"pool={int(options.pool_slots > 0)}:{options.pool_memory_bytes}",
        "fuel=1",
        "epoch=1",
        *(f"{name}={int(value)}" for name, value in FEATURES),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def create_engine(options: EngineOptions) -> wasmtime.Engine:
    """An engine with fuel metering, epoch interruption and the shared feature set."""
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    cfg.epoch_interruption = True
    cfg.max_wasm_stack = options.stack_bytes
    cfg.cranelift_opt_level = options.cranelift_opt_level
    wasmfeatures.configure(cfg)
    if options.pool_slots > 0:
        _use_pooling(cfg, options)
    return wasmtime.Engine(cfg)


#: Address space one pooled memory reserves: wasmtime's 4 GiB memory reservation plus its
#: guard and a share of the slot's tables, rounded up.
MEMORY_ADDRESS_SPACE = 4 * 1024**3 + 256 * 1024**2
#: Address space one pooled instance slot reserves.
SLOT_ADDRESS_SPACE = MEMORIES_PER_SLOT * MEMORY_ADDRESS_SPACE
#: Address space left for everything else in the process (Python, grpc, code, heaps).
OTHER_ADDRESS_SPACE = 16 * 1024**3


def pool_fits(slots: int) -> bool:
    """Whether `slots` pooled slots fit the process's address-space limit (``ulimit -v``).

    wasmtime reserves the whole pool when the engine is created and aborts the process
    (a panic inside its C API) when the reservation fails, so this is checked first.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return True
    return slots * SLOT_ADDRESS_SPACE + OTHER_ADDRESS_SPACE <= soft


def _use_pooling(cfg: wasmtime.Config, options: EngineOptions) -> None:
    """Switch `cfg` to wasmtime's pooling instance allocator.

    Each call's instance, memory and tables come from preallocated slots that are
    reset and reused instead of mapped and unmapped per call, which saves a short guest
    a good share of its CPU (docs/benchmarks.md). Isolation is
    unchanged: a slot is wiped (memset or fresh pages) before its next instance.
    The slots are address-space reservations, not resident memory. wasmtime-py has no
    Python API for it; its ffi has the C API's.
    """
    slots = options.pool_slots
    pooling = ffi.wasmtime_pooling_allocation_config_new()
    try:
        # A component's call creates several core instances (CPython: 14), all counted.
        ffi.wasmtime_pooling_allocation_config_total_core_instances_set(
            pooling, slots * CORE_INSTANCES_PER_SLOT
        )
        ffi.wasmtime_pooling_allocation_config_total_component_instances_set(pooling, slots)
        ffi.wasmtime_pooling_allocation_config_max_core_instances_per_component_set(
            pooling, MAX_CORE_INSTANCES
        )
        ffi.wasmtime_pooling_allocation_config_max_memories_per_component_set(pooling, MAX_MEMORIES)
        ffi.wasmtime_pooling_allocation_config_max_tables_per_component_set(pooling, MAX_TABLES)
        ffi.wasmtime_pooling_allocation_config_total_memories_set(
            pooling, slots * MEMORIES_PER_SLOT
        )
        ffi.wasmtime_pooling_allocation_config_total_gc_heaps_set(pooling, slots)
        ffi.wasmtime_pooling_allocation_config_total_tables_set(pooling, slots * MAX_TABLES)
        # The instance's own state (vmctx) grows with the module's functions and globals:
        # wasmtime's 1 MiB default refuses some large modules an on-demand engine runs.
        ffi.wasmtime_pooling_allocation_config_max_core_instance_size_set(
            pooling, MAX_INSTANCE_STATE_BYTES
        )
        ffi.wasmtime_pooling_allocation_config_max_memories_per_module_set(pooling, MAX_MEMORIES)
        ffi.wasmtime_pooling_allocation_config_max_tables_per_module_set(pooling, MAX_TABLES)
        ffi.wasmtime_pooling_allocation_config_max_memory_size_set(
            pooling, options.pool_memory_bytes
        )
        ffi.wasmtime_pooling_allocation_config_table_elements_set(
            pooling, options.pool_table_elements
        )
        ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(
            pooling, KEEP_RESIDENT_BYTES
        )
        ffi.wasmtime_pooling_allocation_config_table_keep_resident_set(pooling, KEEP_RESIDENT_BYTES)
        # Idle slots that keep their pages: enough for every call at once, no more, so
        # the resident set stays bounded (slots x KEEP_RESIDENT_BYTES at worst).
        ffi.wasmtime_pooling_allocation_config_max_unused_warm_slots_set(pooling, slots // 2)
        ffi.wasmtime_pooling_allocation_strategy_set(cfg.ptr(), pooling)
    finally:
        ffi.wasmtime_pooling_allocation_config_delete(pooling)


class EpochTicker:
    """One daemon thread that advances the engine epoch every `tick_seconds`.

    Every running store checks its own wall-clock deadline when the epoch moves,
    so a runaway guest is stopped at most one tick after its deadline.
    """

    def __init__(self, engine: wasmtime.Engine, tick_seconds: float) -> None:
        self.engine = engine
        self.tick_seconds = tick_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wasm-epoch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.engine.increment_epoch()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# --- per-store epoch deadline callback ----------------------------------------------
#
# wasmtime-py exposes no Python API for the epoch-deadline callback, but its ffi does.
# The callback runs on the thread executing the guest each time the epoch passes the
# store's deadline; it either extends the deadline by one tick or returns an error,
# which ends the guest with a trap. This gives every call its own wall-clock deadline
# and lets a host function (the output sink) stop the guest within one tick.

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_UPDATE_CONTINUE = 0


class ScratchWatch(Protocol):
    """A call's scratch directory as the epoch check sees it."""

    def over(self) -> bool:
        """Whether the directory is past one of its caps (measured now)."""
        ...

    def describe(self) -> str:
        """Which cap was broken, for the call's message."""
        ...


class Interrupt:
    """The stop condition of one call: a wall-clock deadline, an output file growing past
    its cap, or an explicit stop reason (checked at every epoch tick)."""

    __slots__ = ("deadline", "reason", "scratch", "watched")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        #: Why the guest was stopped ("timeout", "output", "cancelled"), or None.
        self.reason: str | None = None
        #: (file descriptor, cap): files whose size may not exceed their cap in bytes.
        self.watched: tuple[tuple[int, int], ...] = ()
        #: A scratch directory whose caps are checked at each tick (None: none).
        self.scratch: ScratchWatch | None = None

    def watch(self, fd: int, cap: int) -> None:
        """Stop the guest at the first tick where the file behind `fd` exceeds `cap` bytes."""
        self.watched = (*self.watched, (fd, cap))

    def check(self) -> str | None:
        """Set and return the stop reason if the guest must stop now."""
        if self.reason is None:
            if time.monotonic() >= self.deadline:
                self.reason = "timeout"
            elif any(os.fstat(fd).st_size > cap for fd, cap in self.watched):
                self.reason = "output"
            elif self.scratch is not None and self.scratch.over():
                self.reason = "scratch"
        return self.reason

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


_interrupts: dict[int, Interrupt] = {}
_next_token = iter(range(1, 2**62))
_token_lock = threading.Lock()


def _on_deadline(_ctx: Any, env: int | None, delta: Any, kind: Any) -> int:
    interrupt = _interrupts.get(env or 0)
    if interrupt is not None and interrupt.check() is not None:
        err = ffi.wasmtime_error_new(f"wasmgrid: guest stopped ({interrupt.reason})".encode())
        return int(ctypes.cast(err, ctypes.c_void_p).value or 0)
    delta[0] = 1
    kind[0] = _UPDATE_CONTINUE
    return 0


def _on_finalize(env: int | None) -> None:
    _interrupts.pop(env or 0, None)


_on_deadline_c = _CALLBACK(_on_deadline)
_on_finalize_c = _FINALIZER(_on_finalize)


def attach_interrupt(store: wasmtime.Store, interrupt: Interrupt) -> None:
    """Make `store` check `interrupt` at every epoch tick (released with the store)."""
    with _token_lock:
        token = next(_next_token)
    _interrupts[token] = interrupt
    ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), _on_deadline_c, token, _on_finalize_c)
    store.set_epoch_deadline(1)


def live_interrupts() -> int:
    """Stores whose interrupt is still registered (0 when every store was released)."""
    return len(_interrupts)
