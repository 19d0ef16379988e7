"""Session fixtures shared by every test: a real PostgreSQL and a real Redis on loopback.

Set ``WASMGRID_TEST_DATABASE_URL`` / ``WASMGRID_TEST_REDIS_URL`` to use external
servers instead (then stop/start are unavailable and tests needing them skip).
"""

from __future__ import annotations

from wasmgrid.common import grpc_tuning

grpc_tuning.apply()  # the services' grpc settings, before anything imports grpc

import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest
import redis.asyncio as aioredis
import uvloop

from wasmgrid.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from wasmgrid.common.testing import create_database, drop_database, free_port

REPO_ROOT = Path(__file__).resolve().parent


E = TypeVar("E", EmbeddedPostgres, EmbeddedRedis)


@contextlib.contextmanager
def _embedded(kind: type[E], name: str, **options: Any) -> Iterator[E]:
    """An embedded server on a free port, its data in a fresh directory removed after."""
    # Not under pytest's tmp_path: concurrent pytest sessions prune each other's old dirs.
    datadir = Path(tempfile.mkdtemp(prefix=f"wasmgrid-test-{name}-"))
    server = kind(datadir, free_port(), **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (for example modules and fixtures on disk)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedPostgres]:
    """A real PostgreSQL for the whole session, stoppable and restartable by tests."""
    with _embedded(EmbeddedPostgres, "pg") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: EmbeddedPostgres) -> str:
    """DSN of the session PostgreSQL's `postgres` database."""
    return os.environ.get("WASMGRID_TEST_DATABASE_URL") or postgres_server.dsn


@pytest.fixture
async def database_url(postgres_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = await create_database(postgres_server.dsn)
    yield postgres_server.dsn_for(name)
    if not postgres_server.running():
        postgres_server.start()
    await drop_database(postgres_server.dsn, name)


def _debian_postgres_with(extension: str) -> Path | None:
    """The bin directory of the newest Debian PostgreSQL that ships `extension`."""
    found = []
    for bin_dir in Path("/usr/lib/postgresql").glob("*/bin"):
        version = bin_dir.parent.name
        control = Path(f"/usr/share/postgresql/{version}/extension/{extension}.control")
        if version.isdigit() and (bin_dir / "postgres").exists() and control.exists():
            found.append((int(version), bin_dir))
    return max(found)[1] if found else None


def _missing(package: str) -> NoReturn:
    """Skip on a developer machine without the Debian package; in CI its absence fails."""
    message = f"{package} is not installed (apt-get install {package}; .ci/run does this)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def contrib_postgres_server() -> Iterator[EmbeddedPostgres]:
    """A second real PostgreSQL, Debian's, with the contrib extensions (pg_trgm) that
    pgserver's build lacks: for the code paths that use them."""
    bin_dir = _debian_postgres_with("pg_trgm")
    if bin_dir is None:
        _missing("postgresql-contrib")
    with _embedded(EmbeddedPostgres, "pg-contrib", bin_dir=bin_dir) as server:
        yield server


@pytest.fixture
async def contrib_database_url(contrib_postgres_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """A fresh, empty database on the contrib PostgreSQL for one test; dropped afterwards."""
    name = await create_database(contrib_postgres_server.dsn)
    yield contrib_postgres_server.dsn_for(name)
    await drop_database(contrib_postgres_server.dsn, name)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """A real redis-server for the whole session, stoppable and restartable by tests."""
    with _embedded(EmbeddedRedis, "redis") as server:
        yield server


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


#: Fixtures that start a real server or process (PostgreSQL, Redis, a gRPC service, a
#: Prometheus, the dev stack). A test that uses one, directly or through another fixture,
#: is an integration test; every other test is a unit test. Tests that start servers
#: without these fixtures are marked ``integration`` themselves.
SERVER_FIXTURES = frozenset(
    {
        "postgres_server",
        "contrib_postgres_server",
        "redis_server",
        "probe",
        "marketplace",
        "make_runtime",
        "runtime",
        "infra",
        "start_gateway",
        "replicas",
        "start_cache",
        "market",
        "market_factory",
        "start_monitor",
        "tiny",
        "receiver",
        "idle_receiver",
        "prometheus",
        "dev_stack",
        "dev_stack_factory",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "integration: starts a real server or process (`make test` runs them, `make test-fast`"
        " leaves them out)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a server fixture ``integration``, so the two sets (unit,
    integration) split the suite exactly: no test is in neither."""
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Every async test runs on uvloop, the loop the services run on (``EVENT_LOOP``)."""
    return {"uvloop": uvloop.new_event_loop}
