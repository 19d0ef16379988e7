"""Yank/resolve, tokens, ratings under concurrency, search and pagination via gRPC."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.common.testing import expect_rpc_error, poll_until

from .conftest import Market


async def test_yank_and_resolve(market: Market, mathfn_wasm: bytes) -> None:
    ann = await market.user("ann")
    for v in ("1.0.0", "1.2.0", "1.2.5", "2.0.0-rc.1", "2.0.0", "2.1.0"):
        await market.publish(ann, "ann/lib", v, mathfn_wasm)

    async def resolve(req: str) -> str:
        r = await market.stub.Resolve(pb.ResolveRequest(name="ann/lib", requirement=req))
        return str(r.version)

    assert await resolve("latest") == "2.1.0"
    assert await resolve("^1.2") == "1.2.5"
    assert await resolve("~1.2.0") == "1.2.5"
    assert await resolve(">=1, <2") == "1.2.5"
    assert await resolve("=2.0.0-rc.1") == "2.0.0-rc.1"
    assert await resolve("*") == "2.1.0"
    await market.stub.Yank(
        pb.YankRequest(name="ann/lib", version="2.1.0", reason="broken build"),
        metadata=market.auth(ann),
    )
    assert await resolve("latest") == "2.0.0"
    assert await resolve("=2.1.0") == "2.1.0"  # pinned: still resolves and downloads
    _, body = await market.download(name="ann/lib", version="2.1.0")
    assert body == mathfn_wasm
    got = await market.stub.GetVersion(pb.GetVersionRequest(name="ann/lib", version="2.1.0"))
    assert got.version.yanked
    assert got.version.yank_reason == "broken build"
    assert got.version.validation.kind == pb.MODULE_KIND_REACTOR
    await expect_rpc_error(grpc.StatusCode.NOT_FOUND, resolve("^3"), "^3")
    await expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, resolve(">=banana"), "requirement")
    other = await market.user("otto")
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.stub.Yank(
            pb.YankRequest(name="ann/lib", version="1.0.0", reason="x"), metadata=market.auth(other)
        ),
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.Yank(
            pb.YankRequest(name="ann/lib", version="1.0.0"), metadata=market.auth(ann)
        ),
        "reason",
    )
    await market.stub.Unyank(
        pb.UnyankRequest(name="ann/lib", version="2.1.0"), metadata=market.auth(ann)
    )
    assert await resolve("latest") == "2.1.0"
    versions = await market.stub.ListVersions(
        pb.ListVersionsRequest(name="ann/lib", page=common_pb2.PageRequest(limit=4))
    )
    assert [v.version for v in versions.versions] == ["2.1.0", "2.0.0", "2.0.0-rc.1", "1.2.5"]
    rest = await market.stub.ListVersions(
        pb.ListVersionsRequest(
            name="ann/lib", page=common_pb2.PageRequest(limit=4, cursor=versions.page.next_cursor)
        )
    )
    assert [v.version for v in rest.versions] == ["1.2.0", "1.0.0"]
    assert rest.page.next_cursor == ""


async def test_tokens(market: Market) -> None:
    bea = await market.user("bea")
    ro = await market.stub.CreateToken(
        pb.CreateTokenRequest(name="ci", scopes=[pb.SCOPE_RATE], ttl_seconds=3600),
        metadata=market.auth(bea),
    )
    assert ro.secret.startswith("wgt_")
    assert ro.token.HasField("expires_at")
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.stub.CreateToken(
            pb.CreateTokenRequest(name="x", scopes=[pb.SCOPE_PUBLISH]),
            metadata=market.auth(ro.secret),
        ),
        "publish",
    )
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.stub.CreateToken(
            pb.CreateTokenRequest(name="x", scopes=[pb.SCOPE_ADMIN]), metadata=market.auth(bea)
        ),
        "admin",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.CreateToken(pb.CreateTokenRequest(name="x"), metadata=market.auth(bea)),
        "scopes",
    )
    listed = await market.stub.ListTokens(pb.ListTokensRequest(), metadata=market.auth(bea))
    assert {t.name for t in listed.tokens} == {"ci", "initial"}
    await market.stub.RevokeToken(
        pb.RevokeTokenRequest(token_id=ro.token.id), metadata=market.auth(bea)
    )
    await expect_rpc_error(
        grpc.StatusCode.UNAUTHENTICATED,
        market.stub.WhoAmI(pb.WhoAmIRequest(), metadata=market.auth(ro.secret)),
        "revoked",
    )
    await expect_rpc_error(
        grpc.StatusCode.UNAUTHENTICATED,
        market.stub.WhoAmI(pb.WhoAmIRequest(), metadata=[("authorization", "Basic abc")]),
    )
    # Only an admin creates admins.
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.stub.CreateUser(pb.CreateUserRequest(username="evil", role=pb.ROLE_ADMIN)),
        "admin",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.CreateUser(pb.CreateUserRequest(username="root")),
        "reserved",
    )


async def test_concurrent_ratings_are_exact(market: Market, mathfn_wasm: bytes) -> None:
    owner = await market.user("owner")
    await market.publish(owner, "owner/popular", "1.0.0", mathfn_wasm)
    raters = await asyncio.gather(*(market.user(f"rater{i}") for i in range(30)))
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.stub.RateModule(
            pb.RateModuleRequest(name="owner/popular", stars=5), metadata=market.auth(owner)
        ),
        "owners cannot rate",
    )

    async def rate(i: int, stars: int) -> None:
        await market.stub.RateModule(
            pb.RateModuleRequest(name="owner/popular", stars=stars, review=f"r{i}"),
            metadata=market.auth(raters[i]),
        )

    # Every rater rates twice concurrently with others; the second rating replaces the first.
    await asyncio.gather(*(rate(i, 1 + i % 5) for i in range(30)))
    await asyncio.gather(*(rate(i, 5 - i % 5) for i in range(30)))
    final = [5 - i % 5 for i in range(30)]
    ratings = await market.stub.ListRatings(
        pb.ListRatingsRequest(name="owner/popular", page=common_pb2.PageRequest(limit=100))
    )
    s = ratings.summary
    assert s.count == 30
    assert len(ratings.ratings) == 30
    assert s.average == pytest.approx(sum(final) / 30)
    assert list(s.histogram) == [final.count(k) for k in range(1, 6)]
    mod = (await market.stub.GetModule(pb.GetModuleRequest(name="owner/popular"))).module
    assert mod.rating_count == 30
    assert mod.rating_average == pytest.approx(sum(final) / 30)
    # The same users racing themselves: whichever rating lands last wins, and the
    # aggregate must still equal what the stored ratings add up to.
    await asyncio.gather(*(rate(i, 1 + (i + k) % 5) for i in range(30) for k in range(3)))
    ratings = await market.stub.ListRatings(
        pb.ListRatingsRequest(name="owner/popular", page=common_pb2.PageRequest(limit=100))
    )
    stored = [r.stars for r in ratings.ratings]
    assert len(stored) == 30
    assert ratings.summary.count == 30
    assert ratings.summary.average == pytest.approx(sum(stored) / 30)
    assert list(ratings.summary.histogram) == [stored.count(k) for k in range(1, 6)]
    # Search's rating sort keys catch up with the exact aggregate.

    async def sort_keys_caught_up() -> bool:
        hits = await market.stub.SearchModules(
            pb.SearchModulesRequest(owner="owner", sort=pb.SEARCH_SORT_RATING)
        )
        top = hits.modules[0]
        return bool(top.rating_count == 30) and top.rating_average == pytest.approx(
            sum(stored) / 30
        )

    await poll_until(sort_keys_caught_up, "the rating sort keys to match the ratings", 20, 0.1)
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.RateModule(
            pb.RateModuleRequest(name="owner/popular", stars=6), metadata=market.auth(raters[0])
        ),
        "stars",
    )


async def test_search(market: Market, mathfn_wasm: bytes, hello_wasm: bytes) -> None:
    pub = await market.user("pub")
    catalog = [
        ("image-resize", "Resize images quickly with bilinear filtering", "image-processing",
         ["image", "resize"]),
        ("thumbnailer", "Makes thumbnails of pictures", "image-processing", ["image"]),
        ("sha-tools", "Hashing: sha256 and sha512 digests", "crypto-security", ["hash"]),
        ("matrix-math", "Linear algebra on small matrices", "mathematics", ["linear-algebra"]),
        ("kv-store", "A tiny key value database", "database", ["storage"]),
    ]  # fmt: skip
    for name, desc, cat, tags in catalog:
        await market.publish(
            pub, f"pub/{name}", "1.0.0", mathfn_wasm, description=desc, category=cat, tags=tags
        )
    await market.publish(pub, "pub/echo", "1.0.0", hello_wasm, description="echo server")

    async def names(**kw: Any) -> list[str]:
        resp = await market.stub.SearchModules(pb.SearchModulesRequest(**kw))
        return [m.name for m in resp.modules]

    assert (await names(query="resize"))[0] == "pub/image-resize"
    assert set(await names(query="image")) == {"pub/image-resize", "pub/thumbnailer"}
    assert (await names(query="image"))[0] == "pub/image-resize"  # name beats tag
    assert await names(query="pictures") == ["pub/thumbnailer"]  # description
    assert await names(query="imge-resiz") == ["pub/image-resize"]  # typos on the name
    assert await names(query="thumbnailr") == ["pub/thumbnailer"]
    assert await names(category="mathematics") == ["pub/matrix-math"]
    assert await names(tag="image", sort=pb.SEARCH_SORT_NAME) == [
        "pub/image-resize",
        "pub/thumbnailer",
    ]
    assert await names(kind=pb.MODULE_KIND_COMMAND) == ["pub/echo"]
    assert len(await names(license="mit")) == 6
    assert len(await names(owner="pub")) == 6
    assert await names(query="zzzz-nothing") == []
    assert await names(query="image", sort=pb.SEARCH_SORT_NAME) == [
        "pub/image-resize",
        "pub/thumbnailer",
    ]
    # Relevance pages: one hit per page, cursor carries the float score exactly.
    first = await market.stub.SearchModules(
        pb.SearchModulesRequest(query="image", page=common_pb2.PageRequest(limit=1))
    )
    second = await market.stub.SearchModules(
        pb.SearchModulesRequest(
            query="image", page=common_pb2.PageRequest(limit=1, cursor=first.page.next_cursor)
        )
    )
    assert [first.modules[0].name, second.modules[0].name] == [
        "pub/image-resize",
        "pub/thumbnailer",
    ]
    assert first.modules[0].score >= second.modules[0].score > 0
    assert second.page.next_cursor == ""
    # Keyset pages cover everything exactly once, in a stable order.
    seen: list[str] = []
    cursor = ""
    for sort in (pb.SEARCH_SORT_NAME, pb.SEARCH_SORT_RECENT, pb.SEARCH_SORT_DOWNLOADS):
        seen, cursor = [], ""
        while True:
            resp = await market.stub.SearchModules(
                pb.SearchModulesRequest(
                    sort=sort, page=common_pb2.PageRequest(limit=4, cursor=cursor)
                )
            )
            seen += [m.name for m in resp.modules]
            cursor = resp.page.next_cursor
            if not cursor:
                break
        assert sorted(seen) == sorted(f"pub/{n}" for n in [c[0] for c in catalog] + ["echo"])
        assert len(seen) == 6
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.SearchModules(
            pb.SearchModulesRequest(
                query="x", page=common_pb2.PageRequest(cursor=resp.page.next_cursor or "garbage!")
            )
        ),
        "page.cursor",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.SearchModules(pb.SearchModulesRequest(category="toys")),
        "category",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.SearchModules(pb.SearchModulesRequest(page=common_pb2.PageRequest(limit=1000))),
        "page.limit",
    )
