"""Module bytes and assets trees by sha256 (tables ``blobs``, ``blob_chunks``, ``assets``):
content-addressed, shared by every version with the same digest, stored as chunk rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from wasmgrid.common.errors import NotFound
from wasmgrid.marketplace.store.database import SCHEMA, Conn

#: Bytes of whole stored chunks a download reads per query (one batch is read ahead).
READ_BATCH_BYTES = 4 << 20


async def insert(conn: Conn, digest: str, data: bytes, chunk_bytes: int) -> None:
    """Store `data` under its `digest` in chunks of `chunk_bytes` (COPY), unless the
    same bytes are already stored."""
    size = len(data)
    count = (size + chunk_bytes - 1) // chunk_bytes
    inserted = await conn.fetchval(
        "INSERT INTO blobs (digest, size_bytes, chunk_count) VALUES ($1, $2, $3)"
        " ON CONFLICT (digest) DO NOTHING RETURNING 1",
        digest,
        size,
        count,
    )
    if not inserted:
        return
    view = memoryview(data)
    await conn.copy_records_to_table(
        "blob_chunks",
        schema_name=SCHEMA,
        columns=("digest", "seq", "data"),
        records=(
            (digest, i, bytes(view[i * chunk_bytes : (i + 1) * chunk_bytes])) for i in range(count)
        ),
    )


async def insert_assets(conn: Conn, digest: str, file_count: int, content_bytes: int) -> None:
    """Describe the assets tree stored as blob `digest` (once per digest)."""
    await conn.execute(
        "INSERT INTO assets (digest, file_count, content_bytes) VALUES ($1, $2, $3)"
        " ON CONFLICT (digest) DO NOTHING",
        digest,
        file_count,
        content_bytes,
    )


async def read_chunks(pool: asyncpg.Pool, digest: str) -> AsyncIterator[bytes]:
    """The stored chunks of a blob in order, read a batch per query.

    One query returns up to READ_BATCH_BYTES of whole chunks (PostgreSQL streams them
    back to back); the next batch is read on another pool connection while this one is
    being sent. Memory per download stays within two batches, and no query or snapshot
    stays open while a slow client drains the stream.
    """
    blob = await pool.fetchrow(
        "SELECT size_bytes, chunk_count FROM blobs WHERE digest = $1", digest
    )
    if blob is None:
        raise NotFound(f"blob {digest} not found")
    count: int = blob["chunk_count"]
    # Stored chunk size of this blob (the setting may have changed since it was stored).
    stored = -(-blob["size_bytes"] // count) if count else 1
    per_query = max(1, READ_BATCH_BYTES // stored)

    async def fetch(start: int, n: int) -> list[bytes]:
        rows = await pool.fetch(
            "SELECT seq, data FROM blob_chunks WHERE digest = $1 AND seq >= $2 AND seq < $3"
            " ORDER BY seq",
            digest,
            start,
            start + n,
        )
        if [r["seq"] for r in rows] != list(range(start, min(start + n, count))):
            raise RuntimeError(f"blob {digest} is missing chunks in {start}..")
        return [r["data"] for r in rows]

    ahead: asyncio.Future[list[bytes]] | None = None
    try:
        # The first query reads one chunk so that sending starts early; later ones read
        # whole batches, each while the previous batch is being sent.
        batch = await fetch(0, 1)
        start = 1
        while True:
            ahead = asyncio.ensure_future(fetch(start, per_query)) if start < count else None
            for piece in batch:
                yield piece
            if ahead is None:
                return
            batch = await ahead
            start += per_query
    finally:
        if ahead is not None and not ahead.done():  # stream abandoned: drop the read-ahead
            ahead.cancel()
            ahead.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
