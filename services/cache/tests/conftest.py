"""Fixtures: cache service replicas on port 0 (memory only or over the session Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pytest

from wasmgrid.api.cache.v1 import cache_pb2_grpc
from wasmgrid.cache.service import CacheService, create_service
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.common.server import ServiceRunner
from wasmgrid.common.testing import Poll, poll_until, serve

T = TypeVar("T")


@dataclass
class Replica:
    """One running cache service and a client stub to it."""

    runner: ServiceRunner
    service: CacheService
    channel: grpc.aio.Channel
    stub: cache_pb2_grpc.CacheServiceAsyncStub


StartReplica = Callable[..., Awaitable[Replica]]


@pytest.fixture
async def start_cache() -> AsyncIterator[StartReplica]:
    """Start cache replicas with settings overrides; all are stopped after the test."""
    started: list[Replica] = []

    async def start(**overrides: Any) -> Replica:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "grpc_port": 0,
            "metrics_port": 0,
            "redis_url": "",
            "readiness_interval_seconds": 0.2,
            "sweep_interval_seconds": 0.05,
            "redis_timeout_seconds": 0.5,
            "redis_backoff_max_seconds": 0.3,
            "log_json": False,
        }
        values.update(overrides)
        settings = CacheSettings(**values)
        service = create_service(settings)
        runner, channel = await serve(service, settings, timeout=10.0)
        replica = Replica(runner, service, channel, cache_pb2_grpc.CacheServiceStub(channel))
        started.append(replica)
        return replica

    yield start
    for replica in reversed(started):
        await replica.channel.close(None)
        await _cancel_readiness_loop(replica.runner)
        await asyncio.wait_for(replica.runner.stop(0.5), 5.0)


async def _cancel_readiness_loop(runner: ServiceRunner) -> None:
    """Work around a kit bug (reported): on Python 3.11, ``asyncio.wait_for`` returns the
    result of a readiness check that finished in the same loop iteration as a cancel
    instead of raising CancelledError, so ServiceRunner's ``while True`` readiness loop
    survives its one cancel and ``stop()`` waits for it forever (it happens every time
    two replicas with the same interval are stopped one after the other). Cancelling
    until the task is really done lets ``stop()`` proceed."""
    task = runner._readiness
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.05)


@pytest.fixture
def poll() -> Poll:
    """:func:`poll_until` as a fixture."""
    return poll_until
