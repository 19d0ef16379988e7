"""Fixtures for runtime tests: a real in-process runtime and a real marketplace peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wasmgrid.api.runtime.v1 import runtime_pb2_grpc
from wasmgrid.common.channel import create_channel
from wasmgrid.common.server import ServiceRunner
from wasmgrid.runtime.service import RuntimeService
from wasmgrid.runtime.settings import RuntimeSettings
from wasmgrid.runtime.testing import (
    TEST_KEY,
    Marketplace,
    Runtime,
    RuntimeFactory,
    start_marketplace,
)


@pytest.fixture
async def marketplace() -> AsyncIterator[Marketplace]:
    """A loopback gRPC server implementing MarketplaceService.Download over a dict."""
    mk = await start_marketplace()
    yield mk
    await mk.server.stop(0)


@pytest.fixture
async def make_runtime(tmp_path: Path) -> AsyncIterator[RuntimeFactory]:
    """Start runtimes with setting overrides; all are stopped at the end of the test."""
    started: list[Runtime] = []

    async def factory(**overrides: Any) -> Runtime:
        values: dict[str, Any] = {
            "grpc_port": 0,
            "metrics_port": 0,
            "data_dir": tmp_path / "runtime",
            "artifact_key": TEST_KEY,
            "allow_inline": True,
            "marketplace_addr": "127.0.0.1:1",
            "fetch_timeout_seconds": 5.0,
            "readiness_interval_seconds": 0.5,
            "drain_seconds": 0,
        }
        values.update(overrides)
        settings = RuntimeSettings(**values)
        service = RuntimeService(settings)
        runner = ServiceRunner(service, settings, serve_metrics=False, tracing=False)
        await runner.start()
        channel = create_channel(runner.address, default_timeout=30.0, tracing=False)
        rt = Runtime(runner, service, runtime_pb2_grpc.RuntimeServiceStub(channel), channel)
        started.append(rt)
        return rt

    yield factory
    for rt in started:
        try:
            await asyncio.wait_for(rt.channel.close(None), 10)
        except TimeoutError:
            raise AssertionError("channel close hung") from None
        try:
            await asyncio.wait_for(rt.runner.stop(1.0), 10)
        except TimeoutError:
            for t in asyncio.all_tasks():
                t.print_stack()
            raise AssertionError("runner stop hung") from None


@pytest.fixture
async def runtime(make_runtime: RuntimeFactory) -> Runtime:
    """A runtime with inline modules allowed and default limits."""
    return await make_runtime()
