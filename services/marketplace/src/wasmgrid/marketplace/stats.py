"""Download statistics: window and all-time totals, per version and per UTC day."""

from __future__ import annotations

from datetime import timedelta

from wasmgrid.common.errors import InvalidArgument, NotFound
from wasmgrid.marketplace import names, semver
from wasmgrid.marketplace.records import DayDownloads, DownloadStats
from wasmgrid.marketplace.store import modules
from wasmgrid.marketplace.store import stats as store
from wasmgrid.marketplace.store.database import Database

MAX_STATS_DAYS, DEFAULT_STATS_DAYS = 366, 30


class Stats:
    """GetDownloadStats."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def downloads(self, name: str, days: int) -> DownloadStats:
        """A module's downloads over the last `days` UTC days (0 = 30, at most 366)."""
        mod = names.parse_module_name(name)
        days = days or DEFAULT_STATS_DAYS
        if days > MAX_STATS_DAYS:
            raise InvalidArgument(f"days {days} is above the maximum {MAX_STATS_DAYS}")
        module = await modules.module(self.db.pool, mod.full_norm)
        if module is None:
            raise NotFound(f"module {mod.display!r} not found")
        today = await store.today(self.db.pool)
        start = today - timedelta(days=days - 1)
        per_version = await store.per_version(self.db.pool, module.id, start)
        by_day = {d.day: d for d in await store.daily(self.db.pool, module.id, start)}
        series = []
        for i in range(days):
            day = start + timedelta(days=i)
            series.append(by_day.get(day) or DayDownloads(day, 0, 0))
        return DownloadStats(
            name=module.name,
            days=days,
            user_downloads=sum(v.user_downloads for v in per_version),
            runtime_fetches=sum(v.runtime_fetches for v in per_version),
            user_downloads_total=module.downloads,
            runtime_fetches_total=module.runtime_fetches,
            versions=tuple(
                sorted(per_version, key=lambda v: semver.Version.parse(v.version), reverse=True)
            ),
            daily=tuple(series),
        )
