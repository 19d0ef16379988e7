"""The runtime pool's connections, against real gRPC servers on loopback."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import grpc

from wasmgrid.api.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from wasmgrid.gateway.upstream import RuntimeReplica, worker_turns


class _Worker(runtime_pb2_grpc.RuntimeServiceServicer):
    """Answers GetStats with its own instance id and counts the connections it saw."""

    def __init__(self) -> None:
        self.instance = uuid.uuid4().hex
        self.peers: set[str] = set()
        self.calls = 0

    async def GetStats(
        self, request: runtime_pb2.GetStatsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> runtime_pb2.GetStatsResponse:
        self.peers.add(context.peer())
        self.calls += 1
        return runtime_pb2.GetStatsResponse(instance_id=self.instance)


def _worker() -> _Worker:
    return _Worker()  # type: ignore[abstract]  # only GetStats is served


async def _serve(worker: _Worker, port: int = 0) -> tuple[grpc.aio.Server, int]:
    # SO_REUSEPORT, as the runtime's worker processes share one port.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    runtime_pb2_grpc.add_RuntimeServiceServicer_to_server(worker, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


def test_turns_give_each_worker_an_equal_share() -> None:
    assert worker_turns(["a", "b", "a", "a"]) == [0, 1, 2, 1, 3, 1]
    for workers in (["a", "b", "a", "a"], ["a", "a", "b", "b"], ["x", "y", "z", "x"]):
        share = Counter(workers[i] for i in worker_turns(workers))
        assert len(set(share.values())) == 1, (workers, share)
    assert worker_turns(["a", "a", "a"]) == [0, 1, 2]  # one worker: plain turns
    assert worker_turns([None, None]) == [0, 1]  # unknown: each its own turn


async def test_a_replica_spreads_calls_over_distinct_connections() -> None:
    worker = _worker()
    server, port = await _serve(worker)
    replica = RuntimeReplica(f"127.0.0.1:{port}", 3)
    try:
        for _ in range(6):
            await replica.stub().GetStats(runtime_pb2.GetStatsRequest(), timeout=5)
        # Three TCP connections (one per channel, not one shared subchannel).
        assert len(worker.peers) == 3
    finally:
        await replica.close(None)
        await server.stop(None)


async def test_calls_are_shared_evenly_by_the_workers_behind_one_port() -> None:
    a, b = _worker(), _worker()
    server_a, port = await _serve(a)
    server_b, _ = await _serve(b, port)
    try:
        # The kernel assigns connections to the two listeners at random; retry the rare
        # draw that puts all 8 on one worker (p = 1/128).
        for _ in range(5):
            replica = RuntimeReplica(f"127.0.0.1:{port}", 8)
            await replica.learn_workers(timeout=5)
            if len(set(replica.workers)) == 2:
                break
            await replica.close(None)
        assert set(replica.workers) == {a.instance, b.instance}
        before = (a.calls, b.calls)
        for _ in range(len(replica.order) * 10):
            await replica.stub().GetStats(runtime_pb2.GetStatsRequest(), timeout=5)
        await replica.close(None)
        served = (a.calls - before[0], b.calls - before[1])
        assert served[0] == served[1], served
    finally:
        await server_a.stop(None)
        await server_b.stop(None)
