"""End-to-end behaviour through the gRPC API on a real server and PostgreSQL."""

from __future__ import annotations

import hashlib

import grpc
import pytest

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.marketplace.wasmbinary import with_custom_section

from .conftest import Market, MarketFactory


async def test_publish_get_resolve_download(market: Market, hello_wasm: bytes) -> None:
    alice = await market.user("alice")
    resp = await market.publish(
        alice, "alice/hello", "1.0.0", hello_wasm, tags=["Echo", "cgi"], license="mit"
    )
    v = resp.version
    assert v.name == "alice/hello"
    assert v.digest == hashlib.sha256(hello_wasm).hexdigest()
    assert v.size_bytes == len(hello_wasm)
    assert v.kind == pb.MODULE_KIND_COMMAND
    assert v.license == "MIT"
    assert list(v.tags) == ["echo", "cgi"]
    assert v.validation.valid
    assert any(i.module == "wasi_snapshot_preview1" for i in v.validation.imports)

    mod = (await market.stub.GetModule(pb.GetModuleRequest(name="Alice/Hello"))).module
    assert mod.latest_version == "1.0.0"
    assert list(mod.owners) == ["alice"]

    res = await market.stub.Resolve(pb.ResolveRequest(name="alice/hello", requirement="^1"))
    assert (res.version, res.digest, res.size_bytes) == ("1.0.0", v.digest, len(hello_wasm))

    header, body = await market.download(name="alice/hello", version="1.0.0", chunk_bytes=4096)
    assert body == hello_wasm
    assert header.digest == v.digest
    assert header.size_bytes == len(hello_wasm)
    _, body2 = await market.download(
        digest="sha256:" + v.digest, purpose=pb.DOWNLOAD_PURPOSE_RUNTIME
    )
    assert body2 == hello_wasm

    stats = await market.stub.GetDownloadStats(
        pb.GetDownloadStatsRequest(name="alice/hello", days=7)
    )
    assert (stats.user_downloads, stats.runtime_fetches) == (1, 1)
    assert len(stats.daily) == 7
    assert stats.daily[-1].user_downloads == 1
    assert stats.versions[0].runtime_fetches_total == 1


async def test_auth_errors(market: Market, hello_wasm: bytes) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await market.stub.WhoAmI(pb.WhoAmIRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await market.stub.WhoAmI(pb.WhoAmIRequest(), metadata=market.auth("wgt_" + "x" * 43))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    who = await market.stub.WhoAmI(pb.WhoAmIRequest(), metadata=market.auth(market.admin))
    assert who.user.username == "admin"
    assert who.user.role == pb.ROLE_ADMIN


async def test_multi_chunk_blob_round_trip(
    market_factory: MarketFactory, mathfn_wasm: bytes
) -> None:
    from wasmgrid.marketplace.tokens import new_secret

    m = await market_factory(new_secret(), blob_chunk_bytes=65536)
    big = with_custom_section(mathfn_wasm, b"pad", bytes(range(256)) * (300_000 // 256))
    kim = await m.user("kim")
    v = (await m.publish(kim, "kim/big", "1.0.0", big, chunk=50_000)).version
    assert "pad" in v.validation.custom_sections
    for _ in range(2):  # from PostgreSQL, then from the memory cache
        header, body = await m.download(digest=v.digest, chunk_bytes=100_000)
        assert body == big
        assert header.size_bytes == len(big)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await m.download(digest="ab" * 32)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await m.download(digest=v.digest, chunk_bytes=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "chunk_bytes" in (err.value.details() or "")
