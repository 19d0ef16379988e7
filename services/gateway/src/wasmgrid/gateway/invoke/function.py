"""Function mode: ``{"args": [...]}`` → an exported function's typed call → JSON results."""

from __future__ import annotations

import json
from typing import Any

from wasmgrid.api.marketplace.v1 import marketplace_pb2
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
            lambda conn, timeout, md: conn.stub.Warm(
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


async def core_values(call: Call, args: list[Any]) -> list[runtime_pb2.Value]:
    """A core module's arguments typed by the export's signature (numbers only)."""
    function, label = call.target.function or "", call.label
    signature = (await export_signatures(call.gw, call.resolved, call.deadline)).get(function)
    if signature is None:
        raise Problem(404, f"module {label} has no callable export named {function!r}")
    params, _results = signature
    return to_values(args, params, function)


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
        raise Problem(400, f"args: must be a list of at most {MAX_ARGS} arguments")
    # A component's JSON arguments go to the runtime as they came: it checks them against
    # the WIT types (a mismatch is a 400 naming the path) and answers JSON results.
    component = resolved.kind == marketplace_pb2.MODULE_KIND_COMPONENT
    request = runtime_pb2.CallRequest(
        module=runtime_pb2.ModuleSource(digest=resolved.digest, display_name=label),
        function=function,
        args=[] if component else await core_values(call, args),
        args_json=json.dumps(args, separators=(",", ":")) if component else "",
        limits=limits_for(call),
    )
    resp = await execute(call, request)
    payload: dict[str, Any] = {
        "module": resolved.name,
        "version": resolved.version,
        "digest": resolved.digest,
        "function": function,
        "fuel_consumed": resp.execution.fuel_consumed,
        "wall_time_us": resp.execution.wall_time_us,
    }
    if component:
        payload["results"] = json.loads(resp.results_json or "[]")
    else:
        typed = [from_value(v) for v in resp.results]
        payload["results"] = [v for _, v in typed]
        payload["types"] = [t for t, _ in typed]
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return CachedResponse(200, [("Content-Type", "application/json")], data)
