"""The registry's PostgreSQL pools, migrations and transaction boundary."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from wasmgrid.common.db import create_pool, ping
from wasmgrid.common.migrations import migrate

log = logging.getLogger(__name__)

SCHEMA = "marketplace"
#: The packaged migrations (``NNNN_name.sql``), applied into SCHEMA.
MIGRATIONS = Path(str(resources.files("wasmgrid.marketplace") / "migrations"))

#: A connection as handed out by the pool (or a plain one).
Conn = asyncpg.Connection | PoolConnectionProxy
#: Where one statement can run: a connection, or the pool (any free connection).
Executor = Conn | asyncpg.Pool


class Database:
    """The registry's two pools: `pool` for everything but search, `search_pool` for
    SearchModules (a bulkhead: slow searches cannot starve publishes)."""

    def __init__(self, pool: asyncpg.Pool, search_pool: asyncpg.Pool, *, use_pg_trgm: bool):
        self.pool = pool
        self.search_pool = search_pool
        #: Typo tolerance through pg_trgm (else the name-word vocabulary of migration 0005).
        self.use_pg_trgm = use_pg_trgm

    @classmethod
    async def open(  # noqa: PLR0913 - keyword-only settings
        cls,
        dsn: str,
        *,
        pool_min: int,
        pool_max: int,
        search_pool_max: int,
        wait_seconds: float,
        statement_timeout_ms: int,
        pg_trgm: bool,
        acquire_timeout: float | None = None,
    ) -> Database:
        """Open both pools (waiting up to `wait_seconds` for the server), apply pending
        migrations, and use pg_trgm when `pg_trgm` and migration 0006 could install it.

        Deadlines: each statement `statement_timeout_ms` on the server and 500 ms more
        on the client (a stopped server cannot time out its own statements), and each
        acquire and release of a connection `acquire_timeout` seconds. A call that
        meets one fails with TimeoutError or QueryCanceledError: UNAVAILABLE, retry."""
        session = {
            "search_path": f"{SCHEMA}, public",
            "statement_timeout": str(statement_timeout_ms),
        }
        deadlines: dict[str, Any] = {
            "acquire_timeout": acquire_timeout,
            "command_timeout": statement_timeout_ms / 1000 + 0.5,
        }
        pool = await create_pool(
            dsn,
            min_size=min(pool_min, pool_max),
            max_size=pool_max,
            wait_seconds=wait_seconds,
            server_settings=session,
            **deadlines,
        )
        try:
            # Search sessions refuse sequential scans: PostgreSQL estimates prefix tsqueries
            # so broadly that it would scan every module and evaluate @@ per row instead of
            # using the GIN index, which is slower. Plans are always made for the actual
            # values: after five runs of a prepared statement PostgreSQL may switch to a
            # generic plan, which cannot know how many modules a tsquery matches and runs
            # text searches slower than the planning it saves costs (docs/benchmarks.md).
            search_pool = await create_pool(
                dsn,
                min_size=1,
                max_size=search_pool_max,
                wait_seconds=wait_seconds,
                server_settings={
                    **session,
                    "enable_seqscan": "off",
                    "plan_cache_mode": "force_custom_plan",
                },
                **deadlines,
            )
        except BaseException:
            await pool.close()
            raise
        db = cls(pool, search_pool, use_pg_trgm=False)
        try:
            applied = await migrate(dsn, MIGRATIONS, schema=SCHEMA)
            if applied:
                log.info("migrations applied", extra={"migrations": applied})
            db.use_pg_trgm = pg_trgm and await _pg_trgm_ready(pool)
        except BaseException:
            await db.close()
            raise
        log.info(
            "typo tolerance via %s", "pg_trgm" if db.use_pg_trgm else "the name-word vocabulary"
        )
        return db

    async def close(self) -> None:
        """Close both pools."""
        await self.search_pool.close()
        await self.pool.close()

    async def ping(self) -> str | None:
        """None when PostgreSQL answers, else why not."""
        return await ping(self.pool)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A connection inside a transaction: committed when the block ends, rolled
        back when it raises."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def search_connection(self) -> AsyncIterator[Conn]:
        """A connection of the search pool, for the statements of one search."""
        async with self.search_pool.acquire() as conn:
            yield conn


async def _pg_trgm_ready(pool: asyncpg.Pool) -> bool:
    """True when pg_trgm and the name index of migration 0006 are both there."""
    extension, index = await pool.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'),"  # noqa: S608 - constant fragments; values are bound parameters
        f" to_regclass('{SCHEMA}.modules_name_trgm') IS NOT NULL"
    ) or (False, False)
    if extension and not index:
        log.warning(
            "pg_trgm was installed after migration 0006 ran, so index modules_name_trgm is"
            " missing; search uses the name-word vocabulary until it is created"
        )
    return bool(extension and index)
