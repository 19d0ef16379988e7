"""Download counters (table ``download_daily`` and the totals on versions and modules)."""

from __future__ import annotations

from datetime import date

import asyncpg

from wasmgrid.marketplace.records import DayDownloads, Purpose, VersionDownloads
from wasmgrid.marketplace.store.database import Executor


def _count(purpose: Purpose) -> str:
    """The sum of the grouped counters of one purpose (0 when none)."""
    return f"coalesce(sum(d.count) FILTER (WHERE d.purpose = '{purpose}'), 0)::bigint"


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


async def today(ex: Executor) -> date:
    """Today in UTC, by the database's clock (the one that dates the counters)."""
    day: date = await ex.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    return day


async def per_version(ex: Executor, module_id: int, start: date) -> list[VersionDownloads]:
    """Each version's downloads since `start` (UTC) and in all, unordered."""
    rows = await ex.fetch(
        "SELECT v.version, v.downloads, v.runtime_fetches,"
        f" {_count(Purpose.USER)} AS win_user, {_count(Purpose.RUNTIME)} AS win_runtime"
        " FROM versions v LEFT JOIN download_daily d ON d.version_id = v.id AND d.day >= $2"
        " WHERE v.module_id = $1 GROUP BY v.id",
        module_id,
        start,
    )
    return [
        VersionDownloads(
            version=r["version"],
            user_downloads=r["win_user"],
            runtime_fetches=r["win_runtime"],
            user_downloads_total=r["downloads"],
            runtime_fetches_total=r["runtime_fetches"],
        )
        for r in rows
    ]


async def daily(ex: Executor, module_id: int, start: date) -> list[DayDownloads]:
    """The module's downloads per UTC day since `start`, only days that had some."""
    rows = await ex.fetch(
        f"SELECT d.day, {_count(Purpose.USER)} AS user_count,"
        f" {_count(Purpose.RUNTIME)} AS runtime_count"
        " FROM download_daily d JOIN versions v ON v.id = d.version_id"
        " WHERE v.module_id = $1 AND d.day >= $2 GROUP BY d.day ORDER BY d.day",
        module_id,
        start,
    )
    return [DayDownloads(r["day"], r["user_count"], r["runtime_count"]) for r in rows]
