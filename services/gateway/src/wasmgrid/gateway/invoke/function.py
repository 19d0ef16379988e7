"""Function mode: ``{"args": [...]}`` → an exported function's typed call → JSON results."""

from __future__ import annotations

import json

from wasmgrid.api.runtime.v1 import runtime_pb2
from wasmgrid.gateway.invoke.execution import call_runtime, execute, limits_for
from wasmgrid.gateway.invoke.target import Call
from wasmgrid.gateway.invoke.values import MAX_ARGS, Signatures, from_value, signatures, to_values
from wasmgrid.gateway.problem import Problem, refuse_unknown_fields
from wasmgrid.gateway.state import Gateway
from wasmgrid.gateway.upstream import CachedResponse, Resolved

#: The fields of a function call's JSON body.
CALL_FIELDS = ("args",)


async def export_signatures(gw: Gateway, resolved: Resolved, deadline: float) -> Signatures:
    """The module's callable exports and their types (the runtime's Warm, remembered per
    digest: a digest's exports never change)."""
    known = gw.signatures.get(resolved.digest)
    if known is None:
        warm: runtime_pb2.WarmResponse = await call_runtime(
            gw,
            "Warm",
            lambda stub, timeout, md: stub.Warm(
                runtime_pb2.WarmRequest(module=runtime_pb2.ModuleSource(digest=resolved.digest)),
                timeout=timeout,
                metadata=md,
            ),
            resolved.digest,
            deadline,
        )
        known = signatures(warm)
        gw.signatures.put(resolved.digest, known)
    return known


async def call_function(call: Call) -> CachedResponse:
    """Call the target's export with the body's arguments; the results as JSON."""
    function, resolved, label = call.target.function or "", call.resolved, call.label
    try:
        doc = json.loads(call.body or b"{}")
    except ValueError as exc:
        raise Problem(400, f"request body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Problem(400, 'request body must be {"args": [...]}')
    refuse_unknown_fields(doc, CALL_FIELDS, "request body")
    args = doc.get("args", [])
    if not isinstance(args, list) or len(args) > MAX_ARGS:
        raise Problem(400, f"args: must be a list of at most {MAX_ARGS} numbers")
    signature = (await export_signatures(call.gw, resolved, call.deadline)).get(function)
    if signature is None:
        raise Problem(404, f"module {label} has no callable export named {function!r}")
    params, _results = signature
    request = runtime_pb2.CallRequest(
        module=runtime_pb2.ModuleSource(digest=resolved.digest, display_name=label),
        function=function,
        args=to_values(args, params, function),
        limits=limits_for(call),
    )
    resp = await execute(call, request)
    typed = [from_value(v) for v in resp.results]
    payload = {
        "module": resolved.name,
        "version": resolved.version,
        "digest": resolved.digest,
        "function": function,
        "results": [v for _, v in typed],
        "types": [t for t, _ in typed],
        "fuel_consumed": resp.execution.fuel_consumed,
        "wall_time_us": resp.execution.wall_time_us,
    }
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return CachedResponse(200, [("Content-Type", "application/json")], data)
