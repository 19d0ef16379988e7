"""Download counters (table ``download_daily`` and the totals on versions and modules)."""

from __future__ import annotations

import asyncpg

from wasmgrid.marketplace.records import Purpose


async def record_download(
    pool: asyncpg.Pool, version_id: int, module_id: int, purpose: Purpose
) -> None:
    """Count one completed download for today (UTC).

    One statement in a transaction that does not wait for its WAL flush: the client is
    waiting for the end of its stream, and after a crash PostgreSQL loses at most the
    last fraction of a second of counts (never a module, a version or a rating, whose
    transactions keep synchronous commit).
    """
    user = 1 if purpose is Purpose.USER else 0
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit = off")
        await conn.execute(
            "WITH daily AS (INSERT INTO download_daily (version_id, day, purpose, count)"
            "   VALUES ($1, (now() AT TIME ZONE 'UTC')::date, $3, 1)"
            "   ON CONFLICT (version_id, day, purpose)"
            "   DO UPDATE SET count = download_daily.count + 1),"
            " version AS (UPDATE versions SET downloads = downloads + $4,"
            "   runtime_fetches = runtime_fetches + 1 - $4 WHERE id = $1)"
            " UPDATE modules SET downloads = downloads + $4,"
            " runtime_fetches = runtime_fetches + 1 - $4 WHERE id = $2",
            version_id,
            module_id,
            str(purpose),
            user,
        )
