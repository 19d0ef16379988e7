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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from wasmgrid.common.errors import (
    InvalidArgument,
)
from wasmgrid.common.paging import cursor_binding, decode_cursor, encode_cursor, split_page
from wasmgrid.marketplace import names, search
from wasmgrid.marketplace.store.database import Conn

log = logging.getLogger(__name__)

#: Bytes of whole stored chunks a download reads per query (one batch is read ahead).
READ_BATCH_BYTES = 4 << 20


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

    # ------------------------------------------------------------ reads

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
