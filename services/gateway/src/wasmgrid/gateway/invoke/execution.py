"""Running a module on the runtime: the limits a call gets, the call, and what the
module's outcome means for the HTTP answer."""

from __future__ import annotations

import time
from typing import Any, TypeVar, overload

from prometheus_client import Counter

from wasmgrid.api.runtime.v1 import runtime_pb2
from wasmgrid.common.metrics import child
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.gateway.cgi import stderr_excerpt
from wasmgrid.gateway.invoke.target import Call
from wasmgrid.gateway.problem import Problem, guest_problem, upstream_errors
from wasmgrid.gateway.routes import Limits
from wasmgrid.gateway.state import Gateway
from wasmgrid.gateway.upstream.runtime import NoReplica, RuntimeCall

T = TypeVar("T")

OUTCOMES = ProtoEnum.names(runtime_pb2.Outcome)
#: Distinct module labels of :data:`MODULE_CALLS` (a registry holds any number).
MAX_MODULE_LABELS = 1000
#: Time the runtime keeps to answer before the gateway's own deadline passes.
ANSWER_MARGIN_SECONDS = 0.05


def runtime_limits(limits: Limits | None, remaining: float) -> runtime_pb2.Limits:
    """The runtime's limits for one call: the route's, with a time limit that ends the
    module before the caller's deadline (`remaining` seconds away)."""
    budget = remaining - ANSWER_MARGIN_SECONDS
    if limits is not None and limits.timeout_seconds is not None:
        budget = min(budget, limits.timeout_seconds)
    return runtime_pb2.Limits(
        fuel=(limits.fuel or 0) if limits else 0,
        timeout_ms=max(1, min(60_000, int(budget * 1000))),
        memory_bytes=(limits.memory_bytes or 0) if limits else 0,
        stdout_bytes=(limits.max_output_bytes or 0) if limits else 0,
    )


async def call_runtime(
    gw: Gateway,
    method: str,
    fn: RuntimeCall[T],
    key: str,
    deadline: float,
) -> T:
    """`fn(stub, timeout, metadata)` on a runtime replica picked for `key`; failures are
    problems (503 with no replica, 504 past the deadline, the upstream's otherwise)."""
    try:
        with upstream_errors("runtime"):
            return await gw.pool.call(method, fn, key=key, deadline=deadline)
    except NoReplica as exc:
        raise Problem(503, str(exc), headers={"Retry-After": "1"}) from None
    except TimeoutError:
        raise Problem(504, "deadline passed before the runtime answered") from None


#: The detail of a module's outcome (other than OK), naming the limit that applied (the
#: runtime reports the limits it enforced). Each is a guest fault: a 500 of type
#: ``guest-<outcome>`` (problem.guest_problem), never counted against the platform.
_OUTCOME_DETAILS: dict[int, str] = {
    runtime_pb2.OUTCOME_EXIT: "module {label} exited with code {exit_code}",
    runtime_pb2.OUTCOME_TRAP: "module {label} trapped: {trap}",
    runtime_pb2.OUTCOME_FUEL_EXHAUSTED: (
        "module {label} ran out of fuel (limit {limits.fuel} units)"
    ),
    runtime_pb2.OUTCOME_TIMEOUT: "module {label} exceeded its {limits.timeout_ms} ms time limit",
    runtime_pb2.OUTCOME_MEMORY_LIMIT: (
        "module {label} exceeded its memory limit of {limits.memory_bytes} bytes"
    ),
    runtime_pb2.OUTCOME_STACK_OVERFLOW: (
        "module {label} overflowed its {limits.stack_bytes}-byte stack"
    ),
    runtime_pb2.OUTCOME_OUTPUT_TRUNCATED: (
        "module {label} wrote more than its {limits.stdout_bytes}-byte output limit"
    ),
    runtime_pb2.OUTCOME_SCRATCH_LIMIT: "module {label}: {trap}",
}

MODULE_CALLS = Counter(
    "wasmgrid_gateway_module_calls_total",
    "Module calls the runtime ran, by module (ns/name; the first"
    f" {MAX_MODULE_LABELS} seen, the rest as 'other') and outcome (ok or the guest fault:"
    " exit, trap, fuel_exhausted, timeout, memory_limit, stack_overflow,"
    " output_truncated, scratch_limit, invalid_response).",
    ["module", "outcome"],
)
_module_labels: set[str] = set()


def count_module_call(module: str, outcome: str) -> None:
    """Count one call of `module` that ended with `outcome` (a bounded label set)."""
    if module not in _module_labels:
        if len(_module_labels) >= MAX_MODULE_LABELS:
            module = "other"
        else:
            _module_labels.add(module)
    child(MODULE_CALLS, module, outcome).inc()  # bounded: the module labels above


def limits_for(call: Call) -> runtime_pb2.Limits:
    """The runtime limits of `call`: its route's, within the time its deadline leaves."""
    route = call.target.route
    return runtime_limits(route.limits if route else None, call.deadline - time.monotonic())


@overload
async def execute(call: Call, request: runtime_pb2.InvokeRequest) -> runtime_pb2.InvokeResponse: ...
@overload
async def execute(call: Call, request: runtime_pb2.CallRequest) -> runtime_pb2.CallResponse: ...
async def execute(
    call: Call, request: runtime_pb2.InvokeRequest | runtime_pb2.CallRequest
) -> runtime_pb2.InvokeResponse | runtime_pb2.CallResponse:
    """Run `request` (a command's Invoke or a function's Call) on a runtime replica for
    `call`; the answer when the module ended OK, else the problem naming why not."""
    method = "Invoke" if isinstance(request, runtime_pb2.InvokeRequest) else "Call"
    admission = call.gw.admission
    started = await admission.enter(call.deadline)
    try:
        resp: runtime_pb2.InvokeResponse | runtime_pb2.CallResponse = await call_runtime(
            call.gw,
            method,
            lambda conn, timeout, md: (
                conn.invoke(request, timeout, md)
                if isinstance(request, runtime_pb2.InvokeRequest)
                else conn.call(request, timeout, md)
            ),
            call.resolved.digest,
            call.deadline,
        )
    finally:
        admission.leave(started)
    if resp.outcome in _OUTCOME_DETAILS or resp.outcome == runtime_pb2.OUTCOME_OK:
        count_module_call(call.resolved.name, OUTCOMES.name(resp.outcome))
    raise_for_outcome(resp, call.label, call.gw.settings.stderr_excerpt_bytes)
    return resp


def raise_for_outcome(
    resp: runtime_pb2.InvokeResponse | runtime_pb2.CallResponse, label: str, excerpt_bytes: int
) -> None:
    """Nothing for OUTCOME_OK; otherwise raise the problem that names the limit or the
    exit code (with a bounded stderr excerpt)."""
    outcome, exit_code, trap = resp.outcome, resp.exit_code, resp.trap_message
    if outcome == runtime_pb2.OUTCOME_OK:
        return
    if outcome not in _OUTCOME_DETAILS:
        # The runtime answered an outcome this gateway does not know: the platform's fault.
        raise Problem(502, f"module {label} failed: {trap or 'unknown outcome'}")
    detail = _OUTCOME_DETAILS[outcome].format(
        label=label, exit_code=exit_code, trap=trap, limits=resp.execution.limits
    )
    extra: dict[str, Any] = {"outcome": OUTCOMES.name(outcome)}
    if outcome == runtime_pb2.OUTCOME_EXIT:
        extra["exit_code"] = exit_code
    excerpt = stderr_excerpt(resp.output.stderr, excerpt_bytes)
    if excerpt:
        extra["stderr"] = excerpt
    raise guest_problem(OUTCOMES.name(outcome), detail, extra=extra)
