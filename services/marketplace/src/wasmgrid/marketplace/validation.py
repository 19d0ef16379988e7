"""Publish-time validation and security scan of a module.

wasmtime performs full validation under the feature switches the runtime runs with
(:mod:`wasmgrid.common.wasmfeatures`); :mod:`wasmbinary` reads imports, exports,
memories, custom sections and the features the module uses; the policy here turns
them into findings with a severity. Any ERROR finding fails the publish: a module
using a feature the runtime does not run is refused here, naming the feature, not at
its first call. The report is stored with the version as JSON and returned by
GetVersion.

A component (WASI 0.2, told apart by its header) is validated by :mod:`components`
instead: its world is stored in the report and its imports checked against what the
runtime links.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import wasmtime

from wasmgrid.common import wasmfeatures
from wasmgrid.marketplace import components
from wasmgrid.marketplace.components import ComponentError, World
from wasmgrid.marketplace.wasmbinary import (
    Export,
    Import,
    Memory,
    ModuleInfo,
    Producer,
    WasmFormatError,
    read_module,
)

WASI_MODULE = "wasi_snapshot_preview1"
INFO, WARNING, ERROR = "info", "warning", "error"
_MAX_LISTED = 20


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str


@dataclass
class Report:
    """The stored validation report (plain values, JSON-serialisable via :meth:`to_dict`)."""

    valid: bool
    kind: str  # "command", "reactor", "component" or "" when unknown
    size_bytes: int
    imports: list[Import] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    memories: list[Memory] = field(default_factory=list)
    custom_sections: list[str] = field(default_factory=list)
    producers: list[Producer] = field(default_factory=list)
    language: str = ""
    toolchain: str = ""
    features: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    validator: str = "wasmtime"
    #: A component's world (imports and exports with their WIT declarations).
    world: World | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Report:
        return cls(
            valid=bool(doc["valid"]),
            kind=str(doc["kind"]),
            size_bytes=int(doc["size_bytes"]),
            imports=[Import(**i) for i in doc.get("imports", [])],
            exports=[Export(**e) for e in doc.get("exports", [])],
            memories=[Memory(**m) for m in doc.get("memories", [])],
            custom_sections=list(doc.get("custom_sections", [])),
            producers=[Producer(**p) for p in doc.get("producers", [])],
            language=str(doc.get("language", "")),
            toolchain=str(doc.get("toolchain", "")),
            features=list(doc.get("features", [])),
            findings=[Finding(**f) for f in doc.get("findings", [])],
            validator=str(doc.get("validator", "wasmtime")),
            world=World.from_dict(doc["world"]) if doc.get("world") else None,
        )


@dataclass(frozen=True)
class Policy:
    """What the scan allows."""

    allowed_import_modules: frozenset[str] = frozenset({WASI_MODULE})
    max_initial_memory_pages: int = 16384  # 1 GiB of 64 KiB pages
    features_refused: frozenset[str] = frozenset()

    @classmethod
    def with_allow_list(cls, extra: Collection[str], **kwargs: Any) -> Policy:
        return cls(allowed_import_modules=frozenset({WASI_MODULE, *extra}), **kwargs)


_ENGINE: wasmtime.Engine | None = None


def _engine() -> wasmtime.Engine:
    """An engine with exactly the runtime's feature switches (validation only)."""
    global _ENGINE
    if _ENGINE is None:
        config = wasmtime.Config()
        wasmfeatures.configure(config)
        _ENGINE = wasmtime.Engine(config)
    return _ENGINE


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return f"{shown} (+{more} more)" if more > 0 else shown


def validate_component(data: bytes) -> Report:
    """Validate a component with wasm-tools, read its world, check its imports."""
    report = Report(valid=False, kind="component", size_bytes=len(data), validator="wasm-tools")
    add = report.findings.append
    try:
        components.validate(data)
        report.world = components.read_world(data)
    except ComponentError as exc:
        add(Finding(ERROR, "component.invalid", f"wasm-tools rejected the component: {exc}"))
        return report
    for severity, code, message in components.policy_findings(report.world):
        add(Finding(severity, code, message))
    report.valid = not report.errors
    return report


def _names_with_nul(info: ModuleInfo) -> list[str]:
    """Each import, export, custom section or producer name holding U+0000 (valid UTF-8,
    so valid wasm, but PostgreSQL's text and jsonb refuse it), named by its kind."""
    named = [
        *(("import", f"{i.module}.{i.name}") for i in info.imports),
        *(("export", e.name) for e in info.exports),
        *(("custom section", c) for c in info.custom_sections),
        *(("producer", f"{p.field} {p.name} {p.version}") for p in info.producers),
    ]
    return [f"{kind} {name!r}" for kind, name in named if "\x00" in name]


def _no_nul(value: Any) -> Any:
    """`value` (a report as JSON-ready data) with every U+0000 shown as U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_nul(v) for k, v in value.items()}
    return value


def validate_module(data: bytes, policy: Policy) -> Report:
    """Validate and scan `data` (CPU-bound: call from a worker thread).

    The report is stored as jsonb and shown to people: a U+0000 in any of its strings
    (names and the messages quoting them) is shown as U+FFFD, and a module naming
    anything with one is refused (``name.nul``).
    """
    if wasmfeatures.binary_kind(data[:8]) is wasmfeatures.BinaryKind.COMPONENT:
        return validate_component(data)
    report = _validate(data, policy)
    doc = report.to_dict()
    shown = _no_nul(doc)
    return report if shown == doc else Report.from_dict(shown)


def _validate(data: bytes, policy: Policy) -> Report:  # noqa: C901 - independent checks in a row, one finding each
    report = Report(valid=False, kind="", size_bytes=len(data))
    add = report.findings.append
    try:
        info = read_module(data)
    except WasmFormatError as exc:
        add(Finding(ERROR, "wasm.malformed", f"module is not a valid WebAssembly binary: {exc}"))
        return report
    try:
        wasmtime.Module.validate(_engine(), data)
    except wasmtime.WasmtimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
        add(Finding(ERROR, "wasm.invalid", f"wasmtime rejected the module: {first[:500]}"))

    nul = _names_with_nul(info)
    if nul:
        add(
            Finding(
                ERROR,
                "name.nul",
                f"names holding U+0000, which no registry text can store: {_listed(nul)}",
            )
        )
    report.imports = info.imports
    report.exports = info.exports
    report.memories = info.memories
    report.custom_sections = info.custom_sections
    report.producers = info.producers
    report.features = sorted(info.features)
    langs = [p.name for p in info.producers if p.field == "language"]
    report.language = ", ".join(dict.fromkeys(langs))
    tools = [f"{p.name} {p.version}".strip() for p in info.producers if p.field != "language"]
    report.toolchain = ", ".join(dict.fromkeys(tools))

    bad = [
        f"{i.module}.{i.name}"
        for i in info.imports
        if i.module not in policy.allowed_import_modules
    ]
    if bad:
        allowed = ", ".join(sorted(policy.allowed_import_modules))
        add(
            Finding(
                ERROR,
                "import.disallowed",
                f"imports outside the allowed modules ({allowed}): {_listed(bad)}",
            )
        )
    non_func = [f"{i.module}.{i.name} ({i.kind})" for i in info.imports if i.kind != "func"]
    if non_func:
        add(Finding(WARNING, "import.non_function", f"non-function imports: {_listed(non_func)}"))

    func_exports = {e.name for e in info.exports if e.kind == "func"}
    if "_start" in func_exports:
        report.kind = "command"
    elif func_exports:
        report.kind = "reactor"
    else:
        add(
            Finding(
                ERROR,
                "exports.none",
                "module exports neither _start (command) nor any function (reactor)",
            )
        )
    wasi = any(i.module == WASI_MODULE for i in info.imports)
    if report.kind == "reactor" and "_initialize" not in func_exports and bad == [] and wasi:
        add(
            Finding(
                INFO,
                "reactor.no_initialize",
                "WASI reactor without _initialize: libc constructors will not run",
            )
        )
    if info.has_start:
        add(Finding(INFO, "start.section", "module has a start function run at instantiation"))

    for idx, mem in enumerate(info.memories):
        label = f"memory {idx}{' (imported)' if mem.imported else ''}"
        if mem.min_pages > policy.max_initial_memory_pages:
            add(
                Finding(
                    ERROR,
                    "memory.initial_too_large",
                    f"{label} starts at {mem.min_pages} pages, above the limit of"
                    f" {policy.max_initial_memory_pages} pages",
                )
            )
        if mem.max_pages is None:
            add(
                Finding(
                    WARNING,
                    "memory.unbounded",
                    f"{label} declares no maximum; the runtime's memory limit applies",
                )
            )
        if mem.shared:
            add(Finding(WARNING, "memory.shared", f"{label} is shared (threads proposal)"))
    if info.memory_count > wasmfeatures.MAX_MEMORIES:
        add(
            Finding(
                ERROR,
                "memory.too_many",
                f"module has {info.memory_count} memories; the runtime runs at most"
                f" {wasmfeatures.MAX_MEMORIES}",
            )
        )
    for feature in wasmfeatures.refused(report.features):
        add(
            Finding(
                ERROR,
                "feature.unsupported",
                f"uses {feature.name}, which the runtime does not run: {feature.reason}",
            )
        )
    by_policy = sorted(set(report.features) & policy.features_refused - wasmfeatures.REFUSED)
    if by_policy:
        add(Finding(ERROR, "feature.refused", f"uses refused features: {', '.join(by_policy)}"))
    if info.code_scanned < info.code_bytes:
        add(
            Finding(
                INFO,
                "features.partial",
                f"instructions decoded for features in {info.code_scanned} of"
                f" {info.code_bytes} code bytes (time budget); wasmtime validated all of"
                " them against the runtime's features",
            )
        )
    if "producers" not in info.custom_sections:
        add(Finding(INFO, "producers.missing", "no producers section: language unknown"))
    report.valid = not report.errors
    return report
