"""Fixtures: a real marketplace server on port 0 over a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.api.marketplace.v1 import marketplace_pb2_grpc as pb_grpc
from wasmgrid.common.server import ServiceRunner
from wasmgrid.common.testing import serve
from wasmgrid.marketplace.service import MarketplaceService
from wasmgrid.marketplace.settings import MarketplaceSettings
from wasmgrid.marketplace.tokens import new_secret

REPO = Path(__file__).resolve().parents[3]
HELLO = REPO / "examples/modules/hello/hello.wasm"
MATHFN = REPO / "examples/modules/mathfn/mathfn.wasm"


def auth(secret: str) -> tuple[tuple[str, str | bytes], ...]:
    """gRPC metadata carrying a bearer token."""
    return (("authorization", f"Bearer {secret}"),)


@dataclass
class Market:
    runner: ServiceRunner
    stub: pb_grpc.MarketplaceServiceAsyncStub
    channel: grpc.aio.Channel
    admin: str
    database_url: str

    @staticmethod
    def auth(secret: str) -> tuple[tuple[str, str | bytes], ...]:
        return auth(secret)

    async def user(self, username: str, role: pb.Role = pb.ROLE_UNSPECIFIED) -> str:
        """Create a user (admin-authorised) and return its token secret."""
        resp = await self.stub.CreateUser(
            pb.CreateUserRequest(username=username, role=role), metadata=auth(self.admin)
        )
        return str(resp.secret)

    async def publish(
        self,
        secret: str,
        name: str,
        version: str,
        data: bytes,
        chunk: int = 64 * 1024,
        assets: bytes | None = None,
        **meta: Any,
    ) -> pb.PublishResponse:
        fields: dict[str, Any] = {
            "description": "a test module",
            "license": "MIT",
            "category": "utilities",
        }
        fields.update(meta)
        md = pb.PublishMetadata(name=name, version=version, **fields)

        async def stream() -> AsyncIterator[pb.PublishRequest]:
            yield pb.PublishRequest(metadata=md)
            for i in range(0, len(data), chunk):
                yield pb.PublishRequest(chunk=bytes(data[i : i + chunk]))
            for i in range(0, len(assets or b""), chunk):
                assert assets is not None
                yield pb.PublishRequest(assets_chunk=bytes(assets[i : i + chunk]))

        resp: pb.PublishResponse = await self.stub.Publish(stream(), metadata=auth(secret))
        return resp

    async def download(self, **kwargs: Any) -> tuple[pb.DownloadHeader, bytes]:
        header = None
        body = bytearray()
        async for msg in self.stub.Download(pb.DownloadRequest(**kwargs)):
            if msg.WhichOneof("payload") == "header":
                header = msg.header
            else:
                body += msg.chunk
        assert header is not None
        return header, bytes(body)


def make_settings(database_url: str, admin_token: str, **overrides: Any) -> MarketplaceSettings:
    return MarketplaceSettings(  # type: ignore[call-arg]  # the alias is the env var name
        WASMGRID_MARKETPLACE_DATABASE_URL=database_url,
        grpc_port=0,
        metrics_port=0,
        bootstrap_admin="admin",
        bootstrap_admin_token=admin_token,
        readiness_interval_seconds=0.5,
        rating_refresh_seconds=0.2,
        db_wait_seconds=20,
        **overrides,
    )


async def start_market(database_url: str, admin: str, **overrides: Any) -> Market:
    settings = make_settings(database_url, admin, **overrides)
    runner, channel = await serve(
        MarketplaceService(settings), settings, serve_metrics=False, max_message_bytes=64 << 20
    )
    return Market(runner, pb_grpc.MarketplaceServiceStub(channel), channel, admin, database_url)


async def stop_market(m: Market) -> None:
    await m.channel.close(None)
    await m.runner.stop(1.0)


@pytest.fixture
async def market(database_url: str) -> AsyncIterator[Market]:
    m = await start_market(database_url, new_secret())
    try:
        yield m
    finally:
        await stop_market(m)


@pytest.fixture(scope="session")
def hello_wasm() -> bytes:
    return HELLO.read_bytes()


@pytest.fixture(scope="session")
def mathfn_wasm() -> bytes:
    return MATHFN.read_bytes()


class MarketFactory:
    """``await market_factory(admin_token, **settings)`` → a started :class:`Market`;
    ``await market_factory.stop(m)`` stops one early; the rest stop at teardown."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.started: list[Market] = []

    async def __call__(self, admin: str, **overrides: Any) -> Market:
        m = await start_market(self.database_url, admin, **overrides)
        self.started.append(m)
        return m

    async def stop(self, m: Market) -> None:
        if m in self.started:
            self.started.remove(m)
            await stop_market(m)


@pytest.fixture
async def market_factory(database_url: str) -> AsyncIterator[MarketFactory]:
    """Start marketplaces (each with its own admin token) on one database."""
    factory = MarketFactory(database_url)
    try:
        yield factory
    finally:
        for m in factory.started:
            await stop_market(m)
