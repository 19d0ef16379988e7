"""Running one call of a compiled module in a fresh, limited Store.

Everything here is synchronous and runs on a worker thread (wasmtime releases the
GIL inside wasm). Each call gets a new Store, a new WASI context with only the
directories the call asked for (:mod:`wasmgrid.runtime.preopens`) and only the
env/args the request gave, fuel, an epoch
deadline, per-store memory/table/instance limits and capped output sinks; the
outcome says which limit (if any) ended the call.
"""

from __future__ import annotations

import ctypes
import enum
import time
from dataclasses import dataclass, field
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime._exportable import AsExtern
from wasmtime._extern import wrap_extern
from wasmtime._func import enter_wasm

from wasmgrid.common.errors import ResourceExhausted
from wasmgrid.runtime import components
from wasmgrid.runtime.components import MAX_CORE_INSTANCES, CompiledComponent
from wasmgrid.runtime.engine import MAX_MEMORIES, MAX_TABLES, Interrupt, attach_interrupt
from wasmgrid.runtime.limits import WASM_PAGE, AppliedLimits
from wasmgrid.runtime.preopens import Preopen, ScratchRequest, preopen, scratch_directory
from wasmgrid.runtime.stdio import (
    OutputFiles,
    output_files_for,
    set_env,
    set_stdin_bytes,
)

#: WASI preview 1 functions that can wait inside the host (a guest asleep in one is out
#: of reach of fuel and epoch interruption until it returns).
BLOCKING_IMPORTS = frozenset({"poll_oneoff"})
#: The wasm number types Call accepts, by their wasmtime names.
NUMBER_TYPES = ("i32", "i64", "f32", "f64")
#: How much of a trap message (with its wasm backtrace) is returned.
MAX_MESSAGE_CHARS = 2048

Value = tuple[str, int | float]


class Outcome(enum.Enum):
    """How a call ended (mirrors the proto enum)."""

    OK = 1
    EXIT = 2
    TRAP = 3
    FUEL_EXHAUSTED = 4
    TIMEOUT = 5
    MEMORY_LIMIT = 6
    STACK_OVERFLOW = 7
    OUTPUT_TRUNCATED = 8
    SCRATCH_LIMIT = 9


@dataclass(frozen=True)
class Signature:
    """An exported function's type, e.g. ``add(i32, i32) -> i32``."""

    name: str
    params: tuple[str, ...]
    results: tuple[str, ...]

    @property
    def callable(self) -> bool:
        """Whether every param and result is a number type."""
        return all(t in NUMBER_TYPES for t in (*self.params, *self.results))

    def __str__(self) -> str:
        results = ", ".join(self.results)
        if len(self.results) != 1:
            results = f"({results})"
        return f"{self.name}({', '.join(self.params)}) -> {results}"


@dataclass
class CompiledModule:
    """A module compiled and pre-linked against WASI, ready to instantiate per call."""

    digest: str
    module: wasmtime.Module
    pre: wasmtime.InstancePre
    wasm_bytes: int
    functions: dict[str, Signature]
    is_command: bool
    has_initialize: bool
    memory_export: str | None
    #: Imports a WASI call that can wait in the host (sleep), where neither fuel nor
    #: the epoch deadline can stop it: never run on the event loop.
    may_block: bool = False
    #: Compiled code wasmtime holds for it (what the memory cache counts), bytes.
    code_bytes: int = 0


#: What the loader caches and the sandbox runs: a core module or a component.
Compiled = CompiledModule | CompiledComponent

_NAMED_TYPES = (
    ("i32", wasmtime.ValType.i32()),
    ("i64", wasmtime.ValType.i64()),
    ("f32", wasmtime.ValType.f32()),
    ("f64", wasmtime.ValType.f64()),
    ("funcref", wasmtime.ValType.funcref()),
    ("externref", wasmtime.ValType.externref()),
)


def type_name(ty: wasmtime.ValType) -> str:
    """The WebAssembly text name of a value type (wasmtime-py prints externref as anyref)."""
    for name, known in _NAMED_TYPES:
        if ty == known:
            return name
    return str(ty)


def describe_module(module: wasmtime.Module) -> tuple[dict[str, Signature], str | None]:
    """The exported functions (by name) and the name of the first exported memory."""
    functions: dict[str, Signature] = {}
    memory: str | None = None
    for export in module.exports:
        ty = export.type
        if isinstance(ty, wasmtime.FuncType):
            functions[export.name] = Signature(
                export.name,
                tuple(type_name(p) for p in ty.params),
                tuple(type_name(r) for r in ty.results),
            )
        elif isinstance(ty, wasmtime.MemoryType) and memory is None:
            memory = export.name
    return functions, memory


@dataclass
class CallSpec:
    """What to run: a command (`_start`, or a component's ``wasi:cli/run``) or one export
    with typed arguments (numbers for a module, checked JSON values for a component)."""

    stdin: bytes = b""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    function: str | None = None
    call_args: tuple[Value, ...] = ()
    argv0: str = "module"
    #: A component call's arguments, checked against the function's WIT types.
    component_args: list[Any] = field(default_factory=list)
    #: Directories preopened for the call (assets, read-only).
    preopens: tuple[Preopen, ...] = ()
    #: A private writable directory for the call, None for none.
    scratch: ScratchRequest | None = None


@dataclass
class ExecutionResult:
    """Everything a call produced."""

    outcome: Outcome
    exit_code: int = 0
    message: str = ""
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_dropped: int = 0
    stderr_dropped: int = 0
    fuel_consumed: int = 0
    wall_seconds: float = 0.0
    memory_bytes: int = 0
    results: list[Value] = field(default_factory=list)
    #: A component call's results as JSON values (empty or one value).
    json_results: list[Any] = field(default_factory=list)


def _short(message: str) -> str:
    """The root cause first ("wasm trap: …"), then the wasm backtrace, bounded."""
    head, sep, cause = message.partition("Caused by:")
    text = f"{cause.strip()}\n{head.strip()}" if sep else message.strip()
    return text[:MAX_MESSAGE_CHARS]


_CHARS = ctypes.POINTER(ctypes.c_char)


def _export(store: wasmtime.Store, instance: wasmtime.Instance, name: str) -> AsExtern | None:
    """One export by name (``Instance.exports`` wraps every export, which is slow)."""
    item = ffi.wasmtime_extern_t()
    raw = name.encode()
    found = ffi.wasmtime_instance_export_get(
        store._context(),
        ctypes.byref(instance._instance),
        # A pointer into `raw` itself: a string buffer would make an array type of this
        # length per call, garbage in a cycle once the call returns.
        ctypes.cast(raw, _CHARS),  # type: ignore[arg-type]  # bytes: a pointer to its data
        len(raw),
        ctypes.byref(item),
    )
    if not found:
        return None
    # A function is what nearly every lookup finds: made without the generic wrapping
    # (which imports six classes per call). A c_uint8 field reads as an int.
    if item.kind == _EXTERN_FUNC:  # type: ignore[comparison-overlap]
        return wasmtime.Func._from_raw(item.of.func)
    return wrap_extern(item)


_EXTERN_FUNC = ffi.WASMTIME_EXTERN_FUNC.value


def _func(store: wasmtime.Store, instance: wasmtime.Instance, name: str) -> wasmtime.Func:
    func = _export(store, instance, name)
    if not isinstance(func, wasmtime.Func):
        raise wasmtime.WasmtimeError(f"export {name!r} is not a function")
    return func


def _call_void(store: wasmtime.Store, func: wasmtime.Func) -> None:
    """Call a ``() -> ()`` function without ``Func.__call__``'s per-call type lookup."""
    with enter_wasm(store) as trap:
        error = ffi.wasmtime_func_call(
            store._context(), ctypes.byref(func._func), None, 0, None, 0, trap
        )
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)


def _run_void(store: wasmtime.Store, func: wasmtime.Func, signature: Signature | None) -> None:
    if signature is not None and (signature.params, signature.results) == ((), ()):
        _call_void(store, func)
    else:
        func(store)


def _memory_size(
    instance: wasmtime.Instance | None, store: wasmtime.Store, name: str | None
) -> int:
    if instance is None or name is None:
        return 0
    memory = _export(store, instance, name)
    if isinstance(memory, wasmtime.Memory):
        return int(memory.data_len(store))
    return 0


def classify(
    exc: BaseException | None,
    *,
    interrupt: Interrupt,
    limits: AppliedLimits,
    memory_bytes: int,
    stdout_dropped: int,
    stderr_dropped: int,
) -> tuple[Outcome, int, str]:
    """(outcome, exit code, message) for how a call ended. Pure apart from reading `exc`."""
    if stdout_dropped or stderr_dropped or interrupt.reason == "output":
        which = "stdout" if stdout_dropped else "stderr"
        cap = limits.stdout_bytes if stdout_dropped else limits.stderr_bytes
        dropped = stdout_dropped or stderr_dropped
        return (
            Outcome.OUTPUT_TRUNCATED,
            0,
            f"{which} exceeded its limit of {cap} bytes; {dropped} bytes dropped, guest stopped",
        )
    if interrupt.reason == "scratch" and interrupt.scratch is not None:
        return Outcome.SCRATCH_LIMIT, 0, interrupt.scratch.describe()
    if exc is None:
        return Outcome.OK, 0, ""
    if isinstance(exc, wasmtime.ExitTrap):
        return (Outcome.OK, 0, "") if exc.code == 0 else (Outcome.EXIT, exc.code, "")
    if interrupt.reason in ("timeout", "cancelled"):
        return Outcome.TIMEOUT, 0, f"wall-clock timeout of {limits.timeout_ms} ms exceeded"
    message = _short(str(exc.message if isinstance(exc, wasmtime.Trap) else exc))
    by_code = _trap_outcome(exc, message, limits)
    if by_code is not None:
        return by_code
    # memory.grow past the limit returns -1; guests then usually trap (unreachable,
    # abort). A memory within one page of the limit means the limit caused it.
    if memory_bytes + WASM_PAGE > limits.memory_bytes:
        return (
            Outcome.MEMORY_LIMIT,
            0,
            f"memory limit of {limits.memory_bytes} bytes reached"
            f" (memory is {memory_bytes} bytes): {message}",
        )
    lowered = message.lower()
    if _GC_HEAP_FULL in lowered:
        # The GC heap is bounded by the same per-memory limit as linear memories.
        return (
            Outcome.MEMORY_LIMIT,
            0,
            f"GC heap reached the memory limit of {limits.memory_bytes} bytes: {message}",
        )
    if "memory" in lowered and ("limit" in lowered or "minimum" in lowered):
        return Outcome.MEMORY_LIMIT, 0, f"memory limit of {limits.memory_bytes} bytes: {message}"
    return Outcome.TRAP, 0, message


def _trap_outcome(
    exc: BaseException, message: str, limits: AppliedLimits
) -> tuple[Outcome, int, str] | None:
    """The outcome a trap's code decides alone (fuel, stack, interrupt), if it does."""
    code = exc.trap_code if isinstance(exc, wasmtime.Trap) else _trap_code(message)
    if code == wasmtime.TrapCode.OUT_OF_FUEL:
        return Outcome.FUEL_EXHAUSTED, 0, f"fuel limit of {limits.fuel} exhausted"
    if code == wasmtime.TrapCode.STACK_OVERFLOW:
        return Outcome.STACK_OVERFLOW, 0, f"wasm stack limit of {limits.stack_bytes} bytes exceeded"
    if code == wasmtime.TrapCode.INTERRUPT:
        return Outcome.TIMEOUT, 0, f"wall-clock timeout of {limits.timeout_ms} ms exceeded"
    return None


#: wasmtime's texts of the traps a limit causes: a component call reports its trap as an
#: error message only (the C API gives no trap code for it).
_TRAP_TEXTS = (
    ("wasm trap: all fuel consumed by WebAssembly", wasmtime.TrapCode.OUT_OF_FUEL),
    ("wasm trap: call stack exhausted", wasmtime.TrapCode.STACK_OVERFLOW),
    ("wasm trap: interrupt", wasmtime.TrapCode.INTERRUPT),
)


def _trap_code(message: str) -> wasmtime.TrapCode | None:
    for text, code in _TRAP_TEXTS:
        if text in message:
            return code
    return None


#: wasmtime's error when a GC allocation does not fit the store's memory limit.
_GC_HEAP_FULL = "gc heap out of memory"


#: wasmtime's refusal when every pooled slot of a kind is taken.
_POOL_FULL = "maximum concurrent limit of"


def _instantiate(compiled: CompiledModule, store: wasmtime.Store) -> wasmtime.Instance:
    """An instance of `compiled`; a full instance pool is the runtime's state, not the
    guest's fault, so it is RESOURCE_EXHAUSTED (retry later or elsewhere), not a trap."""
    try:
        return compiled.pre.instantiate(store)
    except wasmtime.WasmtimeError as exc:
        if _POOL_FULL in str(exc):
            raise _pool_full(exc) from None
        raise


def _pool_full(exc: wasmtime.WasmtimeError) -> ResourceExhausted:
    return ResourceExhausted(
        f"no free instance slot on this runtime ({' '.join(str(exc).split())[:300]};"
        " WASMGRID_RUNTIME_MAX_CONCURRENT sizes the pool); retry later or on another replica"
    )


def execute(  # noqa: PLR0913 - the call, its limits, and where it runs
    engine: wasmtime.Engine,
    compiled: Compiled,
    spec: CallSpec,
    limits: AppliedLimits,
    *,
    tmp_dir: str,
    interrupt: Interrupt,
    fuel: int | None = None,
) -> ExecutionResult:
    """Run one call to completion or to the first limit it breaks. Never raises for guests.
    A scratch directory the call asked for exists only while it runs.

    `fuel`, when given, replaces `limits.fuel` as the call's budget (an inline attempt's
    smaller budget); the result reports the fuel consumed from it.
    """
    if spec.scratch is None:
        return _execute(
            engine,
            compiled,
            spec,
            limits,
            spec.preopens,
            tmp_dir=tmp_dir,
            interrupt=interrupt,
            fuel=fuel,
        )
    with scratch_directory(spec.scratch) as scratch_dir:
        preopens = spec.preopens
        if scratch_dir is not None:
            preopens = (*preopens, scratch_dir[0])
            interrupt.scratch = scratch_dir[1]
        return _execute(
            engine,
            compiled,
            spec,
            limits,
            preopens,
            tmp_dir=tmp_dir,
            interrupt=interrupt,
            fuel=fuel,
        )


def _execute(  # noqa: C901, PLR0913 - one call: instantiate, preopen, run, classify
    engine: wasmtime.Engine,
    compiled: Compiled,
    spec: CallSpec,
    limits: AppliedLimits,
    preopens: tuple[Preopen, ...],
    *,
    tmp_dir: str,
    interrupt: Interrupt,
    fuel: int | None,
) -> ExecutionResult:
    started = time.perf_counter()
    budget = limits.fuel if fuel is None else fuel
    store = wasmtime.Store(engine)
    store.set_fuel(budget)
    is_component = isinstance(compiled, CompiledComponent)
    store.set_limits(
        memory_size=limits.memory_bytes,
        table_elements=limits.table_elements,
        instances=MAX_CORE_INSTANCES if is_component else 1,
        tables=MAX_TABLES,
        memories=MAX_MEMORIES,
    )
    attach_interrupt(store, interrupt)
    files = output_files_for(tmp_dir)
    wasi = wasmtime.WasiConfig()
    # Setting argv or env is a ctypes round trip each: skip them when empty
    # (argc == 0 and an empty environment are both valid WASI).
    if spec.args:
        wasi.argv = [spec.argv0, *spec.args]
    if spec.env:
        set_env(wasi, spec.env)
    if spec.stdin:  # no stdin configured reads as EOF
        set_stdin_bytes(wasi, spec.stdin)
    files.attach(wasi)  # opened (and truncated) now
    interrupt.watch(files.stdout.fd, limits.stdout_bytes)
    interrupt.watch(files.stderr.fd, limits.stderr_bytes)
    if preopens:
        preopen(wasi, preopens)
    store.set_wasi(wasi)

    instance: wasmtime.Instance | None = None
    results: list[Value] = []
    json_results: list[Any] = []
    error: BaseException | None = None
    try:
        if isinstance(compiled, CompiledComponent):
            json_results, exit_code = _run_component(store, compiled, spec)
            return _finish(
                store,
                files,
                interrupt,
                limits,
                (started, budget),
                None,
                0,
                exit_code,
                json_results,
            )
        instance = _instantiate(compiled, store)
        functions = compiled.functions
        if spec.function is None:
            _run_void(store, _func(store, instance, "_start"), functions.get("_start"))
        else:
            if compiled.has_initialize:
                init = _func(store, instance, "_initialize")
                _run_void(store, init, functions.get("_initialize"))
            func = _func(store, instance, spec.function)
            signature = compiled.functions[spec.function]
            raw: Any = func(store, *(v for _, v in spec.call_args))
            values = [] if raw is None else (list(raw) if isinstance(raw, list) else [raw])
            results = list(zip(signature.results, values, strict=True))
    except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
        error = exc.with_traceback(None)  # no frame -> store cycle kept until gc
    # Only a failed call needs the memory size (to tell MEMORY_LIMIT from TRAP); an export
    # lookup per successful call would cost time for a number nobody acts on. A
    # component's memories are not reachable from its instance: 0.
    memory_bytes = 0
    if error is not None and isinstance(compiled, CompiledModule):
        memory_bytes = _memory_size(instance, store, compiled.memory_export)
    result = _finish(
        store, files, interrupt, limits, (started, budget), error, memory_bytes, 0, json_results
    )
    if result.outcome is Outcome.OK:
        result.results = results
    return result


def _run_component(
    store: wasmtime.Store, compiled: CompiledComponent, spec: CallSpec
) -> tuple[list[Any], int]:
    """(JSON results, exit code) of one component call: its ``wasi:cli/run`` (exit code
    1 when it returns err, as a WASI command's failure) or one typed function."""
    try:
        instance = components.instantiate(compiled.linker, store, compiled)
    except wasmtime.WasmtimeError as exc:
        if _POOL_FULL in str(exc):
            raise _pool_full(exc) from None
        raise
    if spec.function is None:
        return [], 0 if components.run(store, instance, compiled) else 1
    function = compiled.functions[spec.function]
    return components.call(store, instance, compiled, function, spec.component_args), 0


def _finish(  # noqa: PLR0913 - what one finished call left, from execute()'s two ends
    store: wasmtime.Store,
    files: OutputFiles,
    interrupt: Interrupt,
    limits: AppliedLimits,
    begun: tuple[float, int],
    error: BaseException | None,
    memory_bytes: int,
    exit_code: int,
    json_results: list[Any],
) -> ExecutionResult:
    """The result of a call that ended with `error` (None: it returned); `begun` is when
    it started (``perf_counter``) and the fuel it was given."""
    started, budget = begun
    stdout, stdout_dropped = files.stdout.read(limits.stdout_bytes)
    stderr, stderr_dropped = files.stderr.read(limits.stderr_bytes)
    outcome, trap_exit, message = classify(
        error,
        interrupt=interrupt,
        limits=limits,
        memory_bytes=memory_bytes,
        stdout_dropped=stdout_dropped,
        stderr_dropped=stderr_dropped,
    )
    if outcome is Outcome.OK and exit_code:
        outcome, trap_exit = Outcome.EXIT, exit_code
    fuel_left = store.get_fuel()
    return ExecutionResult(
        outcome=outcome,
        exit_code=trap_exit,
        message=message,
        stdout=stdout,
        stderr=stderr,
        stdout_dropped=stdout_dropped,
        stderr_dropped=stderr_dropped,
        fuel_consumed=max(0, budget - fuel_left),
        wall_seconds=time.perf_counter() - started,
        memory_bytes=memory_bytes,
        json_results=json_results if outcome is Outcome.OK else [],
    )
