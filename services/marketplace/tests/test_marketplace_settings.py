"""Settings, closed sign-up, token expiry and stream-shape errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.common.settings import load_settings
from wasmgrid.common.testing import poll_until
from wasmgrid.marketplace.settings import MarketplaceSettings
from wasmgrid.marketplace.tokens import new_secret

from .conftest import Market, MarketFactory


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMGRID_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("WASMGRID_MARKETPLACE_ALLOWED_IMPORT_MODULES", "env, host")
    s = load_settings(MarketplaceSettings)
    assert s.database_url == "postgresql://u@h/db"
    assert s.allowed_import_modules == ["env", "host"]
    assert (s.grpc_port, s.metrics_port, s.open_signup) == (50052, 9092, True)


def test_bad_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WASMGRID_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN_TOKEN", "secret")
    with pytest.raises(SystemExit):
        load_settings(MarketplaceSettings)
    assert "WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN_TOKEN" in capsys.readouterr().err


async def test_closed_signup(market_factory: MarketFactory) -> None:
    m = await market_factory(new_secret(), open_signup=False)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await m.stub.CreateUser(pb.CreateUserRequest(username="walk-in"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    lee = await m.user("lee")  # the admin may
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await m.stub.CreateUser(pb.CreateUserRequest(username="friend"), metadata=m.auth(lee))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_token_expiry(market: Market) -> None:
    mo = await market.user("mo")
    short = await market.stub.CreateToken(
        pb.CreateTokenRequest(name="short", scopes=[pb.SCOPE_RATE], ttl_seconds=1),
        metadata=market.auth(mo),
    )
    who = await market.stub.WhoAmI(pb.WhoAmIRequest(), metadata=market.auth(short.secret))
    assert who.token.name == "short"

    async def refused() -> str | None:
        try:
            await market.stub.WhoAmI(pb.WhoAmIRequest(), metadata=market.auth(short.secret))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED  # noqa: PT017 - polled
            return exc.details() or "(no details)"
        return None

    assert "expired" in await poll_until(refused, "the 1 s token to expire", 15, 0.2)
    listed = await market.stub.ListTokens(pb.ListTokensRequest(), metadata=market.auth(mo))
    assert [t.name for t in listed.tokens] == ["initial"]
    everything = await market.stub.ListTokens(
        pb.ListTokensRequest(include_inactive=True), metadata=market.auth(mo)
    )
    assert {t.name for t in everything.tokens} == {"initial", "short"}


async def test_stream_shape_errors(market: Market, mathfn_wasm: bytes) -> None:
    nia = await market.user("nia")
    md = pb.PublishMetadata(name="nia/x", version="1.0.0", license="MIT", category="utilities")

    async def chunk_first() -> AsyncIterator[pb.PublishRequest]:
        yield pb.PublishRequest(chunk=mathfn_wasm)

    async def metadata_twice() -> AsyncIterator[pb.PublishRequest]:
        yield pb.PublishRequest(metadata=md)
        yield pb.PublishRequest(metadata=md)

    for stream, fragment in ((chunk_first, "first"), (metadata_twice, "only the first")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await market.stub.Publish(stream(), metadata=market.auth(nia))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert fragment in (err.value.details() or "")
