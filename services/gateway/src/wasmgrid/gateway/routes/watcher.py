"""The active route table, reloaded from its file when the file changes or on SIGHUP.

A file that fails validation leaves the previous table active; the reason is logged,
counted (``wasmgrid_gateway_route_reloads_total{result="invalid"}``) and shown by
``GET /v1/routes``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from prometheus_client import Counter, Gauge

from wasmgrid.gateway.routes.config import RouteError, parse_routes
from wasmgrid.gateway.routes.table import RouteTable

log = logging.getLogger(__name__)

ROUTE_RELOADS = Counter(
    "wasmgrid_gateway_route_reloads_total",
    "Routes file loads, by result (ok, invalid).",
    ["result"],
)
ROUTES_ACTIVE = Gauge("wasmgrid_gateway_routes", "Routes in the active route table.")


class RouteStore:
    """The active route table and the file it comes from (None: no routes file)."""

    def __init__(self, path: Path | None, table: RouteTable | None = None) -> None:
        self.path = path
        self.table = table or RouteTable()
        self.last_error: str | None = None
        self._stamp: tuple[int, int, int] | None = None
        ROUTES_ACTIVE.set(len(self.table))

    def _file_stamp(self) -> tuple[int, int, int] | None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload(self) -> bool:
        """Load the file now; True when the new table is active."""
        if self.path is None:
            return False
        self._stamp = self._file_stamp()
        try:
            text = self.path.read_text(encoding="utf-8")
            table = parse_routes(text)
        except (OSError, UnicodeDecodeError, RouteError) as exc:
            self.last_error = f"{self.path.name}: {exc}"
            ROUTE_RELOADS.labels("invalid").inc()
            log.error(
                "routes file rejected, keeping %d active routes: %s",
                len(self.table),
                self.last_error,
            )
            return False
        self.table = table
        self.last_error = None
        ROUTE_RELOADS.labels("ok").inc()
        ROUTES_ACTIVE.set(len(table))
        log.info("routes loaded: %d routes from %s", len(table), self.path.name)
        return True

    def changed(self) -> bool:
        """Whether the file's mtime, size or inode moved since the last load."""
        return self.path is not None and self._file_stamp() != self._stamp

    async def watch(self, interval: float) -> None:
        """Poll the file every `interval` seconds and reload on change (runs until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            if self.changed():
                self.reload()


def load_route_store(path: str | None) -> RouteStore:
    """A store for `path`; an invalid file at start-up is an error (nothing to fall back to)."""
    if not path:
        return RouteStore(None)
    store = RouteStore(Path(path))
    if not store.reload():
        raise RouteError(store.last_error or f"cannot load {path}")
    return store
