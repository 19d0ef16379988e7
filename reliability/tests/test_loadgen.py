"""The overload scenario's load generator against real HTTP servers on loopback: each
answer checked, timed and classified as the aiohttp clients would, reconnecting when a
server closes or drops its connection."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from reliability import loadgen
from reliability.client import Recorder
from reliability.loadgen import Framing, Head, Load
from wasmgrid.common.testing import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start an aiohttp server answering every POST with a handler; its base URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def drive(base: str, connections: int, seconds: float) -> tuple[Recorder, int]:
    rec = Recorder()
    stop = asyncio.Event()
    task = asyncio.create_task(loadgen.closed_loop(base, rec, connections, stop))
    await asyncio.sleep(seconds)
    stop.set()
    sent = await asyncio.wait_for(task, 10)
    return rec, sent


async def upper(request: web.Request) -> web.Response:
    return web.Response(body=(await request.read()).upper())


async def test_every_request_is_answered_checked_and_timed(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    base = await serve(upper)
    rec, sent = await drive(base, 8, 0.5)
    answers = rec.of("invoke")
    # Stopping waits for the open requests: every request sent has its answer.
    assert len(answers) == sent > 50
    assert {a.kind for a in answers} == {"ok"}
    assert all(0 < a.latency < 5 for a in answers)
    assert all(0 <= a.sent <= rec.now() for a in answers)


async def test_a_wrong_body_is_a_wrong_answer_never_a_success(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def same(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    rec, _ = await drive(await serve(same), 2, 0.2)
    assert {a.kind for a in rec.of("invoke")} == {"wrong"}


async def test_a_refusal_is_classified_by_its_problem_with_retry_after(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        doc = {"type": "https://x/problems/unavailable", "detail": "busy", "fault": "overload"}
        return web.Response(
            status=503,
            body=json.dumps(doc),
            headers={"Retry-After": "1", "Content-Type": "application/problem+json"},
        )

    rec, _ = await drive(await serve(refuse), 2, 0.2)
    answers = rec.of("invoke")
    assert answers
    assert all(
        (a.kind, a.status, a.retry_after, a.fault, a.detail, a.shed)
        == ("503 unavailable", 503, True, "overload", "busy", True)
        for a in answers
    )


async def test_a_server_closing_each_connection_is_reconnected_to(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def once(request: web.Request) -> web.Response:
        return web.Response(body=(await request.read()).upper(), headers={"Connection": "close"})

    rec, sent = await drive(await serve(once), 2, 0.3)
    answers = rec.of("invoke")
    assert len(answers) == sent > 10
    assert {a.kind for a in answers} == {"ok"}


async def test_a_dropped_connection_fails_its_request_and_the_client_goes_on(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    seen = Counter[str]()

    async def flaky(request: web.Request) -> web.StreamResponse:
        seen["n"] += 1
        if seen["n"] % 3 == 0:
            assert request.transport is not None
            request.transport.abort()  # no answer at all
            await asyncio.sleep(0.05)
        return await upper(request)

    rec, _ = await drive(await serve(flaky), 2, 0.4)
    kinds = Counter(a.kind for a in rec.of("invoke"))
    assert kinds["disconnected"] >= 2
    assert kinds["ok"] >= 2 * kinds["disconnected"] - 2
    assert set(kinds) == {"ok", "disconnected"}


async def test_an_answer_it_cannot_frame_is_a_failure_named_for_it(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"x")
        await response.write_eof()
        return response

    rec, _ = await drive(await serve(chunked), 1, 0.2)
    answers = rec.of("invoke")
    assert answers
    assert {a.kind for a in answers} == {"bad-framing"}
    assert "transfer-encoding" in answers[0].detail


def test_a_response_head_is_read_for_what_the_scenario_counts() -> None:
    head = Head(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nRetry-After: 1\r\n"
        b"Content-Type: application/problem+json; charset=utf-8\r\nConnection: keep-alive"
    )
    assert (head.status, head.length, head.retry_after, head.content_type, head.close) == (
        503,
        12,
        True,
        "application/problem+json",
        False,
    )
    assert Head(b"HTTP/1.0 200 OK\r\nContent-Length: 0").close
    for bad in (b"SPDY 200", b"HTTP/1.1 2x0 OK\r\nContent-Length: 0", b"HTTP/1.1 200 OK"):
        with pytest.raises(Framing):
            Head(bad)


async def test_stopping_with_nothing_open_returns_at_once() -> None:
    load = Load("http://127.0.0.1:9", Recorder(), 0)
    load.stop()
    assert await asyncio.wait_for(load.run(), 5) == 0


async def test_a_server_not_listening_is_counted_and_tried_again() -> None:
    rec, sent = await drive(f"http://127.0.0.1:{free_port()}", 2, 0.35)
    answers = rec.of("invoke")
    assert sent == 0
    assert {a.kind for a in answers} == {"connect-refused"}
    assert len(answers) >= 4  # each client again after 0.1 s
