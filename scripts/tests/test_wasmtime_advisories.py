"""scripts/wasmtime_advisories.py against local HTTP servers standing in for PyPI and OSV."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scripts import wasmtime_advisories

ROOT = Path(__file__).resolve().parents[2]


class Advisories:
    """What the fake sources answer, and what they were asked."""

    def __init__(self) -> None:
        self.pypi: list[dict[str, Any]] = []
        self.osv: list[dict[str, Any]] = []
        self.requests: list[tuple[str, Any]] = []


@pytest.fixture
def sources() -> Iterator[tuple[Advisories, str]]:
    state = Advisories()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            state.requests.append((self.path, None))
            self._answer({"info": {}, "vulnerabilities": state.pypi})

        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append((self.path, query))
            self._answer({"vulns": state.osv} if state.osv else {})

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def check(url: str, *extra: str) -> int:
    return wasmtime_advisories.main(["--pypi-url", f"{url}/pypi", "--osv-url", url, *extra])


def test_no_advisory_passes_and_both_sources_are_asked_for_the_locked_version(
    sources: tuple[Advisories, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = sources
    version = wasmtime_advisories.locked_version(ROOT / "uv.lock")
    assert check(url) == 0
    assert state.requests == [
        (f"/pypi/wasmtime/{version}/json", None),
        (
            "/v1/query",
            {"package": {"name": "wasmtime", "ecosystem": "crates.io"}, "version": version},
        ),
    ]
    assert f"ok   osv: no known advisory for wasmtime {version}" in capsys.readouterr().out


def test_an_advisory_of_the_engine_fails_naming_it(
    sources: tuple[Advisories, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = sources
    state.osv = [{"id": "GHSA-xxxx-yyyy-zzzz"}, {"id": "RUSTSEC-0", "withdrawn": "2026-01-01"}]
    assert check(url) == 1
    out = capsys.readouterr().out
    assert "has advisories: GHSA-xxxx-yyyy-zzzz" in out
    assert "RUSTSEC-0" not in out


def test_an_advisory_of_the_python_package_fails(sources: tuple[Advisories, str]) -> None:
    state, url = sources
    state.pypi = [{"id": "PYSEC-1", "withdrawn": None}]
    assert check(url, "--sources", "pypi") == 1


def test_an_unreachable_source_is_a_failure_not_a_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A port nothing listens on (bound, never accepting, then closed).
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert check(f"http://127.0.0.1:{port}", "--sources", "osv") == 1
    assert "FAIL osv: cannot check wasmtime" in capsys.readouterr().out
