"""RFC 9457 problem details (``application/problem+json``) and gRPC → HTTP status mapping."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Awaitable, Iterator, Mapping
from typing import Any, TypeVar

import grpc
from aiohttp import web

from wasmgrid.common.errors import ServiceError
from wasmgrid.gateway.upstream import compiling_seconds, retry_after_hint, timed

T = TypeVar("T")

PROBLEM_CONTENT_TYPE = "application/problem+json"

#: Where our problem ``type`` URIs point; each names one error class.
TYPE_BASE = "https://wasmgrid.dev/problems/"

#: Who a failed request's answer blames, the ``fault`` of its problem and of the HTTP
#: metrics: the client (4xx), the guest module (it trapped, ran out of fuel or time,
#: exited non-zero, wrote a bad response: 500, type ``guest-*``) or the platform (the
#: gateway or a service behind it: 502, 503, 504, and 500 of type ``internal``).
FAULTS = ("none", "client", "guest", "platform", "overload")
#: Where the edge finds a response's fault when the handler decided it (a guest's own
#: 5xx CGI answer, a guest problem); otherwise it follows from the status.
FAULT = web.ResponseKey("fault", str)

#: gRPC status code → HTTP status, following google.rpc's HTTP mapping except that
#: server-side failures of an upstream (INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED)
#: are a 502: the gateway itself is fine, the service behind it failed.
GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 503,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.INTERNAL: 502,
    grpc.StatusCode.UNKNOWN: 502,
    grpc.StatusCode.DATA_LOSS: 502,
    grpc.StatusCode.UNIMPLEMENTED: 502,
}

_TITLES: dict[int, tuple[str, str]] = {
    400: ("invalid-argument", "Invalid argument"),
    401: ("unauthenticated", "Authentication required"),
    403: ("permission-denied", "Permission denied"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal", "Internal gateway error"),
    502: ("bad-gateway", "Upstream failed"),
    503: ("unavailable", "Service unavailable"),
    504: ("upstream-timeout", "Upstream timed out"),
}


def fault_of(status: int) -> str:
    """The fault a status stands for when nothing more is known (5xx: the platform's)."""
    if status < 400:
        return "none"
    return "client" if status < 500 else "platform"


def guest_problem(outcome: str, detail: str, *, extra: Mapping[str, Any] | None = None) -> Problem:
    """500 of type ``guest-<outcome>``: the module failed, the platform did its job."""
    slug = outcome.lower().replace("_", "-")
    return Problem(
        500,
        detail,
        title="Module failed",
        type_=f"{TYPE_BASE}guest-{slug}",
        extra=extra,
        fault="guest",
    )


def http_status_for(code: grpc.StatusCode, upstream: str = "") -> int:
    """The HTTP status a gRPC status code from an upstream maps to.

    A runtime's RESOURCE_EXHAUSTED means its execution slots are full: a 503 to retry
    shortly (or elsewhere), not the caller's own rate limit (429).
    """
    if upstream == "runtime" and code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return 503
    return GRPC_TO_HTTP.get(code, 502)


class Problem(Exception):
    """An error answered to the HTTP client as an RFC 9457 problem document."""

    def __init__(  # noqa: PLR0913 - the RFC 9457 members and the response headers
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        fault: str | None = None,
    ) -> None:
        super().__init__(detail)
        slug, default_title = _TITLES.get(status, ("error", "Error"))
        self.fault = fault or fault_of(status)
        self.status = status
        self.detail = detail
        self.title = title or default_title
        self.type = type_ or TYPE_BASE + slug
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def document(self, instance: str | None = None) -> dict[str, Any]:
        """The problem+json body."""
        doc: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        if self.status >= 500:
            doc["fault"] = self.fault
        for key, value in self.extra.items():
            doc.setdefault(key, value)
        return doc

    def body(self, instance: str | None = None) -> bytes:
        """:meth:`document` as compact JSON, byte for byte, written from a prefix shared by
        every problem of its type, title and status: a refusal under overload is answered
        for little more than aiohttp's own cost, and any client error alike."""
        out = _prefix(self.type, self.title, self.status) + _json(self.detail)
        if instance:
            out += b',"instance":' + _json(instance)
        if self.status >= 500:
            out += _FAULT_MEMBERS.get(self.fault) or b',"fault":' + _json(self.fault)
        if self.extra:
            written = _WITH_INSTANCE if instance else _BASE_MEMBERS
            if self.status >= 500:
                written |= {"fault"}
            for key, value in self.extra.items():
                if key not in written:
                    out += b"," + _json(key) + b":" + _json(value)
        return out + b"}"

    def response(self, instance: str | None = None) -> web.Response:
        """An aiohttp response carrying this problem."""
        headers = {**self.headers, **_CONTENT_TYPE} if self.headers else _CONTENT_TYPE
        response = web.Response(status=self.status, body=self.body(instance), headers=headers)
        response[FAULT] = self.fault
        return response

    @classmethod
    def from_grpc(cls, code: grpc.StatusCode, details: str | None, *, upstream: str) -> Problem:
        """A problem for a failed call to the `upstream` service."""
        status = http_status_for(code, upstream)
        message = details or code.name.lower()
        detail = f"{upstream} service: {message}" if status >= 502 else message
        headers = {"Retry-After": "1"} if status in (429, 503) else None
        return cls(status, detail, headers=headers, extra={"grpc_code": code.name})


_CONTENT_TYPE = {"Content-Type": PROBLEM_CONTENT_TYPE}
_FAULT_MEMBERS = {fault: b',"fault":"%s"' % fault.encode() for fault in FAULTS}
_BASE_MEMBERS = frozenset({"type", "title", "status", "detail"})
_WITH_INSTANCE = _BASE_MEMBERS | {"instance"}


_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _json(value: Any) -> bytes:
    # A string is the same in either form, and json.dumps' own encoder is made once.
    return (json.dumps(value) if type(value) is str else _COMPACT.encode(value)).encode()


@functools.lru_cache(maxsize=256)
def _prefix(type_: str, title: str, status: int) -> bytes:
    """``{"type":…,"title":…,"status":…,"detail":`` (problem types and titles are few)."""
    return b'{"type":%s,"title":%s,"status":%d,"detail":' % (_json(type_), _json(title), status)


def refuse_unknown_fields(doc: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    """400 naming the first field of `doc` that is not in `known`: a misspelt or
    unsupported field is an error the client sees, never silently dropped."""
    for name in doc:
        if name not in known:
            raise Problem(
                400, f"{where}: unknown field {name!r}; the fields are {', '.join(known)}"
            )


def upstream_problem(err: grpc.aio.AioRpcError, upstream: str) -> Problem:
    """The problem that answers a failed call to `upstream`."""
    compiling = compiling_seconds(err)
    if compiling is not None:
        # The module is new on that runtime replica and still compiling; the compile goes
        # on whatever this caller does, so the client is told when to come back.
        return Problem(
            503,
            f"compiling, {compiling:.0f} s so far",
            headers={"Retry-After": str(retry_after_hint(err))},
            extra={"compiling_seconds": round(compiling, 1)},
        )
    return Problem.from_grpc(err.code(), err.details(), upstream=upstream)


def service_problem(exc: ServiceError) -> Problem:
    """The problem that answers a kit error raised in the gateway itself (a request the
    gateway refuses before any upstream sees it)."""
    return Problem(http_status_for(exc.code), exc.message)


@contextlib.contextmanager
def upstream_errors(upstream: str) -> Iterator[None]:
    """Within: a failed gRPC call to `upstream` becomes its :class:`Problem`."""
    try:
        yield
    except grpc.aio.AioRpcError as err:
        raise upstream_problem(err, upstream) from None


async def call_upstream(upstream: str, method: str, call: Awaitable[T]) -> T:
    """Await a gRPC call to `upstream` (timed in metrics); a failure is its problem."""
    with upstream_errors(upstream):
        return await timed(upstream, method, call)
