"""A module's validation report: imports, exports, memories, producers, findings."""

from __future__ import annotations

from dataclasses import dataclass

from wasmgrid.client._convert import enum_field


@dataclass(frozen=True, slots=True, kw_only=True)
class WasmImport:
    """One import of a module."""

    module: str = ""
    name: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WasmExport:
    """One export of a module."""

    name: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WasmMemory:
    """A linear memory declared or imported by a module (sizes in 64 KiB pages)."""

    min_pages: int = 0
    max_pages: int = 0
    has_max: bool = False
    shared: bool = False
    memory64: bool = False
    imported: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Producer:
    """One entry of the ``producers`` custom section."""

    field: str = ""
    name: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One result of the publish-time validation and security scan."""

    #: ``info``, ``warning`` or ``error``.
    severity: str = enum_field("SEVERITY_")
    code: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    """What the registry found when the version was published."""

    valid: bool = False
    #: ``command`` (exports ``_start``) or ``reactor`` (callable exports).
    kind: str = enum_field("MODULE_KIND_")
    size_bytes: int = 0
    imports: tuple[WasmImport, ...] = ()
    exports: tuple[WasmExport, ...] = ()
    memories: tuple[WasmMemory, ...] = ()
    custom_sections: tuple[str, ...] = ()
    producers: tuple[Producer, ...] = ()
    language: str = ""
    toolchain: str = ""
    features: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    validator: str = ""
