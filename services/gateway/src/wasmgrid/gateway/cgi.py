"""WAGI/CGI (RFC 3875) for wasm command modules.

:func:`build_env` turns an HTTP request into CGI meta-variables; :func:`parse_response`
turns a module's stdout into an HTTP response. Both are pure: plain values in, plain
values out, so the edge cases are tested without a server.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

GATEWAY_INTERFACE = "CGI/1.1"
SERVER_SOFTWARE = "wasmgrid-gateway"

#: Request headers never passed to a module: credentials belong to the gateway
#: (RFC 3875 §4.1.18 leaves them out too) and the body framing is the gateway's.
HIDDEN_REQUEST_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "content-type", "content-length", "connection"}
)
#: Response headers a module may not set: framing and connection handling are ours.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    }
)

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*:[ \t]*(.*?)[ \t]*$")
_STATUS = re.compile(r"^([1-5][0-9][0-9])(?:[ \t]+(.*))?$")
_ENV_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: RFC 9110 field values (and RFC 9112 reason phrases) allow HTAB but no other control
#: character; aiohttp refuses to write one and drops the connection, leaving the
#: client without any answer, so the guest's output is refused here instead.
_FIELD_VALUE_FORBIDDEN = _ENV_VALUE_FORBIDDEN


class CgiError(Exception):
    """The module's output is not a valid CGI response (a guest-invalid-response 500)."""


@dataclass(slots=True)
class CgiRequest:
    """What the gateway knows about a request, as plain values."""

    method: str
    script_name: str
    path_info: str
    query_string: str
    headers: Iterable[tuple[str, str]]
    remote_addr: str
    server_name: str
    server_port: int
    server_protocol: str = "HTTP/1.1"
    content_length: int | None = None
    matched_route: str = ""
    route_params: Mapping[str, str] = field(default_factory=dict)
    remote_user: str = ""
    scheme: str = "http"


@functools.lru_cache(maxsize=256)
def header_env_name(name: str) -> str | None:
    """``X-Forwarded-For`` → ``HTTP_X_FORWARDED_FOR``; None for names that must not pass.

    Names carrying ``_`` are dropped: ``X_Forwarded_For`` would otherwise map onto
    the same variable as ``X-Forwarded-For`` and let a client spoof it. Remembered for
    the names seen most (every request carries the same few); 256 names of at most
    aiohttp's 8 KiB header line keep the memory a client can make it hold small.
    """
    if not _TOKEN.match(name) or "_" in name:
        return None
    if name.lower() in HIDDEN_REQUEST_HEADERS:
        return None
    return "HTTP_" + name.upper().replace("-", "_")


def query_argv(query_string: str) -> list[str]:
    """The arguments ``/v1/run`` gives a module for its raw (still encoded) query string.

    A query without an unencoded ``=`` is a search string (RFC 3875 §4.4): its
    ``+``-separated words, each percent-decoded, are the arguments (``?a+b%20c`` →
    ``a``, ``b c``); one with an empty word (``a++b``) carries none, as the RFC asks: a
    server that cannot build every argument builds none. A query with ``=`` is a form:
    its pairs, decoded, as ``key=value`` arguments (``?k=v&x=a+b`` → ``k=v``, ``x=a b``),
    all of them: the runtime's argv caps refuse too many with a 400 naming the cap,
    rather than the module running without some of its arguments.
    """
    if not query_string:
        return []
    if "=" in query_string:
        pairs = parse_qsl(query_string, keep_blank_values=True)
        return [f"{key}={value}" for key, value in pairs]
    words = query_string.split("+")
    if not all(words):
        return []
    return [unquote(word) for word in words]


def _clean(value: str) -> str:
    # Every forbidden character is unprintable: most values skip the regex.
    return value if value.isprintable() else _ENV_VALUE_FORBIDDEN.sub(" ", value)


def build_env(req: CgiRequest, *, max_env_bytes: int = 64 * 1024) -> dict[str, str]:
    """The CGI meta-variables for `req`.

    Repeated headers are joined with ``, `` (``; `` for Cookie) as RFC 9110 allows.
    Header variables that would push the environment past `max_env_bytes` are left
    out (the RFC 3875 variables always fit); a module sees a bounded environment.
    """
    env: dict[str, str] = {
        "GATEWAY_INTERFACE": GATEWAY_INTERFACE,
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        "SERVER_PROTOCOL": req.server_protocol,
        "SERVER_NAME": req.server_name,
        "SERVER_PORT": str(req.server_port),
        "REQUEST_METHOD": req.method.upper(),
        "SCRIPT_NAME": req.script_name,
        "PATH_INFO": req.path_info,
        "QUERY_STRING": req.query_string,
        "REMOTE_ADDR": req.remote_addr,
        "REMOTE_HOST": req.remote_addr,
        "X_MATCHED_ROUTE": req.matched_route,
        "X_REQUEST_SCHEME": req.scheme,
    }
    if req.path_info:
        env["PATH_TRANSLATED"] = req.path_info
    if req.remote_user:
        env["AUTH_TYPE"] = "Bearer"
        env["REMOTE_USER"] = req.remote_user
    content_type, joined = _split_headers(req.headers)
    if content_type:
        env["CONTENT_TYPE"] = _clean(content_type)
    if req.content_length is not None and (req.content_length > 0 or content_type):
        env["CONTENT_LENGTH"] = str(req.content_length)
    for key, value in req.route_params.items():
        env["X_PARAM_" + key.upper()] = _clean(value)
    used = sum(len(k) + len(v) + 2 for k, v in env.items())
    for var, values in joined.items():
        value = ("; " if var == "HTTP_COOKIE" else ", ").join(values)
        size = len(var) + len(value) + 2
        if used + size > max_env_bytes:
            continue
        env[var] = value
        used += size
    return env


def _split_headers(headers: Iterable[tuple[str, str]]) -> tuple[str, dict[str, list[str]]]:
    """The Content-Type, and the other headers' values by CGI variable (in order)."""
    content_type = ""
    joined: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() == "content-type":
            content_type = value
            continue
        var = header_env_name(name)
        if var is not None:
            joined.setdefault(var, []).append(_clean(value))
    return content_type, joined


@dataclass
class CgiResponse:
    """A module's CGI response ready for HTTP."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    #: Set for an RFC 3875 local redirect: the gateway re-dispatches to this path.
    local_redirect: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive)."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None


def _split_header_block(stdout: bytes, max_header_bytes: int) -> tuple[list[bytes], bytes] | None:
    """(header lines, body) if stdout starts with a header block, None for a raw body."""
    first_end = stdout.find(b"\n")
    first = stdout if first_end < 0 else stdout[:first_end]
    first = first.rstrip(b"\r")
    if not _HEADER_LINE.match(first):
        return None
    lines: list[bytes] = []
    pos = 0
    while True:
        if pos > max_header_bytes:
            raise CgiError(
                f"CGI header section exceeds the {max_header_bytes}-byte limit"
                " (no blank line ends it)"
            )
        end = stdout.find(b"\n", pos)
        if end < 0:
            # Output ended inside the header section: headers without a body.
            rest = stdout[pos:].rstrip(b"\r")
            if rest:
                lines.append(rest)
            if len(stdout) > max_header_bytes:
                raise CgiError(f"CGI header section exceeds the {max_header_bytes}-byte limit")
            return lines, b""
        line = stdout[pos:end].rstrip(b"\r")
        pos = end + 1
        if not line:
            if pos - 1 > max_header_bytes:
                raise CgiError(f"CGI header section exceeds the {max_header_bytes}-byte limit")
            return lines, stdout[pos:]
        lines.append(line)


def parse_response(
    stdout: bytes,
    *,
    max_header_bytes: int = 16 * 1024,
    max_headers: int = 100,
    raw_content_type: str = "application/octet-stream",
) -> CgiResponse:
    """Parse a module's stdout (RFC 3875 §6) into a response.

    - A header block (``Name: value`` lines, LF or CRLF, ended by a blank line) then
      the body. Output that does not start with a header line is a raw body sent as
      `raw_content_type` (the common "just print" module).
    - ``Status: NNN reason`` sets the status; a malformed one is a :class:`CgiError`.
    - ``Location: /local/path`` alone (no body, no Status) is a local redirect;
      ``Location: scheme://…`` is a client redirect, 302 unless Status says otherwise.
    - Hop-by-hop and framing headers from the module are dropped.
    """
    split = _split_header_block(stdout, max_header_bytes)
    if split is None:
        return CgiResponse(200, "OK", [("Content-Type", raw_content_type)], stdout)
    lines, body = split
    if len(lines) > max_headers:
        raise CgiError(f"CGI response has {len(lines)} header lines; the limit is {max_headers}")
    head = _read_head(lines)
    status, reason, location = head.status, head.reason, head.location
    local = location is not None and location.startswith("/") and not location.startswith("//")
    if local and status is None and head.content_type is None and not body:
        if any(h[0] != "Location" for h in head.headers):
            raise CgiError("CGI local redirect (Location: /path) must be the only header")
        return CgiResponse(200, "OK", [], b"", local_redirect=location)
    if status is None:
        status, reason = (302, "Found") if location is not None else (200, "")
    headers = head.headers
    if head.content_type is None and body:
        headers.append(("Content-Type", raw_content_type))
    return CgiResponse(status, reason or _REASONS.get(status, ""), headers, body)


@dataclass
class _Head:
    """What a CGI header block says, hop-by-hop headers dropped."""

    status: int | None = None
    reason: str = ""
    location: str | None = None
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


def _read_head(lines: Sequence[bytes]) -> _Head:
    head = _Head()
    for number, raw in enumerate(lines, start=1):
        name, value = _header_line(number, raw)
        lower = name.lower()
        if lower == "status":
            head.status, head.reason = _status(value)
        elif lower == "location":
            if not value:
                raise CgiError("CGI Location header is empty")
            head.location = value
            head.headers.append(("Location", value))
        elif lower == "content-type":
            head.content_type = value
            head.headers.append(("Content-Type", value))
        elif lower not in HOP_BY_HOP:
            head.headers.append((name, value))
    return head


def _header_line(number: int, raw: bytes) -> tuple[str, str]:
    """(name, value) of header line `number` (UTF-8, else Latin-1); CgiError if malformed."""
    m = _HEADER_LINE.match(raw)
    if m is None:
        shown = raw[:80].decode("utf-8", "replace")
        raise CgiError(f"CGI header line {number} is not 'Name: value': {shown!r}")
    name = m.group(1).decode("ascii")
    try:
        value = m.group(2).decode("utf-8")
    except UnicodeDecodeError:
        value = m.group(2).decode("latin-1")
    if "\r" in value:
        raise CgiError(f"CGI header line {number} ({name}) contains a carriage return")
    if ctl := _FIELD_VALUE_FORBIDDEN.search(value):
        raise CgiError(
            f"CGI header line {number} ({name}) contains the control character {ctl.group()!r}"
        )
    return name, value


def _status(value: str) -> tuple[int, str]:
    """The code and reason of a ``Status: NNN reason`` header; CgiError if malformed."""
    sm = _STATUS.match(value)
    if sm is None:
        raise CgiError(f"CGI Status header {value[:40]!r} is not 'NNN reason' (100-599)")
    return int(sm.group(1)), sm.group(2) or ""


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
}


def stderr_excerpt(stderr: bytes, limit: int) -> str:
    """The last `limit` bytes of stderr as text, marked when cut (the end says why it died)."""
    if limit <= 0:
        return ""
    cut = len(stderr) > limit
    text = stderr[-limit:].decode("utf-8", "replace")
    return ("…" + text if cut else text).strip()
