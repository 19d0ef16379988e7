"""An OTLP/gRPC trace receiver that counts spans and keeps nothing (the exporter's far end).

Benchmarks point a service's ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` here to measure what
recording and exporting spans costs the service, without a monitor's own work in the
picture; ``/wasmgrid.bench.Sink/Count`` answers the number of spans received so far
(8 bytes, big-endian), so a run can check how many requests were traced.
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

EXPORT_METHOD = "Export"
COUNT_METHOD = "/wasmgrid.bench.Sink/Count"


async def serve(port: int) -> None:
    received = 0

    async def export(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        nonlocal received
        doc = ExportTraceServiceRequest.FromString(request)
        received += sum(len(s.spans) for r in doc.resource_spans for s in r.scope_spans)
        return b""  # an empty ExportTraceServiceResponse: everything accepted

    async def count(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return received.to_bytes(8, "big")

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService",
                {EXPORT_METHOD: grpc.unary_unary_rpc_method_handler(export)},
            ),
            grpc.method_handlers_generic_handler(
                "wasmgrid.bench.Sink", {"Count": grpc.unary_unary_rpc_method_handler(count)}
            ),
        )
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def spans_received(port: int) -> int:
    """How many spans the sink on `port` has received."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        answer: bytes = await channel.unary_unary(COUNT_METHOD, None, None)(b"", timeout=5)
    return int.from_bytes(answer, "big")


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
