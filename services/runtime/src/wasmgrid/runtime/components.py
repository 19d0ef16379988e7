"""WebAssembly components (WASI 0.2): what one exports, and running one call of it.

A component is compiled by the same loader as a core module and runs under the same
limits (see :mod:`sandbox`): a fresh Store and WASI context per call, fuel, the epoch
deadline, per-memory limits, capped output. What differs is the entry: a command
component's ``wasi:cli/run`` export (Invoke, the WAGI convention), or one exported
function called with typed values (Call, JSON ⇄ WIT in :mod:`witvalues`).

wasmtime-py has no pre-instantiation for components: each call links the component
against the runtime's WASI 0.2 linker anew.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, field
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from wasmgrid.common import wasip2
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.runtime.witvalues import Param, WitFunction, check_args, from_wasmtime, lift, lower

#: Core instances one component may create per call (a componentize-py component makes
#: 14: CPython, its libraries, the WASI adapter, shims). Also sizes the pooled slots.
MAX_CORE_INSTANCES = 32
#: Separator between an exported interface and one of its functions in Call's names.
INTERFACE_SEPARATOR = "#"
_RUN_VERSION = re.compile(r"^wasi:cli/run@0\.2\.\d+$")


@dataclass
class CompiledComponent:
    """A component compiled for this engine, with what Call and Invoke need of it."""

    digest: str
    component: wc.Component
    #: The runtime's WASI 0.2 linker it is instantiated with.
    linker: wc.Linker
    wasm_bytes: int
    #: Exported functions by Call name (``analyse``, ``wasmgrid:example/types#echo-bool``).
    functions: dict[str, WitFunction]
    #: The ``wasi:cli/run@0.2.x`` export when the component is a command, else None.
    run_export: str | None
    #: Imports WASI's poll (a guest asleep there is out of reach of fuel and epochs).
    may_block: bool = False
    code_bytes: int = 0
    #: Export indexes of functions, resolved once (valid for every instance).
    _indexes: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_command(self) -> bool:
        return self.run_export is not None

    def index(self, name: str) -> Any:
        """The component-level export index of a function (cached)."""
        found = self._indexes.get(name)
        if found is None:
            parent = None
            path = self.functions[name].path if name in self.functions else (name,)
            for part in path:
                parent = self.component.get_export_index(part, parent)
                if parent is None:
                    raise InvalidArgument(f"component {self.digest} has no export {name!r}")
            found = self._indexes[name] = parent
        return found


def describe(
    engine: wasmtime.Engine, component: wc.Component
) -> tuple[dict[str, WitFunction], str | None]:
    """(exported functions by Call name, the ``wasi:cli/run`` export or None)."""
    functions: dict[str, WitFunction] = {}
    run: str | None = None
    for name, item in component.type.exports(engine).items():
        ty = item.ty
        if isinstance(ty, wc.FuncType):
            functions[name] = _function(name, ty, (name,))
        elif isinstance(ty, wc.ComponentInstanceType):
            if _RUN_VERSION.match(name):
                run = name
            for fname, fitem in ty.exports(engine).items():
                fty = fitem.ty
                if isinstance(fty, wc.FuncType):
                    full = f"{name}{INTERFACE_SEPARATOR}{fname}"
                    functions[full] = _function(full, fty, (name, fname))
    return functions, run


def _function(name: str, ty: wc.FuncType, path: tuple[str, ...]) -> WitFunction:
    result = ty.result
    return WitFunction(
        name=name,
        params=tuple(Param(p, from_wasmtime(t)) for p, t in ty.params),
        result=None if result is None else from_wasmtime(result),
        path=path,
    )


def check_imports(engine: wasmtime.Engine, component: wc.Component, digest: str) -> bool:
    """Refuse a component importing what the runtime does not link (the declaration in
    :mod:`wasmgrid.common.wasip2`); True when it imports WASI's poll (may block)."""
    refused: list[str] = []
    may_block = False
    for name in component.type.imports(engine):
        access, reason = wasip2.access(name)
        if access is wasip2.Access.REFUSED:
            refused.append(f"{name} ({reason})")
        may_block = may_block or wasip2.unversioned(name) in wasip2.BLOCKING
    if refused:
        raise InvalidArgument(
            f"component {digest} imports what this runtime does not provide: "
            + "; ".join(refused[:5])
            + (f"; … ({len(refused)} in all)" if len(refused) > 5 else "")
        )
    return may_block


def instantiate(
    linker: wc.Linker, store: wasmtime.Store, compiled: CompiledComponent
) -> wc.Instance:
    """A fresh instance; a link failure (an import of the wrong type) is the request's
    problem (INVALID_ARGUMENT), not the guest's trap."""
    try:
        return linker.instantiate(store, compiled.component)
    except wasmtime.WasmtimeError as exc:
        text = str(exc)
        if "matching implementation was not found" in text:
            raise InvalidArgument(
                f"component {compiled.digest} does not link: {' '.join(text.split())[:500]}"
            ) from None
        raise


def _func(
    store: wasmtime.Store, instance: wc.Instance, compiled: CompiledComponent, name: str
) -> Any:
    raw = ffi.wasmtime_component_func_t()
    found = ffi.wasmtime_component_instance_get_func(
        ctypes.byref(instance._instance),
        store._context(),
        compiled.index(name).ptr(),
        ctypes.byref(raw),
    )
    if not found:
        raise InvalidArgument(f"component {compiled.digest} export {name!r} is not a function")
    return raw


def _raise(error: Any) -> None:
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)


def call(
    store: wasmtime.Store,
    instance: wc.Instance,
    compiled: CompiledComponent,
    function: WitFunction,
    checked: list[Any],
) -> list[Any]:
    """Call `function` with :func:`witvalues.check_args`-ed arguments; its results as
    JSON values (an empty list or one value: WIT functions return at most one)."""
    func = _func(store, instance, compiled, function.name)
    n = len(checked)
    args = (ffi.wasmtime_component_val_t * max(n, 1))()
    out = ffi.wasmtime_component_val_t()
    has_result = function.result is not None
    lowered = 0
    try:
        for i, (param, value) in enumerate(zip(function.params, checked, strict=True)):
            lower(param.type, value, args[i])
            lowered += 1
        _raise(
            ffi.wasmtime_component_func_call(
                ctypes.byref(func),
                store._context(),
                args,
                n,
                ctypes.byref(out) if has_result else None,
                1 if has_result else 0,
            )
        )
    finally:
        for i in range(lowered):
            ffi.wasmtime_component_val_delete(ctypes.byref(args[i]))
    if not has_result:
        _raise(ffi.wasmtime_component_func_post_return(ctypes.byref(func), store._context()))
        return []
    assert function.result is not None
    try:
        value = lift(function.result, out)
    finally:
        ffi.wasmtime_component_val_delete(ctypes.byref(out))
    _raise(ffi.wasmtime_component_func_post_return(ctypes.byref(func), store._context()))
    return [value]


def run(store: wasmtime.Store, instance: wc.Instance, compiled: CompiledComponent) -> bool:
    """Run the command (``wasi:cli/run``); True when it returned ok, False for err."""
    assert compiled.run_export is not None
    name = f"{compiled.run_export}{INTERFACE_SEPARATOR}run"
    if name not in compiled.functions:
        raise InvalidArgument(
            f"component {compiled.digest} exports {compiled.run_export} without run"
        )
    func = _func(store, instance, compiled, name)
    out = ffi.wasmtime_component_val_t()
    _raise(
        ffi.wasmtime_component_func_call(
            ctypes.byref(func), store._context(), None, 0, ctypes.byref(out), 1
        )
    )
    try:
        ok = bool(out.of.result.is_ok)
    finally:
        ffi.wasmtime_component_val_delete(ctypes.byref(out))
    _raise(ffi.wasmtime_component_func_post_return(ctypes.byref(func), store._context()))
    return ok


def checked_call_args(
    compiled: CompiledComponent, name: str, args: Any
) -> tuple[WitFunction, list[Any]]:
    """The function named `name` and `args` checked against it, else INVALID_ARGUMENT
    naming the function, the path and the expected type."""
    from wasmgrid.runtime.witvalues import ValueMismatch

    function = compiled.functions.get(name)
    if function is None:
        shown = ", ".join(sorted(n for n, f in compiled.functions.items() if f.callable)[:20])
        raise InvalidArgument(
            f"component {compiled.digest} exports no function {name[:200]!r};"
            f" callable functions: {shown or 'none'}"
        )
    if not function.callable:
        raise InvalidArgument(
            f"{function} cannot be called through Call: resources (own/borrow), futures and"
            " streams are not passed as JSON; only value types are supported"
        )
    try:
        return function, check_args(function.params, args, name)
    except ValueMismatch as exc:
        raise InvalidArgument(f"{exc} ({name}: {function.signature()})") from None
