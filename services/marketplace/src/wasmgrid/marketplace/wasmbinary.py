"""A reader for the WebAssembly binary format (core modules).

Reads what the registry records and the import policy needs: imports, exports,
memories, custom sections and the ``producers`` section, and every feature the
module uses beyond WebAssembly 1.0, from its types, tables, memories, globals,
tags, element and data segments (constant expressions decoded) and every
instruction of its code (:mod:`wasminstr`). Structural validation is wasmtime's
job; this reader only refuses what it cannot walk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from wasmgrid.marketplace.wasminstr import (
    Reader,
    WasmFormatError,
    constant_expression,
    limits,
    scan_code_section,
    value_type,
)

__all__ = ["ModuleInfo", "WasmFormatError", "read_module", "uleb128", "with_custom_section"]

MAGIC = b"\x00asm"
CORE_VERSION = b"\x01\x00\x00\x00"
_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
_FUNCREF = 0x70
#: Decoding the code of a module stops after this long (the rest is reported as not
#: scanned); measured here at ~3 s for 50 MiB of compiled C.
SCAN_SECONDS = 20.0


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: str


@dataclass(frozen=True)
class Export:
    name: str
    kind: str


@dataclass(frozen=True)
class Memory:
    min_pages: int
    max_pages: int | None
    shared: bool
    memory64: bool
    imported: bool


@dataclass(frozen=True)
class Producer:
    field: str
    name: str
    version: str


@dataclass
class ModuleInfo:
    """What the reader found in one module."""

    imports: list[Import] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    memories: list[Memory] = field(default_factory=list)
    custom_sections: list[str] = field(default_factory=list)
    producers: list[Producer] = field(default_factory=list)
    features: set[str] = field(default_factory=set)
    has_start: bool = False
    function_count: int = 0
    table_count: int = 0
    #: Code bytes whose instructions were decoded for features, and the total.
    code_scanned: int = 0
    code_bytes: int = 0
    #: Memories the module defines or imports (more than one: multi-memory).
    memory_count: int = 0


def uleb128(n: int) -> bytes:
    """`n` (>= 0) as an unsigned LEB128, the wasm encoding of sizes and counts."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_custom_section(wasm: bytes, name: bytes, payload: bytes) -> bytes:
    """`wasm` with a custom section appended (still valid: custom sections go anywhere)."""
    body = uleb128(len(name)) + name + payload
    return wasm + b"\x00" + uleb128(len(body)) + body


def read_module(data: bytes, scan_seconds: float = SCAN_SECONDS) -> ModuleInfo:  # noqa: C901 - one branch per section id, as the spec lists them
    """Walk the sections of a core module and collect what the registry records.

    Instructions are decoded for at most `scan_seconds`; ``code_scanned`` then says
    how much of the code was.
    """
    if len(data) < 8 or data[:4] != MAGIC:
        raise WasmFormatError("not a WebAssembly binary (missing \\0asm magic)")
    if data[4:8] != CORE_VERSION:
        if data[6:8] == b"\x01\x00":
            raise WasmFormatError("this is a WebAssembly component; only core modules are accepted")
        raise WasmFormatError(f"unsupported binary version {data[4:8].hex()}")
    data = bytes(data)
    info = ModuleInfo()
    f = info.features
    deadline = time.monotonic() + scan_seconds
    r = Reader(data, 8)
    while not r.at_end():
        sid = r.byte()
        size = r.uleb()
        start = r.pos
        body = Reader(data, start, start + size)
        r.take(size)
        if sid == 0:
            _custom(body, info)
        elif sid == 1:
            _types(body, f)
        elif sid == 2:
            _imports(body, info)
        elif sid == 3:
            info.function_count = body.uleb()
        elif sid == 4:
            _tables(body, info)
        elif sid == 5:
            for _ in range(body.uleb()):
                _memory(body, info, imported=False)
        elif sid == 6:
            _globals(body, f)
        elif sid == 7:
            _exports(body, info)
        elif sid == 8:
            info.has_start = True
        elif sid == 9:
            _elements(body, f)
        elif sid == 10:
            info.code_scanned, info.code_bytes = scan_code_section(body, f, deadline)
        elif sid == 11:
            _data(body, f)
        elif sid == 12:
            f.add("bulk-memory")
        elif sid == 13:
            f.add("exceptions")
        else:
            raise WasmFormatError(f"unknown section id {sid} at offset {start}")
    info.memory_count = len(info.memories)
    if info.memory_count > 1:
        f.add("multi-memory")
    if any(m.shared for m in info.memories):
        f.add("threads")
    if any(m.memory64 for m in info.memories):
        f.add("memory64")
    if info.table_count > 1:
        f.add("reference-types")
    return info


def _custom(r: Reader, info: ModuleInfo) -> None:
    name = r.name()
    info.custom_sections.append(name)
    if name != "producers":
        return
    try:
        for _ in range(r.uleb()):
            fname = r.name()
            for _ in range(r.uleb()):
                info.producers.append(Producer(fname, r.name(), r.name()))
    except WasmFormatError:
        # A malformed producers section is metadata noise, not a reason to reject code.
        info.custom_sections[-1] = "producers (malformed)"


def _types(r: Reader, f: set[str]) -> None:
    for _ in range(r.uleb()):
        form = r.peek()
        if form == 0x4E:  # rec group
            r.byte()
            f.add("gc")
            for _ in range(r.uleb()):
                _subtype(r, f)
        else:
            _subtype(r, f)


def _subtype(r: Reader, f: set[str]) -> None:  # noqa: C901 - one branch per type form of the binary format
    form = r.byte()
    if form in (0x50, 0x4F):  # sub / sub final: supertypes, then the type
        f.add("gc")
        for _ in range(r.uleb()):
            r.uleb()
        form = r.byte()
    if form == 0x60:
        for _ in range(r.uleb()):
            value_type(r, f)
        results = r.uleb()
        if results > 1:
            f.add("multi-value")
        for _ in range(results):
            value_type(r, f)
    elif form == 0x5F:  # struct
        f.add("gc")
        for _ in range(r.uleb()):
            _field(r, f)
    elif form == 0x5E:  # array
        f.add("gc")
        _field(r, f)
    elif form == 0x5D:  # continuation
        f.add("stack-switching")
        r.sleb(33)
    else:
        raise WasmFormatError(f"unknown type form {form:#x} at offset {r.pos - 1}")


def _field(r: Reader, f: set[str]) -> None:
    if r.peek() in (0x78, 0x77):  # packed i8 / i16
        r.byte()
    else:
        value_type(r, f)
    r.byte()  # mutability


def _memory(r: Reader, info: ModuleInfo, *, imported: bool) -> None:
    lo, hi, shared, wide, custom_page = limits(r)
    if custom_page:
        info.features.add("custom-page-sizes")
    info.memories.append(Memory(lo, hi, shared, wide, imported=imported))


def _imports(r: Reader, info: ModuleInfo) -> None:
    f = info.features
    for _ in range(r.uleb()):
        module, name = r.name(), r.name()
        kind = r.byte()
        if kind not in _KINDS:
            raise WasmFormatError(f"import {module}.{name} has unknown kind {kind}")
        if kind == 0:
            r.uleb()
        elif kind == 1:
            _table_type(r, info)
        elif kind == 2:
            _memory(r, info, imported=True)
        elif kind == 3:
            value_type(r, f)
            if r.byte() & 1:
                f.add("mutable-global")
        else:
            r.byte()
            r.uleb()
            f.add("exceptions")
        info.imports.append(Import(module, name, _KINDS[kind]))


def _tables(r: Reader, info: ModuleInfo) -> None:
    for _ in range(r.uleb()):
        if r.peek() == 0x40:  # a table with an initial value: typed function references
            r.byte()
            r.byte()
            _table_type(r, info)
            constant_expression(r, info.features)
            info.features.add("function-references")
        else:
            _table_type(r, info)


def _table_type(r: Reader, info: ModuleInfo) -> None:
    """A table: funcref tables are WebAssembly 1.0; other element types are features."""
    if r.peek() == _FUNCREF:
        r.byte()
    else:
        value_type(r, info.features)
    if limits(r)[3]:
        info.features.add("memory64")  # a 64-bit table
    info.table_count += 1


def _globals(r: Reader, f: set[str]) -> None:
    for _ in range(r.uleb()):
        value_type(r, f)
        r.byte()
        constant_expression(r, f)


def _elements(r: Reader, f: set[str]) -> None:  # noqa: C901 - the eight element segment encodings
    for _ in range(r.uleb()):
        flags = r.uleb()
        if flags > 7:
            raise WasmFormatError(f"unknown element segment flags {flags} at offset {r.pos}")
        if flags:  # passive segments came with bulk memory, the other forms with references
            f.add("bulk-memory" if flags & 3 == 1 else "reference-types")
        if flags & 2 and not flags & 1:
            r.uleb()  # table index
        if not flags & 1:
            constant_expression(r, f)  # offset
        expressions = bool(flags & 4)
        if flags & 3:
            if expressions:
                value_type(r, f)
            elif r.byte() != 0:
                raise WasmFormatError(f"unknown element kind at offset {r.pos - 1}")
        for _ in range(r.uleb()):
            if expressions:
                constant_expression(r, f)
            else:
                r.uleb()


def _data(r: Reader, f: set[str]) -> None:
    for _ in range(r.uleb()):
        flags = r.uleb()
        if flags == 1:
            f.add("bulk-memory")
        elif flags in (0, 2):
            if flags == 2 and r.uleb() != 0:
                f.add("multi-memory")
            constant_expression(r, f)
        else:
            raise WasmFormatError(f"unknown data segment flags {flags} at offset {r.pos}")
        r.take(r.uleb())


def _exports(r: Reader, info: ModuleInfo) -> None:
    for _ in range(r.uleb()):
        name = r.name()
        kind = r.byte()
        r.uleb()
        if kind not in _KINDS:
            raise WasmFormatError(f"export {name!r} has unknown kind {kind}")
        info.exports.append(Export(name, kind=_KINDS[kind]))
