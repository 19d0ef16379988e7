"""Ratings (tables ``ratings``, ``rating_shards``; functions ``rate_module`` and
``rating_summary`` of migrations 0002/0003).

A rating changes only one of the module's 16 shard rows (``user id mod 16``) in the
same statement as the rating itself, so the sum over the shards is always exact; the
search sort keys on the module row (``modules.rating_*``) catch up through
:func:`refresh_sort_keys`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import asyncpg

from wasmgrid.marketplace.records import Rating, RatingSummary
from wasmgrid.marketplace.store.database import Executor


class Refusal(StrEnum):
    """Why a rating was not stored (as ``rate_module`` reports it)."""

    MODULE_NOT_FOUND = "not_found"
    OWN_MODULE = "own"


def _summary(count: int, average: float, histogram: list[int]) -> RatingSummary:
    return RatingSummary(count, average, tuple(histogram))


async def rate(
    ex: Executor, full_norm: str, user_id: int, username: str, stars: int, review: str
) -> tuple[Rating, RatingSummary] | Refusal:
    """Insert or replace the user's rating and apply the exact delta to one shard, in
    one statement: the shard row lock, which serialises raters, is held for
    microseconds, not round trips. The rating and the module's new summary."""
    row = await ex.fetchrow(
        "SELECT * FROM rate_module($1, $2, $3, $4)", full_norm, user_id, stars, review
    )
    assert row is not None
    if row["o_status"] != "ok":
        return Refusal(row["o_status"])
    rating = Rating(
        user_id=user_id,
        username=username,
        stars=row["o_stars"],
        review=row["o_review"],
        created_at=row["o_created_at"],
        updated_at=row["o_updated_at"],
    )
    return rating, _summary(row["o_rating_count"], row["o_rating_avg"], row["o_histogram"])


async def page(
    ex: Executor, module_id: int, limit: int, after: tuple[datetime, int] | None
) -> list[Rating]:
    """Up to `limit` ratings of the module, latest first, after the ``(updated_at,
    user_id)`` of the previous page's last rating."""
    args: list[object] = [module_id, limit]
    keyset = ""
    if after is not None:
        keyset = " AND (r.updated_at, r.user_id) < ($3::timestamptz, $4::bigint)"
        args += list(after)
    rows = await ex.fetch(
        "SELECT u.username, r.user_id, r.stars, r.review, r.created_at, r.updated_at"
        " FROM ratings r JOIN users u ON u.id = r.user_id"
        f" WHERE r.module_id = $1{keyset} ORDER BY r.updated_at DESC, r.user_id DESC LIMIT $2",
        *args,
    )
    return [
        Rating(
            user_id=r["user_id"],
            username=r["username"],
            stars=r["stars"],
            review=r["review"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


async def summary(ex: Executor, module_id: int) -> RatingSummary:
    """The exact aggregate: the sum over the module's shards."""
    row = await ex.fetchrow("SELECT c, avg, h FROM rating_summary($1)", module_id)
    assert row is not None
    return _summary(row["c"], row["avg"], row["h"])


async def refresh_sort_keys(pool: asyncpg.Pool, since: datetime) -> int:
    """Copy the exact shard sums into ``modules.rating_*`` (search's sort keys) for the
    modules rated since `since`; how many modules changed."""
    result: str = await pool.execute(
        "WITH dirty AS (SELECT DISTINCT module_id FROM rating_shards WHERE updated_at >= $1)"
        " UPDATE modules m SET rating_count = rs.c, rating_sum = rs.s, stars = rs.h"
        " FROM dirty, LATERAL (SELECT sum(x.count)::bigint AS c, sum(x.sum)::bigint AS s,"
        "   ARRAY[sum(x.stars[1]), sum(x.stars[2]), sum(x.stars[3]), sum(x.stars[4]),"
        "         sum(x.stars[5])]::bigint[] AS h"
        "   FROM rating_shards x WHERE x.module_id = dirty.module_id) rs"
        " WHERE m.id = dirty.module_id"
        " AND (m.rating_count, m.rating_sum, m.stars) IS DISTINCT FROM (rs.c, rs.s, rs.h)",
        since,
    )
    return int(result.split()[-1])
