"""Read-only assets: each tree fetched once per replica, verified, unpacked, leased per call.

A version's assets are a canonical tar in the marketplace, named by its sha256. The first
call (or a prefetch) that needs a digest downloads it (one download per digest however
many calls wait), checks the bytes against the digest, unpacks it with tarfile's ``data``
filter (no absolute paths, ``..``, links out of the tree or special files, whatever the
tar holds) into a temporary directory and renames that to ``<root>/<digest>``, so a tree
on disk is always whole. Calls preopen it read-only.

The trees share a byte budget: making room evicts the least recently used trees no call
is using; when the budget is all in use the call is refused (RESOURCE_EXHAUSTED), never
the disk filled. Directory names are only ever sha256 hex digests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import tarfile
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram

from wasmgrid.common.errors import InvalidArgument, NotFound, ResourceExhausted
from wasmgrid.common.metrics import LATENCY_BUCKETS
from wasmgrid.common.singleflight import SingleFlight
from wasmgrid.runtime.fetch import Fetcher
from wasmgrid.runtime.privatedirs import tree_bytes

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

ASSETS_LOADS = Counter(
    "wasmgrid_runtime_assets_loads_total",
    "Assets trees made ready, by how: fetched and unpacked, or already on disk.",
    ["result"],
)
ASSETS_SECONDS = Histogram(
    "wasmgrid_runtime_assets_unpack_seconds",
    "Time to fetch, verify and unpack one assets tree.",
    buckets=LATENCY_BUCKETS,
)
ASSETS_BYTES = Gauge(
    "wasmgrid_runtime_assets_disk_bytes", "Bytes of unpacked assets trees on disk."
)

_ENV = "WASMGRID_RUNTIME_MAX_ASSETS_BYTES"


@dataclass
class _Tree:
    bytes: int
    users: int = 0


def _unpack(archive: Path, dest: Path, max_bytes: int) -> int:
    """Unpack the canonical tar `archive` into the new directory `dest`; its file bytes."""
    dest.mkdir()
    total = 0
    with tarfile.open(archive, mode="r:") as tar:
        members = tar.getmembers()
        total = sum(m.size for m in members if m.isreg())
        if total > max_bytes:
            raise ResourceExhausted(
                f"assets unpack to {total} bytes; the runtime's limit is {max_bytes} ({_ENV})"
            )
        tar.extractall(dest, members=members, filter="data")
    return total


class AssetsStore:
    """Unpacked assets trees under `root`, bounded by `max_disk_bytes`."""

    def __init__(
        self,
        root: Path,
        fetcher: Fetcher | None,
        executor: Executor,
        *,
        max_bytes: int,
        max_disk_bytes: int,
    ) -> None:
        self.root = root
        self.fetcher = fetcher
        self.executor = executor
        self.max_bytes = max_bytes
        self.max_disk_bytes = max_disk_bytes
        self._trees: OrderedDict[str, _Tree] = OrderedDict()
        self._loading: SingleFlight[str, Path] = SingleFlight("assets")
        root.mkdir(parents=True, exist_ok=True)
        for entry in sorted(root.iterdir()):
            if entry.name.startswith("."):  # an unpack cut short by a crash
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_dir():
                self._trees[entry.name] = _Tree(tree_bytes(entry))
        ASSETS_BYTES.set(self.disk_bytes)

    @property
    def disk_bytes(self) -> int:
        """Bytes of the trees on disk."""
        return sum(t.bytes for t in self._trees.values())

    def __len__(self) -> int:
        return len(self._trees)

    async def get(self, digest: str) -> Path:
        """The unpacked tree of `digest`, fetched and unpacked first if not on disk."""
        tree = self._trees.get(digest)
        if tree is not None:
            self._trees.move_to_end(digest)
            return self.root / digest
        return await self._loading.run(digest, lambda: self._load(digest))

    @contextlib.contextmanager
    def lease(self, digest: str) -> Iterator[Path]:
        """Keep the tree of `digest` (already got) from eviction while a call uses it."""
        tree = self._trees.get(digest)
        if tree is None:
            raise NotFound(f"assets {digest} were evicted before the call started; retry")
        tree.users += 1
        try:
            yield self.root / digest
        finally:
            tree.users -= 1

    async def _load(self, digest: str) -> Path:
        if self.fetcher is None:
            raise NotFound(f"assets {digest} are not on this runtime and it has no marketplace")
        started = time.perf_counter()
        with tracer.start_as_current_span("runtime.assets", attributes={"assets.digest": digest}):
            incoming = self.root / f".{digest}.{secrets.token_hex(6)}.tar"
            staging = self.root / f".{digest}.{secrets.token_hex(6)}"
            try:
                size, actual = await self.fetcher.fetch(
                    digest, self.max_bytes, incoming, kind="assets"
                )
                if actual != digest:
                    ASSETS_LOADS.labels("corrupt").inc()
                    raise InvalidArgument(
                        f"assets {digest} downloaded as {size} bytes with sha256 {actual}; refused"
                    )
                loop = asyncio.get_running_loop()
                unpacked = await loop.run_in_executor(
                    self.executor, _unpack, incoming, staging, self.max_bytes
                )
                await self._make_room(unpacked)
                os.rename(staging, self.root / digest)
            finally:
                incoming.unlink(missing_ok=True)
                if staging.exists():
                    await asyncio.get_running_loop().run_in_executor(
                        self.executor, shutil.rmtree, staging, True
                    )
        self._trees[digest] = _Tree(unpacked)
        ASSETS_BYTES.set(self.disk_bytes)
        ASSETS_LOADS.labels("fetched").inc()
        elapsed = time.perf_counter() - started
        ASSETS_SECONDS.observe(elapsed)
        log.info(
            "assets unpacked",
            extra={"digest": digest, "bytes": unpacked, "elapsed_ms": round(elapsed * 1000)},
        )
        return self.root / digest

    async def _make_room(self, needed: int) -> None:
        """Evict unused trees, least recently used first, until `needed` bytes fit."""
        if needed > self.max_disk_bytes:
            raise ResourceExhausted(
                f"assets of {needed} bytes exceed the disk budget of {self.max_disk_bytes}"
                " bytes (WASMGRID_RUNTIME_MAX_DISK_BYTES)"
            )
        loop = asyncio.get_running_loop()
        for digest in list(self._trees):
            if self.disk_bytes + needed <= self.max_disk_bytes:
                return
            if self._trees[digest].users:
                continue
            del self._trees[digest]
            await loop.run_in_executor(self.executor, shutil.rmtree, self.root / digest, True)
            log.info("assets evicted", extra={"digest": digest})
        if self.disk_bytes + needed > self.max_disk_bytes:
            raise ResourceExhausted(
                f"no room for assets of {needed} bytes: {self.disk_bytes} bytes of trees in"
                f" use (WASMGRID_RUNTIME_MAX_DISK_BYTES={self.max_disk_bytes}); retry later"
            )
