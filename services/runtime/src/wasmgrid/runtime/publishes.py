"""News of publishes: compile each new version (and fetch its assets) before its first call.

Each runtime replica holds the marketplace's ``WatchPublishes`` stream open. The
marketplace tells every stream of every publish whichever replica took it (PostgreSQL
LISTEN/NOTIFY between its replicas); this side starts ``loader.prefetch(digest)`` and
unpacks the assets in the background, so the first call finds the module compiled or
compiling. A lost stream is opened again (with backoff) after the last seq seen, and
the marketplace replays what was published meanwhile. A marketplace without the RPC
(an older one) is asked again rarely, and calls still compile on first use.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from prometheus_client import Counter, Gauge

from wasmgrid.api.marketplace.v1 import marketplace_pb2, marketplace_pb2_grpc
from wasmgrid.common.channel import create_channel
from wasmgrid.common.errors import ServiceError
from wasmgrid.runtime.assets import AssetsStore
from wasmgrid.runtime.modules import ModuleLoader

log = logging.getLogger(__name__)

EVENTS = Counter(
    "wasmgrid_runtime_publish_events_total",
    "Publish events received, by what this replica did: prefetch (a compile started),"
    " cached (already compiled or loading), too_large (over the module limit).",
    ["action"],
)
CONNECTED = Gauge(
    "wasmgrid_runtime_publish_watch_connected", "1 while the WatchPublishes stream is open."
)
RECONNECTS = Counter(
    "wasmgrid_runtime_publish_watch_reconnects_total",
    "WatchPublishes streams opened again after a loss.",
)

#: Longest wait between attempts to open the stream again.
MAX_BACKOFF_SECONDS = 10.0
#: Wait before asking a marketplace without WatchPublishes again.
UNIMPLEMENTED_RETRY_SECONDS = 300.0


class PublishWatcher:
    """Holds ``WatchPublishes`` open and prefetches what it announces."""

    def __init__(
        self,
        target: str,
        loader: ModuleLoader,
        assets: AssetsStore,
        *,
        max_module_bytes: int,
    ) -> None:
        self.target = target
        self.loader = loader
        self.assets = assets
        self.max_module_bytes = max_module_bytes
        #: The last seq seen: a reopened stream resumes after it.
        self.seq = 0
        # No default deadline (the stream lives as long as the replica) and no span for it.
        self._channel = create_channel(target, default_timeout=None, tracing=False)
        self._stub = marketplace_pb2_grpc.MarketplaceServiceStub(self._channel)
        self._fetches: set[asyncio.Task[object]] = set()

    async def close(self) -> None:
        for task in list(self._fetches):
            task.cancel()
        await self._channel.close(None)

    async def run(self) -> None:
        """Watch until cancelled, reopening the stream after any loss."""
        backoff = 0.5
        opened = False
        while True:
            call = self._stub.WatchPublishes(
                marketplace_pb2.WatchPublishesRequest(after_seq=self.seq)
            )
            try:
                async for event in call:
                    if not opened:
                        opened = True
                        CONNECTED.set(1)
                        log.info("watching publishes", extra={"after_seq": self.seq})
                        backoff = 0.5
                    self.seq = max(self.seq, event.seq)
                    if event.HasField("version"):
                        self._on_publish(event.version)
                wait = backoff
            except grpc.aio.AioRpcError as exc:
                wait = backoff
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    wait = UNIMPLEMENTED_RETRY_SECONDS
                    log.info("marketplace at %s has no WatchPublishes", self.target)
                elif opened or backoff == 0.5:
                    log.warning(
                        "publish watch lost (%s: %s); reopening",
                        exc.code().name,
                        exc.details(),
                        extra={"after_seq": self.seq},
                    )
            finally:
                call.cancel()
            if opened:
                RECONNECTS.inc()
            opened = False
            CONNECTED.set(0)
            await asyncio.sleep(wait)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _on_publish(self, version: marketplace_pb2.ModuleVersion) -> None:
        label = f"{version.name}@{version.version}"
        if version.size_bytes > self.max_module_bytes:
            EVENTS.labels("too_large").inc()
            log.info("publish not prefetched: too large", extra={"module_name": label})
            return
        started = self.loader.prefetch(version.digest)
        EVENTS.labels("prefetch" if started else "cached").inc()
        log.info(
            "publish prefetch",
            extra={
                "module_name": label,
                "digest": version.digest,
                "started": started,
                "assets_digest": version.assets.digest,
            },
        )
        if version.assets.digest:
            task = asyncio.create_task(self._fetch_assets(version.assets.digest, label))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)

    async def _fetch_assets(self, digest: str, label: str) -> None:
        try:
            await self.assets.get(digest)
        except ServiceError as exc:
            log.info(
                "assets prefetch failed: %s",
                exc.message,
                extra={"module_name": label, "digest": digest},
            )
