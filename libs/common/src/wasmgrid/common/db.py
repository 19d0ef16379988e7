"""PostgreSQL connection helpers (asyncpg): a pool that waits for the database."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import asyncpg

log = logging.getLogger(__name__)


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced, for logs and errors."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or "@" not in rest:
        return dsn
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else dsn


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    wait_seconds: float = 30.0,
    **kwargs: Any,
) -> asyncpg.Pool:
    """Open a pool, retrying with backoff for up to `wait_seconds` while the database starts."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, **kwargs)
            assert pool is not None
            return pool
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError) as exc:
            if time.monotonic() + delay > deadline:
                raise ConnectionError(
                    f"database {redact_dsn(dsn)} not reachable after {wait_seconds:.0f}s: {exc}"
                ) from exc
            log.warning("waiting for database %s: %s", redact_dsn(dsn), exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def ping(pool: asyncpg.Pool, timeout: float = 2.0) -> str | None:
    """None if the database answers ``SELECT 1`` within `timeout`, else why not."""
    try:
        async with asyncio.timeout(timeout):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        return None
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"database unreachable: {exc!r}"
