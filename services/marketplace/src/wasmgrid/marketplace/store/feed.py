"""The publish feed (table ``publish_feed``, channel ``wasmgrid_publish``)."""

from __future__ import annotations

from wasmgrid.marketplace.records import PublishEvent
from wasmgrid.marketplace.store import modules
from wasmgrid.marketplace.store.database import Conn, Executor

#: The NOTIFY channel; the payload is the new row's seq.
CHANNEL = "wasmgrid_publish"
#: Advisory lock key that orders feed rows by commit (see migration 0008).
_ORDER_LOCK = 0x7761_736D_6772_6964  # "wasmgrid"


async def append(tx: Conn, version_id: int) -> int:
    """Add the version to the feed in the publish transaction; NOTIFY at its commit."""
    await tx.execute("SELECT pg_advisory_xact_lock($1)", _ORDER_LOCK)
    seq: int = await tx.fetchval(
        "INSERT INTO publish_feed (version_id) VALUES ($1) RETURNING seq", version_id
    )
    await tx.execute("SELECT pg_notify($1, $2)", CHANNEL, str(seq))
    return seq


async def head(ex: Executor) -> int:
    """The latest seq (0 when nothing was ever published)."""
    seq: int | None = await ex.fetchval("SELECT max(seq) FROM publish_feed")
    return seq or 0


async def after(ex: Executor, seq: int, limit: int) -> list[PublishEvent]:
    """Up to `limit` events after `seq`, oldest first."""
    return [PublishEvent(n, v) for n, v in await modules.versions_in_feed(ex, seq, limit)]
