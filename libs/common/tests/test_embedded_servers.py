"""The embedded servers the dev stack and tests rely on are real and restartable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from wasmgrid.cli.embedded import EmbeddedPostgres, EmbeddedRedis, port_open
from wasmgrid.common.testing import free_port

# Starts Redis and other processes.
pytestmark = pytest.mark.integration


async def test_postgres_keeps_committed_data_across_restart(
    postgres_server: EmbeddedPostgres, database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    await conn.execute("CREATE TABLE t (v int); INSERT INTO t VALUES (42)")
    await conn.close()
    postgres_server.stop()
    assert not postgres_server.running()
    postgres_server.start()
    conn = await asyncpg.connect(database_url)
    assert await conn.fetchval("SELECT v FROM t") == 42
    await conn.close()


async def test_redis_restarts_on_the_same_port(redis_server: EmbeddedRedis, redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    await client.set("k", "v")
    assert await client.get("k") == b"v"
    await client.aclose()
    redis_server.stop()
    assert not redis_server.running()
    redis_server.start()
    client = aioredis.from_url(redis_url)
    assert await client.ping()
    assert await client.get("k") is None  # Redis holds nothing durable
    await client.aclose()


def test_a_detached_redis_outlives_its_starter_and_another_process_stops_it(
    tmp_path: Path,
) -> None:
    datadir, port = tmp_path / "redis", free_port()
    starter = (
        "import sys; from pathlib import Path; from wasmgrid.cli.embedded import EmbeddedRedis;"
        " EmbeddedRedis(Path(sys.argv[1]), int(sys.argv[2])).start(detached=True)"
    )
    subprocess.run([sys.executable, "-c", starter, str(datadir), str(port)], check=True)
    # The starter has exited; the server still answers. `wasmgrid containers down` then
    # stops it from another process knowing only the data dir.
    assert port_open("127.0.0.1", port)
    server = EmbeddedRedis(datadir, port)
    pid = int(server.pid_file.read_text())
    server.stop()
    assert not port_open("127.0.0.1", port)
    assert not _running(pid)
    assert not server.pid_file.exists()
    server.stop()  # nothing left to stop: no error


def test_a_pid_file_of_another_program_is_not_obeyed(tmp_path: Path) -> None:
    datadir = tmp_path / "redis"
    datadir.mkdir()
    bystander = subprocess.Popen(["sleep", "30"], cwd=tmp_path)
    try:
        (datadir / "redis.pid").write_text(f"{bystander.pid}\n")
        EmbeddedRedis(datadir, free_port()).stop()
        assert bystander.poll() is None  # not a redis-server of this data dir: left alone
        assert not (datadir / "redis.pid").exists()
    finally:
        bystander.kill()
        bystander.wait()


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False
