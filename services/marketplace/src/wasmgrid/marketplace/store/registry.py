"""PostgreSQL persistence of the registry (asyncpg, ``$n`` parameters only).

Every change that must be atomic runs in one transaction: a publish inserts
the namespace (when claimed), the module, the blob and its chunks, the
version and the refreshed module row together, so a failed or cancelled
publish leaves nothing behind. Rating aggregates are updated under the module
row lock, so concurrent raters never lose an update.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from wasmgrid.common.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from wasmgrid.common.paging import cursor_binding, decode_cursor, encode_cursor, split_page
from wasmgrid.marketplace import names, search, semver
from wasmgrid.marketplace.identity import require_owner
from wasmgrid.marketplace.names import ModuleName
from wasmgrid.marketplace.records import Principal
from wasmgrid.marketplace.store.database import SCHEMA, Conn

log = logging.getLogger(__name__)

#: Bytes of whole stored chunks a download reads per query (one batch is read ahead).
READ_BATCH_BYTES = 4 << 20


@dataclass(frozen=True)
class NewVersion:
    """A validated publish, ready to store."""

    module: ModuleName
    version: semver.Version
    description: str
    license: str
    category: str
    tags: list[str]
    homepage: str
    repository: str
    digest: str
    size_bytes: int
    kind: str
    validation: dict[str, Any]


@dataclass(frozen=True)
class SearchQuery:
    """Validated search parameters."""

    words: list[str]
    category: str
    tag: str
    license: str
    kind: str
    owner: str
    namespace: str
    sort: str
    limit: int
    cursor: str


_VERSION_COLS = (
    "v.id, v.module_id, v.version, v.prerelease, v.digest, v.size_bytes, v.kind,"
    " v.description, v.license, v.category, v.tags, v.homepage, v.repository,"
    " v.published_at, v.yanked, v.yank_reason, v.yanked_at, v.downloads,"
    " v.runtime_fetches, pu.username AS published_by,"
    " n.name || '/' || m.name AS full_name"
)
_VERSION_FROM = (
    "versions v JOIN modules m ON m.id = v.module_id"
    " JOIN namespaces n ON n.id = m.namespace_id JOIN users pu ON pu.id = v.published_by"
)
_MODULE_COLS = (
    "m.id, m.name, n.name AS namespace, n.name || '/' || m.name AS full_name, m.full_norm,"
    " m.latest_version, m.description, m.license, m.category, m.tags, m.homepage,"
    " m.repository, m.kind, m.all_yanked, m.created_at, m.updated_at, m.downloads,"
    " m.runtime_fetches, m.rating_count, m.rating_avg"
)


def _is_unique_violation(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.UniqueViolationError)


class RegistryStore:
    """All registry reads and writes on PostgreSQL (users, tokens, modules, versions, blobs)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        chunk_bytes: int,
        use_pg_trgm: bool,
        search_pool: asyncpg.Pool | None = None,
    ) -> None:
        self.pool = pool
        #: Connections with enable_seqscan=off (see MarketplaceService.start); None = `pool`.
        self.search_pool = search_pool
        self.chunk_bytes = chunk_bytes
        self.use_pg_trgm = use_pg_trgm

    # ------------------------------------------------------------ publish

    async def check_can_publish(self, who: Principal, mod: ModuleName, version: str) -> None:
        """Fail fast before the upload: namespace permission and version existence."""
        async with self.pool.acquire() as conn:
            ns_id = await conn.fetchval(
                "SELECT id FROM namespaces WHERE name_norm = $1", mod.namespace_norm
            )
            if ns_id is None:
                names.check_namespace(mod.namespace, "name namespace", claiming=True)
                return
            await require_owner(conn, who, ns_id)
            exists = await conn.fetchval(
                "SELECT 1 FROM versions v JOIN modules m ON m.id = v.module_id"
                " WHERE m.full_norm = $1 AND v.version_key = $2",
                mod.full_norm,
                version,
            )
            if exists:
                raise AlreadyExists(
                    f"{mod.display}@{version} already exists; versions are immutable"
                )

    async def publish(
        self, who: Principal, nv: NewVersion, data: bytes, max_versions: int
    ) -> asyncpg.Record:
        """Store a validated version, its blob and the refreshed module in one transaction."""
        mod = nv.module
        key = nv.version.precedence_key()
        async with self.pool.acquire() as conn, conn.transaction():
            ns_id = await conn.fetchval(
                "SELECT id FROM namespaces WHERE name_norm = $1 FOR UPDATE", mod.namespace_norm
            )
            if ns_id is None:
                names.check_namespace(mod.namespace, "name namespace", claiming=True)
                ns_id = await conn.fetchval(
                    "INSERT INTO namespaces (name, name_norm) VALUES ($1, $2)"
                    " ON CONFLICT (name_norm) DO NOTHING RETURNING id",
                    mod.namespace,
                    mod.namespace_norm,
                )
                if ns_id is None:  # claimed concurrently: it is an owner check now
                    ns_id = await conn.fetchval(
                        "SELECT id FROM namespaces WHERE name_norm = $1 FOR UPDATE",
                        mod.namespace_norm,
                    )
                    await require_owner(conn, who, ns_id)
                else:
                    await conn.execute(
                        "INSERT INTO namespace_owners (namespace_id, user_id) VALUES ($1, $2)",
                        ns_id,
                        who.user_id,
                    )
            else:
                await require_owner(conn, who, ns_id)
            module = await conn.fetchrow(
                "SELECT id, name FROM modules WHERE namespace_id = $1 AND name_norm = $2"
                " FOR UPDATE",
                ns_id,
                mod.name_norm,
            )
            created = False
            if module is None:
                module = await conn.fetchrow(
                    "INSERT INTO modules (namespace_id, name, name_norm, full_norm, latest_version)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id, name",
                    ns_id,
                    mod.name,
                    mod.name_norm,
                    mod.full_norm,
                    str(nv.version),
                )
                created = module is not None
                if module is None:  # created concurrently: wait for it and lock it
                    module = await conn.fetchrow(
                        "SELECT id, name FROM modules WHERE namespace_id = $1 AND name_norm = $2"
                        " FOR UPDATE",
                        ns_id,
                        mod.name_norm,
                    )
                assert module is not None
            module_id: int = module["id"]
            count, clash = await conn.fetchrow(
                "SELECT count(*), max(version) FILTER (WHERE version_key = $2)"
                " FROM versions WHERE module_id = $1",
                module_id,
                key,
            ) or (0, None)
            if clash is not None:
                raise AlreadyExists(
                    f"{mod.display}@{clash} already exists; versions are immutable"
                    + (
                        f" ({nv.version} has the same precedence)"
                        if clash != str(nv.version)
                        else ""
                    )
                )
            if count >= max_versions:
                raise ResourceExhausted(
                    f"{mod.display} has {count} versions, the limit is {max_versions}"
                )
            await self._store_blob(conn, nv.digest, data)
            vid = await conn.fetchval(
                "INSERT INTO versions (module_id, version, version_key, prerelease, digest,"
                " size_bytes, kind, description, license, category, tags, homepage, repository,"
                " validation, published_by) VALUES"
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15)"
                " RETURNING id",
                module_id,
                str(nv.version),
                key,
                nv.version.is_prerelease,
                nv.digest,
                nv.size_bytes,
                nv.kind,
                nv.description,
                nv.license,
                nv.category,
                nv.tags,
                nv.homepage,
                nv.repository,
                _json(nv.validation),
                who.user_id,
            )
            if created:
                await self._index_name(conn, mod)
            await self._refresh_module(conn, module_id, touch=True)
            row = await conn.fetchrow(
                f"SELECT {_VERSION_COLS}, v.validation FROM {_VERSION_FROM} WHERE v.id = $1", vid
            )
        assert row is not None
        return row

    async def _store_blob(self, conn: Conn, digest: str, data: bytes) -> None:
        size = len(data)
        step = self.chunk_bytes
        count = (size + step - 1) // step
        inserted = await conn.fetchval(
            "INSERT INTO blobs (digest, size_bytes, chunk_count) VALUES ($1, $2, $3)"
            " ON CONFLICT (digest) DO NOTHING RETURNING 1",
            digest,
            size,
            count,
        )
        if not inserted:
            return  # content-addressed: the same bytes are already stored
        view = memoryview(data)
        await conn.copy_records_to_table(
            "blob_chunks",
            schema_name=SCHEMA,
            columns=("digest", "seq", "data"),
            records=((digest, i, bytes(view[i * step : (i + 1) * step])) for i in range(count)),
        )

    async def _index_name(self, conn: Conn, mod: ModuleName) -> None:
        """Add the words of a new module's name to the typo-correction vocabulary."""
        pairs = [(g, w) for w in search.name_words(mod.name_norm) for g in search.word_trigrams(w)]
        await conn.execute(
            "INSERT INTO name_word_trigrams (trigram, word)"
            " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            [g for g, _ in pairs],
            [w for _, w in pairs],
        )

    async def _refresh_module(self, conn: Conn, module_id: int, *, touch: bool = False) -> None:
        """Point the module at its latest version and copy that version's metadata."""
        rows = await conn.fetch(
            "SELECT id, version, yanked FROM versions WHERE module_id = $1", module_id
        )
        parsed = [(semver.Version.parse(r["version"]), r["yanked"], r["id"]) for r in rows]
        live = [p for p in parsed if not p[1]]
        releases = [p for p in live if not p[0].is_prerelease]
        chosen = max(releases or live or parsed, key=lambda p: p[0])
        await conn.execute(
            "UPDATE modules m SET latest_version = v.version, description = v.description,"
            " license = v.license, category = v.category, tags = v.tags,"
            " homepage = v.homepage, repository = v.repository, kind = v.kind,"
            " all_yanked = $3,"
            " updated_at = CASE WHEN $4 THEN now() ELSE m.updated_at END,"
            " search_vector ="
            "   setweight(to_tsvector('simple', $5), 'A')"
            "   || setweight(to_tsvector('simple', array_to_string(v.tags, ' ')), 'B')"
            "   || setweight(to_tsvector('simple', v.description), 'C')"
            "   || setweight(to_tsvector('english', v.description), 'D')"
            " FROM versions v WHERE m.id = $1 AND v.id = $2",
            module_id,
            chosen[2],
            not live,
            touch,
            await self._name_words(conn, module_id),
        )

    async def _name_words(self, conn: Conn, module_id: int) -> str:
        row = await conn.fetchrow(
            "SELECT m.name_norm, n.name_norm AS ns FROM modules m"
            " JOIN namespaces n ON n.id = m.namespace_id WHERE m.id = $1",
            module_id,
        )
        assert row is not None
        return f"{row['name_norm']} {search.name_text(row['name_norm'])} {row['ns']}"

    # ------------------------------------------------------------ reads

    async def module(self, mod: ModuleName) -> asyncpg.Record:
        cols = _MODULE_COLS.replace(
            "m.rating_count, m.rating_avg", "rs.c AS rating_count, rs.avg AS rating_avg"
        )
        row = await self.pool.fetchrow(
            f"SELECT {cols},"
            " (SELECT count(*) FROM versions WHERE module_id = m.id) AS version_count,"
            " ARRAY(SELECT u.username FROM namespace_owners o JOIN users u ON u.id = o.user_id"
            "       WHERE o.namespace_id = m.namespace_id ORDER BY u.username_norm) AS owners"
            " FROM modules m JOIN namespaces n ON n.id = m.namespace_id"
            " CROSS JOIN LATERAL rating_summary(m.id) rs WHERE m.full_norm = $1",
            mod.full_norm,
        )
        if row is None:
            raise NotFound(f"module {mod.display!r} not found")
        return row

    async def _module_id(self, conn: Conn | asyncpg.Pool, mod: ModuleName) -> int:
        mid: int | None = await conn.fetchval(
            "SELECT id FROM modules WHERE full_norm = $1", mod.full_norm
        )
        if mid is None:
            raise NotFound(f"module {mod.display!r} not found")
        return mid

    async def versions(self, mod: ModuleName) -> list[asyncpg.Record]:
        """Every version of a module (unordered; callers sort by semver)."""
        mid = await self._module_id(self.pool, mod)
        return list(
            await self.pool.fetch(
                f"SELECT {_VERSION_COLS} FROM {_VERSION_FROM} WHERE v.module_id = $1", mid
            )
        )

    async def version(self, mod: ModuleName, version: str) -> asyncpg.Record:
        key = semver.Version.parse(version).precedence_key()
        row = await self.pool.fetchrow(
            f"SELECT {_VERSION_COLS}, v.validation FROM {_VERSION_FROM}"
            " WHERE m.full_norm = $1 AND v.version_key = $2",
            mod.full_norm,
            key,
        )
        if row is None:
            await self._module_id(self.pool, mod)
            raise NotFound(f"version {version!r} of {mod.display!r} not found")
        return row

    async def version_by_digest(self, digest: str) -> asyncpg.Record:
        row = await self.pool.fetchrow(
            f"SELECT {_VERSION_COLS} FROM {_VERSION_FROM} WHERE v.digest = $1"
            " ORDER BY v.published_at, v.id LIMIT 1",
            digest,
        )
        if row is None:
            raise NotFound(f"digest {digest} not found")
        return row

    async def read_chunks(self, digest: str) -> AsyncIterator[bytes]:
        """The stored chunks of a blob in order, read a batch per query.

        One query returns up to READ_BATCH_BYTES of whole chunks (PostgreSQL streams
        them back to back); the next batch is read on another pool connection while
        this one is being sent. Memory per download stays within two batches, and no
        query or snapshot stays open while a slow client drains the stream.
        """
        blob = await self.pool.fetchrow(
            "SELECT size_bytes, chunk_count FROM blobs WHERE digest = $1", digest
        )
        if blob is None:
            raise NotFound(f"blob {digest} not found")
        count: int = blob["chunk_count"]
        # Stored chunk size of this blob (the setting may have changed since it was stored).
        stored = -(-blob["size_bytes"] // count) if count else 1
        per_query = max(1, READ_BATCH_BYTES // stored)

        async def fetch(start: int, n: int) -> list[bytes]:
            rows = await self.pool.fetch(
                "SELECT seq, data FROM blob_chunks WHERE digest = $1 AND seq >= $2 AND seq < $3"
                " ORDER BY seq",
                digest,
                start,
                start + n,
            )
            if [r["seq"] for r in rows] != list(range(start, min(start + n, count))):
                raise RuntimeError(f"blob {digest} is missing chunks in {start}..")
            return [r["data"] for r in rows]

        ahead: asyncio.Future[list[bytes]] | None = None
        try:
            # The first query reads one chunk so that sending starts early; later ones
            # read whole batches, each while the previous batch is being sent.
            batch = await fetch(0, 1)
            start = 1
            while True:
                ahead = asyncio.ensure_future(fetch(start, per_query)) if start < count else None
                for piece in batch:
                    yield piece
                if ahead is None:
                    return
                batch = await ahead
                start += per_query
        finally:
            if ahead is not None and not ahead.done():  # stream abandoned: drop the read-ahead
                ahead.cancel()
                ahead.add_done_callback(_retrieve)

    async def record_download(self, version_id: int, module_id: int, purpose: str) -> None:
        """Count one completed download for today (UTC).

        One statement in a transaction that does not wait for its WAL flush: the
        client is waiting for the end of its stream, and after a crash PostgreSQL
        loses at most the last fraction of a second of counts (never a module, a
        version or a rating, whose transactions keep synchronous commit).
        """
        user = 1 if purpose == "user" else 0
        async with self.pool.acquire() as conn, conn.transaction():
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
                purpose,
                user,
            )

    # ------------------------------------------------------------ yank

    async def set_yanked(
        self, who: Principal, mod: ModuleName, version: str, yanked: bool, reason: str
    ) -> asyncpg.Record:
        key = semver.Version.parse(version).precedence_key()
        async with self.pool.acquire() as conn, conn.transaction():
            module = await conn.fetchrow(
                "SELECT id, namespace_id FROM modules WHERE full_norm = $1 FOR UPDATE",
                mod.full_norm,
            )
            if module is None:
                raise NotFound(f"module {mod.display!r} not found")
            await require_owner(conn, who, module["namespace_id"])
            vid = await conn.fetchval(
                "UPDATE versions SET yanked = $3, yank_reason = $4,"
                " yanked_at = CASE WHEN $3 THEN coalesce(yanked_at, now()) END"
                " WHERE module_id = $1 AND version_key = $2 RETURNING id",
                module["id"],
                key,
                yanked,
                reason if yanked else "",
            )
            if vid is None:
                raise NotFound(f"version {version!r} of {mod.display!r} not found")
            await self._refresh_module(conn, module["id"])
            row = await conn.fetchrow(
                f"SELECT {_VERSION_COLS}, v.validation FROM {_VERSION_FROM} WHERE v.id = $1", vid
            )
        assert row is not None
        return row

    # ------------------------------------------------------------ ratings

    async def rate(
        self, who: Principal, mod: ModuleName, stars: int, review: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Insert or replace the caller's rating and apply the exact delta to the aggregate.

        One statement (``rate_module`` in migration 0002): the module row lock, which
        serialises all raters of a module, is held for microseconds, not round trips.
        """
        row = await self.pool.fetchrow(
            "SELECT * FROM rate_module($1, $2, $3, $4)",
            mod.full_norm,
            who.user_id,
            stars,
            review,
        )
        assert row is not None
        if row["o_status"] == "not_found":
            raise NotFound(f"module {mod.display!r} not found")
        if row["o_status"] == "own":
            raise PermissionDenied(f"you own {mod.display!r}; owners cannot rate their modules")
        rating = {
            "username": who.username,
            "stars": row["o_stars"],
            "review": row["o_review"],
            "created_at": row["o_created_at"],
            "updated_at": row["o_updated_at"],
        }
        summary = {
            "rating_count": row["o_rating_count"],
            "rating_avg": row["o_rating_avg"],
            "stars": row["o_histogram"],
        }
        return rating, summary

    async def ratings(
        self, mod: ModuleName, limit: int, after: list[Any] | None
    ) -> tuple[list[asyncpg.Record], asyncpg.Record]:
        mid = await self._module_id(self.pool, mod)
        args: list[Any] = [mid, limit + 1]
        where = ""
        if after is not None:
            where = " AND (r.updated_at, r.user_id) < ($3::timestamptz, $4::bigint)"
            args += [datetime.fromisoformat(str(after[0])), int(after[1])]
        rows = await self.pool.fetch(
            "SELECT u.username, r.user_id, r.stars, r.review, r.created_at, r.updated_at"
            " FROM ratings r JOIN users u ON u.id = r.user_id"
            f" WHERE r.module_id = $1{where} ORDER BY r.updated_at DESC, r.user_id DESC LIMIT $2",
            *args,
        )
        summary = await self.pool.fetchrow(
            "SELECT c AS rating_count, avg AS rating_avg, h AS stars FROM rating_summary($1)", mid
        )
        assert summary is not None
        return list(rows), summary

    async def refresh_rating_columns(self, since: datetime) -> int:
        """Copy exact shard sums into modules.rating_* (search sort) for modules rated
        since `since`; returns how many modules changed."""
        result: str = await self.pool.execute(
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

    # ------------------------------------------------------------ stats

    async def download_stats(
        self, mod: ModuleName, days: int
    ) -> tuple[list[asyncpg.Record], list[asyncpg.Record], date]:
        mid = await self._module_id(self.pool, mod)
        today: date = await self.pool.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
        start = today - timedelta(days=days - 1)
        per_version = await self.pool.fetch(
            "SELECT v.version, v.downloads, v.runtime_fetches,"
            " coalesce(sum(d.count) FILTER (WHERE d.purpose = 'user'), 0)::bigint AS win_user,"
            " coalesce(sum(d.count) FILTER (WHERE d.purpose = 'runtime'), 0)::bigint AS win_runtime"
            " FROM versions v LEFT JOIN download_daily d ON d.version_id = v.id AND d.day >= $2"
            " WHERE v.module_id = $1 GROUP BY v.id",
            mid,
            start,
        )
        daily = await self.pool.fetch(
            "SELECT d.day,"
            " coalesce(sum(d.count) FILTER (WHERE d.purpose = 'user'), 0)::bigint AS user_count,"
            " coalesce(sum(d.count) FILTER (WHERE d.purpose = 'runtime'), 0)::bigint"
            " AS runtime_count"
            " FROM download_daily d JOIN versions v ON v.id = d.version_id"
            " WHERE v.module_id = $1 AND d.day >= $2 GROUP BY d.day ORDER BY d.day",
            mid,
            start,
        )
        return list(per_version), list(daily), today

    # ------------------------------------------------------------ search

    async def search(self, q: SearchQuery) -> tuple[list[asyncpg.Record], str]:
        """One page of modules and the next cursor ("" when this was the last page).

        Text queries run the exact full-text search alone (GIN index, one statement).
        Only when it finds fewer than ``search.FUZZY_BELOW`` modules are typo-tolerant
        name matches added; the first page decides and its cursor carries the decision,
        so every page of one search draws from the same result set.
        """
        order, keys, arity = _SORTS[q.sort]
        bind = cursor_binding(
            q.words, q.category, q.tag, q.license, q.kind, q.owner, q.namespace, q.sort
        )
        after = decode_cursor(q.cursor, bind, arity + bool(q.words))
        fuzzy: bool | None = None
        if after is not None and q.words:
            flag = after.pop()
            if flag not in (0, 1):
                raise InvalidArgument("page.cursor is not a cursor issued by this service")
            fuzzy = bool(flag)
        async with (self.search_pool or self.pool).acquire() as conn:

            async def page(after: list[Any] | None, fuzzy: bool, limit: int) -> list[Any]:
                relaxed = ""
                if fuzzy and not self.use_pg_trgm:
                    relaxed = search.fuzzy_tsquery(q.words, await _corrections(conn, q.words))
                sql, args = self._search_sql(q, keys, order, after, fuzzy, limit, relaxed)
                return list(await conn.fetch(sql, *args))

            if q.words and fuzzy is None:
                # Fetching FUZZY_BELOW rows costs the same top-N sort as a page: the
                # exact result count is known below that without counting.
                rows = await page(None, False, max(q.limit + 1, search.FUZZY_BELOW))
                fuzzy = len(rows) < search.FUZZY_BELOW
                if fuzzy:
                    rows = await page(None, True, q.limit + 1)
            else:
                rows = await page(after, bool(fuzzy), q.limit + 1)
        rows, more = split_page(rows, q.limit)
        next_cursor = ""
        if more:
            values = _cursor_values(q.sort, rows[-1])
            if q.words:
                values.append(int(bool(fuzzy)))
            next_cursor = encode_cursor(bind, values)
        return rows, next_cursor

    def _search_sql(
        self,
        q: SearchQuery,
        keys: Any,
        order: str,
        after: list[Any] | None,
        fuzzy: bool,
        limit: int,
        relaxed: str = "",
    ) -> tuple[str, list[Any]]:
        """The statement for one page: ``(sql, args)``, user values only as parameters.

        `relaxed` is the typo-tolerant tsquery text (search.fuzzy_tsquery) matched
        besides the exact one.
        """
        args: list[Any] = []

        def p(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        where: list[str] = []
        score = "0::float8"
        with_clause = ""
        tsq = ""
        trgm = fuzzy and self.use_pg_trgm
        if q.words:
            tsq = (
                f"(to_tsquery('simple', {p(search.prefix_tsquery(q.words))})"
                f" || to_tsquery('english', {p(search.plain_tsquery(q.words))})"
                + (f" || to_tsquery('simple', {p(relaxed)})" if relaxed else "")
                + ")"
            )
            rank = f"ts_rank(m.search_vector, {tsq})::float8"
            if trgm:
                qp = p(" ".join(q.words))
                # Candidates with their text rank + name similarity; only the few text
                # hits (fewer than FUZZY_BELOW) are ranked by ts_rank.
                text_rank = rank.replace("m.", "mm.") if q.sort == "relevance" else "0::float8"
                with_clause = (
                    f"WITH f AS (SELECT id AS module_id, word_similarity({qp}, name_norm)::float8"
                    f" AS sim FROM modules WHERE {qp} <% name_norm),"
                    f" c AS (SELECT id, sum(r) AS r FROM (SELECT mm.id, {text_rank} AS r"
                    f" FROM modules mm WHERE mm.search_vector @@ {tsq}"
                    " UNION ALL SELECT module_id, sim FROM f) x GROUP BY id) "
                )
                rank = "c.r"
            if q.sort == "relevance":
                exact_name = p(names.normalize("-".join(q.words)))
                score = (
                    f"({rank} + CASE WHEN m.name_norm = {exact_name}"
                    " THEN 1::float8 ELSE 0::float8 END)"
                )
        if q.category:
            where.append(f"m.category = {p(q.category)}")
        if q.tag:
            where.append(f"m.tags @> ARRAY[{p(q.tag)}]::text[]")
        if q.license:
            where.append(f"m.license = {p(q.license)}")
        if q.kind:
            where.append(f"m.kind = {p(q.kind)}")
        if q.namespace:
            where.append(
                "m.namespace_id = (SELECT id FROM namespaces"
                f" WHERE name_norm = {p(names.normalize(q.namespace))})"
            )
        if q.owner:
            owner = p(names.normalize(q.owner))
            where.append(
                "m.namespace_id IN (SELECT o.namespace_id FROM namespace_owners o"
                f" JOIN users u ON u.id = o.user_id WHERE u.username_norm = {owner})"
            )
        narrow = (
            "SELECT m.id, m.full_norm, m.downloads, m.rating_avg, m.rating_count,"
            f" m.updated_at, {score} AS score"
        )
        filters = "".join(f" AND {w}" for w in where)
        if trgm:
            # Candidates fetched by an id array: an OR of text and name hits, or a join
            # the planner sizes from a CTE guess, ended in a sequential scan of every
            # module.
            matches = (
                f"{narrow} FROM modules m JOIN c ON c.id = m.id"
                f" WHERE m.id = ANY(ARRAY(SELECT id FROM c)){filters}"
            )
        elif q.words:
            matches = f"{narrow} FROM modules m WHERE m.search_vector @@ {tsq}{filters}"
        else:
            matches = f"{narrow} FROM modules m WHERE true{filters}"
        # Rank and page on narrow rows first; fetch display columns for one page only.
        keyset = f" WHERE {keys(after, p)}" if after is not None else ""
        sql = (
            f"{with_clause}SELECT {_MODULE_COLS}, s.score FROM ("
            f"SELECT * FROM ({matches}) k{keyset} ORDER BY {order} LIMIT {p(limit)}) s"
            " JOIN modules m ON m.id = s.id JOIN namespaces n ON n.id = m.namespace_id"
            f" ORDER BY {_prefixed(order, 's.')}"
        )
        return sql, args


async def _corrections(conn: Conn, words: list[str]) -> dict[int, list[str]]:
    """Vocabulary words like each query word (by index): those holding at least
    SIMILARITY_THRESHOLD of its trigrams, most shared first, at most MAX_CORRECTIONS."""
    grams = [(g, i) for i, w in enumerate(words) for g in search.word_trigrams(w)]
    need = [search.min_shared(len(search.word_trigrams(w))) for w in words]
    rows = await conn.fetch(
        "SELECT q.i, t.word FROM unnest($1::text[], $2::int[]) AS q (trigram, i)"
        " JOIN name_word_trigrams t ON t.trigram = q.trigram"
        " GROUP BY q.i, t.word HAVING count(*) >= ($3::int[])[q.i + 1]"
        " ORDER BY q.i, count(*) DESC, t.word",
        [g for g, _ in grams],
        [i for _, i in grams],
        need,
    )
    out: dict[int, list[str]] = {}
    for r in rows:
        found = out.setdefault(r["i"], [])
        if len(found) < search.MAX_CORRECTIONS:
            found.append(r["word"])
    return out


def _prefixed(order: str, prefix: str) -> str:
    """``"score DESC, full_norm"`` → ``"s.score DESC, s.full_norm"``."""
    return ", ".join(prefix + term.strip() for term in order.split(","))


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"))


def _cursor_values(sort: str, row: asyncpg.Record) -> list[Any]:
    if sort == "relevance":
        return [row["score"], row["full_norm"]]
    if sort == "downloads":
        return [row["downloads"], row["full_norm"]]
    if sort == "rating":
        return [row["rating_avg"], row["rating_count"], row["full_norm"]]
    if sort == "recent":
        return [row["updated_at"].isoformat(), row["full_norm"]]
    return [row["full_norm"]]


def _keyset(cols: list[tuple[str, str, str]]) -> Any:
    """Build ``(a < $x) OR (a = $x AND b > $y) …`` for mixed-direction keyset paging."""

    def build(values: list[Any], p: Any) -> str:
        try:
            bound = [
                p(_cast(cast, v)) + f"::{cast}"
                for (_, _, cast), v in zip(cols, values, strict=True)
            ]
        except (TypeError, ValueError) as exc:
            raise InvalidArgument("page.cursor is not a cursor issued by this service") from exc
        ors = []
        for i, (col, direction, _) in enumerate(cols):
            eqs = [f"{cols[j][0]} = {bound[j]}" for j in range(i)]
            op = "<" if direction == "desc" else ">"
            ors.append("(" + " AND ".join([*eqs, f"{col} {op} {bound[i]}"]) + ")")
        # The redundant leading bound is what an index scan in the sort order can start
        # from; the OR alone is only a filter.
        lead = f"{cols[0][0]} {'<=' if cols[0][1] == 'desc' else '>='} {bound[0]}"
        return f"({lead} AND ({' OR '.join(ors)}))"

    return build


def _cast(cast: str, value: Any) -> Any:
    if cast == "float8":
        return float(value)
    if cast == "bigint":
        return int(value)
    if cast == "timestamptz":
        return datetime.fromisoformat(str(value))
    if not isinstance(value, str):
        raise TypeError("text cursor value expected")
    return value


_SORTS: dict[str, tuple[str, Any, int]] = {
    "relevance": (
        "score DESC, full_norm",
        _keyset([("score", "desc", "float8"), ("full_norm", "asc", "text")]),
        2,
    ),
    "downloads": (
        "downloads DESC, full_norm",
        _keyset([("downloads", "desc", "bigint"), ("full_norm", "asc", "text")]),
        2,
    ),
    "rating": (
        "rating_avg DESC, rating_count DESC, full_norm",
        _keyset(
            [
                ("rating_avg", "desc", "float8"),
                ("rating_count", "desc", "bigint"),
                ("full_norm", "asc", "text"),
            ]
        ),
        3,
    ),
    "recent": (
        "updated_at DESC, full_norm",
        _keyset([("updated_at", "desc", "timestamptz"), ("full_norm", "asc", "text")]),
        2,
    ),
    "name": ("full_norm", _keyset([("full_norm", "asc", "text")]), 1),
}
