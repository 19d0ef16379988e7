"""The embedded servers the dev stack and tests rely on are real and restartable."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

from wasmgrid.cli.embedded import EmbeddedPostgres, EmbeddedRedis


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
