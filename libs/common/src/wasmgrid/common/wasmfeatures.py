"""The WebAssembly features wasmgrid runs, declared once for every service.

The runtime builds its wasmtime engine from :func:`engine_switches`; the marketplace
validates a module under the same switches and refuses at publish, naming the
feature, what the runtime would refuse at its first call. Names are those of the
marketplace's validation report (``features``).

This module holds plain data (no wasmtime import): each service applies the switches
to its own ``wasmtime.Config``. What a component may import (WASI 0.2 interfaces) is
declared beside it, in :mod:`wasmgrid.common.wasip2`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Standard(enum.Enum):
    """Where a feature was standardised (or that it is still a proposal)."""

    WASM_2 = "WebAssembly 2.0"
    WASM_3 = "WebAssembly 3.0"
    PROPOSAL = "proposal"


@dataclass(frozen=True)
class Feature:
    """One WebAssembly feature as wasmgrid treats it."""

    #: The name in validation reports and refusals, e.g. "exceptions".
    name: str
    standard: Standard
    #: Whether modules using it are published and run.
    supported: bool
    #: wasmtime ``Config`` switches that turn it on; empty when wasmtime has no switch
    #: (always on, or not implemented at all).
    switches: tuple[str, ...] = ()
    #: Why it is refused (empty when supported).
    reason: str = ""


_W2, _W3, _P = Standard.WASM_2, Standard.WASM_3, Standard.PROPOSAL

FEATURES: tuple[Feature, ...] = (
    Feature("mutable-global", _W2, True),
    Feature("nontrapping-float-to-int", _W2, True),
    Feature("sign-extension", _W2, True),
    Feature("multi-value", _W2, True, ("wasm_multi_value",)),
    Feature("bulk-memory", _W2, True, ("wasm_bulk_memory",)),
    Feature("reference-types", _W2, True, ("wasm_reference_types",)),
    Feature("simd", _W2, True, ("wasm_simd",)),
    Feature("extended-const", _W3, True),
    Feature("tail-call", _W3, True, ("wasm_tail_call",)),
    Feature("exceptions", _W3, True, ("wasm_exceptions",)),
    Feature("function-references", _W3, True, ("wasm_function_references",)),
    Feature("gc", _W3, True, ("wasm_gc",)),
    Feature("memory64", _W3, True, ("wasm_memory64",)),
    Feature("multi-memory", _W3, True, ("wasm_multi_memory",)),
    # Deterministic mode (set with it, see engine_switches): the same inputs give the
    # same results on every CPU, so a replica's answer does not depend on its host.
    Feature("relaxed-simd", _W3, True, ("wasm_relaxed_simd",)),
    Feature(
        "legacy-exceptions",
        _P,
        False,
        reason="the pre-standard exception encoding (try/catch/rethrow/delegate, what LLVM"
        " 19 and older emit) is not run by wasmtime, which implements the standard one"
        " (try_table/throw_ref); rebuild with -mllvm -wasm-enable-exnref (LLVM 20+) or"
        " translate with binaryen's wasm-opt --translate-to-exnref",
    ),
    Feature(
        "threads",
        _P,
        False,
        ("wasm_threads", "shared_memory"),
        reason="shared memories and atomics are refused: every call runs in a fresh"
        " single-threaded instance, and memory.atomic.wait would block a runtime thread"
        " out of reach of the call's deadline",
    ),
    Feature(
        "wide-arithmetic",
        _P,
        False,
        ("wasm_wide_arithmetic",),
        reason="not yet standardised (a proposal wasmtime implements experimentally)",
    ),
    Feature(
        "custom-page-sizes",
        _P,
        False,
        ("wasm_custom_page_sizes",),
        reason="not yet standardised; the runtime's memory limits count 64 KiB pages",
    ),
    Feature(
        "stack-switching",
        _P,
        False,
        ("wasm_stack_switching",),
        reason="not yet standardised (a proposal wasmtime implements experimentally)",
    ),
    # Components (WASI 0.2): what they may import is declared in wasip2; their async
    # extensions (streams, futures) are not standardised and stay off in wasmtime.
    Feature("component-model", _P, True, ("wasm_component_model",)),
)

BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
SUPPORTED: frozenset[str] = frozenset(f.name for f in FEATURES if f.supported)
REFUSED: frozenset[str] = frozenset(f.name for f in FEATURES if not f.supported)

#: Linear memories one module may define (multi-memory). Each is bounded by the call's
#: memory limit on its own; the runtime's pooled slots are sized for this many.
MAX_MEMORIES = 4


class BinaryKind(enum.Enum):
    """What a WebAssembly binary is, read from its 8-byte header."""

    MODULE = "module"
    COMPONENT = "component"


#: ``\0asm``, then a 16-bit version and a 16-bit layer: core modules are version 1 of
#: layer 0, components layer 1 (version 0x0d while the component model is pre-1.0).
WASM_MAGIC = b"\0asm"
_CORE_HEADER = WASM_MAGIC + b"\x01\x00\x00\x00"
_COMPONENT_LAYER = b"\x01\x00"


def binary_kind(head: bytes) -> BinaryKind | None:
    """Module or component from a binary's first 8 bytes; None when it is neither."""
    if len(head) < 8 or not head.startswith(WASM_MAGIC):
        return None
    if head[:8] == _CORE_HEADER:
        return BinaryKind.MODULE
    if head[6:8] == _COMPONENT_LAYER:
        return BinaryKind.COMPONENT
    return None


def engine_switches() -> tuple[tuple[str, bool], ...]:
    """The wasmtime ``Config`` attributes to set, in order, and their values."""
    out: list[tuple[str, bool]] = []
    for feature in FEATURES:
        out.extend((switch, feature.supported) for switch in feature.switches)
    out.append(("wasm_relaxed_simd_deterministic", BY_NAME["relaxed-simd"].supported))
    return tuple(out)


def configure(config: object) -> None:
    """Apply :func:`engine_switches` to a ``wasmtime.Config``."""
    for switch, value in engine_switches():
        setattr(config, switch, value)


def refused(names: Iterable[str]) -> list[Feature]:
    """The refused features among `names`, in declaration order (unknown names ignored)."""
    wanted = set(names)
    return [f for f in FEATURES if f.name in wanted and not f.supported]


def describe_refusal(feature: Feature) -> str:
    """One line naming a refused feature and why, for error messages."""
    return f"{feature.name} ({feature.reason})"
