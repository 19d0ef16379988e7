"""Fixtures: the gateway on port 0 in front of REAL runtime, marketplace and cache services.

One marketplace (over a fresh PostgreSQL database), one cache service and one runtime
are started once per session with the example modules published; tests start their
own gateways (cheap) and extra runtime replicas when they need them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
import wasmtime
from aiohttp import web

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.api.marketplace.v1 import marketplace_pb2_grpc as mp_grpc
from wasmgrid.cache.service import CacheService
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.cli.embedded import EmbeddedPostgres
from wasmgrid.common.channel import create_channel
from wasmgrid.common.server import ServiceRunner
from wasmgrid.common.testing import Poll, create_database, poll_until
from wasmgrid.gateway.routes import RouteStore, parse_routes
from wasmgrid.gateway.service import GatewayService
from wasmgrid.gateway.settings import GatewaySettings
from wasmgrid.gateway.state import Gateway
from wasmgrid.marketplace.service import MarketplaceService
from wasmgrid.marketplace.settings import MarketplaceSettings
from wasmgrid.runtime.testing import Runtime, start_runtime, stop_runtime

PROBLEM = "application/problem+json"

REPO = Path(__file__).resolve().parents[3]
HELLO = (REPO / "examples/modules/hello/hello.wasm").read_bytes()
MATHFN = (REPO / "examples/modules/mathfn/mathfn.wasm").read_bytes()


def _wasm(wat: str) -> bytes:
    return bytes(wasmtime.wat2wasm(wat))


def _writer(text: bytes, fd: int, code: int) -> bytes:
    """A command module that writes `text` to `fd`, then exits with `code`."""
    data = "".join(f"\\{b:02x}" for b in text)
    exit_call = f"(call $exit (i32.const {code}))" if code else ""
    return _wasm(
        f"""(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 64) "{data}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {len(text)}))
    (drop (call $fd_write (i32.const {fd}) (i32.const 0) (i32.const 1) (i32.const 8)))
    {exit_call}))"""
    )


#: Test modules published under the "testmods" namespace next to the examples.
TEST_MODULES: dict[str, bytes] = {
    "fail": _writer(b"boom: something broke\n", 2, 3),
    "badcgi": _writer(b"Status: abc\nContent-Type: text/plain\n\nbody", 1, 0),
    "redirect": _writer(b"Location: /v1/run/examples/hello\n\n", 1, 0),
    "loop": _writer(b"Location: /v1/run/testmods/loop\n\n", 1, 0),
    "spin": _wasm(
        '(module (memory (export "memory") 1 1) (func (export "_start") (loop $l (br $l))))'
    ),
    "teapot": _writer(b"Status: 418 I'm a teapot\nX-Tea: green\n\nshort and stout", 1, 0),
    "argv": _wasm((REPO / "tests/wasm/argv.wat").read_text()),
}


@dataclass
class Infra:
    """The session's services."""

    market: ServiceRunner
    cache: ServiceRunner
    runtime: Runtime
    admin: str
    market_stub: mp_grpc.MarketplaceServiceAsyncStub
    tmp: Path
    modules: dict[str, bytes] = field(default_factory=dict)

    async def publish(self, name: str, version: str, data: bytes) -> None:
        """Publish `data` as `name@version` with the admin token."""
        await publish(self.market_stub, self.admin, name, version, data)

    async def start_runtime(self, **overrides: Any) -> Runtime:
        """Another runtime replica (stop it with `stop_runtime`)."""
        data_dir = self.tmp / f"runtime-{secrets.token_hex(4)}"
        return await start_runtime(data_dir, marketplace_addr=self.market.address, **overrides)

    async def stop_runtime(self, rt: Runtime, grace: float = 0.5) -> None:
        await stop_runtime(rt, grace)


async def publish(
    stub: mp_grpc.MarketplaceServiceAsyncStub, token: str, name: str, version: str, data: bytes
) -> None:
    async def stream() -> AsyncIterator[mp.PublishRequest]:
        yield mp.PublishRequest(
            metadata=mp.PublishMetadata(
                name=name,
                version=version,
                description=f"{name} for gateway tests",
                license="MIT",
                category="utilities",
            )
        )
        yield mp.PublishRequest(chunk=data)

    await stub.Publish(stream(), metadata=(("authorization", f"Bearer {token}"),))


@pytest.fixture(scope="session")
async def infra(
    postgres_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Infra]:
    """Marketplace + cache + one runtime, with the example and test modules published."""
    tmp = tmp_path_factory.mktemp("gateway")
    dbname = await create_database(postgres_server.dsn, "gw")
    admin = "wgt_" + secrets.token_hex(16)
    market_values: dict[str, Any] = {
        "WASMGRID_MARKETPLACE_DATABASE_URL": postgres_server.dsn_for(dbname),
        "grpc_port": 0,
        "metrics_port": 0,
        "bootstrap_admin": "admin",
        "bootstrap_admin_token": admin,
        "readiness_interval_seconds": 0.5,
        "log_json": False,
    }
    msettings = MarketplaceSettings(**market_values)
    market = ServiceRunner(MarketplaceService(msettings), msettings, serve_metrics=False)
    await market.start()
    cache_values: dict[str, Any] = {
        "grpc_port": 0,
        "metrics_port": 0,
        "redis_url": "",
        "readiness_interval_seconds": 0.5,
        "log_json": False,
    }
    csettings = CacheSettings(**cache_values)
    cache = ServiceRunner(CacheService(csettings), csettings, serve_metrics=False)
    await cache.start()
    runtime = await start_runtime(tmp / "runtime", marketplace_addr=market.address)
    channel = create_channel(market.address, default_timeout=30.0, tracing=False)
    stub = mp_grpc.MarketplaceServiceStub(channel)
    await publish(stub, admin, "examples/hello", "1.0.0", HELLO)
    await publish(stub, admin, "examples/mathfn", "1.0.0", MATHFN)
    for name, data in TEST_MODULES.items():
        await publish(stub, admin, f"testmods/{name}", "1.0.0", data)
    infra = Infra(
        market, cache, runtime, admin, stub, tmp, {"hello": HELLO, "mathfn": MATHFN, **TEST_MODULES}
    )
    try:
        yield infra
    finally:
        await channel.close(None)
        await stop_runtime(runtime)
        await cache.stop(0.5)
        await market.stop(0.5)


@dataclass
class RunningGateway:
    """A started gateway (run by the kit, as in the process) and an HTTP session on it."""

    service: GatewayService
    runner: ServiceRunner
    http: aiohttp.ClientSession
    base: str

    @property
    def gateway(self) -> Gateway:
        assert self.service.gateway is not None
        return self.service.gateway

    @property
    def app(self) -> web.Application:
        assert self.service.app is not None
        return self.service.app

    async def stop(self) -> None:
        """SIGTERM's shutdown: NOT_SERVING, drain HTTP within the grace, close."""
        await self.runner.stop()

    def url(self, path: str) -> str:
        return self.base + path


class StartGateway(Protocol):
    """The `start_gateway` fixture: a gateway with these settings overrides and routes YAML."""

    def __call__(self, routes: str | None = None, **overrides: Any) -> Awaitable[RunningGateway]:
        """Start one; it stops after the test."""
        ...


def gateway_settings(infra: Infra, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "http_port": 0,
        "grpc_port": 0,
        "runtime_targets": infra.runtime.runner.address,
        "marketplace_addr": infra.market.address,
        "cache_addr": infra.cache.address,
        "monitor_addr": "",
        "redis_url": "",
        "readiness_interval_seconds": 0.2,
        "health_check_interval_seconds": 0.2,
        "resolve_cache_ttl_seconds": 0.5,
        "access_log": False,
        "grace_seconds": 2.0,
        "log_json": False,
    }
    values.update(overrides)
    # The field also reads the suite-wide WASMGRID_REDIS_URL, so only its env names bind it.
    values["WASMGRID_GATEWAY_REDIS_URL"] = values.pop("redis_url")
    return GatewaySettings(**values)


@pytest.fixture
async def start_gateway(infra: Infra) -> AsyncIterator[StartGateway]:
    """Start gateways (settings overrides, optional routes YAML); all stop after the test."""
    started: list[RunningGateway] = []

    async def start(routes: str | None = None, **overrides: Any) -> RunningGateway:
        settings = gateway_settings(infra, **overrides)
        store = RouteStore(None, parse_routes(routes) if routes else None)
        service = GatewayService(settings, store)
        runner = ServiceRunner(service, settings, serve_metrics=False)
        await runner.start()
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200), timeout=aiohttp.ClientTimeout(total=30)
        )
        running = RunningGateway(service, runner, http, f"http://127.0.0.1:{service.http_port}")
        started.append(running)
        return running

    yield start
    for g in started:
        await g.http.close()
        await g.stop()


@pytest.fixture
def poll() -> Poll:
    """`await poll(check, description, timeout)`: wait for a condition against a deadline."""
    return poll_until


async def read_problem(resp: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    """The problem document of `resp`, which must have `status` and every RFC 9457 member."""
    body = await resp.read()
    assert resp.status == status, body
    assert resp.content_type == PROBLEM, (resp.content_type, body)
    doc: dict[str, Any] = json.loads(body)
    assert doc["status"] == status
    assert doc["type"].startswith("https://wasmgrid.dev/problems/")
    assert doc["title"]
    assert doc["detail"]
    return doc


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}
