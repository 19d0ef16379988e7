"""Translation between runtime.proto messages and the runtime's domain values."""

from __future__ import annotations

from collections.abc import Sequence

from wasmgrid.api.runtime.v1 import runtime_pb2
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.runtime.limits import AppliedLimits
from wasmgrid.runtime.modules import CacheTier, Loaded
from wasmgrid.runtime.sandbox import ExecutionResult, Outcome, Signature, Value
from wasmgrid.runtime.stats import ModuleAggregate

OUTCOMES = ProtoEnum.members(runtime_pb2.Outcome, Outcome)
TIERS = ProtoEnum.members(runtime_pb2.CacheTier, CacheTier)
#: Value types by their wasm names (i32, i64, f32, f64); others (v128, refs) unspecified.
VALUE_TYPES = ProtoEnum.names(runtime_pb2.ValueType)


def value_to_pb(value: Value) -> runtime_pb2.Value:
    """A wasm number as the proto Value of its type."""
    kind, number = value
    if kind == "i32":
        return runtime_pb2.Value(i32=int(number))
    if kind == "i64":
        return runtime_pb2.Value(i64=int(number))
    if kind == "f32":
        return runtime_pb2.Value(f32=float(number))
    return runtime_pb2.Value(f64=float(number))


def values_from_pb(values: Sequence[runtime_pb2.Value]) -> tuple[Value, ...]:
    """Call arguments from the request (InvalidArgument for one without a value)."""
    out: list[Value] = []
    for i, v in enumerate(values):
        kind = v.WhichOneof("value")
        if kind is None:
            raise InvalidArgument(f"args[{i}] has no value (set one of i32, i64, f32, f64)")
        out.append((kind, getattr(v, kind)))
    return tuple(out)


def limits_to_pb(limits: AppliedLimits) -> runtime_pb2.AppliedLimits:
    """The limits a call ran under."""
    return runtime_pb2.AppliedLimits(
        fuel=limits.fuel,
        timeout_ms=limits.timeout_ms,
        memory_bytes=limits.memory_bytes,
        stdout_bytes=limits.stdout_bytes,
        stderr_bytes=limits.stderr_bytes,
        stack_bytes=limits.stack_bytes,
    )


def output_to_pb(result: ExecutionResult) -> runtime_pb2.Output:
    """A call's captured output and how much of it was dropped."""
    return runtime_pb2.Output(
        stdout=result.stdout,
        stderr=result.stderr,
        stdout_truncated=result.stdout_dropped > 0,
        stdout_dropped_bytes=result.stdout_dropped,
        stderr_truncated=result.stderr_dropped > 0,
        stderr_dropped_bytes=result.stderr_dropped,
    )


def execution_to_pb(
    result: ExecutionResult, loaded: Loaded, limits: AppliedLimits
) -> runtime_pb2.Execution:
    """What a call cost and which module (from which cache tier) ran it."""
    return runtime_pb2.Execution(
        digest=loaded.module.digest,
        fuel_consumed=result.fuel_consumed,
        wall_time_us=int(result.wall_seconds * 1e6),
        compiled_cache_hit=loaded.tier.name != "COMPILED",
        cache_tier=TIERS.to_proto(loaded.tier),
        limits=limits_to_pb(limits),
        memory_bytes=result.memory_bytes,
    )


def signature_to_pb(sig: Signature) -> runtime_pb2.FunctionSignature:
    """An exported function's signature (value types other than numbers unspecified)."""
    return runtime_pb2.FunctionSignature(
        name=sig.name,
        params=[VALUE_TYPES.to_proto(p, default=0) for p in sig.params],
        results=[VALUE_TYPES.to_proto(r, default=0) for r in sig.results],
        callable=sig.callable,
    )


def outcome_counts(counts: dict[Outcome, int]) -> list[runtime_pb2.OutcomeCount]:
    """Calls by outcome, in the proto's order."""
    return [
        runtime_pb2.OutcomeCount(outcome=OUTCOMES.to_proto(o), count=c)
        for o, c in sorted(counts.items(), key=lambda kv: kv[0].value)
    ]


def module_stats_to_pb(a: ModuleAggregate) -> runtime_pb2.ModuleStats:
    """One module's aggregate in GetStats."""
    return runtime_pb2.ModuleStats(
        digest=a.digest,
        display_name=a.display_name,
        invocations=a.invocations,
        outcomes=outcome_counts(a.outcomes),
        total_wall_time_us=a.total_wall_us,
        max_wall_time_us=a.max_wall_us,
        total_fuel_consumed=a.total_fuel,
        last_invoked_unix_ms=a.last_unix_ms,
    )
