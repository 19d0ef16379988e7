"""Fetching module bytes from the marketplace's streamed ``Download`` RPC into a file."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from pathlib import Path
from typing import Protocol

import grpc

from wasmgrid.api.marketplace.v1 import marketplace_pb2, marketplace_pb2_grpc
from wasmgrid.common.channel import create_channel
from wasmgrid.common.errors import NotFound, ResourceExhausted, ServiceError, Unavailable
from wasmgrid.runtime.metrics import FETCH_BYTES, FETCHES

log = logging.getLogger(__name__)

#: Chunk size asked of the marketplace (its default is 1 MiB as well).
CHUNK_BYTES = 1024 * 1024
#: Longest wait for a connection to the marketplace before a download is asked for. A
#: channel between two connect attempts fails every call at once; the next attempt is at
#: most 1 s away (`wasmgrid.common.channel.RECONNECT_OPTIONS`), so a marketplace that has
#: just (re)started is waited for instead of failing the invoke.
CONNECT_WAIT_SECONDS = 1.0


class Fetcher(Protocol):
    """Something that writes the bytes published under a digest (unverified) to a file."""

    async def fetch(
        self, digest: str, max_bytes: int, dest: Path, *, kind: str = "module"
    ) -> tuple[int, str]:
        """Write the bytes to `dest`; return (their size, their sha256 hex digest).
        `kind` ("module" or "assets") names what is fetched in errors."""
        ...


class MarketplaceFetcher:
    """Downloads by digest with purpose RUNTIME, refusing anything over `max_bytes`."""

    def __init__(self, target: str, timeout_seconds: float) -> None:
        self.target = target
        self.timeout_seconds = timeout_seconds
        self._channel = create_channel(target, default_timeout=timeout_seconds)
        self._stub: marketplace_pb2_grpc.MarketplaceServiceAsyncStub = (
            marketplace_pb2_grpc.MarketplaceServiceStub(self._channel)
        )

    async def close(self) -> None:
        await self._channel.close(None)

    async def fetch(
        self, digest: str, max_bytes: int, dest: Path, *, kind: str = "module"
    ) -> tuple[int, str]:
        """Stream the module (or assets tar) into `dest` chunk by chunk (never whole in
        memory), hashing as it goes; bytes over `max_bytes` are refused at the header or
        mid-stream."""
        request = marketplace_pb2.DownloadRequest(
            digest=digest,
            purpose=marketplace_pb2.DOWNLOAD_PURPOSE_RUNTIME,
            chunk_bytes=CHUNK_BYTES,
        )
        hasher = hashlib.sha256()
        size = 0
        await self._connected()
        try:
            # Chunks go to local disk as they arrive: a thread hop each would cost more.
            with open(dest, "wb") as out:  # noqa: ASYNC230
                call = self._stub.Download(request, timeout=self.timeout_seconds)
                async for message in call:
                    if message.HasField("header"):
                        if message.header.size_bytes > max_bytes:
                            raise self._too_large(
                                kind, digest, message.header.size_bytes, max_bytes
                            )
                        continue
                    size += len(message.chunk)
                    if size > max_bytes:
                        call.cancel()
                        raise self._too_large(kind, digest, size, max_bytes)
                    hasher.update(message.chunk)
                    out.write(message.chunk)  # 1 MiB into the page cache: no loop stall
        except grpc.aio.AioRpcError as exc:
            raise self._translate(kind, digest, exc) from None
        FETCHES.labels("ok").inc()
        FETCH_BYTES.inc(size)
        return size, hasher.hexdigest()

    async def _connected(self) -> None:
        """Wait up to CONNECT_WAIT_SECONDS for the channel to be connected; a marketplace
        still unreachable then fails the download that follows, which says so."""
        if self._channel.get_state(try_to_connect=True) is grpc.ChannelConnectivity.READY:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._channel.channel_ready(), CONNECT_WAIT_SECONDS)

    def _too_large(self, kind: str, digest: str, size: int, max_bytes: int) -> ResourceExhausted:
        FETCHES.labels("too_large").inc()
        return ResourceExhausted(
            f"{kind} {digest} is at least {size} bytes; the runtime's limit is {max_bytes}"
            f" (WASMGRID_RUNTIME_MAX_{kind.upper()}_BYTES)"
        )

    def _translate(self, kind: str, digest: str, exc: grpc.aio.AioRpcError) -> ServiceError:
        code = exc.code()
        if code == grpc.StatusCode.NOT_FOUND:
            FETCHES.labels("not_found").inc()
            return NotFound(f"{kind} digest {digest} is not in the marketplace: {exc.details()}")
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            FETCHES.labels("unavailable").inc()
            return Unavailable(
                f"marketplace at {self.target} is unavailable for digest {digest}"
                f" ({code.name}: {exc.details()})"
            )
        FETCHES.labels("error").inc()
        log.warning(
            "marketplace download failed",
            extra={"digest": digest, "grpc_code": code.name, "details": exc.details()},
        )
        return Unavailable(
            f"marketplace download of {digest} failed with {code.name}: {exc.details()}"
        )
