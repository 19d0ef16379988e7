"""PostgreSQL connection helpers (asyncpg): a pool that waits for the database, and
deadlines so that a hung database fails calls instead of holding them."""

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


class DeadlinePool(asyncpg.Pool):
    """A pool whose every acquire (its own ``fetch``/``execute`` helpers' too) waits at
    most `acquire_timeout` seconds, and whose release waits as long at most: with
    the server hung, a call fails with TimeoutError instead of waiting for it."""

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    wait_seconds: float = 30.0,
    acquire_timeout: float | None = None,
    **kwargs: Any,
) -> asyncpg.Pool:
    """Open a pool, retrying with backoff for up to `wait_seconds` while the database starts.

    With `acquire_timeout`, a :class:`DeadlinePool`; pass asyncpg's ``command_timeout``
    too for a client-side deadline on each statement (the server's
    ``statement_timeout`` cannot fire while the server itself is stopped).
    """
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            if acquire_timeout is None:
                pool = await asyncpg.create_pool(
                    dsn, min_size=min_size, max_size=max_size, **kwargs
                )
            else:
                # asyncpg.create_pool's own defaults, with the deadline on top.
                pool = await DeadlinePool(
                    dsn,
                    min_size=min_size,
                    max_size=max_size,
                    max_queries=50000,
                    max_inactive_connection_lifetime=300.0,
                    loop=None,
                    connection_class=asyncpg.Connection,
                    record_class=asyncpg.Record,
                    acquire_timeout=acquire_timeout,
                    **kwargs,
                )
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
