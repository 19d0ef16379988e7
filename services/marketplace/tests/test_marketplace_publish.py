"""Publish: validation failures, immutability, permissions, cut streams, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
import wasmtime

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.cli.embedded import EmbeddedPostgres
from wasmgrid.common.testing import expect_rpc_error, poll_until
from wasmgrid.marketplace.store import modules as store_modules
from wasmgrid.marketplace.tokens import new_secret
from wasmgrid.marketplace.wasmbinary import with_custom_section

from .conftest import Market, MarketFactory

UNKNOWN_IMPORT = (
    Path(__file__).resolve().parents[3] / "services/runtime/tests/wat/unknown_import.wat"
)


async def counts(database_url: str) -> tuple[int, int, int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM marketplace.versions),"
            " (SELECT count(*) FROM marketplace.modules),"
            " (SELECT count(*) FROM marketplace.blobs),"
            " (SELECT count(*) FROM marketplace.blob_chunks)"
        )
        assert row is not None
        return (row[0], row[1], row[2], row[3])
    finally:
        await conn.close()


async def test_disallowed_import_fails_listing_it(market: Market) -> None:
    bob = await market.user("bob")
    wasm = bytes(wasmtime.wat2wasm(Path(UNKNOWN_IMPORT).read_text()))
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(bob, "bob/bad", "1.0.0", wasm),
        "import.disallowed",
        "env.not_a_wasi_function",
    )
    assert await counts(market.database_url) == (0, 0, 0, 0)


async def test_invalid_and_empty_modules_are_refused(market: Market) -> None:
    bob = await market.user("bob")
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(bob, "bob/junk", "1.0.0", b"\x00asm\x01\x00\x00\x00\x01\x05garbage"),
        "wasm.",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(bob, "bob/junk", "1.0.0", b"not wasm at all"),
        "wasm.malformed",
    )
    no_exports = bytes(wasmtime.wat2wasm("(module (memory 1 2))"))
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(bob, "bob/junk", "1.0.0", no_exports),
        "exports.none",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT, market.publish(bob, "bob/junk", "1.0.0", b""), "no module"
    )


@pytest.mark.parametrize(
    ("meta", "fragment"),
    [
        ({"license": "Not-A-License"}, "metadata.license"),
        ({"license": ""}, "metadata.license"),
        ({"category": "toys"}, "metadata.category"),
        ({"tags": ["ok", "Bad Tag"]}, "metadata.tags"),
        ({"tags": ["a"] * 11}, "metadata.tags"),
        ({"homepage": "javascript:alert(1)"}, "metadata.homepage"),
        ({"description": "x" * 2001}, "metadata.description"),
        ({"size_bytes": 5}, "metadata.size_bytes"),
        ({"sha256": "0" * 64}, "metadata.sha256"),
    ],
)
async def test_bad_metadata_names_the_field(
    market: Market, mathfn_wasm: bytes, meta: dict[str, Any], fragment: str
) -> None:
    carol = await market.user("carol")
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(carol, "carol/m", "1.0.0", mathfn_wasm, **meta),
        fragment,
    )


@pytest.mark.parametrize(
    ("name", "version", "fragment"),
    [
        ("nonamespace", "1.0.0", "namespace/name"),
        ("carol/bad name", "1.0.0", "module name"),
        ("carol/-x", "1.0.0", "module name"),
        ("carol/" + "x" * 65, "1.0.0", "1..64"),
        ("carol/m", "1.0", "metadata.version"),
        ("carol/m", "01.0.0", "metadata.version"),
    ],
)
async def test_bad_names_and_versions(
    market: Market, mathfn_wasm: bytes, name: str, version: str, fragment: str
) -> None:
    carol = await market.user("carol")
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(carol, name, version, mathfn_wasm),
        fragment,
    )


async def test_versions_are_immutable_and_names_normalised(
    market: Market, hello_wasm: bytes, mathfn_wasm: bytes
) -> None:
    dan = await market.user("dan")
    await market.publish(dan, "dan/My_Mod", "1.0.0", mathfn_wasm)
    # Same version, other bytes; same version differing in build metadata; confusable name.
    await expect_rpc_error(
        grpc.StatusCode.ALREADY_EXISTS,
        market.publish(dan, "dan/my-mod", "1.0.0", hello_wasm),
        "immutable",
    )
    await expect_rpc_error(
        grpc.StatusCode.ALREADY_EXISTS,
        market.publish(dan, "dan/MY-MOD", "1.0.0+build.7", mathfn_wasm),
    )
    await market.publish(dan, "dan/my-mod", "1.1.0", mathfn_wasm)  # same bytes: blob shared
    mod = (await market.stub.GetModule(pb.GetModuleRequest(name="dan/my_mod"))).module
    assert mod.name == "dan/My_Mod"
    assert mod.version_count == 2
    assert mod.latest_version == "1.1.0"
    assert await counts(market.database_url) == (2, 1, 1, 1)
    await expect_rpc_error(grpc.StatusCode.ALREADY_EXISTS, market.user("DAN"), "taken")


async def test_permissions(market: Market, mathfn_wasm: bytes) -> None:
    erin = await market.user("erin")
    frank = await market.user("frank")
    reader = await market.user("reader", role=pb.ROLE_USER)
    await market.publish(erin, "erin/tool", "1.0.0", mathfn_wasm)
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.publish(frank, "erin/tool", "1.0.1", mathfn_wasm),
        "not an owner",
    )
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.publish(reader, "reader/tool", "1.0.0", mathfn_wasm),
        "publish",
    )
    await expect_rpc_error(
        grpc.StatusCode.UNAUTHENTICATED,
        market.stub.Publish(iter([pb.PublishRequest(metadata=pb.PublishMetadata(name="ab/cd"))])),
    )
    # Co-owner can publish after being added; the last owner cannot be removed.
    await market.stub.AddOwner(
        pb.AddOwnerRequest(namespace="erin", username="frank"), metadata=market.auth(erin)
    )
    await market.publish(frank, "erin/tool", "1.0.1", mathfn_wasm)
    await market.stub.AddOwner(  # reserved names of existing users are fine to add
        pb.AddOwnerRequest(namespace="erin", username="admin"), metadata=market.auth(erin)
    )
    await market.stub.RemoveOwner(
        pb.RemoveOwnerRequest(namespace="erin", username="admin"), metadata=market.auth(erin)
    )
    await expect_rpc_error(
        grpc.StatusCode.NOT_FOUND,
        market.stub.AddOwner(
            pb.AddOwnerRequest(namespace="erin", username="nobody"), metadata=market.auth(erin)
        ),
        "nobody",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.AddOwner(pb.AddOwnerRequest(namespace="erin"), metadata=market.auth(erin)),
        "username",
    )
    owners = await market.stub.ListOwners(pb.ListOwnersRequest(namespace="erin"))
    assert [o.username for o in owners.owners] == ["erin", "frank"]
    await market.stub.RemoveOwner(
        pb.RemoveOwnerRequest(namespace="erin", username="erin"), metadata=market.auth(frank)
    )
    await expect_rpc_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        market.stub.RemoveOwner(
            pb.RemoveOwnerRequest(namespace="erin", username="frank"),
            metadata=market.auth(frank),
        ),
        "last owner",
    )
    # Claiming a reserved namespace is refused; a fresh one is claimed by the publisher.
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.publish(erin, "wasmgrid/x", "1.0.0", mathfn_wasm),
        "reserved",
    )
    await market.publish(erin, "erin-org/x", "1.0.0", mathfn_wasm)
    who = await market.stub.WhoAmI(pb.WhoAmIRequest(), metadata=market.auth(erin))
    assert list(who.namespaces) == ["erin-org"]


async def test_an_admin_raises_one_namespaces_size_cap(
    market_factory: MarketFactory, mathfn_wasm: bytes
) -> None:
    admin = new_secret()
    m = await market_factory(admin, max_module_bytes=4096, size_ceiling_bytes=1 << 20)
    gina = await m.user("gina")
    hugo = await m.user("hugo")
    # A custom section keeps the module valid however large it grows.
    big = with_custom_section(mathfn_wasm, b"padding", b"\x00" * 5000)
    details = await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT, m.publish(gina, "gina/big", "1.0.0", big)
    )
    assert details == (
        "module is larger than the limit of 4096 bytes of namespace 'gina'"
        " (an admin can raise it with SetNamespaceLimits)"
    )
    limits = await m.stub.GetNamespaceLimits(pb.GetNamespaceLimitsRequest(namespace="gina"))
    assert (limits.max_module_bytes, limits.custom) == (4096, False)

    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        m.stub.SetNamespaceLimits(
            pb.SetNamespaceLimitsRequest(namespace="gina", max_module_bytes=65536),
            metadata=m.auth(gina),
        ),
        "only an admin",
    )
    details = await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        m.stub.SetNamespaceLimits(
            pb.SetNamespaceLimitsRequest(namespace="gina", max_module_bytes=2 << 20),
            metadata=m.auth(admin),
        ),
    )
    assert details == (
        "max_module_bytes 2097152 is above the ceiling of 1048576 bytes"
        " (WASMGRID_MARKETPLACE_SIZE_CEILING_BYTES)"
    )
    raised = await m.stub.SetNamespaceLimits(
        pb.SetNamespaceLimitsRequest(namespace="gina", max_module_bytes=65536),
        metadata=m.auth(admin),
    )
    assert (raised.max_module_bytes, raised.max_assets_bytes, raised.custom) == (
        65536,
        64 << 20,
        True,
    )
    await m.publish(gina, "gina/big", "1.0.0", big)
    # Another namespace keeps the default.
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        m.publish(hugo, "hugo/big", "1.0.0", big),
        "limit of 4096 bytes of namespace 'hugo'",
    )
    reset = await m.stub.SetNamespaceLimits(
        pb.SetNamespaceLimitsRequest(namespace="gina"), metadata=m.auth(admin)
    )
    assert (reset.max_module_bytes, reset.custom) == (4096, False)


async def test_cut_stream_leaves_nothing(market: Market, hello_wasm: bytes) -> None:
    hank = await market.user("hank")
    sent = asyncio.Event()

    async def stream() -> AsyncIterator[pb.PublishRequest]:
        yield pb.PublishRequest(
            metadata=pb.PublishMetadata(
                name="hank/cut", version="1.0.0", license="MIT", category="utilities"
            )
        )
        yield pb.PublishRequest(chunk=hello_wasm[:4096])
        sent.set()
        await asyncio.sleep(3600)  # never finishes: the client cancels

    call = market.stub.Publish(stream(), metadata=market.auth(hank))
    await asyncio.wait_for(sent.wait(), 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    # The server notices the cancel; then the same version publishes cleanly.
    assert await counts(market.database_url) == (0, 0, 0, 0)
    await market.publish(hank, "hank/cut", "1.0.0", hello_wasm)
    assert await counts(market.database_url) == (1, 1, 1, 1)


async def test_restart_service_and_postgres_keeps_acknowledged(
    market_factory: MarketFactory, postgres_server: EmbeddedPostgres, hello_wasm: bytes
) -> None:
    admin = new_secret()
    m = await market_factory(admin)
    ivy = await m.user("ivy")
    await m.publish(ivy, "ivy/keep", "1.0.0", hello_wasm)
    await market_factory.stop(m)
    m = await market_factory(admin)  # same bootstrap token: no duplicate admin
    postgres_server.stop()
    postgres_server.start()

    async def resolved() -> pb.ResolveResponse | None:
        try:
            answer: pb.ResolveResponse = await m.stub.Resolve(pb.ResolveRequest(name="ivy/keep"))
            return answer
        except grpc.aio.AioRpcError as exc:  # the pool reconnects; UNAVAILABLE meanwhile
            assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()  # noqa: PT017 - polled
            return None

    res = await poll_until(resolved, "the marketplace to answer after the restart", 30, 0.2)
    assert res.version == "1.0.0"
    _, body = await m.download(digest=res.digest)
    assert body == hello_wasm
    await m.publish(ivy, "ivy/keep", "1.0.1", hello_wasm)
    who = await m.stub.WhoAmI(pb.WhoAmIRequest(), metadata=m.auth(ivy))
    assert who.user.username == "ivy"


async def test_concurrent_first_publishes_store_exactly_one(
    market: Market, hello_wasm: bytes, mathfn_wasm: bytes
) -> None:
    """Racing publishes of one new module/version: one wins, the others get ALREADY_EXISTS
    from inside their transaction, and their blobs roll back with it."""
    ola = await market.user("ola")
    variants = [
        hello_wasm,
        mathfn_wasm,
        hello_wasm + b"\x00\x01\x00",
        mathfn_wasm + b"\x00\x01\x00",
    ]
    results = await asyncio.gather(
        *(market.publish(ola, "ola-team/race", "1.0.0", v) for v in variants),
        return_exceptions=True,
    )
    ok = [r for r in results if isinstance(r, pb.PublishResponse)]
    failed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 1, results
    assert {f.code() for f in failed} == {grpc.StatusCode.ALREADY_EXISTS}, results
    assert await counts(market.database_url) == (1, 1, 1, 1)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        TimeoutError(),
        OSError("Multiple exceptions: [Errno 111] Connect call failed"),
        ConnectionRefusedError(),
        asyncpg.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_lost_database_errors_are_unavailable(
    market: Market, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    """Every lost-database error is UNAVAILABLE (retryable): the kit maps its own, the
    marketplace declares every other OSError (``unavailable_errors``)."""

    async def lost(*args: Any, **kwargs: Any) -> Any:
        raise exc

    # The store's reads fail as a lost database makes them fail.
    monkeypatch.setattr(store_modules, "module", lost)
    monkeypatch.setattr(store_modules, "version_by_digest", lost)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await market.stub.GetModule(pb.GetModuleRequest(name="ab/cd"))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await market.download(digest="ab" * 32)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
    monkeypatch.undo()
    with pytest.raises(grpc.aio.AioRpcError) as err:  # and the server carries on
        await market.stub.GetModule(pb.GetModuleRequest(name="ab/cd"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_large_upload_refused_up_front_still_gets_its_own_status(
    market: Market, mathfn_wasm: bytes
) -> None:
    """Refused before the bytes are read (version exists, not the owner), a big upload
    must still end with that status, not a transport error from the cut-off stream."""
    erin = await market.user("erin")
    await market.publish(erin, "erin/big", "1.0.0", mathfn_wasm)
    big = bytes(24 * 1024 * 1024)
    await expect_rpc_error(
        grpc.StatusCode.ALREADY_EXISTS,
        market.publish(erin, "erin/big", "1.0.0", big, chunk=1024 * 1024),
        "1.0.0",
    )
    frank = await market.user("frank")
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED, market.publish(frank, "erin/big", "2.0.0", big)
    )
    # The service is fine afterwards.
    await market.publish(erin, "erin/big", "1.0.1", mathfn_wasm)
