"""The publish feed: every replica of the marketplace tells its watchers of every publish.

Runtime replicas hold a ``WatchPublishes`` stream open to any marketplace replica and
compile each new version (and fetch its assets) before its first call. A publish adds a
row to ``publish_feed`` and NOTIFYs channel ``wasmgrid_publish`` in its transaction
(:mod:`wasmgrid.marketplace.store.feed`), so PostgreSQL tells every replica's listener at
commit, whichever replica took the publish. NOTIFY is lost while a listener is
disconnected, so after each (re)connect the feed reads the rows after the last seq it
saw; a watcher that reconnects passes the last seq it saw and gets the rows after it
first. Delivery is at least once, in seq (= commit) order; acting on an event (prefetch)
is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator

import asyncpg
from prometheus_client import Counter, Gauge

from wasmgrid.common.errors import InvalidArgument, Unavailable
from wasmgrid.marketplace.records import PublishEvent
from wasmgrid.marketplace.store import feed as feed_store
from wasmgrid.marketplace.store.database import SCHEMA, Database

log = logging.getLogger(__name__)

EVENTS = Counter("marketplace_publish_feed_events_total", "Publish events read from the feed.")
WATCHERS = Gauge("marketplace_publish_watchers", "WatchPublishes streams open.")
LISTENS = Counter(
    "marketplace_publish_feed_listens_total",
    "LISTEN connections made for the publish feed, by result.",
    ["result"],
)
DROPPED = Counter(
    "marketplace_publish_watchers_dropped_total",
    "WatchPublishes streams ended because the watcher fell behind.",
)

#: Events one read of the feed returns (a watcher far behind reads in batches).
BATCH = 500
#: Events a watcher may have queued before it is dropped (it reconnects with its seq).
QUEUE = 1000
#: Longest wait between attempts to LISTEN again.
MAX_BACKOFF_SECONDS = 10.0


class PublishFeed:
    """One LISTEN connection per replica, fanned out to the WatchPublishes streams."""

    def __init__(self, db: Database, dsn: str) -> None:
        self.db = db
        self.dsn = dsn
        self.last_seq = 0
        self._watchers: set[asyncio.Queue[PublishEvent | None]] = set()
        self._wake = asyncio.Event()
        self._listening = False

    @property
    def listening(self) -> bool:
        """Whether the LISTEN connection is up (news arrive at commit)."""
        return self._listening

    async def run(self, stopping: asyncio.Event) -> None:
        """LISTEN (again after any loss) and hand every new row to the watchers."""
        reader: asyncio.Task[None] | None = None
        backoff = 0.5
        try:
            while not stopping.is_set():
                lost = asyncio.Event()
                try:
                    if reader is None:  # the position to hand out news from: the head now
                        self.last_seq = await feed_store.head(self.db.pool)
                        reader = asyncio.create_task(self._read_loop(), name="publish-feed-reader")
                    conn = await asyncpg.connect(
                        self.dsn, server_settings={"search_path": f"{SCHEMA}, public"}
                    )
                except (
                    OSError,
                    asyncpg.PostgresError,
                    # A pooled connection torn down by a PostgreSQL restart fails the head
                    # query with these, not a PostgresError; the feed must outlive it.
                    asyncpg.InterfaceError,
                    asyncpg.InternalClientError,
                ) as exc:
                    LISTENS.labels("failed").inc()
                    log.warning("publish feed cannot LISTEN: %r; retrying in %.1fs", exc, backoff)
                    await _wait(stopping, backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
                try:
                    conn.add_termination_listener(functools.partial(_set, lost))
                    await conn.add_listener(feed_store.CHANNEL, self._notified)
                    self._listening = True
                    LISTENS.labels("ok").inc()
                    log.info("publish feed listening", extra={"last_seq": self.last_seq})
                    backoff = 0.5
                    self._wake.set()  # catch up on what was published while not listening
                    await _first(stopping.wait(), lost.wait())
                except Exception as exc:
                    # Any failure of the connection means listen again: a server restarting
                    # under LISTEN fails it in more ways than PostgresError (asyncpg's
                    # InternalClientError, InterfaceError, ...).
                    LISTENS.labels("failed").inc()
                    log.warning("publish feed LISTEN failed: %r; retrying in %.1fs", exc, backoff)
                    await _wait(stopping, backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                finally:
                    self._listening = False
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
                if not stopping.is_set():
                    log.warning("publish feed lost its LISTEN connection; reconnecting")
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            for queue in list(self._watchers):
                queue.put_nowait(None)

    def _notified(self, _conn: object, _pid: int, _channel: str, _payload: object) -> None:
        self._wake.set()

    async def _read_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                while events := await feed_store.after(self.db.pool, self.last_seq, BATCH):
                    for event in events:
                        self._publish(event)
                    self.last_seq = events[-1].seq
            except Exception as exc:
                # Whatever a restarting server does to the query, the reader must live on.
                log.warning("publish feed read failed: %r", exc)
                await asyncio.sleep(1)
                self._wake.set()

    def _publish(self, event: PublishEvent) -> None:
        EVENTS.inc()
        log.info(
            "publish event",
            extra={
                "seq": event.seq,
                "module_name": event.version.name,
                "version": event.version.version,
                "digest": event.version.digest,
                "watchers": len(self._watchers),
            },
        )
        for queue in list(self._watchers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._watchers.discard(queue)
                DROPPED.inc()
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)

    async def watch(self, after_seq: int) -> AsyncIterator[PublishEvent | int]:
        """The feed's position (an int: the seq to resume after), then every event after
        `after_seq` (0: after the current head) as it commits."""
        if after_seq < 0:
            raise InvalidArgument(f"after_seq {after_seq} must be 0 or more")
        queue: asyncio.Queue[PublishEvent | None] = asyncio.Queue(QUEUE)
        self._watchers.add(queue)
        WATCHERS.inc()
        try:
            sent = after_seq or await feed_store.head(self.db.pool)
            yield sent
            while True:  # what the watcher missed, from the table
                missed = await feed_store.after(self.db.pool, sent, BATCH)
                for event in missed:
                    yield event
                    sent = event.seq
                if len(missed) < BATCH:
                    break
            while True:
                item = await queue.get()
                if item is None:
                    raise Unavailable(
                        "publish feed stopped or this watcher fell behind;"
                        f" reconnect with after_seq={sent}"
                    )
                if item.seq > sent:
                    yield item
                    sent = item.seq
        finally:
            self._watchers.discard(queue)
            WATCHERS.dec()


def _set(event: asyncio.Event, _conn: object) -> None:
    event.set()


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


async def _first(*waits: object) -> None:
    """Return when the first of the awaitables completes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
