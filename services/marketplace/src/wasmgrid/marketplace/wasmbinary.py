"""A small reader for the WebAssembly binary format (core modules).

Reads what the registry records and the import policy needs: imports,
exports, memories, custom sections and the ``producers`` section, plus the
proposals visible at section level. Code bodies are skipped by their declared
size, so the cost is proportional to the number of sections and entries, not
to the code size. Structural validation is wasmtime's job; this reader only
refuses what it cannot walk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAGIC = b"\x00asm"
CORE_VERSION = b"\x01\x00\x00\x00"
_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
_V128, _FUNCREF, _EXTERNREF = 0x7B, 0x70, 0x6F


class WasmFormatError(ValueError):
    """The bytes are not a walkable core WebAssembly module; the message says where."""


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
    #: Code bytes whose instructions were scanned for proposals, and the total.
    code_scanned: int = 0
    code_bytes: int = 0


class _Reader:
    def __init__(self, data: bytes | memoryview, pos: int = 0, end: int | None = None) -> None:
        self.data = memoryview(data)
        self.pos = pos
        self.end = len(data) if end is None else end

    def at_end(self) -> bool:
        return self.pos >= self.end

    def peek(self) -> int:
        if self.pos >= self.end:
            raise WasmFormatError(f"unexpected end of data at offset {self.pos}")
        return int(self.data[self.pos])

    def byte(self) -> int:
        if self.pos >= self.end:
            raise WasmFormatError(f"unexpected end of data at offset {self.pos}")
        b = self.data[self.pos]
        self.pos += 1
        return int(b)

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

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > self.end:
            raise WasmFormatError(f"length {n} at offset {self.pos} runs past the section end")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def name(self) -> str:
        raw = bytes(self.take(self.uleb()))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WasmFormatError(f"name at offset {self.pos - len(raw)} is not UTF-8") from exc

    def limits(self) -> tuple[int, int | None, bool, bool]:
        flags = self.byte()
        if flags & ~0x0F:
            raise WasmFormatError(f"unknown limits flags {flags:#x} at offset {self.pos - 1}")
        memory64 = bool(flags & 0x04)
        bits = 64 if memory64 else 32
        lo = self.uleb(bits)
        hi = self.uleb(bits) if flags & 0x01 else None
        if flags & 0x08:  # custom-page-sizes: log2 page size follows
            self.uleb()
        return lo, hi, bool(flags & 0x02), memory64


#: Instruction scanning is pure Python: bodies past this many code bytes are skipped.
SCAN_CODE_BYTES = 4 * 1024 * 1024


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


def read_module(data: bytes, scan_code_bytes: int = SCAN_CODE_BYTES) -> ModuleInfo:
    """Walk the sections of a core module and collect what the registry records."""
    if len(data) < 8 or data[:4] != MAGIC:
        raise WasmFormatError("not a WebAssembly binary (missing \\0asm magic)")
    if data[4:8] != CORE_VERSION:
        if data[6:8] == b"\x01\x00":
            raise WasmFormatError("this is a WebAssembly component; only core modules are accepted")
        raise WasmFormatError(f"unsupported binary version {data[4:8].hex()}")
    info = ModuleInfo()
    r = _Reader(data, 8)
    while not r.at_end():
        sid = r.byte()
        size = r.uleb()
        start = r.pos
        body = _Reader(data, start, start + size)
        r.take(size)
        if sid == 0:
            _custom(body, info)
        elif sid == 1:
            _types(body, info)
        elif sid == 2:
            _imports(body, info)
        elif sid == 3:
            info.function_count = body.uleb()
        elif sid == 4:
            _tables(body, info)
        elif sid == 5:
            for _ in range(body.uleb()):
                lo, hi, shared, m64 = body.limits()
                info.memories.append(Memory(lo, hi, shared, m64, imported=False))
        elif sid == 7:
            _exports(body, info)
        elif sid == 8:
            info.has_start = True
        elif sid == 10:
            _code(body, info, scan_code_bytes)
        elif sid == 12:
            info.features.add("bulk-memory")
        elif sid == 13:
            info.features.add("exceptions")
        elif sid not in (6, 9, 11):
            raise WasmFormatError(f"unknown section id {sid} at offset {start}")
    mems = len(info.memories)
    if mems > 1:
        info.features.add("multi-memory")
    if any(m.shared for m in info.memories):
        info.features.add("threads")
    if any(m.memory64 for m in info.memories):
        info.features.add("memory64")
    if info.table_count > 1:
        info.features.add("reference-types")
    return info


def _custom(r: _Reader, info: ModuleInfo) -> None:
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


def _valtype(r: _Reader, info: ModuleInfo) -> None:
    t = r.byte()
    if t == _V128:
        info.features.add("simd")
    elif t in (_FUNCREF, _EXTERNREF):
        info.features.add("reference-types")
    elif t in (0x63, 0x64):  # (ref null ht) / (ref ht): function-references / GC
        info.features.add("gc")
        r.uleb(33)


def _types(r: _Reader, info: ModuleInfo) -> None:
    for _ in range(r.uleb()):
        form = r.byte()
        if form != 0x60:
            # rec / sub / struct / array types: the GC proposal; stop walking types.
            info.features.add("gc")
            return
        for _ in range(r.uleb()):
            _valtype(r, info)
        results = r.uleb()
        if results > 1:
            info.features.add("multi-value")
        for _ in range(results):
            _valtype(r, info)


def _imports(r: _Reader, info: ModuleInfo) -> None:
    for _ in range(r.uleb()):
        module, name = r.name(), r.name()
        kind = r.byte()
        if kind not in _KINDS:
            raise WasmFormatError(f"import {module}.{name} has unknown kind {kind}")
        if kind == 0:
            r.uleb()
        elif kind == 1:
            _tabletype(r, info)
        elif kind == 2:
            lo, hi, shared, m64 = r.limits()
            info.memories.append(Memory(lo, hi, shared, m64, imported=True))
        elif kind == 3:
            _valtype(r, info)
            if r.byte() == 1:
                info.features.add("mutable-global")
        else:
            r.byte()
            r.uleb()
            info.features.add("exceptions")
        info.imports.append(Import(module, name, _KINDS[kind]))


def _tables(r: _Reader, info: ModuleInfo) -> None:
    for _ in range(r.uleb()):
        if r.peek() == 0x40:  # table with an init expression: function-references
            info.features.add("gc")
            return
        _tabletype(r, info)


def _tabletype(r: _Reader, info: ModuleInfo) -> None:
    """A table: funcref tables are MVP; other element types need reference types."""
    if r.peek() == _FUNCREF:
        r.byte()
    else:
        _valtype(r, info)
    r.limits()
    info.table_count += 1


def _exports(r: _Reader, info: ModuleInfo) -> None:
    for _ in range(r.uleb()):
        name = r.name()
        kind = r.byte()
        r.uleb()
        if kind not in _KINDS:
            raise WasmFormatError(f"export {name!r} has unknown kind {kind}")
        info.exports.append(Export(name, _KINDS[kind]))


# ---------------------------------------------------------------- instruction scan

_MEMARG_LOADS = range(0x28, 0x3F)
_SIGN_EXT = range(0xC0, 0xC5)
_NO_IMM = {0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1, 0xD3, 0xD5, 0x0A, 0x19}
_IDX_IMM = {
    0x0C,
    0x0D,
    0x10,
    0x20,
    0x21,
    0x22,
    0x23,
    0x24,
    0x07,
    0x08,
    0x09,
    0x18,
    0xD2,
    0xD4,
    0xD6,
}
_SIMD_MEMARG = set(range(0, 12)) | {92, 93}
_SIMD_LANE = set(range(21, 35))
_SIMD_MEMARG_LANE = set(range(84, 92))


class _Unknown(Exception):
    """An opcode this scanner does not decode: stop scanning the body."""


def _code(r: _Reader, info: ModuleInfo, budget: int) -> None:
    for _ in range(r.uleb()):
        size = r.uleb()
        start = r.pos
        info.code_bytes += size
        if info.code_scanned + size <= budget:
            body = _Reader(r.data, start, start + size)
            try:
                _body(body, info)
            except (_Unknown, WasmFormatError):
                pass  # wasmtime has the final word on validity
            info.code_scanned += size
        r.take(size)


def _memarg(r: _Reader, info: ModuleInfo) -> None:
    align = r.uleb()
    if align & 0x40:
        info.features.add("multi-memory")
        r.uleb()
    r.uleb(64)


def _sleb(r: _Reader) -> None:
    while r.byte() & 0x80:
        pass


def _blocktype(r: _Reader, info: ModuleInfo) -> None:
    b = r.peek()
    if b == 0x40 or b in (0x7F, 0x7E, 0x7D, 0x7C):
        r.byte()
    elif b == _V128 or b in (_FUNCREF, _EXTERNREF, 0x63, 0x64):
        _valtype(r, info)
    else:  # a type index: blocks with parameters or several results
        info.features.add("multi-value")
        _sleb(r)


def _body(r: _Reader, info: ModuleInfo) -> None:
    f = info.features
    for _ in range(r.uleb()):
        r.uleb()
        _valtype(r, info)
    while not r.at_end():
        op = r.byte()
        if op in _NO_IMM or 0x45 <= op <= 0xBF:
            continue
        if op in _IDX_IMM:
            r.uleb()
            if op in (0x07, 0x08, 0x09, 0x18):
                f.add("exceptions")
            elif op == 0xD2:
                f.add("reference-types")
            elif op in (0xD4, 0xD6):
                f.add("gc")
        elif op in (0x02, 0x03, 0x04, 0x06):
            _blocktype(r, info)
            if op == 0x06:
                f.add("exceptions")
        elif op in _MEMARG_LOADS:
            _memarg(r, info)
        elif op in _SIGN_EXT:
            f.add("sign-extension")
        elif op == 0x41 or op == 0x42:
            _sleb(r)
        elif op == 0x43:
            r.take(4)
        elif op == 0x44:
            r.take(8)
        elif op == 0x0E:
            for _ in range(r.uleb() + 1):
                r.uleb()
        elif op in (0x11, 0x13):
            r.uleb()
            if r.uleb() != 0:
                f.add("reference-types")
            if op == 0x13:
                f.add("tail-call")
        elif op == 0x12:
            r.uleb()
            f.add("tail-call")
        elif op in (0x14, 0x15):
            r.uleb()
            f.add("gc")
        elif op == 0x1C:
            for _ in range(r.uleb()):
                _valtype(r, info)
            f.add("reference-types")
        elif op in (0x25, 0x26):
            r.uleb()
            f.add("reference-types")
        elif op in (0x3F, 0x40):
            if r.uleb() != 0:
                f.add("multi-memory")
        elif op == 0xD0:
            _sleb(r)
            f.add("reference-types")
        elif op == 0x1F:
            _blocktype(r, info)
            for _ in range(r.uleb()):
                kind = r.byte()
                if kind in (0, 1):
                    r.uleb()
                r.uleb()
            f.add("exceptions")
        elif op == 0xFC:
            _prefix_fc(r, info, r.uleb())
        elif op == 0xFD:
            _prefix_fd(r, info, r.uleb())
        elif op == 0xFE:
            f.add("threads")
            sub = r.uleb()
            if sub == 0x03:
                r.byte()
            else:
                _memarg(r, info)
        else:
            if op == 0xFB:
                f.add("gc")
            raise _Unknown(op)


def _prefix_fc(r: _Reader, info: ModuleInfo, sub: int) -> None:
    f = info.features
    if sub <= 7:
        f.add("nontrapping-float-to-int")
    elif sub == 8:
        r.uleb()
        r.uleb()
        f.add("bulk-memory")
    elif sub in (9, 11):
        r.uleb()
        f.add("bulk-memory")
    elif sub == 10:
        r.uleb()
        r.uleb()
        f.add("bulk-memory")
    elif sub in (12, 14):
        r.uleb()
        r.uleb()
        f.add("bulk-memory")
    elif sub == 13:
        r.uleb()
        f.add("bulk-memory")
    elif sub in (15, 16, 17):
        r.uleb()
        f.add("reference-types")
    else:
        raise _Unknown(0xFC00 + sub)


def _prefix_fd(r: _Reader, info: ModuleInfo, sub: int) -> None:
    info.features.add("simd")
    if sub in _SIMD_MEMARG:
        _memarg(r, info)
    elif sub in (12, 13):
        r.take(16)
    elif sub in _SIMD_LANE:
        r.byte()
    elif sub in _SIMD_MEMARG_LANE:
        _memarg(r, info)
        r.byte()
