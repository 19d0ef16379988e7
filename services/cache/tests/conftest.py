"""Fixtures: cache service replicas on port 0 (memory only or over the session Redis)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pytest

from wasmgrid.api.cache.v1 import cache_pb2_grpc
from wasmgrid.cache.service import CacheService
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.common.channel import create_channel
from wasmgrid.common.server import ServiceRunner

T = TypeVar("T")


@dataclass
class Replica:
    """One running cache service and a client stub to it."""

    runner: ServiceRunner
    service: CacheService
    channel: grpc.aio.Channel
    stub: cache_pb2_grpc.CacheServiceStub


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
        service = CacheService(settings)
        runner = ServiceRunner(service, settings)
        await runner.start()
        channel = create_channel(runner.address, default_timeout=10.0, tracing=False)
        replica = Replica(runner, service, channel, cache_pb2_grpc.CacheServiceStub(channel))
        started.append(replica)
        return replica

    yield start
    for replica in reversed(started):
        await replica.channel.close(None)
        # Bounded: on Python 3.11 the kit's readiness loop can swallow its cancellation
        # (asyncio.wait_for returns the result of an already-finished check instead of
        # raising CancelledError), leaving ServiceRunner.stop waiting on it forever; the
        # outer timeout's cancel is then absorbed the same way and stop() completes.
        await asyncio.wait_for(replica.runner.stop(0.5), 5.0)


async def poll_until(
    check: Callable[[], Awaitable[T | None]], description: str, timeout: float = 10.0
) -> T:
    """Call `check` until it returns a truthy value; fail with `description` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {description}")
        await asyncio.sleep(0.01)


@pytest.fixture
def poll() -> Callable[..., Awaitable[Any]]:
    """:func:`poll_until` as a fixture (test modules cannot import conftest directly)."""
    return poll_until
