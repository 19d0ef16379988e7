"""The runtime's wasm execution span, through a real in-process runtime (served without
RPC spans, so the wasm span is the only one)."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.common.sampling import Sampling
from wasmgrid.common.spans import Tracing
from wasmgrid.common.telemetry import configure_tracing
from wasmgrid.runtime.testing import Runtime, example_module, inline

REPO = Path(__file__).resolve().parents[3]


async def _invoke_traced(
    runtime: Runtime, ratio: float
) -> tuple[pb.InvokeResponse, dict[str, object]]:
    exporter = InMemorySpanExporter()
    sampling = Sampling(ratio=ratio, parent_based=False)
    previous = configure_tracing(
        Tracing(sampling, SimpleSpanProcessor(exporter), Resource.create({}))
    )
    try:
        resp = await runtime.stub.Invoke(
            pb.InvokeRequest(
                module=inline(example_module(REPO, "hello"), "examples/hello@1.0.0"), stdin=b"hi"
            )
        )
    finally:
        configure_tracing(previous)
    return resp, {span.name: span for span in exporter.get_finished_spans()}


async def test_a_sampled_invoke_records_its_wasm_span_with_module_digest_and_outcome(
    runtime: Runtime,
) -> None:
    resp, spans = await _invoke_traced(runtime, 1.0)
    assert resp.outcome == pb.OUTCOME_OK
    wasm = spans["wasm.invoke"]
    attributes = dict(wasm.attributes)  # type: ignore[attr-defined]
    assert attributes["wasm.outcome"] == "OK"
    assert attributes["wasm.module"] == "examples/hello@1.0.0"
    assert attributes["wasm.digest"] == resp.execution.digest
    assert attributes["wasm.function"] == "_start"
    assert attributes["wasm.fuel_consumed"] == resp.execution.fuel_consumed


async def test_an_unsampled_ok_invoke_exports_no_span(runtime: Runtime) -> None:
    resp, spans = await _invoke_traced(runtime, 0.0)
    assert resp.outcome == pb.OUTCOME_OK
    assert spans == {}
