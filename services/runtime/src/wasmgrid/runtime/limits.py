"""Per-call limits: service defaults, request overrides, service maxima."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


#: The limits a request may set, in the order of :class:`LimitValues`.
LIMIT_NAMES = ("fuel", "timeout_ms", "memory_bytes", "stdout_bytes", "stderr_bytes")


class LimitRequest(Protocol):
    """What a request asks for: :class:`LimitValues` or the API's ``Limits`` message."""

    @property
    def fuel(self) -> int: ...
    @property
    def timeout_ms(self) -> int: ...
    @property
    def memory_bytes(self) -> int: ...
    @property
    def stdout_bytes(self) -> int: ...
    @property
    def stderr_bytes(self) -> int: ...


def resolve_limits(
    requested: LimitRequest, policy: LimitPolicy, *, timeout_cap_ms: int | None = None
) -> AppliedLimits:
    """Fill zeros with defaults and clamp each value to its maximum; the timeout also to
    `timeout_cap_ms` (what the caller's deadline leaves), at least 1 ms.

    Memory is rounded down to whole 64 KiB pages (and at least one page), because
    that is the granularity at which ``memory.grow`` can be refused.
    """
    fuel, timeout_ms, memory_bytes, stdout_bytes, stderr_bytes = (
        requested.fuel,
        requested.timeout_ms,
        requested.memory_bytes,
        requested.stdout_bytes,
        requested.stderr_bytes,
    )
    if min(fuel, timeout_ms, memory_bytes, stdout_bytes, stderr_bytes) < 0:
        for name in LIMIT_NAMES:
            value = getattr(requested, name)
            if value < 0:
                raise InvalidArgument(f"limits.{name} must be >= 0, got {value}")
    d, m = policy.defaults, policy.maxima
    timeout = min(timeout_ms or d.timeout_ms, m.timeout_ms)
    if timeout_cap_ms is not None and timeout_cap_ms < timeout:
        timeout = max(1, timeout_cap_ms)
    memory = min(memory_bytes or d.memory_bytes, m.memory_bytes)
    return AppliedLimits(
        fuel=int(min(fuel or d.fuel, m.fuel)),
        timeout_ms=int(timeout),
        memory_bytes=max(WASM_PAGE, int(memory) // WASM_PAGE * WASM_PAGE),
        stdout_bytes=int(min(stdout_bytes or d.stdout_bytes, m.stdout_bytes)),
        stderr_bytes=int(min(stderr_bytes or d.stderr_bytes, m.stderr_bytes)),
        stack_bytes=policy.stack_bytes,
        table_elements=policy.max_table_elements,
    )
