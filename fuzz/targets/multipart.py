"""Fuzz target: the gateway's multipart publish reader (``api.upload.read_upload``).

The input is a request as the gateway's handler sees it once aiohttp has parsed the
HTTP framing: its first line is the ``Content-Type`` header value, the rest the body.
The reader parses the parts with aiohttp's multipart parser (instrumented too), the
metadata part as JSON into a ``PublishMetadata``, then streams the module part.

The outcomes a client can be given are a publish going ahead or a 4xx problem; any
other exception is answered 500 by the gateway, which is a finding. Property:

- ``multipart.refusal-status``: a refusal is a 4xx (the client's input is at fault).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict, CIMultiDictProxy

from fuzz.oracle import require
from wasmgrid.gateway.api import upload
from wasmgrid.gateway.problem import Problem

NAME, VERSION = "fuzz/target", "1.0.0"
_LOOP = asyncio.new_event_loop()


async def _template() -> web.Request:
    return make_mocked_request("PUT", f"/v1/modules/{NAME}/{VERSION}")


#: aiohttp's test request (its mocks cost milliseconds to build): each input gets a
#: request with this one's transport and its own headers and payload.
_TEMPLATE = _LOOP.run_until_complete(_template())


async def _read(content_type: str, body: bytes) -> None:
    loop = asyncio.get_running_loop()
    payload = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    payload.feed_data(body)
    payload.feed_eof()
    headers = CIMultiDict({"Content-Type": content_type, "Content-Length": str(len(body))})
    message = _TEMPLATE._message._replace(
        headers=CIMultiDictProxy(headers),
        raw_headers=tuple((k.encode(), v.encode()) for k, v in headers.items()),
    )
    request = web.Request(
        message,
        payload,
        _TEMPLATE._protocol,
        _TEMPLATE._payload_writer,
        _TEMPLATE._task,
        loop,
    )
    meta, chunks = await upload.read_upload(request, NAME, VERSION)
    meta.SerializeToString()  # what the gRPC call to the marketplace does with it
    async for _ in chunks:
        pass


def check(data: bytes) -> None:
    """Read `data` (Content-Type line, then body) as a multipart publish."""
    head, _, body = data.partition(b"\n")
    head = head.rstrip(b"\r")
    if any((c < 0x20 and c != 0x09) or c == 0x7F for c in head):
        return  # aiohttp's HTTP parser refuses such a header before any handler runs
    content_type = head.decode("latin-1").strip()
    try:
        _LOOP.run_until_complete(_read(content_type, body))
    except Problem as exc:
        require(400 <= exc.status < 500, "multipart.refusal-status", f"{exc.status} {exc}")
    except web.HTTPException as exc:
        require(400 <= exc.status < 500, "multipart.refusal-status", f"{exc.status} {exc}")
