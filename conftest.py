"""Session fixtures shared by every test: a real PostgreSQL and a real Redis on loopback.

Set ``WASMGRID_TEST_DATABASE_URL`` / ``WASMGRID_TEST_REDIS_URL`` to use external
servers instead (then stop/start are unavailable and tests needing them skip).
"""

from __future__ import annotations

from wasmgrid.common import grpc_tuning

grpc_tuning.apply()  # the services' grpc settings, before anything imports grpc

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
import uvloop

from wasmgrid.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from wasmgrid.common.testing import free_port

REPO_ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (for example modules and fixtures on disk)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedPostgres]:
    """A real PostgreSQL for the whole session, stoppable and restartable by tests."""
    # Not under pytest's tmp_path: concurrent pytest sessions prune each other's old dirs.
    datadir = Path(tempfile.mkdtemp(prefix="wasmgrid-test-pg-"))
    server = EmbeddedPostgres(datadir, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: EmbeddedPostgres) -> str:
    """DSN of the session PostgreSQL's `postgres` database."""
    return os.environ.get("WASMGRID_TEST_DATABASE_URL") or postgres_server.dsn


@pytest.fixture
async def database_url(postgres_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(postgres_server.dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield postgres_server.dsn_for(name)
    if not postgres_server.running():
        postgres_server.start()
    conn = await asyncpg.connect(postgres_server.dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """A real redis-server for the whole session, stoppable and restartable by tests."""
    datadir = Path(tempfile.mkdtemp(prefix="wasmgrid-test-redis-"))
    server = EmbeddedRedis(datadir, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture
async def redis_url(redis_server: EmbeddedRedis) -> AsyncIterator[str]:
    """URL of the session Redis, flushed before the test."""
    if not redis_server.running():
        redis_server.start()
    client = aioredis.from_url(redis_server.url)
    try:
        await client.flushall()
    finally:
        await client.aclose()
    yield redis_server.url


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Every async test runs on uvloop, the loop the services run on (``EVENT_LOOP``)."""
    return {"uvloop": uvloop.new_event_loop}
