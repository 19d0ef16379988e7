"""The SDK against a real aiohttp server on a free port that answers as the gateway does.

The server's answers are the gateway's wire format (proto3 JSON with 64-bit ints as
strings, full enum names, RFC 3339 times, problem+json errors); the tests check what
the SDK sends and what it makes of the answers. The real gateway is exercised by
tests/e2e/test_client_sdk.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import BodyPartReader, web

from wasmgrid.client import (
    Client,
    IntegrityError,
    ProblemError,
    SyncClient,
    TypedArg,
    UnreachableError,
    to_jsonable,
)

WASM = b"\0asm\x01\0\0\0" + bytes(range(256)) * 3000  # ~750 KiB: several upload chunks
DIGEST = hashlib.sha256(WASM).hexdigest()

VERSION_JSON = {
    "name": "alice/calc",
    "version": "1.2.0",
    "digest": DIGEST,
    "size_bytes": str(len(WASM)),
    "kind": "MODULE_KIND_REACTOR",
    "tags": ["math"],
    "published_at": "2026-12-03T10:11:12.123456789Z",
    "published_by": "alice",
    "yanked": False,
    "downloads": "12345678901",
    "validation": {
        "valid": True,
        "kind": "MODULE_KIND_REACTOR",
        "size_bytes": str(len(WASM)),
        "features": ["multi-value"],
        "findings": [
            {"severity": "SEVERITY_WARNING", "code": "memory.unbounded", "message": "no max"}
        ],
        "a_field_from_a_newer_server": 1,
    },
}


@dataclass
class Seen:
    """What the fake gateway received."""

    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    parts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    tamper: bool = False
    truncate: bool = False


def _problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    doc = {"type": "https://wasmgrid.dev/problems/x", "title": title, "status": status}
    doc |= {"detail": detail, **extra}
    return web.Response(
        status=status, text=json.dumps(doc), content_type="application/problem+json"
    )


class _FakeHandlers:
    """The gateway endpoints the SDK calls, answering as the real gateway does."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def record(self, request: web.Request) -> bytes:
        body = await request.read() if request.content_type != "multipart/form-data" else b""
        self.seen.requests.append((request.method, request.path_qs, dict(request.headers), body))
        return body

    async def users(self, request: web.Request) -> web.Response:
        await self.record(request)
        return web.json_response(
            {
                "user": {
                    "username": "bob",
                    "role": "ROLE_PUBLISHER",
                    "created_at": "2026-01-02T03:04:05Z",
                },
                "token": {"id": "t1", "scopes": ["SCOPE_PUBLISH", "SCOPE_RATE"]},
                "secret": "wgt_secret",
            },
            status=201,
        )

    async def whoami(self, request: web.Request) -> web.Response:
        await self.record(request)
        if request.headers.get("Authorization") != "Bearer wgt_good":
            return _problem(
                401, "Authentication required", "token is not valid", grpc_code="UNAUTHENTICATED"
            )
        return web.json_response({"user": {"username": "alice"}, "namespaces": ["alice"]})

    async def publish(self, request: web.Request) -> web.Response:
        await self.record(request)
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            assert isinstance(part, BodyPartReader)
            self.seen.parts.append((str(part.name), dict(part.headers), bytes(await part.read())))
        return web.json_response({"version": VERSION_JSON}, status=201)

    async def download(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        data = WASM[:-1] + b"X" if self.seen.tamper else WASM
        resp = web.StreamResponse(
            headers={
                "Content-Type": "application/wasm",
                "ETag": f'"sha256:{DIGEST}"',
                "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(DIGEST)).decode()}:",
            }
        )
        resp.content_length = len(WASM)
        await resp.prepare(request)
        await resp.write(data[: len(data) // 2] if self.seen.truncate else data)
        if self.seen.truncate:
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write_eof()
        return resp

    async def run(self, request: web.Request) -> web.Response:
        body = await self.record(request)
        name = request.match_info["module"].split("@")[0]
        if name == "fails":
            return _problem(
                502,
                "Upstream failed",
                "module alice/fails@1.0.0 exited with code 3",
                outcome="exit",
                exit_code=3,
                stderr="boom",
            )
        if name == "missing":
            return _problem(404, "Not found", "module alice/missing not found")
        return web.Response(
            status=404 if name == "own404" else 200,
            body=body.upper(),
            headers={"X-Wasmgrid-Module": f"alice/{name}@1.0.0", "X-Cache": "MISS"},
            content_type="text/plain",
        )

    async def call(self, request: web.Request) -> web.Response:
        body = await self.record(request)
        if request.match_info["function"] != "f":  # a component: JSON results, no types
            return web.json_response(
                {
                    "module": "alice/stats",
                    "version": "0.1.0",
                    "digest": DIGEST,
                    "function": request.match_info["function"],
                    "results": json.loads(body)["args"],
                    "fuel_consumed": 9,
                    "wall_time_us": 3,
                }
            )
        return web.json_response(
            {
                "module": "alice/calc",
                "version": "1.2.0",
                "digest": DIGEST,
                "function": "f",
                "results": [3, "NaN", 1.5],
                "types": ["i64", "f64", "f32"],
                "fuel_consumed": 42,
                "wall_time_us": 7,
            }
        )

    async def health(self, request: web.Request) -> web.Response:
        await self.record(request)
        return web.json_response(
            {
                "overall": "SERVING_STATUS_SERVING",
                "services": [
                    {
                        "service": "runtime",
                        "status": "SERVING_STATUS_NOT_SERVING",
                        "replicas": 2,
                        "replicas_serving": 0,
                    }
                ],
                "targets": [
                    {
                        "service": "runtime",
                        "check_latency": "0.001500s",
                        "status": "SERVING_STATUS_UNREACHABLE",
                    }
                ],
                "gateway": {"routes": 0},
            }
        )

    async def audit(self, request: web.Request) -> web.Response:
        await self.record(request)
        event = {
            "id": "42",
            "at": "2026-12-03T10:11:12.123456789Z",
            "actor": "ann",
            "action": "AUDIT_ACTION_YANK",
            "namespace": "ann",
            "module": "ann/calc",
            "version": "1.0.0",
            "token_id": "",
            "subject": "",
            "detail": {"reason": "broken"},
            "client_address": "203.0.113.7",
            "peer_address": "10.0.0.2",
            "trace_id": "ab" * 16,
        }
        return web.json_response({"events": [event], "page": {"next_cursor": "c2"}})

    async def broken(self, request: web.Request) -> web.Response:
        await self.record(request)
        return web.Response(status=503, text="upstream connect error", content_type="text/plain")


def _app(seen: Seen) -> web.Application:
    h = _FakeHandlers(seen)
    app = web.Application()
    app.router.add_post("/v1/users", h.users)
    app.router.add_get("/v1/whoami", h.whoami)
    app.router.add_put("/v1/modules/{ns}/{name}/{version}", h.publish)
    app.router.add_get("/v1/modules/{ns}/{name}/versions/{version}/download", h.download)
    app.router.add_route("*", "/v1/run/{ns}/{module}", h.run)
    app.router.add_post("/v1/call/{ns}/{module}/{function}", h.call)
    app.router.add_get("/v1/health", h.health)
    app.router.add_get("/v1/routes", h.broken)
    app.router.add_get("/v1/audit", h.audit)
    return app


@dataclass
class FakeGateway:
    url: str
    seen: Seen


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    seen = Seen()
    runner = web.AppRunner(_app(seen))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield FakeGateway(f"http://127.0.0.1:{port}", seen)
    finally:
        await runner.cleanup()


async def test_create_user_sends_only_the_documented_fields_and_parses_the_answer(
    gateway: FakeGateway,
) -> None:
    async with Client(gateway.url, token="wgt_admin") as wg:
        created = await wg.create_user("bob", role="publisher")
    method, path, headers, body = gateway.seen.requests[0]
    assert (method, path) == ("POST", "/v1/users")
    assert json.loads(body) == {"username": "bob", "role": "publisher"}
    assert headers["Authorization"] == "Bearer wgt_admin"
    assert headers["User-Agent"].startswith("wasmgrid-client/")
    assert created.secret == "wgt_secret"
    assert created.user.role == "publisher"
    assert created.user.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert created.token.scopes == ("publish", "rate")
    assert created.token.expires_at is None


async def test_a_refusal_is_a_problem_error_with_the_rfc9457_fields(gateway: FakeGateway) -> None:
    async with Client(gateway.url, token="wgt_bad") as wg:
        with pytest.raises(ProblemError) as caught:
            await wg.whoami()
    problem = caught.value
    assert problem.status == 401
    assert problem.title == "Authentication required"
    assert problem.detail == "token is not valid"
    assert problem.type == "https://wasmgrid.dev/problems/x"
    assert problem.extensions == {"grpc_code": "UNAUTHENTICATED"}
    assert str(problem) == "Authentication required: token is not valid"


async def test_no_authorization_header_is_sent_without_a_token(gateway: FakeGateway) -> None:
    async with Client(gateway.url) as wg:
        with pytest.raises(ProblemError):
            await wg.whoami()
    assert "Authorization" not in gateway.seen.requests[0][2]


async def test_an_error_that_is_not_json_still_becomes_a_problem_error(
    gateway: FakeGateway,
) -> None:
    async with Client(gateway.url) as wg:
        with pytest.raises(ProblemError) as caught:
            await wg.routes()
    assert caught.value.status == 503
    assert caught.value.detail == "upstream connect error"


async def test_publish_streams_metadata_then_module_with_its_sha256_and_reports_progress(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    module = tmp_path / "calc.wasm"
    module.write_bytes(WASM)
    calls: list[tuple[int, int]] = []
    async with Client(gateway.url, token="wgt_good") as wg:
        version = await wg.publish(
            "alice/calc",
            "1.2.0",
            module,
            license="MIT",
            tags=["math"],
            progress=lambda done, total: calls.append((done, total)),
        )
    assert gateway.seen.requests[0][:2] == ("PUT", "/v1/modules/alice/calc/1.2.0")
    (meta_name, _, meta), (module_name, module_headers, data) = gateway.seen.parts
    assert (meta_name, module_name) == ("metadata", "module")
    assert json.loads(meta) == {"tags": ["math"], "license": "MIT", "sha256": DIGEST}
    assert module_headers["Content-Type"] == "application/wasm"
    assert data == WASM
    assert calls[-1] == (len(WASM), len(WASM))
    assert len(calls) > 1
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert version.size_bytes == len(WASM)
    assert version.downloads == 12345678901
    assert version.kind == "reactor"
    assert version.published_at == datetime(2026, 12, 3, 10, 11, 12, 123456, tzinfo=UTC)
    assert version.validation is not None
    assert version.validation.findings[0].severity == "warning"


async def test_download_checks_the_announced_digest(gateway: FakeGateway, tmp_path: Path) -> None:
    async with Client(gateway.url) as wg:
        got = await wg.download("alice/calc", "1.2.0")
        assert (got.data, got.digest, got.size_bytes) == (WASM, DIGEST, len(WASM))
        target = tmp_path / "calc.wasm"
        progress: list[int] = []
        info = await wg.download_to(
            "alice/calc", "1.2.0", target, progress=lambda d, t: progress.append(d)
        )
        assert target.read_bytes() == WASM
        assert info.digest == DIGEST
        assert progress[-1] == len(WASM)

        gateway.seen.tamper = True
        tampered = tmp_path / "tampered.wasm"
        with pytest.raises(IntegrityError, match="does not match"):
            await wg.download_to("alice/calc", "1.2.0", tampered)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["calc.wasm"]


async def test_a_download_cut_short_is_an_integrity_error(gateway: FakeGateway) -> None:
    gateway.seen.truncate = True
    async with Client(gateway.url) as wg:
        with pytest.raises(IntegrityError, match=re.escape("alice/calc@1.2.0")):
            await wg.download("alice/calc", "1.2.0")


async def test_run_returns_the_modules_own_answer_and_raises_for_a_failed_module(
    gateway: FakeGateway,
) -> None:
    async with Client(gateway.url) as wg:
        ok = await wg.run("alice/echo@^1", b"hi", query={"a": "1"})
        assert (ok.status, ok.body, ok.module, ok.cache) == (200, b"HI", "alice/echo@1.0.0", "MISS")
        assert gateway.seen.requests[0][1] == "/v1/run/alice/echo@%5E1?a=1"
        await wg.run("alice/echo", args=["-v", "two words", "a+b", "k=v"])
        assert gateway.seen.requests[-1][1] == "/v1/run/alice/echo?-v+two%20words+a%2Bb+k%3Dv"
        with pytest.raises(ValueError, match="query or args, not both"):
            await wg.run("alice/echo", query={"a": "1"}, args=["x"])
        with pytest.raises(ValueError, match="empty argument"):
            await wg.run("alice/echo", args=["x", ""])
        own = await wg.run("alice/own404")
        assert own.status == 404  # the module's own answer, not a platform error
        with pytest.raises(ProblemError) as failed:
            await wg.run("alice/fails")
        assert failed.value.outcome == "exit"
        assert failed.value.extensions["exit_code"] == 3
        with pytest.raises(ProblemError) as missing:
            await wg.run("alice/missing")
        assert missing.value.status == 404
        assert missing.value.outcome is None


async def test_call_sends_typed_arguments_and_parses_non_finite_results(
    gateway: FakeGateway,
) -> None:
    async with Client(gateway.url) as wg:
        result = await wg.call(
            "alice/calc@1", "f", 1, 2.5, TypedArg("i64", 7), TypedArg("f64", float("inf"))
        )
    assert json.loads(gateway.seen.requests[0][3]) == {"args": [1, 2.5, {"i64": 7}, {"f64": "inf"}]}
    assert result.results[0] == 3
    assert result.results[2] == 1.5
    assert result.results[1] != result.results[1]  # NaN
    assert result.types == ("i64", "f64", "f32")
    assert (result.fuel_consumed, result.wall_time_us) == (42, 7)


async def test_a_component_call_sends_and_returns_json_values(gateway: FakeGateway) -> None:
    record = {"words": ["a"], "count": 1, "longest": None}
    async with Client(gateway.url) as wg:
        result = await wg.call(
            "alice/stats", "wasmgrid:stats/echo@0.1.0#echo", record, {"rect": [1.5, 2]}
        )
    _method, path, _, body = gateway.seen.requests[0]
    assert path == "/v1/call/alice/stats/wasmgrid:stats%2Fecho@0.1.0%23echo"
    assert json.loads(body) == {"args": [record, {"rect": [1.5, 2]}]}
    assert (result.results, result.types) == ((record, {"rect": [1.5, 2]}), ())
    assert result.function == "wasmgrid:stats/echo@0.1.0#echo"


async def test_health_parses_enums_and_durations(gateway: FakeGateway) -> None:
    async with Client(gateway.url) as wg:
        health = await wg.health()
    assert health.overall == "serving"
    assert health.services[0].status == "not_serving"
    assert health.targets[0].check_latency == 0.0015
    assert health.targets[0].status == "unreachable"
    assert to_jsonable(health)["services"][0]["replicas"] == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_server_that_cannot_be_reached_is_an_unreachable_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    async with Client(url) as wg:
        with pytest.raises(UnreachableError) as caught:
            await wg.search("x")
    assert caught.value.url == url
    assert url in str(caught.value)


async def test_the_sync_client_blocks_on_the_same_calls(gateway: FakeGateway) -> None:
    def script() -> tuple[str, bytes]:
        with SyncClient(gateway.url, token="wgt_good") as wg:
            return wg.whoami().user.username, wg.run("alice/echo", b"sync").body

    # In a thread: the fake gateway answers on this test's event loop meanwhile.
    assert await asyncio.to_thread(script) == ("alice", b"SYNC")


def test_module_names_are_checked_before_anything_is_sent() -> None:
    with SyncClient("http://127.0.0.1:1") as wg:
        with pytest.raises(ValueError, match="namespace/name"):
            wg.run("no-namespace")
        with pytest.raises(ValueError, match="without a version"):
            wg.versions("alice/calc@1.0.0")


async def test_audit_sends_its_filters_and_parses_a_page_of_events(gateway: FakeGateway) -> None:
    async with Client(gateway.url, token="wgt_admin") as wg:
        page = await wg.audit(
            namespace="ann",
            action="yank",
            since=datetime(2026, 12, 1),  # naive: UTC
            until=datetime(2026, 12, 4, tzinfo=UTC),
            limit=10,
            cursor="c1",
        )
    _, path, _, _ = gateway.seen.requests[0]
    assert path == (
        "/v1/audit?namespace=ann&action=yank&since=2026-12-01T00:00:00%2B00:00"
        "&until=2026-12-04T00:00:00%2B00:00&limit=10&cursor=c1"
    )
    (event,) = page.events
    assert (event.id, event.action, event.actor, event.detail) == (
        42,
        "yank",
        "ann",
        {"reason": "broken"},
    )
    assert event.at == datetime(2026, 12, 3, 10, 11, 12, 123456, tzinfo=UTC)
    assert (event.client_address, event.trace_id) == ("203.0.113.7", "ab" * 16)
    assert page.next_cursor == "c2"
