"""Decoding WebAssembly instructions and types to find the features a module uses.

Every instruction of every function body is decoded (opcode and immediates), so a
feature is recorded only where its instruction really is, never because its byte
value appears inside an immediate. Pure Python decodes ~2 MB of code a second, too
slow for a 50 MiB module, so runs of instructions are matched by one compiled
regular expression (a possessive repetition of the instruction encodings, walked by
the C regex engine) and only the others are decoded one by one in Python. The
expression only matches instructions whose features are already recorded: the first
use of a feature always goes through the Python decoder, which records it, and the
expression is then rebuilt to include it (at most once per feature).

Feature names are those of :mod:`wasmgrid.common.wasmfeatures`.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterable

#: Abstract heap types (one byte each) and the feature that introduced them.
_ABSTRACT_HEAP = {
    0x70: "reference-types",  # func
    0x6F: "reference-types",  # extern
    0x69: "exceptions",  # exn
    0x74: "exceptions",  # noexn
    **dict.fromkeys((0x73, 0x72, 0x71, 0x6E, 0x6D, 0x6C, 0x6B, 0x6A), "gc"),
}
_NUMBER_TYPES = frozenset({0x7F, 0x7E, 0x7D, 0x7C})
_V128 = 0x7B
_REF, _REF_NULL = 0x64, 0x63


class WasmFormatError(ValueError):
    """The bytes are not a walkable core WebAssembly module; the message says where."""


class UnknownInstruction(WasmFormatError):
    """An opcode this decoder does not know: decoding of the body stops there."""

    def __init__(self, opcode: int) -> None:
        super().__init__(f"unknown instruction {opcode:#x}")


class Reader:
    """A cursor over `data[pos:end]` reading the binary format's primitives."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def at_end(self) -> bool:
        return self.pos >= self.end

    def peek(self) -> int:
        if self.pos >= self.end:
            raise WasmFormatError(f"unexpected end of data at offset {self.pos}")
        return self.data[self.pos]

    def byte(self) -> int:
        if self.pos >= self.end:
            raise WasmFormatError(f"unexpected end of data at offset {self.pos}")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self, max_bits: int = 32) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift >= max_bits + 7:
                raise WasmFormatError(f"LEB128 integer too long at offset {self.pos}")
        if result >= 1 << max_bits:
            raise WasmFormatError(f"LEB128 integer out of range at offset {self.pos}")
        return result

    def sleb(self, max_bits: int = 64) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift >= max_bits + 7:
                raise WasmFormatError(f"LEB128 integer too long at offset {self.pos}")
        if b & 0x40:
            result -= 1 << shift
        return result

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise WasmFormatError(f"length {n} at offset {self.pos} runs past the section end")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def name(self) -> str:
        raw = self.take(self.uleb())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WasmFormatError(f"name at offset {self.pos - len(raw)} is not UTF-8") from exc


# ---------------------------------------------------------------- types


def heap_type(r: Reader, f: set[str]) -> None:
    """A heap type: one abstract byte, or a type index (typed function references)."""
    b = r.peek()
    if b in _ABSTRACT_HEAP:
        r.byte()
        f.add(_ABSTRACT_HEAP[b])
        return
    if r.sleb(33) < 0:
        raise WasmFormatError(f"unknown heap type {b:#x} at offset {r.pos}")
    f.add("function-references")


def value_type(r: Reader, f: set[str]) -> None:
    """A value type; records SIMD, reference types, GC or typed references."""
    b = r.byte()
    if b in _NUMBER_TYPES:
        return
    if b == _V128:
        f.add("simd")
    elif b in _ABSTRACT_HEAP:
        f.add(_ABSTRACT_HEAP[b])
    elif b in (_REF, _REF_NULL):
        f.add("function-references")
        heap_type(r, f)
    else:
        raise WasmFormatError(f"unknown value type {b:#x} at offset {r.pos - 1}")


def block_type(r: Reader, f: set[str]) -> None:
    """Empty, one value type, or a type index (parameters or several results)."""
    b = r.peek()
    if b == 0x40:
        r.byte()
    elif b in _NUMBER_TYPES or b == _V128 or b in _ABSTRACT_HEAP or b in (_REF, _REF_NULL):
        value_type(r, f)
    else:
        if r.sleb(33) < 0:
            raise WasmFormatError(f"unknown block type {b:#x} at offset {r.pos}")
        f.add("multi-value")


def limits(r: Reader) -> tuple[int, int | None, bool, bool, bool]:
    """(min, max, shared, 64-bit, custom page size) of a memory or table."""
    flags = r.byte()
    if flags & ~0x0F:
        raise WasmFormatError(f"unknown limits flags {flags:#x} at offset {r.pos - 1}")
    wide = bool(flags & 0x04)
    bits = 64 if wide else 32
    lo = r.uleb(bits)
    hi = r.uleb(bits) if flags & 0x01 else None
    custom_page = bool(flags & 0x08)
    if custom_page:
        r.uleb()
    return lo, hi, bool(flags & 0x02), wide, custom_page


# ---------------------------------------------------------------- one instruction

_NO_IMMEDIATE = frozenset({0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, *range(0x45, 0xC0)})
_ONE_INDEX = frozenset({0x0C, 0x0D, 0x10, 0x20, 0x21, 0x22, 0x23, 0x24})
_MEMARG = frozenset(range(0x28, 0x3F))
_SIGN_EXTENSION = frozenset(range(0xC0, 0xC5))
_EXTENDED_CONST = frozenset({0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E})
#: Single-opcode instructions of a proposal, with one index immediate (or none).
_FEATURE_INDEX = {
    0x08: "exceptions",  # throw
    0x12: "tail-call",  # return_call
    0x14: "function-references",  # call_ref
    0xD2: "reference-types",  # ref.func
    0xD5: "function-references",  # br_on_null
    0xD6: "function-references",  # br_on_non_null
    0x25: "reference-types",  # table.get
    0x26: "reference-types",  # table.set
    0x07: "legacy-exceptions",  # catch
    0x09: "legacy-exceptions",  # rethrow
    0x18: "legacy-exceptions",  # delegate
}
_FEATURE_PLAIN = {
    0x0A: "exceptions",  # throw_ref
    0x19: "legacy-exceptions",  # catch_all
    0xD1: "reference-types",  # ref.is_null
    0xD3: "gc",  # ref.eq
    0xD4: "function-references",  # ref.as_non_null
}
#: SIMD sub-opcodes by immediate: memarg, memarg + lane, 16 bytes, one lane byte.
_SIMD_MEMARG = frozenset({*range(0, 12), 92, 93})
_SIMD_MEMARG_LANE = frozenset(range(84, 92))
_SIMD_BYTES16 = frozenset({12, 13})
_SIMD_LANE = frozenset(range(21, 35))


def memarg(r: Reader, f: set[str]) -> None:
    """Alignment (with a memory index when bit 6 is set: multi-memory) and offset."""
    align = r.uleb()
    if align & 0x40 and r.uleb() != 0:
        f.add("multi-memory")
    r.uleb(64)


def _memory_index(r: Reader, f: set[str]) -> None:
    if r.uleb() != 0:
        f.add("multi-memory")


def _table_index(r: Reader, f: set[str]) -> None:
    if r.uleb() != 0:
        f.add("reference-types")


def instruction(r: Reader, f: set[str]) -> int:  # noqa: C901 - one branch per opcode group of the spec
    """Decode one instruction at `r`, record the features it needs; return its opcode."""
    op = r.byte()
    if op in _NO_IMMEDIATE:
        return op
    if op in _ONE_INDEX:
        r.uleb()
    elif op == 0x41:
        r.sleb(32)
    elif op == 0x42:
        r.sleb(64)
    elif op in _MEMARG:
        memarg(r, f)
    elif op in (0x02, 0x03, 0x04):
        block_type(r, f)
    elif op == 0x43:
        r.take(4)
    elif op == 0x44:
        r.take(8)
    elif op == 0x0E:
        for _ in range(r.uleb() + 1):
            r.uleb()
    elif op == 0x11:
        r.uleb()
        _table_index(r, f)
    elif op in _SIGN_EXTENSION:
        f.add("sign-extension")
    elif op in (0x3F, 0x40):
        _memory_index(r, f)
    elif op in _FEATURE_INDEX:
        r.uleb()
        f.add(_FEATURE_INDEX[op])
    elif op in _FEATURE_PLAIN:
        f.add(_FEATURE_PLAIN[op])
    elif op == 0x13:
        r.uleb()
        _table_index(r, f)
        f.add("tail-call")
    elif op == 0x15:
        r.uleb()
        f.update(("function-references", "tail-call"))
    elif op == 0x06:
        block_type(r, f)
        f.add("legacy-exceptions")
    elif op == 0x1F:
        _try_table(r, f)
    elif op == 0x1C:
        for _ in range(r.uleb()):
            value_type(r, f)
        f.add("reference-types")
    elif op == 0xD0:
        heap_type(r, f)
        f.add("reference-types")
    elif op == 0xFB:
        _gc(r, f, r.uleb())
    elif op == 0xFC:
        _misc(r, f, r.uleb())
    elif op == 0xFD:
        _simd(r, f, r.uleb())
    elif op == 0xFE:
        _atomic(r, f, r.uleb())
    elif 0xE0 <= op <= 0xE6:
        f.add("stack-switching")
        raise UnknownInstruction(op)
    else:
        raise UnknownInstruction(op)
    return op


def _try_table(r: Reader, f: set[str]) -> None:
    block_type(r, f)
    for _ in range(r.uleb()):
        kind = r.byte()
        if kind in (0, 1):  # catch / catch_ref: tag, label
            r.uleb()
        elif kind not in (2, 3):  # catch_all / catch_all_ref: label
            raise WasmFormatError(f"unknown catch kind {kind} at offset {r.pos - 1}")
        r.uleb()
    f.add("exceptions")


#: GC sub-opcodes by how many index immediates they take.
_GC_INDICES = {
    **dict.fromkeys((0, 1, 6, 7, 11, 12, 13, 14, 16), 1),
    **dict.fromkeys((2, 3, 4, 5, 8, 9, 10, 17, 18, 19), 2),
    **dict.fromkeys((15, 26, 27, 28, 29, 30), 0),
}


def _gc(r: Reader, f: set[str], sub: int) -> None:
    f.add("gc")
    count = _GC_INDICES.get(sub)
    if count is not None:
        for _ in range(count):
            r.uleb()
    elif sub in (20, 21, 22, 23):  # ref.test / ref.cast (null)
        heap_type(r, f)
    elif sub in (24, 25):  # br_on_cast(_fail): flags, label, two heap types
        r.byte()
        r.uleb()
        heap_type(r, f)
        heap_type(r, f)
    else:
        raise UnknownInstruction(0xFB00 + sub)


def _misc(r: Reader, f: set[str], sub: int) -> None:
    if sub <= 7:
        f.add("nontrapping-float-to-int")
    elif sub == 8:  # memory.init data, memory
        r.uleb()
        _memory_index(r, f)
        f.add("bulk-memory")
    elif sub in (9, 13):  # data.drop / elem.drop
        r.uleb()
        f.add("bulk-memory")
    elif sub == 10:  # memory.copy dst, src
        _memory_index(r, f)
        _memory_index(r, f)
        f.add("bulk-memory")
    elif sub == 11:  # memory.fill
        _memory_index(r, f)
        f.add("bulk-memory")
    elif sub in (12, 14):  # table.init elem, table / table.copy dst, src
        r.uleb()
        r.uleb()
        f.add("bulk-memory")
    elif sub in (15, 16, 17):  # table.grow / size / fill
        r.uleb()
        f.add("reference-types")
    elif 19 <= sub <= 22:
        f.add("wide-arithmetic")
    else:
        raise UnknownInstruction(0xFC00 + sub)


def _simd(r: Reader, f: set[str], sub: int) -> None:
    if sub in _SIMD_MEMARG:
        memarg(r, f)
    elif sub in _SIMD_MEMARG_LANE:
        memarg(r, f)
        r.byte()
    elif sub in _SIMD_BYTES16:
        r.take(16)
    elif sub in _SIMD_LANE:
        r.byte()
    elif 0x100 <= sub <= 0x113:
        f.add("relaxed-simd")
        return
    elif sub > 0xFF:
        raise UnknownInstruction(0xFD00 + sub)
    f.add("simd")


def _atomic(r: Reader, f: set[str], sub: int) -> None:
    f.add("threads")
    if sub == 0x03:  # atomic.fence
        r.byte()
    elif sub <= 0x02 or 0x10 <= sub <= 0x4E:
        memarg(r, f)
    else:
        raise UnknownInstruction(0xFE00 + sub)


def constant_expression(r: Reader, f: set[str]) -> None:
    """Decode a constant expression up to its `end`; arithmetic in it is extended-const."""
    while True:
        op = instruction(r, f)
        if op == 0x0B:
            return
        if op in _EXTENDED_CONST:
            f.add("extended-const")


# ---------------------------------------------------------------- whole bodies, fast

_LEB = rb"[\x80-\xff]*[\x00-\x7f]"
#: An alignment byte without the multi-memory flag, then an offset.
_MEMARG_RE = rb"[\x00-\x3f]" + _LEB


def _cls(codes: Iterable[int]) -> bytes:
    return b"[" + b"".join(re.escape(bytes([c])) for c in sorted(set(codes))) + b"]"


#: Encodings of instructions that need no feature, most frequent first.
_BASE: tuple[bytes, ...] = (
    _cls({*_ONE_INDEX, 0x41, 0x42}) + _LEB,
    _cls(_NO_IMMEDIATE),
    _cls(_MEMARG) + _MEMARG_RE,
    rb"[\x02\x03\x04][\x40\x7c-\x7f]",
    rb"\x11" + _LEB + rb"\x00",
    rb"\x43.{4}",
    rb"\x44.{8}",
    rb"[\x3f\x40]\x00",
)
#: Encodings added once their feature is recorded; each records exactly that feature
#: when :func:`instruction` decodes it.
_BY_FEATURE: dict[str, tuple[bytes, ...]] = {
    "sign-extension": (rb"[\xc0-\xc4]",),
    "multi-value": (rb"[\x02\x03\x04][\x80-\xff]*[\x00-\x3f]",),
    "nontrapping-float-to-int": (rb"\xfc[\x00-\x07]",),
    "bulk-memory": (
        rb"\xfc\x0a\x00\x00",
        rb"\xfc\x0b\x00",
        rb"\xfc\x08" + _LEB + rb"\x00",
        rb"\xfc[\x09\x0d]" + _LEB,
    ),
    "simd": (
        rb"\xfd[\x00-\x0b\x5c\x5d]" + _MEMARG_RE,
        rb"\xfd[\x54-\x5b]" + _MEMARG_RE + b".",
        rb"\xfd[\x0c\x0d].{16}",
        rb"\xfd[\x15-\x22].",
        rb"\xfd[\x0e-\x14\x23-\x53\x5e-\x7f]",
        rb"\xfd[\x80-\xff]\x01",
    ),
    "relaxed-simd": (rb"\xfd[\x80-\x93]\x02",),
    "tail-call": (rb"\x12" + _LEB, rb"\x13" + _LEB + rb"\x00"),
    "exceptions": (rb"\x08" + _LEB, rb"\x0a"),
    "reference-types": (rb"\xd1", rb"[\xd2\x25\x26]" + _LEB),
    "function-references": (rb"\x14" + _LEB, rb"\xd4", rb"[\xd5\xd6]" + _LEB),
}


@functools.lru_cache(maxsize=64)
def _run_pattern(known: frozenset[str]) -> Callable[[bytes, int, int], re.Match[bytes] | None]:
    parts = list(_BASE)
    for feature in sorted(known & _BY_FEATURE.keys()):
        parts.extend(_BY_FEATURE[feature])
    pattern = re.compile(b"(?:" + b"|".join(parts) + b")*+", re.DOTALL)
    return pattern.match


def _local_declarations(r: Reader, f: set[str]) -> None:
    for _ in range(r.uleb()):
        r.uleb()
        value_type(r, f)


def scan_body(data: bytes, start: int, end: int, f: set[str]) -> None:
    """Decode one function body `data[start:end]` (locals, then every instruction)."""
    r = Reader(data, start, end)
    _local_declarations(r, f)
    known = frozenset(f & _BY_FEATURE.keys())
    match = _run_pattern(known)
    pos = r.pos
    while pos < end:
        m = match(data, pos, end)
        pos = m.end() if m is not None else pos
        if pos >= end:
            break
        r.pos = pos
        instruction(r, f)
        pos = r.pos
        if len(known) != len(f & _BY_FEATURE.keys()):
            known = frozenset(f & _BY_FEATURE.keys())
            match = _run_pattern(known)


def scan_code_section(r: Reader, f: set[str], deadline: float) -> tuple[int, int]:
    """Decode every body of a code section until `deadline` (time.monotonic).

    Returns (code bytes decoded, code bytes in all). A body that does not decode is
    skipped: wasmtime's validation has the final word on validity.
    """
    scanned = total = 0
    for _ in range(r.uleb()):
        size = r.uleb()
        start = r.pos
        r.take(size)
        total += size
        if time.monotonic() > deadline:
            continue
        with contextlib.suppress(WasmFormatError):
            scan_body(r.data, start, start + size, f)
        scanned += size
    return scanned, total
