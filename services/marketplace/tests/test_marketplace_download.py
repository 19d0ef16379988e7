"""Download streaming: batched reads from PostgreSQL, cut-off streams."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.common.testing import poll_until
from wasmgrid.marketplace.service import MarketplaceService
from wasmgrid.marketplace.store import blobs as store_blobs
from wasmgrid.marketplace.tokens import new_secret
from wasmgrid.marketplace.wasmbinary import with_custom_section

from .conftest import MarketFactory

STORED_CHUNK = 64 * 1024


def _module(wasm: bytes, size: int) -> bytes:
    """`wasm` grown to about `size` bytes with a custom section of varied bytes."""
    return with_custom_section(
        wasm, b"pad", hashlib.sha256(b"seed").digest() * ((size - len(wasm)) // 32)
    )


async def _wait_idle(svc: Any) -> None:
    """Every pool connection back in the pool (polled with a deadline)."""
    assert isinstance(svc, MarketplaceService)
    pool = svc.domain.db.pool

    async def idle() -> bool:
        return bool(pool.get_size() == pool.get_idle_size())

    await poll_until(idle, "pool connections to be released", timeout=10)


async def test_batched_reads_are_byte_identical(
    market_factory: MarketFactory, mathfn_wasm: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two stored chunks per query: 11 chunks take a one-chunk query and five batches.
    monkeypatch.setattr(store_blobs, "READ_BATCH_BYTES", 2 * STORED_CHUNK)
    m = await market_factory(new_secret(), blob_chunk_bytes=STORED_CHUNK, download_cache_bytes=0)
    data = _module(mathfn_wasm, 11 * STORED_CHUNK - 1000)
    assert 10 * STORED_CHUNK < len(data) <= 11 * STORED_CHUNK
    ivy = await m.user("ivy")
    v = (await m.publish(ivy, "ivy/big", "1.0.0", data, chunk=200_000)).version
    for chunk in (4096, 100_000, STORED_CHUNK, 0):
        header, body = await m.download(name="ivy/big", version="1.0.0", chunk_bytes=chunk)
        assert body == data
        assert hashlib.sha256(body).hexdigest() == header.digest == v.digest
    _, body = await m.download(digest=v.digest, purpose=pb.DOWNLOAD_PURPOSE_RUNTIME)
    assert hashlib.sha256(body).hexdigest() == v.digest
    stats = await m.stub.GetDownloadStats(pb.GetDownloadStatsRequest(name="ivy/big", days=1))
    assert (stats.user_downloads, stats.runtime_fetches) == (4, 1)
    await _wait_idle(m.runner.service)


async def test_cut_off_downloads_leave_the_server_healthy(
    market_factory: MarketFactory, mathfn_wasm: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_blobs, "READ_BATCH_BYTES", 2 * STORED_CHUNK)
    m = await market_factory(
        new_secret(), blob_chunk_bytes=STORED_CHUNK, download_cache_bytes=0, db_pool_max=3
    )
    data = _module(mathfn_wasm, 11 * STORED_CHUNK)
    kit = await m.user("kit")
    v = (await m.publish(kit, "kit/big", "1.0.0", data)).version
    # More abandoned streams than pool connections: each must give its connections back.
    for _ in range(6):
        call = m.stub.Download(pb.DownloadRequest(digest=v.digest, chunk_bytes=4096))
        got = 0
        async for _msg in call:
            got += 1
            if got == 3:  # the header and two chunks, with a batch being read ahead
                break
        call.cancel()
    await _wait_idle(m.runner.service)
    header, body = await m.download(digest=v.digest)
    assert body == data and hashlib.sha256(body).hexdigest() == header.digest
    # Only the completed download counts.
    stats = await m.stub.GetDownloadStats(pb.GetDownloadStatsRequest(name="kit/big", days=1))
    assert stats.user_downloads == 1
