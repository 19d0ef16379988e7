"""The runtime pool's connections, against a real gRPC server on loopback."""

from __future__ import annotations

from typing import Any

import grpc

from wasmgrid.api.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from wasmgrid.gateway.upstream import _Replica


class _Peers(runtime_pb2_grpc.RuntimeServiceServicer):
    """Answers GetStats with how many distinct client connections it has seen."""

    def __init__(self) -> None:
        self.peers: set[str] = set()

    async def GetStats(
        self, request: runtime_pb2.GetStatsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> runtime_pb2.GetStatsResponse:
        self.peers.add(context.peer())
        return runtime_pb2.GetStatsResponse(modules_tracked=len(self.peers))


async def test_a_replica_spreads_calls_over_distinct_connections() -> None:
    servicer = _Peers()  # type: ignore[abstract]  # only GetStats is served
    server = grpc.aio.server()
    runtime_pb2_grpc.add_RuntimeServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    replica = _Replica(f"127.0.0.1:{port}", 3)
    try:
        for _ in range(6):
            await replica.stub().GetStats(runtime_pb2.GetStatsRequest(), timeout=5)
        # Three TCP connections (one per channel, not one shared subchannel), each
        # used twice: a runtime's worker processes each get some of them.
        assert len(servicer.peers) == 3
    finally:
        await replica.close(None)
        await server.stop(None)
