"""WIT types of a component's functions, and their values as JSON.

Types are read once from wasmtime's component type API into plain :class:`WitType`
trees. A call's JSON arguments are checked against them (every mismatch names its
path and the expected type: ``args[0].words[2]: expected string, got 5``), then
lowered into wasmtime's C values; results are lifted back to JSON. One JSON form per
WIT type (also in the runtime README and the proto):

==================  ==============================================================
WIT                 JSON
==================  ==============================================================
bool                ``true`` / ``false``
s8 … u64            a number, range-checked (no fraction, no string)
f32, f64            a number, or ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
char                a string of one Unicode scalar value
string              a string
list<T>             an array (``list<u8>`` too: numbers 0..255)
record              an object with exactly the record's fields
tuple<…>            an array of exactly the tuple's length
variant             an object with one key, the case: ``{"circle": 1.5}``;
                    a case without payload ``{"empty": null}``
enum                the case name as a string
flags               an array of the flag names that are set
option<T>           ``null`` for none, the value for some; when T is itself an
                    option, some is ``{"some": value}``
result<T, E>        ``{"ok": value}`` or ``{"err": value}`` (``null`` without payload)
own/borrow          not supported by Call: such a function is refused
==================  ==============================================================

Lowering and lifting work on wasmtime's C value structures directly (through
wasmtime-py's ffi): the Python wrapper's own conversion guesses variant cases from
Python classes and wraps integers silently, which would break the rules above.
"""

from __future__ import annotations

import ctypes
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime import component as wc


class Kind(enum.Enum):
    """WIT type constructors (the names WIT spells them with)."""

    BOOL = "bool"
    S8 = "s8"
    S16 = "s16"
    S32 = "s32"
    S64 = "s64"
    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    U64 = "u64"
    F32 = "f32"
    F64 = "f64"
    CHAR = "char"
    STRING = "string"
    LIST = "list"
    RECORD = "record"
    TUPLE = "tuple"
    VARIANT = "variant"
    ENUM = "enum"
    FLAGS = "flags"
    OPTION = "option"
    RESULT = "result"
    OWN = "own"
    BORROW = "borrow"
    FUTURE = "future"
    STREAM = "stream"
    ERROR_CONTEXT = "error-context"


#: Integer kinds and their inclusive ranges.
INT_RANGES: dict[Kind, tuple[int, int]] = {
    Kind.S8: (-(2**7), 2**7 - 1),
    Kind.S16: (-(2**15), 2**15 - 1),
    Kind.S32: (-(2**31), 2**31 - 1),
    Kind.S64: (-(2**63), 2**63 - 1),
    Kind.U8: (0, 2**8 - 1),
    Kind.U16: (0, 2**16 - 1),
    Kind.U32: (0, 2**32 - 1),
    Kind.U64: (0, 2**64 - 1),
}
#: Types Call cannot pass: handles to resources, and the async types.
UNSUPPORTED = frozenset({Kind.OWN, Kind.BORROW, Kind.FUTURE, Kind.STREAM, Kind.ERROR_CONTEXT})
_F32_MAX = 3.4028234663852886e38
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


@dataclass(frozen=True)
class WitType:
    """One WIT type. `items` are the element/payload types (list, option, tuple,
    record fields, variant cases, result ok/err), `names` the field, case or flag
    names; a variant case or result side without payload has None in `items`."""

    kind: Kind
    items: tuple[WitType | None, ...] = ()
    names: tuple[str, ...] = ()

    @property
    def supported(self) -> bool:
        """Whether Call can pass values of this type (no resources, futures, streams)."""
        return self.kind not in UNSUPPORTED and all(i is None or i.supported for i in self.items)

    def __str__(self) -> str:
        return render(self)


@dataclass(frozen=True)
class Param:
    name: str
    type: WitType


@dataclass(frozen=True)
class WitFunction:
    """A function a component exports, by the name Call uses (``analyse``, or
    ``wasmgrid:example/types#echo-bool`` for one in an exported interface)."""

    name: str
    params: tuple[Param, ...]
    result: WitType | None
    #: Where to find it: the export names from the root (the interface, then the function).
    path: tuple[str, ...] = field(default=(), compare=False)

    @property
    def callable(self) -> bool:
        """Whether Call can pass every parameter and the result."""
        types = [p.type for p in self.params] + ([self.result] if self.result else [])
        return all(t.supported for t in types)

    def signature(self) -> str:
        """The WIT signature, e.g. ``func(text: string) -> record { count: u32 }``."""
        params = ", ".join(f"{p.name}: {p.type}" for p in self.params)
        result = f" -> {self.result}" if self.result is not None else ""
        return f"func({params}){result}"

    def __str__(self) -> str:
        return f"{self.name}: {self.signature()}"


# ------------------------------------------------------------------ types from wasmtime

_PRIMITIVES: dict[type, Kind] = {
    wc.Bool: Kind.BOOL,
    wc.S8: Kind.S8,
    wc.S16: Kind.S16,
    wc.S32: Kind.S32,
    wc.S64: Kind.S64,
    wc.U8: Kind.U8,
    wc.U16: Kind.U16,
    wc.U32: Kind.U32,
    wc.U64: Kind.U64,
    wc.F32: Kind.F32,
    wc.F64: Kind.F64,
    wc.Char: Kind.CHAR,
    wc.String: Kind.STRING,
    wc.ErrorContext: Kind.ERROR_CONTEXT,
}


def from_wasmtime(ty: Any) -> WitType:  # noqa: C901 - one branch per kind of wasmtime type
    """The :class:`WitType` of a wasmtime-py component value type."""
    kind = _PRIMITIVES.get(type(ty))
    if kind is not None:
        return WitType(kind)
    if isinstance(ty, wc.ListType):
        return WitType(Kind.LIST, (from_wasmtime(ty.element),))
    if isinstance(ty, wc.RecordType):
        fields = ty.fields
        return WitType(
            Kind.RECORD, tuple(from_wasmtime(t) for _, t in fields), tuple(n for n, _ in fields)
        )
    if isinstance(ty, wc.TupleType):
        return WitType(Kind.TUPLE, tuple(from_wasmtime(t) for t in ty.elements))
    if isinstance(ty, wc.VariantType):
        cases = ty.cases
        return WitType(
            Kind.VARIANT,
            tuple(None if t is None else from_wasmtime(t) for _, t in cases),
            tuple(n for n, _ in cases),
        )
    if isinstance(ty, wc.EnumType):
        return WitType(Kind.ENUM, names=tuple(ty.names))
    if isinstance(ty, wc.FlagsType):
        return WitType(Kind.FLAGS, names=tuple(ty.names))
    if isinstance(ty, wc.OptionType):
        return WitType(Kind.OPTION, (from_wasmtime(ty.payload),))
    if isinstance(ty, wc.ResultType):
        ok, err = ty.ok, ty.err
        return WitType(
            Kind.RESULT,
            (
                None if ok is None else from_wasmtime(ok),
                None if err is None else from_wasmtime(err),
            ),
        )
    if isinstance(ty, wc.OwnType):
        return WitType(Kind.OWN)
    if isinstance(ty, wc.BorrowType):
        return WitType(Kind.BORROW)
    if isinstance(ty, wc.FutureType):
        return WitType(Kind.FUTURE)
    if isinstance(ty, wc.StreamType):
        return WitType(Kind.STREAM)
    raise TypeError(f"unknown component value type {type(ty).__name__}")


def render(t: WitType | None) -> str:  # noqa: C901 - one branch per WIT type kind
    """WIT text of a type (structural: the runtime sees no type names)."""
    if t is None:
        return "_"
    k = t.kind
    if k in (Kind.LIST, Kind.OPTION):
        return f"{k.value}<{render(t.items[0])}>"
    if k is Kind.TUPLE:
        return f"tuple<{', '.join(render(i) for i in t.items)}>"
    if k is Kind.RECORD:
        body = ", ".join(f"{n}: {render(i)}" for n, i in zip(t.names, t.items, strict=True))
        return f"record {{ {body} }}"
    if k is Kind.VARIANT:
        cases = (
            n if i is None else f"{n}({render(i)})" for n, i in zip(t.names, t.items, strict=True)
        )
        return f"variant {{ {', '.join(cases)} }}"
    if k in (Kind.ENUM, Kind.FLAGS):
        return f"{k.value} {{ {', '.join(t.names)} }}"
    if k is Kind.RESULT:
        ok, err = t.items
        if ok is None and err is None:
            return "result"
        if err is None:
            return f"result<{render(ok)}>"
        return f"result<{render(ok)}, {render(err)}>"
    if k in (Kind.OWN, Kind.BORROW):
        return f"{k.value}<resource>"
    return str(k.value)


# ------------------------------------------------------------------ JSON → checked values


class ValueMismatch(ValueError):
    """A JSON value that does not fit its WIT type; the message names the path."""

    def __init__(self, path: str, expected: str, got: Any, *, shown: str | None = None) -> None:
        if shown is None:
            shown = repr(got) if not isinstance(got, str | int | float) else _json_repr(got)
        super().__init__(f"{path}: expected {expected}, got {shown[:80]}")
        self.path = path


def _json_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    return repr(value)


def _describe(t: WitType) -> str:
    text = render(t)
    return text if len(text) <= 120 else text[:117] + "…"


def _is_nullable(t: WitType) -> bool:
    return t.kind is Kind.OPTION


def check(t: WitType, value: Any, path: str) -> Any:  # noqa: C901 - one branch per WIT type kind
    """`value` (parsed JSON) checked against `t` and normalised for :func:`lower`
    (strings as UTF-8 bytes, chars as code points, cases as indexes); raises
    :class:`ValueMismatch` at the first mismatch."""
    k = t.kind
    if k is Kind.BOOL:
        if not isinstance(value, bool):
            raise ValueMismatch(path, "bool (true or false)", value)
        return value
    if k in INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueMismatch(path, f"{k.value} (an integer)", value)
        low, high = INT_RANGES[k]
        if not low <= value <= high:
            raise ValueMismatch(path, f"{k.value} in {low}..{high}", value)
        return value
    if k in (Kind.F32, Kind.F64):
        return _check_float(k, value, path)
    if k is Kind.CHAR:
        if not isinstance(value, str) or len(value) != 1 or 0xD800 <= ord(value) <= 0xDFFF:
            raise ValueMismatch(path, "char (a string of one Unicode scalar value)", value)
        return ord(value)
    if k is Kind.STRING:
        if not isinstance(value, str):
            raise ValueMismatch(path, "string", value)
        try:
            return value.encode()
        except UnicodeEncodeError:
            raise ValueMismatch(path, "string of Unicode scalar values", value) from None
    if k is Kind.LIST:
        if not isinstance(value, list):
            raise ValueMismatch(path, _describe(t), value)
        element = t.items[0]
        assert element is not None
        return [check(element, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if k is Kind.TUPLE:
        if not isinstance(value, list) or len(value) != len(t.items):
            raise ValueMismatch(path, f"{_describe(t)} (an array of {len(t.items)})", value)
        return [
            check(_some(i), v, f"{path}[{n}]")
            for n, (i, v) in enumerate(zip(t.items, value, strict=True))
        ]
    if k is Kind.RECORD:
        return _check_record(t, value, path)
    if k is Kind.VARIANT:
        return _check_variant(t, value, path)
    if k is Kind.ENUM:
        if not isinstance(value, str) or value not in t.names:
            raise ValueMismatch(path, f"one of {', '.join(t.names)}", value)
        return t.names.index(value)
    if k is Kind.FLAGS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueMismatch(path, f"an array of flags from {', '.join(t.names)}", value)
        unknown = [v for v in value if v not in t.names]
        if unknown:
            raise ValueMismatch(path, f"flags from {', '.join(t.names)}", unknown[0])
        return sorted({t.names.index(v) for v in value})
    if k is Kind.OPTION:
        payload = _some(t.items[0])
        if value is None:
            return None
        if _is_nullable(payload):
            if not isinstance(value, dict) or set(value) != {"some"}:
                raise ValueMismatch(path, f'null or {{"some": …}} for {_describe(t)}', value)
            return (check(payload, value["some"], f"{path}.some"),)
        return (check(payload, value, path),)
    if k is Kind.RESULT:
        if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("ok", "err"):
            raise ValueMismatch(path, f'{{"ok": …}} or {{"err": …}} for {_describe(t)}', value)
        ((side, inner),) = value.items()
        return (side == "ok", _check_payload(t.items[side == "err"], inner, f"{path}.{side}"))
    raise ValueMismatch(path, f"a type Call can pass ({k.value} is not supported)", value)


def _some(t: WitType | None) -> WitType:
    assert t is not None
    return t


def _check_float(k: Kind, value: Any, path: str) -> float:
    if isinstance(value, str) and value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueMismatch(path, f'{k.value} (a number, "NaN", "Infinity" or "-Infinity")', value)
    number = float(value)
    if k is Kind.F32 and math.isfinite(number) and abs(number) > _F32_MAX:
        raise ValueMismatch(path, "f32 within ±3.4028235e38", value)
    return number


def _check_record(t: WitType, value: Any, path: str) -> list[Any]:
    if not isinstance(value, dict):
        raise ValueMismatch(path, f"an object with fields {', '.join(t.names)}", value)
    missing = [n for n in t.names if n not in value]
    if missing:
        field_type = _some(t.items[t.names.index(missing[0])])
        raise ValueMismatch(
            f"{path}.{missing[0]}", _describe(field_type), None, shown="nothing (missing field)"
        )
    extra = [n for n in value if n not in t.names]
    if extra:
        raise ValueMismatch(
            f"{path}.{extra[0]}", f"no such field (fields: {', '.join(t.names)})", value[extra[0]]
        )
    return [check(_some(i), value[n], f"{path}.{n}") for n, i in zip(t.names, t.items, strict=True)]


def _check_variant(t: WitType, value: Any, path: str) -> tuple[int, Any]:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in t.names:
        raise ValueMismatch(path, f"an object with one key of {', '.join(t.names)}", value)
    ((case, inner),) = value.items()
    index = t.names.index(case)
    return index, _check_payload(t.items[index], inner, f"{path}.{case}")


def _check_payload(t: WitType | None, value: Any, path: str) -> Any:
    if t is None:
        if value is not None:
            raise ValueMismatch(path, "null (this case has no payload)", value)
        return None
    return check(t, value, path)


def check_args(params: Sequence[Param], args: Any, function: str) -> list[Any]:
    """JSON arguments (an array, one per parameter) checked against `params`."""
    if not isinstance(args, list):
        raise ValueMismatch("args", f"an array of {len(params)} argument(s)", args)
    if len(args) != len(params):
        listed = ", ".join(f"{p.name}: {p.type}" for p in params) or "none"
        raise ValueMismatch(
            "args", f"{len(params)} argument(s) for {function}({listed})", len(args)
        )
    return [
        check(p.type, a, f"args[{i}]") for i, (p, a) in enumerate(zip(params, args, strict=True))
    ]


# ------------------------------------------------------------------ checked values → C

_VAL = ffi.wasmtime_component_val_t


def lower(t: WitType, value: Any, out: Any) -> None:  # noqa: C901 - one branch per WIT type kind
    """Write a :func:`check`-ed value into the C value `out` (owned by the caller, who
    deletes it with ``wasmtime_component_val_delete``)."""
    k = t.kind
    of = out.of
    if k is Kind.BOOL:
        out.kind, of.boolean = ffi.WASMTIME_COMPONENT_BOOL, value
    elif k in INT_RANGES:
        out.kind = _INT_KINDS[k]
        setattr(of, k.value, value)
    elif k is Kind.F32:
        out.kind, of.f32 = ffi.WASMTIME_COMPONENT_F32, value
    elif k is Kind.F64:
        out.kind, of.f64 = ffi.WASMTIME_COMPONENT_F64, value
    elif k is Kind.CHAR:
        out.kind, of.character = ffi.WASMTIME_COMPONENT_CHAR, value
    elif k is Kind.STRING:
        out.kind, of.string = ffi.WASMTIME_COMPONENT_STRING, ffi.bytes_to_capi(value)
    elif k is Kind.LIST:
        element = _some(t.items[0])
        items = ffi.wasmtime_component_vallist_t()
        ffi.wasmtime_component_vallist_new_uninit(items, len(value))
        for i, v in enumerate(value):
            lower(element, v, items.data[i])
        out.kind, of.list = ffi.WASMTIME_COMPONENT_LIST, items
    elif k is Kind.TUPLE:
        members = ffi.wasmtime_component_valtuple_t()
        ffi.wasmtime_component_valtuple_new_uninit(members, len(value))
        for i, (et, v) in enumerate(zip(t.items, value, strict=True)):
            lower(_some(et), v, members.data[i])
        out.kind, of.tuple = ffi.WASMTIME_COMPONENT_TUPLE, members
    elif k is Kind.RECORD:
        rec = ffi.wasmtime_component_valrecord_t()
        ffi.wasmtime_component_valrecord_new_uninit(rec, len(value))
        for i, (name, ft, v) in enumerate(zip(t.names, t.items, value, strict=True)):
            rec.data[i].name = ffi.str_to_capi(name)
            lower(_some(ft), v, rec.data[i].val)
        out.kind, of.record = ffi.WASMTIME_COMPONENT_RECORD, rec
    elif k is Kind.VARIANT:
        index, payload = value
        out.kind = ffi.WASMTIME_COMPONENT_VARIANT
        of.variant.discriminant = ffi.str_to_capi(t.names[index])
        of.variant.val = _boxed(t.items[index], payload)
    elif k is Kind.ENUM:
        out.kind, of.enumeration = ffi.WASMTIME_COMPONENT_ENUM, ffi.str_to_capi(t.names[value])
    elif k is Kind.FLAGS:
        flags = ffi.wasmtime_component_valflags_t()
        ffi.wasmtime_component_valflags_new_uninit(flags, len(value))
        for i, index in enumerate(value):
            flags.data[i] = ffi.str_to_capi(t.names[index])
        out.kind, of.flags = ffi.WASMTIME_COMPONENT_FLAGS, flags
    elif k is Kind.OPTION:
        out.kind = ffi.WASMTIME_COMPONENT_OPTION
        of.option = None if value is None else _boxed(t.items[0], value[0])
    elif k is Kind.RESULT:
        is_ok, payload = value
        out.kind = ffi.WASMTIME_COMPONENT_RESULT
        of.result.is_ok = is_ok
        of.result.val = _boxed(t.items[0 if is_ok else 1], payload)
    else:
        raise AssertionError("unreachable")


def _boxed(t: WitType | None, value: Any) -> Any:
    """A heap copy of the lowered value (variant, option and result payloads are boxed),
    or NULL for no payload."""
    if t is None:
        return None
    raw = _VAL()
    lower(t, value, raw)
    return ffi.wasmtime_component_val_new(ctypes.byref(raw))


_INT_KINDS = {
    Kind.S8: ffi.WASMTIME_COMPONENT_S8,
    Kind.S16: ffi.WASMTIME_COMPONENT_S16,
    Kind.S32: ffi.WASMTIME_COMPONENT_S32,
    Kind.S64: ffi.WASMTIME_COMPONENT_S64,
    Kind.U8: ffi.WASMTIME_COMPONENT_U8,
    Kind.U16: ffi.WASMTIME_COMPONENT_U16,
    Kind.U32: ffi.WASMTIME_COMPONENT_U32,
    Kind.U64: ffi.WASMTIME_COMPONENT_U64,
}


# ------------------------------------------------------------------ C → JSON


def lift(t: WitType, raw: Any) -> Any:  # noqa: C901 - one branch per WIT type kind
    """The JSON form of the C value `raw` of type `t` (the caller deletes `raw`)."""
    k = t.kind
    of = raw.of
    if k is Kind.BOOL:
        return bool(of.boolean)
    if k in INT_RANGES:
        return int(getattr(of, k.value))
    if k in (Kind.F32, Kind.F64):
        return _float_json(float(of.f32 if k is Kind.F32 else of.f64))
    if k is Kind.CHAR:
        return chr(of.character)
    if k is Kind.STRING:
        return ffi.to_str(of.string)
    if k is Kind.LIST:
        element = _some(t.items[0])
        return [lift(element, of.list.data[i]) for i in range(of.list.size)]
    if k is Kind.TUPLE:
        return [lift(_some(i), of.tuple.data[n]) for n, i in enumerate(t.items)]
    if k is Kind.RECORD:
        return {
            n: lift(_some(i), of.record.data[x].val)
            for x, (n, i) in enumerate(zip(t.names, t.items, strict=True))
        }
    if k is Kind.VARIANT:
        case = ffi.to_str(of.variant.discriminant)
        payload = t.items[t.names.index(case)]
        return {case: None if payload is None else lift(payload, of.variant.val.contents)}
    if k is Kind.ENUM:
        return ffi.to_str(of.enumeration)
    if k is Kind.FLAGS:
        present = {ffi.to_str(of.flags.data[i]) for i in range(of.flags.size)}
        return [n for n in t.names if n in present]
    if k is Kind.OPTION:
        if not of.option:
            return None
        payload = _some(t.items[0])
        inner = lift(payload, of.option.contents)
        return {"some": inner} if _is_nullable(payload) else inner
    if k is Kind.RESULT:
        side = "ok" if of.result.is_ok else "err"
        payload = t.items[0 if of.result.is_ok else 1]
        return {side: None if payload is None else lift(payload, of.result.val.contents)}
    raise AssertionError("unreachable")


def _float_json(number: float) -> float | str:
    if math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
