"""One notifier among monitor replicas: a PostgreSQL session advisory lock.

Every replica evaluates rules (so any of them answers ListAlerts), but only the
holder of the lock queues notifications. The lock lives on a dedicated
connection: if that replica dies or loses its database session, PostgreSQL
releases the lock and another replica takes over at its next evaluation.
"""

from __future__ import annotations

import hashlib
import logging

import asyncpg

log = logging.getLogger(__name__)


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(f"wasmgrid-monitor-leader:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership:
    """Holds (or tries to take) the notifier lock."""

    def __init__(self, dsn: str, name: str = "notifier") -> None:
        self.dsn = dsn
        self.key = _lock_key(name)
        self._conn: asyncpg.Connection | None = None
        self.leader = False

    async def check(self) -> bool:
        """Whether this replica is the notifier now (taking the lock if it is free)."""
        try:
            if self._conn is None or self._conn.is_closed():
                self.leader = False
                self._conn = await asyncpg.connect(self.dsn, timeout=5)
            if self.leader:
                await self._conn.fetchval("SELECT 1", timeout=5)  # still our session?
                return True
            got = bool(
                await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key, timeout=5)
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if self.leader:
                log.warning("lost the notifier lock with the database session: %r", exc)
            self.leader = False
            await self.close()
            return False
        if got and not self.leader:
            log.info("this monitor replica is now the notifier")
        self.leader = got
        return got

    async def close(self) -> None:
        """Release the lock (by ending the session)."""
        conn, self._conn = self._conn, None
        self.leader = False
        if conn is not None and not conn.is_closed():
            conn.terminate()
