"""Fuzz target: the gateway's CGI response parser (`parse_response`) on a guest's stdout.

A guest is untrusted code: whatever it prints must become either a well-formed HTTP
response or a :class:`CgiError` (answered 502). Limits are small here so that the
limit paths are reached. Properties of a parsed response:

- ``cgi.status``: the status is 100..599.
- ``cgi.reason-ctl``: the reason phrase holds no control character (RFC 9112 allows
  HTAB, SP and visible characters): it goes into the status line.
- ``cgi.header-name``: header names are RFC 9110 tokens.
- ``cgi.header-ctl``: header values hold no control character but HTAB (RFC 9110
  field-value): aiohttp refuses to write any other and drops the connection.
- ``cgi.hop-by-hop``: no framing or connection header from the guest passes.
- ``cgi.body``: the body is the end of the guest's output, nothing added.
- ``cgi.local-redirect``: a local redirect is a path and carries no other header.
"""

from __future__ import annotations

import re

from fuzz.oracle import require
from wasmgrid.gateway.cgi import HOP_BY_HOP, CgiError, parse_response

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check(data: bytes) -> None:
    """Parse `data` as a guest's stdout and check the response's properties."""
    try:
        resp = parse_response(data, max_header_bytes=512, max_headers=16)
    except CgiError as exc:
        require(bool(str(exc)), "cgi.error-message", "a CgiError without a message")
        return
    require(100 <= resp.status <= 599, "cgi.status", f"status {resp.status}")
    require(not _CTL.search(resp.reason), "cgi.reason-ctl", f"reason {resp.reason!r}")
    for name, value in resp.headers:
        require(bool(_TOKEN.match(name)), "cgi.header-name", f"header name {name!r}")
        require(not _CTL.search(value), "cgi.header-ctl", f"header {name}: {value!r}")
        require(name.lower() not in HOP_BY_HOP, "cgi.hop-by-hop", f"header {name}")
    require(data.endswith(resp.body), "cgi.body", f"{len(resp.body)}-byte body not from stdout")
    if resp.local_redirect is not None:
        require(
            resp.local_redirect.startswith("/") and not resp.headers,
            "cgi.local-redirect",
            f"local redirect {resp.local_redirect!r} with headers {resp.headers}",
        )
