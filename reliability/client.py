"""Clients that check every answer: invokes, publishes, registry reads; each one recorded.

An invoke sends a body no other request sends to ``examples/hello``, which answers it
uppercased: an answer with another body is a *wrong* answer, never mistaken for a
success. A publish uploads a module no other publish uploads (hello with a custom
section of its own), so afterwards each one can be looked up by version and its bytes
compared by SHA-256: an acknowledged publish that is absent or differs is *lost*.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from wasmgrid.marketplace.wasmbinary import with_custom_section

ROOT = Path(__file__).resolve().parent.parent
HELLO = (ROOT / "examples" / "modules" / "hello" / "hello.wasm").read_bytes()
#: What an HTTP client waits at most for one answer (the gateway's own deadlines are 10 s).
CLIENT_TIMEOUT_SECONDS = 30.0
#: Answers that refuse work rather than fail it: the client may come back.
REFUSALS = frozenset({429, 503})


@dataclass(frozen=True)
class Answer:
    """One request as the client saw it."""

    op: str
    #: When it was sent, seconds since the recorder's start.
    sent: float
    latency: float
    #: "ok", "wrong", "<status> <problem type>" or a transport failure.
    kind: str
    status: int = 0
    retry_after: bool = False
    #: The problem's detail (or the transport error) of a failure.
    detail: str = ""
    #: Whom the problem blames (its ``fault``: client, guest, platform, overload).
    fault: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    @property
    def refused(self) -> bool:
        return self.status in REFUSALS

    @property
    def shed(self) -> bool:
        """Refused by the gateway's own overload protection (admission, max in flight)
        or a rate limit, as opposed to a request it admitted and then failed."""
        return self.status == 429 or (self.status == 503 and self.fault == "overload")


class Recorder:
    """Every answer of a run, stamped relative to its start."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.answers: list[Answer] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def add(self, answer: Answer) -> None:
        self.answers.append(answer)

    def of(self, op: str, start: float = 0.0, end: float = float("inf")) -> list[Answer]:
        """The answers to `op` sent in [start, end)."""
        return [a for a in self.answers if a.op == op and start <= a.sent < end]


def session(connections: int) -> aiohttp.ClientSession:
    """A client session holding at most `connections` keep-alive connections."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
        timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_SECONDS),
    )


@dataclass(frozen=True)
class Outcome:
    """How one answer is classified."""

    kind: str
    status: int = 0
    retry_after: bool = False
    detail: str = ""
    fault: str = ""


def success(resp: aiohttp.ClientResponse, right: bool) -> Outcome:
    """A success status whose content was checked: "ok", or "wrong"."""
    return Outcome("ok" if right else "wrong", resp.status, "Retry-After" in resp.headers)


async def failure(resp: aiohttp.ClientResponse) -> Outcome:
    """An error answer as ``"<status> <problem type>"`` (the type's last path segment),
    with the problem's detail."""
    slug, detail, fault = "?", "", ""
    if resp.content_type == PROBLEM:
        slug, detail, fault = problem_fields(await resp.read())
    return Outcome(
        f"{resp.status} {slug}", resp.status, "Retry-After" in resp.headers, detail, fault
    )


PROBLEM = "application/problem+json"


def problem_fields(body: bytes) -> tuple[str, str, str]:
    """A problem document's type (its last path segment), detail and fault."""
    try:
        doc = json.loads(body)
    except ValueError:
        return "bad-problem-json", "", ""
    slug = str(doc.get("type", "")).rstrip("/").rsplit("/", 1)[-1] or "?"
    return slug, str(doc.get("detail", ""))[:200], str(doc.get("fault", ""))


def transport_kind(exc: BaseException) -> str:
    """A short name for a failure below HTTP."""
    if isinstance(exc, TimeoutError):
        return "client-timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect-refused"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "truncated"
    return type(exc).__name__


Request = Callable[[aiohttp.ClientSession, int], Awaitable[Answer]]


async def _timed(recorder: Recorder, op: str, call: Callable[[], Awaitable[Outcome]]) -> Answer:
    sent = recorder.now()
    began = time.monotonic()
    try:
        out = await call()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        out = Outcome(transport_kind(exc), detail=str(exc)[:200])
    answer = Answer(
        op,
        sent,
        time.monotonic() - began,
        out.kind,
        out.status,
        out.retry_after,
        out.detail,
        out.fault,
    )
    recorder.add(answer)
    return answer


def invoke(base: str, recorder: Recorder, path: str = "/v1/run/examples/hello") -> Request:
    """POST a unique lowercase body to hello at `path`, expect it uppercased."""

    async def request(http: aiohttp.ClientSession, seq: int) -> Answer:
        body = f"wg reliability {seq} {secrets.token_hex(6)}".encode()

        async def call() -> Outcome:
            async with http.post(base + path, data=body) as resp:
                if resp.status != 200:
                    return await failure(resp)
                got = await resp.read()
                return success(resp, got == body.upper())

        return await _timed(recorder, "invoke", call)

    return request


def read(base: str, recorder: Recorder) -> Request:
    """A registry read that needs the database: the hello module's page data."""

    async def request(http: aiohttp.ClientSession, seq: int) -> Answer:
        async def call() -> Outcome:
            async with http.get(f"{base}/v1/modules/examples/hello") as resp:
                if resp.status != 200:
                    return await failure(resp)
                doc = await resp.json()
                good = doc.get("module", {}).get("name") == "examples/hello"
                return success(resp, good)

        return await _timed(recorder, "read", call)

    return request


def call_fib(base: str, recorder: Recorder) -> Request:
    """POST mathfn's fib(10) as a function call; expect [55]."""

    async def request(http: aiohttp.ClientSession, seq: int) -> Answer:
        async def call() -> Outcome:
            url = f"{base}/v1/call/examples/mathfn/fib"
            async with http.post(url, json={"args": [10]}) as resp:
                if resp.status != 200:
                    return await failure(resp)
                doc = await resp.json()
                return success(resp, doc.get("results") == [55])

        return await _timed(recorder, "call", call)

    return request


def search(base: str, recorder: Recorder) -> Request:
    """Search the registry for hello; expect it among the results."""

    async def request(http: aiohttp.ClientSession, seq: int) -> Answer:
        async def call() -> Outcome:
            async with http.get(f"{base}/v1/modules", params={"q": "hello"}) as resp:
                if resp.status != 200:
                    return await failure(resp)
                doc = await resp.json()
                names = [m.get("name") for m in doc.get("modules", [])]
                return success(resp, "examples/hello" in names)

        return await _timed(recorder, "search", call)

    return request


async def closed_loop(
    request: Request, connections: int, stop: asyncio.Event, *, pause: float = 0.0
) -> int:
    """`connections` clients, each sending its next request when the last is answered."""
    seq = 0

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal seq
        while not stop.is_set():
            seq += 1
            await request(http, seq)
            if pause:
                await asyncio.sleep(pause)

    async with session(connections) as http:
        await asyncio.gather(*(client(http) for _ in range(connections)))
    return seq


@dataclass
class Publication:
    """One publish attempt and what became of it."""

    name: str
    version: str
    sha256: str
    sent: float
    kind: str
    #: Filled by :meth:`Publisher.verify`: present, absent, or "differs: …".
    found: str = ""


@dataclass
class Publisher:
    """Publishes unique versions one after another; verifies each afterwards."""

    base: str
    token: str
    recorder: Recorder
    name: str
    publications: list[Publication] = field(default_factory=list)

    async def run(self, stop: asyncio.Event, pause: float = 0.1) -> None:
        async with session(2) as http:
            n = 0
            while not stop.is_set():
                n += 1
                await self.publish_one(http, f"1.0.{n}")
                await asyncio.sleep(pause)

    async def publish_one(self, http: aiohttp.ClientSession, version: str) -> Publication:
        data = with_custom_section(HELLO, b"reliability", f"{self.name}@{version}".encode())
        digest = hashlib.sha256(data).hexdigest()
        url = f"{self.base}/v1/modules/{self.name}/{version}"
        params = {"license": "MIT", "category": "utilities", "sha256": digest}
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/wasm"}

        async def call() -> Outcome:
            async with http.put(url, data=data, params=params, headers=headers) as resp:
                if resp.status != 201:
                    return await failure(resp)
                doc = await resp.json()
                good = doc.get("version", {}).get("digest") == digest
                return success(resp, good)

        answer = await _timed(self.recorder, "publish", call)
        pub = Publication(self.name, version, digest, answer.sent, answer.kind)
        self.publications.append(pub)
        return pub

    async def verify(self) -> None:
        """Look every publication up once the registry is back: present with its bytes?"""
        async with session(4) as http:
            for pub in self.publications:
                pub.found = await _lookup(http, self.base, pub)


async def _lookup(http: aiohttp.ClientSession, base: str, pub: Publication) -> str:
    url = f"{base}/v1/modules/{pub.name}/versions/{pub.version}"
    for _ in range(50):  # the registry may still be warming up after a fault
        async with http.get(url) as resp:
            if resp.status == 404:
                return "absent"
            if resp.status == 200:
                doc = await resp.json()
                digest = doc.get("version", {}).get("digest")
                if digest != pub.sha256:
                    return f"differs: digest {digest}"
                async with http.get(url + "/download") as dl:
                    body = await dl.read()
                if dl.status != 200 or hashlib.sha256(body).hexdigest() != pub.sha256:
                    return f"differs: download {dl.status}, {len(body)} bytes"
                return "present"
        await asyncio.sleep(0.2)
    return f"unknown: lookups answered {resp.status}"
