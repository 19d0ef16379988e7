"""Publishing a version with assets: stored content-addressed, listed, downloadable by
digest, and a bad archive refused with the entry named, storing nothing."""

from __future__ import annotations

import hashlib
import io
import tarfile

import grpc
import pytest

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.common.testing import expect_rpc_error
from wasmgrid.marketplace.tokens import new_secret

from .conftest import Market, MarketFactory
from .test_marketplace_archives import tar_of, zip_of
from .test_marketplace_publish import counts

TREE = (("data/words.txt", "f", b"alpha\nbeta\n"), ("README", "f", b"hello"))


async def test_a_version_with_assets_lists_them_and_serves_the_canonical_tar(
    market: Market, hello_wasm: bytes
) -> None:
    bob = await market.user("bob")
    published = await market.publish(
        bob,
        "bob/reader",
        "1.0.0",
        hello_wasm,
        assets=tar_of(*TREE, compress="gz"),
        assets_mount="/data",
    )
    assets = published.version.assets
    assert (assets.file_count, assets.content_bytes, assets.mount) == (2, 16, "/data")

    header, body = await market.download(digest=assets.digest)
    assert hashlib.sha256(body).hexdigest() == assets.digest == header.digest
    assert len(body) == assets.size_bytes == header.size_bytes
    assert (header.name, header.version) == ("bob/reader", "1.0.0")
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert tar.getnames() == ["README", "data", "data/words.txt"]

    resolved = await market.stub.Resolve(pb.ResolveRequest(name="bob/reader"))
    assert resolved.assets == assets
    listed = await market.stub.ListVersions(pb.ListVersionsRequest(name="bob/reader"))
    assert listed.versions[0].assets == assets
    # The same tree from a zip is the same content address, stored once.
    again = await market.publish(
        bob,
        "bob/reader",
        "1.0.1",
        hello_wasm,
        assets=zip_of(("README", b"hello"), ("data/words.txt", b"alpha\nbeta\n")),
    )
    assert again.version.assets.digest == assets.digest
    assert again.version.assets.mount == "/assets"
    # A module's own download still counts; the assets download is not a module download.
    stats = await market.stub.GetDownloadStats(pb.GetDownloadStatsRequest(name="bob/reader"))
    assert stats.user_downloads == 0


async def test_a_version_without_assets_has_none(market: Market, hello_wasm: bytes) -> None:
    bob = await market.user("bob")
    published = await market.publish(bob, "bob/plain", "1.0.0", hello_wasm)
    assert not published.version.HasField("assets")


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ((("../escape", "f", b"x"),), "assets entry '../escape': '..' in the path"),
        ((("/etc/passwd", "f", b"x"),), "assets entry '/etc/passwd': absolute path"),
        (
            (("lib", "l", "../../etc"),),
            "assets entry 'lib': symbolic link to '../../etc' leaves the tree",
        ),
    ],
)
async def test_a_bad_archive_is_refused_at_publish_naming_the_entry(
    market: Market,
    hello_wasm: bytes,
    members: tuple[tuple[str, str, bytes | str], ...],
    message: str,
) -> None:
    bob = await market.user("bob")
    details = await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(bob, "bob/evil", "1.0.0", hello_wasm, assets=tar_of(*members)),
    )
    assert details == message
    assert await counts(market.database_url) == (0, 0, 0, 0)


async def test_a_bad_mount_and_a_mount_without_assets_are_refused(
    market: Market, hello_wasm: bytes
) -> None:
    bob = await market.user("bob")
    details = await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(
            bob, "bob/m", "1.0.0", hello_wasm, assets=tar_of(*TREE), assets_mount="/a/../b"
        ),
    )
    assert details == (
        "metadata.assets_mount '/a/../b' must be normalised (no empty, '.' or '..' components)"
    )
    details = await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(bob, "bob/m", "1.0.0", hello_wasm, assets_mount="/data"),
    )
    assert details == (
        "metadata.assets_mount or metadata.assets_size_bytes given without assets"
        " (send the archive as assets_chunk messages)"
    )


async def test_assets_over_the_cap_are_refused(
    market_factory: MarketFactory, hello_wasm: bytes
) -> None:
    market = await market_factory(new_secret(), max_assets_bytes=2048)
    bob = await market.user("bob")
    details = await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(bob, "bob/big", "1.0.0", hello_wasm, assets=tar_of(("f", "f", b"x" * 4096))),
    )
    assert details == (
        "assets archive is larger than the limit of 2048 bytes of namespace 'bob'"
        " (an admin can raise it with SetNamespaceLimits)"
    )


async def test_a_version_lists_the_scratch_space_it_asks_for(
    market: Market, hello_wasm: bytes
) -> None:
    bob = await market.user("bob")
    published = await market.publish(
        bob, "bob/tool", "1.0.0", hello_wasm, scratch=pb.ScratchSpace(max_bytes=4096)
    )
    assert published.version.scratch == pb.ScratchSpace(mount="/tmp", max_bytes=4096)
    resolved = await market.stub.Resolve(pb.ResolveRequest(name="bob/tool"))
    assert resolved.scratch == published.version.scratch
    details = await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(
            bob,
            "bob/tool",
            "1.0.1",
            hello_wasm,
            assets=tar_of(*TREE),
            scratch=pb.ScratchSpace(mount="/assets"),
        ),
    )
    assert details == (
        "metadata.scratch.mount '/assets' is the assets mount too; give one of them another path"
    )
