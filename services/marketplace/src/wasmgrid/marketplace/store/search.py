"""Search over ``modules`` (its ``search_vector`` GIN index and the btree index of each
sort order) and the name-word vocabulary (table ``name_word_trigrams``).

A page's statement is put together from named parts (text query, rank, filters,
keyset, order), user values only as ``$n`` parameters. Each sort order is declared
once (:data:`SORT_KEYS`): its ORDER BY, its keyset predicate and its cursor values all
follow from that declaration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.marketplace import names, search
from wasmgrid.marketplace.names import ModuleName
from wasmgrid.marketplace.records import SearchHit, SearchQuery
from wasmgrid.marketplace.search import Sort
from wasmgrid.marketplace.store.database import Conn

_BAD_CURSOR = "page.cursor is not a cursor issued by this service"


@dataclass(frozen=True)
class SortKey:
    """One column of a sort order."""

    #: The column of the ranked rows (and the :class:`SearchHit` field, unless `field`).
    column: str
    descending: bool
    #: The SQL type a cursor value is bound as: float8, bigint, timestamptz or text.
    sql_type: str
    field: str = ""

    def cursor_value(self, hit: SearchHit) -> Any:
        """This key of `hit` as a JSON value for a cursor."""
        value = getattr(hit, self.field or self.column)
        return value.isoformat() if isinstance(value, datetime) else value

    def bind_value(self, value: Any) -> Any:
        """A cursor's JSON value as the parameter to bind; TypeError/ValueError if it
        cannot be one."""
        if self.sql_type == "float8":
            return float(value)
        if self.sql_type == "bigint":
            return int(value)
        if self.sql_type == "timestamptz":
            return datetime.fromisoformat(str(value))
        if not isinstance(value, str):
            raise TypeError("text cursor value expected")
        return value


_NAME = SortKey("full_norm", False, "text")
#: Each sort order's keys, most significant first; all end with the unique name.
SORT_KEYS: dict[Sort, tuple[SortKey, ...]] = {
    Sort.RELEVANCE: (SortKey("score", True, "float8"), _NAME),
    Sort.DOWNLOADS: (SortKey("downloads", True, "bigint"), _NAME),
    Sort.RATING: (
        SortKey("rating_avg", True, "float8", field="rating_average"),
        SortKey("rating_count", True, "bigint"),
        _NAME,
    ),
    Sort.RECENT: (SortKey("updated_at", True, "timestamptz"), _NAME),
    Sort.NAME: (_NAME,),
}

#: The columns ranked and paged before the display columns are read.
_RANKED = "m.id, m.full_norm, m.downloads, m.rating_avg, m.rating_count, m.updated_at"
#: What a hit shows, read for one page only.
_DISPLAY = (
    "n.name || '/' || m.name AS full_name, m.full_norm, m.latest_version, m.description,"
    " m.license, m.category, m.tags, m.kind, m.downloads, m.rating_avg, m.rating_count,"
    " m.updated_at, s.score"
)


def cursor_values(sort: Sort, hit: SearchHit) -> list[Any]:
    """The sort keys of `hit`: where the next page starts."""
    return [key.cursor_value(hit) for key in SORT_KEYS[sort]]


async def page(
    conn: Conn,
    q: SearchQuery,
    *,
    after: Sequence[Any] | None,
    fuzzy: bool,
    limit: int,
    use_pg_trgm: bool,
) -> list[SearchHit]:
    """Up to `limit` hits in `q.sort` order after the sort keys `after` (a cursor's
    values); `fuzzy` adds typo-tolerant name matches to the exact text matches."""
    relaxed = ""
    if fuzzy and not use_pg_trgm:
        relaxed = search.fuzzy_tsquery(list(q.words), await _corrections(conn, q.words))
    statement = _Statement(q, use_pg_trgm=fuzzy and use_pg_trgm, relaxed=relaxed)
    sql = statement.sql(after, limit)
    return [_hit(r) for r in await conn.fetch(sql, *statement.args)]


async def index_name(conn: Conn, mod: ModuleName) -> None:
    """Add the words of a new module's name to the typo-correction vocabulary."""
    pairs = [(g, w) for w in search.name_words(mod.name_norm) for g in search.word_trigrams(w)]
    await conn.execute(
        "INSERT INTO name_word_trigrams (trigram, word)"
        " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        [g for g, _ in pairs],
        [w for _, w in pairs],
    )


def _hit(row: asyncpg.Record) -> SearchHit:
    return SearchHit(
        name=row["full_name"],
        full_norm=row["full_norm"],
        latest_version=row["latest_version"],
        description=row["description"],
        license=row["license"],
        category=row["category"],
        tags=tuple(row["tags"]),
        kind=row["kind"],
        downloads=row["downloads"],
        rating_average=row["rating_avg"],
        rating_count=row["rating_count"],
        updated_at=row["updated_at"],
        score=row["score"],
    )


class _Statement:
    """The statement of one search page; user values only as parameters (`args`)."""

    def __init__(self, q: SearchQuery, *, use_pg_trgm: bool, relaxed: str) -> None:
        self.q = q
        self.keys = SORT_KEYS[q.sort]
        self.args: list[Any] = []
        self.trgm = use_pg_trgm
        #: The typo-tolerant tsquery text (search.fuzzy_tsquery) matched besides the exact.
        self.relaxed = relaxed

    def param(self, value: Any) -> str:
        """Bind `value`; its placeholder."""
        self.args.append(value)
        return f"${len(self.args)}"

    def sql(self, after: Sequence[Any] | None, limit: int) -> str:
        """The statement: matches ranked on narrow rows, one page of them kept, then
        their display columns read."""
        q = self.q
        candidates, score, matched = "", "0::float8", ""
        if q.words:
            tsq = self._tsquery()
            rank = self._rank("m", tsq)
            if self.trgm:
                candidates = self._trigram_candidates(tsq)
                rank = "c.r"
            if q.sort is Sort.RELEVANCE:
                exact_name = self.param(names.normalize("-".join(q.words)))
                score = (
                    f"({rank} + CASE WHEN m.name_norm = {exact_name}"
                    " THEN 1::float8 ELSE 0::float8 END)"
                )
            matched = f"m.search_vector @@ {tsq}"
        filters = "".join(f" AND {f}" for f in self._filters())
        narrow = f"SELECT {_RANKED}, {score} AS score"
        if self.trgm:
            # Candidates fetched by an id array: an OR of text and name hits, or a join
            # the planner sizes from a CTE guess, ended in a sequential scan of every
            # module.
            matches = (
                f"{narrow} FROM modules m JOIN c ON c.id = m.id"
                f" WHERE m.id = ANY(ARRAY(SELECT id FROM c)){filters}"
            )
        else:
            matches = f"{narrow} FROM modules m WHERE {matched or 'true'}{filters}"
        keyset = f" WHERE {self._keyset(after)}" if after is not None else ""
        return (
            f"{candidates}SELECT {_DISPLAY} FROM ("
            f"SELECT * FROM ({matches}) k{keyset} ORDER BY {self._order()}"
            f" LIMIT {self.param(limit)}) s"
            " JOIN modules m ON m.id = s.id JOIN namespaces n ON n.id = m.namespace_id"
            f" ORDER BY {self._order('s.')}"
        )

    def _tsquery(self) -> str:
        """Every word as a prefix (simple) or a stem (english), or the relaxed query."""
        words = list(self.q.words)
        parts = [
            f"to_tsquery('simple', {self.param(search.prefix_tsquery(words))})",
            f"to_tsquery('english', {self.param(search.plain_tsquery(words))})",
        ]
        if self.relaxed:
            parts.append(f"to_tsquery('simple', {self.param(self.relaxed)})")
        return f"({' || '.join(parts)})"

    @staticmethod
    def _rank(alias: str, tsq: str) -> str:
        return f"ts_rank({alias}.search_vector, {tsq})::float8"

    def _trigram_candidates(self, tsq: str) -> str:
        """``WITH`` text hits and pg_trgm name hits, each with its score (`c`)."""
        qp = self.param(" ".join(self.q.words))
        # Only the few text hits (fewer than FUZZY_BELOW) are ranked by ts_rank.
        text_rank = self._rank("mm", tsq) if self.q.sort is Sort.RELEVANCE else "0::float8"
        return (
            f"WITH f AS (SELECT id AS module_id, word_similarity({qp}, name_norm)::float8"
            f" AS sim FROM modules WHERE {qp} <% name_norm),"
            f" c AS (SELECT id, sum(r) AS r FROM (SELECT mm.id, {text_rank} AS r"
            f" FROM modules mm WHERE mm.search_vector @@ {tsq}"
            " UNION ALL SELECT module_id, sim FROM f) x GROUP BY id) "
        )

    def _filters(self) -> list[str]:
        q, p = self.q, self.param
        found = []
        if q.category:
            found.append(f"m.category = {p(q.category)}")
        if q.tag:
            found.append(f"m.tags @> ARRAY[{p(q.tag)}]::text[]")
        if q.license:
            found.append(f"m.license = {p(q.license)}")
        if q.kind:
            found.append(f"m.kind = {p(q.kind)}")
        if q.namespace:
            found.append(
                "m.namespace_id = (SELECT id FROM namespaces"
                f" WHERE name_norm = {p(names.normalize(q.namespace))})"
            )
        if q.owner:
            owner = p(names.normalize(q.owner))
            found.append(
                "m.namespace_id IN (SELECT o.namespace_id FROM namespace_owners o"
                f" JOIN users u ON u.id = o.user_id WHERE u.username_norm = {owner})"
            )
        return found

    def _keyset(self, after: Sequence[Any]) -> str:
        """``(a < $x) OR (a = $x AND b > $y) …`` for mixed-direction keyset paging."""
        try:
            bound = [
                f"{self.param(key.bind_value(v))}::{key.sql_type}"
                for key, v in zip(self.keys, after, strict=True)
            ]
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(_BAD_CURSOR) from exc
        ors = []
        for i, key in enumerate(self.keys):
            eqs = [f"{self.keys[j].column} = {bound[j]}" for j in range(i)]
            op = "<" if key.descending else ">"
            ors.append("(" + " AND ".join([*eqs, f"{key.column} {op} {bound[i]}"]) + ")")
        # The redundant leading bound is what an index scan in the sort order can start
        # from; the OR alone is only a filter.
        lead = self.keys[0]
        lead_bound = f"{lead.column} {'<=' if lead.descending else '>='} {bound[0]}"
        return f"({lead_bound} AND ({' OR '.join(ors)}))"

    def _order(self, alias: str = "") -> str:
        return ", ".join(
            f"{alias}{key.column}{' DESC' if key.descending else ''}" for key in self.keys
        )


async def _corrections(conn: Conn, words: Sequence[str]) -> dict[int, list[str]]:
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
