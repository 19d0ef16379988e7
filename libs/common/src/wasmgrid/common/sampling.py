"""Which traces a process records: head sampling by trace id, and the tail rules.

Head sampling follows OpenTelemetry's variables. ``OTEL_TRACES_SAMPLER`` is one of
``always_on``, ``always_off``, ``traceidratio``, ``parentbased_always_on``,
``parentbased_always_off`` or ``parentbased_traceidratio``; ``OTEL_TRACES_SAMPLER_ARG``
is the ratio of the ``*traceidratio`` samplers, from 0 to 1. Unset, wasmgrid samples
parent-based at :data:`DEFAULT_RATIO`. The decision is a pure function of the trace id
(its low 64 bits against ``ratio × 2⁶⁴``, as the SDK's ``TraceIdRatioBased``), and
a parent-based sampler follows the caller's ``sampled`` flag, so every service makes
the same decision for one request: it is traced whole across services or not at all.

The tail rules keep what head sampling would drop when it matters: a request whose
spans in this process include an error (``WASMGRID_TRACE_KEEP_ERRORS``, default on),
or whose outermost span here lasted at least ``WASMGRID_TRACE_KEEP_SLOW_MS``
(default :data:`DEFAULT_SLOW_MS`; 0 turns the rule off). They are decided per process
when the request's outermost span here ends (:mod:`wasmgrid.common.spans`).

Unlike the OpenTelemetry specification, which says to ignore a bad value, a bad value
stops the service with one line naming the variable, like every wasmgrid setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext

SAMPLER_ENV = "OTEL_TRACES_SAMPLER"
SAMPLER_ARG_ENV = "OTEL_TRACES_SAMPLER_ARG"
KEEP_ERRORS_ENV = "WASMGRID_TRACE_KEEP_ERRORS"
KEEP_SLOW_ENV = "WASMGRID_TRACE_KEEP_SLOW_MS"

#: Share of traces recorded when no sampler is configured: keeps the per-request cost
#: of exporting spans within the services' throughput targets (docs/benchmarks.md).
DEFAULT_RATIO = 0.01
#: A request whose outermost span in a process lasts this long is kept (milliseconds).
DEFAULT_SLOW_MS = 500.0
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_LOW_64 = (1 << 64) - 1


class SamplerName(StrEnum):
    """The head samplers of ``OTEL_TRACES_SAMPLER`` that wasmgrid supports."""

    ALWAYS_ON = "always_on"
    ALWAYS_OFF = "always_off"
    TRACEIDRATIO = "traceidratio"
    PARENTBASED_ALWAYS_ON = "parentbased_always_on"
    PARENTBASED_ALWAYS_OFF = "parentbased_always_off"
    PARENTBASED_TRACEIDRATIO = "parentbased_traceidratio"


class SamplingError(ValueError):
    """A sampling variable has a value wasmgrid cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Sampling:
    """The sampling rules of one process."""

    #: Share of trace ids sampled at the head (0..1).
    ratio: float = DEFAULT_RATIO
    #: Follow a valid parent's ``sampled`` flag instead of the ratio.
    parent_based: bool = True
    #: Keep a request whose spans here include an error.
    keep_errors: bool = True
    #: Keep a request whose outermost span here lasts at least this long; 0 = never.
    keep_slow_ms: float = DEFAULT_SLOW_MS
    #: Trace ids whose low 64 bits are below this are sampled (derived from `ratio`).
    bound: int = field(init=False, repr=False, compare=False)
    #: Whether any tail rule can keep an unsampled request (derived).
    keeps: bool = field(init=False, repr=False, compare=False)
    #: `keep_slow_ms` in nanoseconds (derived; 0 = off).
    keep_slow_ns: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio <= 1.0:
            raise SamplingError(f"ratio {self.ratio} is outside 0..1")
        if self.keep_slow_ms < 0:
            raise SamplingError(f"keep_slow_ms {self.keep_slow_ms} is negative")
        # Derived once: the decision runs for every span.
        object.__setattr__(self, "bound", TraceIdRatioBased.get_bound_for_rate(self.ratio))
        object.__setattr__(self, "keeps", self.keep_errors or self.keep_slow_ms > 0)
        object.__setattr__(self, "keep_slow_ns", round(self.keep_slow_ms * 1e6))

    def sampled(self, parent: SpanContext, trace_id: int) -> bool:
        """The head decision for a span of `trace_id` under `parent` (maybe invalid)."""
        if self.parent_based and parent.is_valid:
            return parent.trace_flags.sampled
        return (trace_id & _LOW_64) < self.bound

    def sdk_sampler(self) -> Sampler:
        """The same rule for spans the OpenTelemetry SDK makes (instrumentation libraries)."""
        head: Sampler
        if self.ratio >= 1.0:
            head = ALWAYS_ON
        elif self.ratio <= 0.0:
            head = ALWAYS_OFF
        else:
            head = TraceIdRatioBased(self.ratio)
        return ParentBased(head) if self.parent_based else head

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Sampling:
        """The rules the environment asks for; :class:`SamplingError` names a bad variable."""
        name_text = env.get(SAMPLER_ENV, "").strip().lower()
        try:
            name = SamplerName(name_text) if name_text else SamplerName.PARENTBASED_TRACEIDRATIO
        except ValueError:
            choices = ", ".join(n.value for n in SamplerName)
            raise SamplingError(
                f"invalid setting {SAMPLER_ENV}={name_text!r}: must be one of {choices}"
            ) from None
        if name in (SamplerName.TRACEIDRATIO, SamplerName.PARENTBASED_TRACEIDRATIO):
            # The specification's default for an explicit ratio sampler is 1.0; with no
            # sampler configured at all, wasmgrid's default ratio applies.
            ratio = _ratio(env.get(SAMPLER_ARG_ENV), 1.0 if name_text else DEFAULT_RATIO)
        else:
            ratio = 1.0 if name.value.endswith("always_on") else 0.0
        return cls(
            ratio=ratio,
            parent_based=name.value.startswith("parentbased_"),
            keep_errors=_flag(env, KEEP_ERRORS_ENV, default=True),
            keep_slow_ms=_milliseconds(env, KEEP_SLOW_ENV, default=DEFAULT_SLOW_MS),
        )


def _ratio(text: str | None, default: float) -> float:
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise SamplingError(
            f"invalid setting {SAMPLER_ARG_ENV}={text!r}: must be a ratio from 0 to 1"
            " (0.01 records 1% of traces)"
        )
    return value


def _flag(env: Mapping[str, str], var: str, *, default: bool) -> bool:
    text = env.get(var, "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SamplingError(f"invalid setting {var}={text!r}: must be true or false")


def _milliseconds(env: Mapping[str, str], var: str, *, default: float) -> float:
    text = env.get(var, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < float("inf"):
        raise SamplingError(
            f"invalid setting {var}={text!r}: must be a number of milliseconds >= 0 (0 = off)"
        )
    return value
