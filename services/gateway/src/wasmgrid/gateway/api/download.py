"""Downloading a version's wasm: streamed from the marketplace as it arrives."""

from __future__ import annotations

import base64

import grpc
from aiohttp import web

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.gateway.api.relay import caller_metadata
from wasmgrid.gateway.problem import Problem, upstream_problem
from wasmgrid.gateway.state import GATEWAY


async def download(request: web.Request) -> web.StreamResponse:
    """GET …/versions/{version}/download: the wasm bytes, streamed."""
    gw = request.app[GATEWAY]
    req = mp.DownloadRequest(
        name=f"{request.match_info['ns']}/{request.match_info['name']}",
        version=request.match_info["version"],
        purpose=mp.DOWNLOAD_PURPOSE_USER,
    )
    stream = gw.registry.stub.Download(req, metadata=caller_metadata(request))
    response: web.StreamResponse | None = None
    try:
        async for msg in stream:
            if msg.HasField("header"):
                h = msg.header
                response = web.StreamResponse(
                    headers={
                        "Content-Type": "application/wasm",
                        "ETag": f'"sha256:{h.digest}"',
                        "Repr-Digest": f"sha-256=:{base64_of_hex(h.digest)}:",
                        "Content-Disposition": (
                            f'attachment; filename="{h.name.split("/")[-1]}-{h.version}.wasm"'
                        ),
                    }
                )
                response.content_length = h.size_bytes
                await response.prepare(request)
            elif response is not None:
                await response.write(msg.chunk)
    except grpc.aio.AioRpcError as err:
        if response is None:
            raise upstream_problem(err, "marketplace") from None
        raise  # headers already sent: abort the connection, the client sees a short body
    if response is None:
        raise Problem(502, "marketplace service: download stream ended without a header")
    await response.write_eof()
    return response


def base64_of_hex(digest: str) -> str:
    """A hex digest re-encoded as base64 (RFC 9530 digest fields); "" if not hex."""
    try:
        return base64.b64encode(bytes.fromhex(digest)).decode()
    except ValueError:
        return ""
