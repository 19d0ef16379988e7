"""The fast fault scenario of `make test` and the harness's own parts.

Redis is stopped under load against a stack of real processes, as `make reliability`
does with longer phases; the lossy proxy, the publisher's verification and the
report's arithmetic are checked on their own.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from reliability import faults, overload, probe, report
from reliability.client import Answer, Publication, Publisher, Recorder, session
from reliability.faults import Timing
from reliability.proxy import LinkFaults, Proxy
from reliability.stack import Stack, StackOptions
from wasmgrid.common.testing import free_port, poll_until


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """One runtime replica behind the gateway, Redis on the invoke path."""
    root = Path(tempfile.mkdtemp(prefix="wasmgrid-reliability-test-"))
    # These tests are about faults, not overload: the admission queue waits up to 5 s
    # here, so a machine starved by other work does not shed what they count.
    options = StackOptions(
        replicas=1,
        routes=faults.ROUTES,
        env={"gateway": {"WASMGRID_GATEWAY_INVOKE_QUEUE_SECONDS": "5"}},
    )
    s = Stack(root, options)
    s.start()
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.integration
async def test_with_redis_stopped_under_load_every_invoke_is_answered_and_right(
    stack: Stack,
) -> None:
    row = await faults.redis_down(stack, Timing(warm=2, fault=3, after=3))
    assert row.offered > 50
    assert row.errors == {}, row.failures
    assert row.lost == 0
    assert row.admitted == row.offered
    assert row.recovery_s == 0.0
    assert row.met
    assert stack.dev.redis is not None
    assert stack.dev.redis.running()


@pytest.mark.integration
async def test_the_publisher_finds_what_it_published_and_notices_what_it_did_not(
    stack: Stack,
) -> None:
    publisher = Publisher(stack.base_url, stack.admin_token, Recorder(), "reliability/check")
    async with session(2) as http:
        for version in ("1.0.1", "1.0.2"):
            pub = await publisher.publish_one(http, version)
            assert pub.kind == "ok"
    never = Publication("reliability/check", "9.9.9", "0" * 64, 0.0, "503 unavailable")
    tampered = Publication("reliability/check", "1.0.1", "f" * 64, 0.0, "ok")
    publisher.publications += [never, tampered]
    await publisher.verify()
    assert [p.found for p in publisher.publications[:3]] == ["present", "present", "absent"]
    assert tampered.found.startswith("differs: digest")


async def _echo_server() -> tuple[asyncio.Server, int]:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except ConnectionError:
            return  # the lossy link reset it
        w.close()

    port = free_port()
    return await asyncio.start_server(echo, "127.0.0.1", port), port


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    server, port = await _echo_server()
    yield port
    server.close()
    await server.wait_closed()


@pytest.mark.integration
async def test_a_lossy_link_delivers_every_byte_in_order_while_it_delays(echo: int) -> None:
    port = free_port()
    proxy = Proxy({port: ("127.0.0.1", echo)}, LinkFaults(5, 5, 0), lossy=True)
    await proxy.start()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        sent = b"".join(i.to_bytes(4, "big") for i in range(20_000))
        for i in range(0, len(sent), 997):
            w.write(sent[i : i + 997])
            await w.drain()
        got = await r.readexactly(len(sent))
        assert got == sent
        assert proxy.stats.chunks_delayed > 0
        w.close()
    finally:
        await proxy.close()


@pytest.mark.integration
async def test_a_lossy_link_resets_connections_and_a_healed_one_does_not(echo: int) -> None:
    port = free_port()
    proxy = Proxy({port: ("127.0.0.1", echo)}, LinkFaults(0, 0, 6000), lossy=True)
    await proxy.start()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)

        async def reset_seen() -> bool:
            try:
                w.write(b"ping")
                await w.drain()
                return not await r.read(4)
            except (ConnectionError, RuntimeError):  # uvloop: a write after the reset
                return True

        assert await poll_until(reset_seen, "the connection reset by the lossy link", 10)
        assert proxy.stats.resets >= 1
        proxy.set_lossy(False)
        r, w = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(50):
            w.write(b"pong")
            await w.drain()
            assert await r.readexactly(4) == b"pong"
        assert proxy.stats.resets == 1
        w.close()
    finally:
        await proxy.close()


def _answer(sent: float, kind: str = "ok", status: int = 200, latency: float = 0.01) -> Answer:
    return Answer("invoke", sent, latency, kind, status)


def test_recovery_is_the_last_failure_after_the_heal_or_none_while_still_failing() -> None:
    healed, end = 10.0, 30.0
    answers = [
        _answer(9.0, "503 unavailable", 503),
        _answer(11.0, "502 bad-gateway", 502),
        _answer(12.0, latency=0.5),
        _answer(13.5, "disconnected", latency=0.5),
    ]
    assert report.recovery(answers, healed, end) == 4.0
    assert report.recovery([_answer(12.0)], healed, end) == 0.0
    assert report.recovery([_answer(29.0, "client-timeout")], healed, end) is None


def test_a_row_counts_refusals_apart_from_admitted_and_wrong_answers_as_lost() -> None:
    row = report.Row("x")
    row.count(
        [
            _answer(0),
            _answer(1, "wrong"),
            _answer(2, "429 rate-limited", 429),
            _answer(3, "503 unavailable", 503),
            _answer(4, "502 bad-gateway", 502),
        ]
    )
    assert (row.offered, row.admitted, row.lost) == (5, 3, 1)
    assert row.errors == {
        "invoke wrong": 1,
        "invoke 429 rate-limited": 1,
        "invoke 503 unavailable": 1,
        "invoke 502 bad-gateway": 1,
    }
    assert row.p99_ms == 10.0


def test_only_the_gateways_own_refusals_are_shed_in_the_overload_figures() -> None:
    admission = Answer("invoke", 0.0, 0.001, "503 unavailable", 503, True, "", "overload")
    rate_limited = Answer("invoke", 0.0, 0.001, "429 too-many-requests", 429, True)
    # A runtime replica full behind the gateway: a call the gateway admitted, then failed.
    behind = Answer("invoke", 0.0, 0.1, "503 unavailable", 503, True, "", "platform")
    assert admission.shed
    assert rate_limited.shed
    assert not behind.shed
    assert behind.refused  # still a refusal in the fault scenarios' admitted column


def test_the_readme_section_is_replaced_between_its_markers_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.BEGIN}\nold table\n{report.END}\n\nafter\n")
    assert report.update_readme("new table", readme)
    assert readme.read_text() == f"# x\n\n{report.BEGIN}\nnew table\n{report.END}\n\nafter\n"
    (tmp_path / "other.md").write_text("no markers\n")
    assert not report.update_readme("t", tmp_path / "other.md")


def test_the_health_probe_times_each_answered_request_and_survives_a_dead_server() -> None:
    class Healthy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        taken = probe.measure(f"http://127.0.0.1:{port}/healthz", 0.3, 0.05)
        assert len(taken) >= 3
        assert all(0 < t < 1 for t in taken)
        # A 404 is not a probe's answer, and neither is a port nobody serves.
        assert probe.measure(f"http://127.0.0.1:{port}/missing", 0.1, 0.05) == []
    finally:
        server.shutdown()
        server.server_close()
    assert probe.measure(f"http://127.0.0.1:{free_port()}/healthz", 0.1, 0.05) == []


def test_the_loop_thread_figures_come_from_proc_and_are_none_for_a_gone_process() -> None:
    ran, waited = overload.loop_thread_seconds(os.getpid()) or (-1.0, -1.0)
    assert ran > 0
    assert waited >= 0
    assert overload.loop_thread_seconds(2**22 + 7) is None


@pytest.mark.integration
def test_a_stack_whose_port_was_taken_starts_on_another_block() -> None:
    root = Path(tempfile.mkdtemp(prefix="wasmgrid-reliability-ports-"))
    s = Stack(root, StackOptions(replicas=1))
    taken = s.ports.gateway_grpc
    # Another process takes one of the chosen ports after the stack chose them.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        try:
            s.start()
            try:
                assert s.ports.gateway_grpc != taken
                assert s.serving("gateway")
            finally:
                s.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
