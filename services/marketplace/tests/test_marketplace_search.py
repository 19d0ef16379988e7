"""Search modes (exact first, typo-tolerant fallback) and keyset pages via gRPC.

Every test runs twice: typo tolerance through the name-word vocabulary (the embedded
PostgreSQL has no pg_trgm) and through pg_trgm (Debian's PostgreSQL with contrib).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.marketplace import search
from wasmgrid.marketplace.service import MarketplaceService
from wasmgrid.marketplace.tokens import new_secret

from .conftest import Market, start_market, stop_market

SORTS = [
    pb.SEARCH_SORT_RELEVANCE,
    pb.SEARCH_SORT_DOWNLOADS,
    pb.SEARCH_SORT_RATING,
    pb.SEARCH_SORT_RECENT,
    pb.SEARCH_SORT_NAME,
]


@pytest.fixture(params=["vocabulary", "pg_trgm"])
def typo_backend(request: pytest.FixtureRequest) -> tuple[str, bool]:
    """A fresh database, and whether its server has pg_trgm (the contrib PostgreSQL)."""
    pg_trgm = request.param == "pg_trgm"
    url = request.getfixturevalue("contrib_database_url" if pg_trgm else "database_url")
    return str(url), pg_trgm


@pytest.fixture
async def market(typo_backend: tuple[str, bool]) -> AsyncIterator[Market]:
    """A marketplace whose typo tolerance runs through the vocabulary or pg_trgm."""
    url, pg_trgm = typo_backend
    m = await start_market(url, new_secret())
    try:
        service = m.runner.service
        assert isinstance(service, MarketplaceService)
        assert service.domain.db.use_pg_trgm is pg_trgm
        yield m
    finally:
        await stop_market(m)


async def _catalog(market: Market, wasm: bytes) -> None:
    """More exact "image" hits than FUZZY_BELOW, plus names only a typo search finds."""
    pub = await market.user("pics")
    hits = search.FUZZY_BELOW + 2
    for i in range(hits):
        await market.publish(
            pub,
            f"pics/image-tool-{i}",
            "1.0.0",
            wasm,
            description=f"Image helper number {i}" + " with filters" * (i % 3),
            tags=["image"] if i % 2 else [],
            category="image-processing" if i % 4 else "utilities",
        )
    # Shares 4 of the 6 trigrams of "image": a name match only for a typo search.
    await market.publish(pub, "pics/imagr", "1.0.0", wasm, description="unrelated words")
    await market.publish(pub, "pics/thumbnailer", "1.0.0", wasm, description="small pictures")
    for i in range(0, hits, 3):  # distinct download counts for the downloads sort
        for _ in range(i % 4 + 1):
            await market.download(name=f"pics/image-tool-{i}", version="1.0.0")


async def _all_pages(market: Market, limit: int, **kw: Any) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    cursor = ""
    for _ in range(100):
        resp = await market.stub.SearchModules(
            pb.SearchModulesRequest(page=common_pb2.PageRequest(limit=limit, cursor=cursor), **kw)
        )
        out += [(m.name, m.score) for m in resp.modules]
        cursor = resp.page.next_cursor
        if not cursor:
            return out
    raise AssertionError("pagination did not end")


async def test_exact_search_skips_typo_matches_and_typos_still_find(
    market: Market, mathfn_wasm: bytes
) -> None:
    await _catalog(market, mathfn_wasm)

    async def names(**kw: Any) -> list[str]:
        return [name for name, _ in await _all_pages(market, 100, **kw)]

    exact = await names(query="image")
    assert len(exact) == search.FUZZY_BELOW + 2
    assert "pics/imagr" not in exact  # enough exact hits: no trigram scan, no typo matches
    assert all(n.startswith("pics/image-tool-") for n in exact)
    # Fewer exact hits than FUZZY_BELOW: typo-tolerant name matches join in.
    typo = await names(query="imagi")
    assert "pics/imagr" in typo and "pics/image-tool-0" in typo
    # A few exact hits (the tags, via the English stem) plus the names like "imagee".
    assert len(await names(query="imagee")) == search.FUZZY_BELOW + 2
    assert (await names(query="thumbnailr"))[0] == "pics/thumbnailer"
    assert (await names(query="imagr"))[0] == "pics/imagr"  # exact name first
    assert await names(query="zzzzzz") == []
    # Filters apply to typo matches too.
    assert "pics/imagr" not in await names(query="imagi", category="image-processing")


@pytest.mark.parametrize("query", ["image", "imagee", "imagi", ""])
async def test_pages_repeat_the_single_page_order(
    market: Market, mathfn_wasm: bytes, query: str
) -> None:
    await _catalog(market, mathfn_wasm)
    for sort in SORTS:
        if sort == pb.SEARCH_SORT_RELEVANCE and not query:
            continue
        whole = await _all_pages(market, 100, query=query, sort=sort)
        assert len(whole) >= search.FUZZY_BELOW, (query, sort)
        for limit in (1, 3):
            paged = await _all_pages(market, limit, query=query, sort=sort)
            assert paged == whole, (query, sort, limit)
        assert len({name for name, _ in whole}) == len(whole)
    by_filter = await _all_pages(market, 2, query=query, category="image-processing")
    assert by_filter == await _all_pages(market, 100, query=query, category="image-processing")


async def test_cursor_mode_flag_is_checked(market: Market, mathfn_wasm: bytes) -> None:
    await _catalog(market, mathfn_wasm)
    first = await market.stub.SearchModules(
        pb.SearchModulesRequest(query="image", page=common_pb2.PageRequest(limit=2))
    )
    raw = first.page.next_cursor
    doc = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert doc["v"][-1] == 0  # exact mode, carried to the next pages
    doc["v"][-1] = 7
    forged = base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await market.stub.SearchModules(
            pb.SearchModulesRequest(query="image", page=common_pb2.PageRequest(cursor=forged))
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page.cursor" in (err.value.details() or "")


async def test_vocabulary_backfill_matches_publish(market: Market, mathfn_wasm: bytes) -> None:
    """Migration 0005 builds the same vocabulary from existing names as publish does."""
    import asyncpg

    from wasmgrid.marketplace.store.database import MIGRATIONS

    pub = await market.user("voc")
    for name in ("image-resize", "Fast_Tensor-2", "a", "x9-x9-yy"):
        await market.publish(pub, f"voc/{name}", "1.0.0", mathfn_wasm)
    text = (MIGRATIONS / "0005_name_vocabulary.sql").read_text()
    sql = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    backfill = next(s for s in sql.split(";") if "INSERT INTO name_word_trigrams" in s)
    conn = await asyncpg.connect(
        market.database_url, server_settings={"search_path": "marketplace, public"}
    )
    try:
        query = "SELECT trigram, word FROM name_word_trigrams ORDER BY 1, 2"
        published = await conn.fetch(query)
        await conn.execute("DELETE FROM name_word_trigrams")
        await conn.execute(backfill)
        assert await conn.fetch(query) == published
    finally:
        await conn.close()
    assert ("  f", "fast") in [tuple(r) for r in published]
    assert ("  v", "voc") not in [tuple(r) for r in published]  # module names only
