"""JSON ⇄ WebAssembly values for function calls: plain values in, plain values out.

Arguments are JSON numbers typed by the export's signature (``2``, ``1.5``), or typed
explicitly (``{"i64": "9007199254740993"}``) where JSON numbers lose precision or the
signature is unknown. Integers may be written signed or unsigned; results come back
signed, with non-finite floats as the strings ``NaN``, ``Infinity``, ``-Infinity``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from wasmgrid.api.runtime.v1 import runtime_pb2
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.gateway.problem import Problem

VALUE_TYPES = ProtoEnum.names(runtime_pb2.ValueType)
#: Most arguments a call may pass.
MAX_ARGS = 64
#: Parameter and result types of each callable export, by export name.
Signatures = dict[str, tuple[list[str], list[str]]]

_INT_RANGES = {"i32": (-(2**31), 2**32 - 1), "i64": (-(2**63), 2**64 - 1)}
_TYPED = ("i32", "i64", "f32", "f64")


def signatures(warm: runtime_pb2.WarmResponse) -> Signatures:
    """The signatures of a module's callable exports, from the runtime's Warm."""
    return {
        f.name: ([VALUE_TYPES.name(t) for t in f.params], [VALUE_TYPES.name(t) for t in f.results])
        for f in warm.functions
        if f.callable
    }


def to_values(args: Sequence[Any], params: Sequence[str], function: str) -> list[runtime_pb2.Value]:
    """A call's JSON ``args`` → runtime values of the types `params` lists (400 naming
    the argument, the value and the type it should be)."""
    if len(args) != len(params):
        raise Problem(
            400,
            f"{function} takes {len(params)} argument(s) ({', '.join(params) or 'none'}),"
            f" got {len(args)}",
        )
    return [to_value(a, i, params[i], function) for i, a in enumerate(args)]


def to_value(arg: Any, index: int, expected: str | None, function: str) -> runtime_pb2.Value:
    """One JSON argument → a runtime value of type `expected` (None: typed by the caller)."""
    where = f"args[{index}]"
    kind = expected
    value = arg
    if isinstance(arg, dict):
        if len(arg) != 1 or next(iter(arg)) not in _TYPED:
            raise Problem(
                400, f'{where}: a typed argument is one of {{"i32"|"i64"|"f32"|"f64": n}}'
            )
        ((kind, value),) = arg.items()
        if expected is not None and kind != expected:
            raise Problem(400, f"{where}: {function} expects {expected}, got {kind}")
    if kind is None:
        raise Problem(400, f'{where}: the type is unknown; pass it as {{"i32": {arg!r}}}')
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Problem(400, f"{where}: {value!r} is not a number ({function} expects {kind})")
    if kind in ("i32", "i64"):
        try:
            number = int(value) if not isinstance(value, float) else None
        except ValueError:
            number = None
        if number is None:
            raise Problem(400, f"{where}: {value!r} is not an integer ({function} expects {kind})")
        low, high = _INT_RANGES[kind]
        if not low <= number <= high:
            raise Problem(400, f"{where}: {number} is outside the {kind} range {low}..{high}")
        bits = 32 if kind == "i32" else 64
        if number >= 2 ** (bits - 1):
            number -= 2**bits  # unsigned spelling → the same bits, signed
        return runtime_pb2.Value(**{kind: number})
    try:
        real = float(value)
    except ValueError:
        raise Problem(
            400, f"{where}: {value!r} is not a number ({function} expects {kind})"
        ) from None
    return runtime_pb2.Value(f32=real) if kind == "f32" else runtime_pb2.Value(f64=real)


def from_value(value: runtime_pb2.Value) -> tuple[str, Any]:
    """A runtime result → (its type, its JSON value)."""
    kind = value.WhichOneof("value") or "i32"
    number = getattr(value, kind)
    if isinstance(number, float) and not math.isfinite(number):
        return kind, "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    return kind, number
