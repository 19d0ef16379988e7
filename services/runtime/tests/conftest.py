"""Fixtures for runtime tests: a real in-process runtime and a real marketplace peer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wasmgrid.runtime.testing import (
    Marketplace,
    Runtime,
    RuntimeFactory,
    start_marketplace,
    start_runtime,
    stop_runtime,
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
            "allow_inline": True,
            "marketplace_addr": "127.0.0.1:1",
            "fetch_timeout_seconds": 5.0,
            **overrides,
        }
        rt = await start_runtime(values.pop("data_dir", tmp_path / "runtime"), **values)
        started.append(rt)
        return rt

    yield factory
    for rt in started:
        await stop_runtime(rt, 1.0)


@pytest.fixture
async def runtime(make_runtime: RuntimeFactory) -> Runtime:
    """A runtime with inline modules allowed and default limits."""
    return await make_runtime()
