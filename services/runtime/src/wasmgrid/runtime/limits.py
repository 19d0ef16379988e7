"""Per-call limits: service defaults, request overrides, service maxima."""

from __future__ import annotations

from dataclasses import dataclass

from wasmgrid.common.errors import InvalidArgument

WASM_PAGE = 64 * 1024


@dataclass(frozen=True)
class LimitValues:
    """One value per limit; in a request 0 means "the service default"."""

    fuel: int = 0
    timeout_ms: int = 0
    memory_bytes: int = 0
    stdout_bytes: int = 0
    stderr_bytes: int = 0


@dataclass(frozen=True)
class LimitPolicy:
    """The service defaults and maxima, plus the engine-wide stack size."""

    defaults: LimitValues
    maxima: LimitValues
    stack_bytes: int
    max_table_elements: int


@dataclass(frozen=True)
class AppliedLimits:
    """The limits in force for one call."""

    fuel: int
    timeout_ms: int
    memory_bytes: int
    stdout_bytes: int
    stderr_bytes: int
    stack_bytes: int
    table_elements: int


def resolve_limits(requested: LimitValues, policy: LimitPolicy) -> AppliedLimits:
    """Fill zeros with defaults and clamp each value to its maximum.

    Memory is rounded down to whole 64 KiB pages (and at least one page), because
    that is the granularity at which ``memory.grow`` can be refused.
    """

    def pick(name: str) -> int:
        value = getattr(requested, name)
        if value < 0:
            raise InvalidArgument(f"limits.{name} must be >= 0, got {value}")
        chosen = value or getattr(policy.defaults, name)
        return int(min(chosen, getattr(policy.maxima, name)))

    memory = max(WASM_PAGE, pick("memory_bytes") // WASM_PAGE * WASM_PAGE)
    return AppliedLimits(
        fuel=pick("fuel"),
        timeout_ms=pick("timeout_ms"),
        memory_bytes=memory,
        stdout_bytes=pick("stdout_bytes"),
        stderr_bytes=pick("stderr_bytes"),
        stack_bytes=policy.stack_bytes,
        table_elements=policy.max_table_elements,
    )
