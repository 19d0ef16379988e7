"""Publishing a version: the upload, its validation, and the rules a new version obeys.

A publish is checked before its bytes are read (metadata, permission, an existing
version) so that a doomed upload fails fast; then the upload is buffered (bounded by
the size cap and the number of publishes at once), validated, and stored in one
transaction: claiming the namespace when new, creating the module, the blob, the
version and the refreshed module row. A cancelled or failed publish writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

from opentelemetry import trace
from prometheus_client import Counter, Histogram

from wasmgrid.common.errors import AlreadyExists, InvalidArgument, ResourceExhausted
from wasmgrid.common.guestpath import (
    DEFAULT_ASSETS_MOUNT,
    DEFAULT_SCRATCH_MOUNT,
    check_guest_path,
)
from wasmgrid.common.metrics import LATENCY_BUCKETS
from wasmgrid.marketplace import archives, audit, names, semver
from wasmgrid.marketplace.identity import require_owner
from wasmgrid.marketplace.limits import Limits
from wasmgrid.marketplace.names import ModuleName
from wasmgrid.marketplace.records import (
    Assets,
    AssetsChunk,
    AuditAction,
    AuditTarget,
    Metadata,
    NewVersion,
    Origin,
    Principal,
    PublishMetadata,
    PublishPart,
    Scratch,
    Version,
)
from wasmgrid.marketplace.store import audit as audit_log
from wasmgrid.marketplace.store import blobs, feed, modules, namespaces
from wasmgrid.marketplace.store import search as search_store
from wasmgrid.marketplace.store.database import Conn, Database
from wasmgrid.marketplace.tokens import Scope
from wasmgrid.marketplace.validation import ERROR, Policy, Report, validate_module

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

PUBLISHED = Counter("marketplace_publish_total", "Publish attempts by outcome.", ["outcome"])
PUBLISH_BYTES = Counter("marketplace_publish_bytes_total", "Module bytes accepted by publish.")
VALIDATION_SECONDS = Histogram(
    "marketplace_validation_seconds",
    "Time to validate and scan one module.",
    buckets=LATENCY_BUCKETS,
)

ASSETS = Counter(
    "marketplace_publish_assets_total", "Assets archives read at publish by outcome.", ["outcome"]
)
ASSETS_SECONDS = Histogram(
    "marketplace_assets_seconds",
    "Time to check one assets archive and write its canonical tar.",
    buckets=LATENCY_BUCKETS,
)

_RAISE = "an admin can raise it with SetNamespaceLimits"


@dataclass(frozen=True)
class Caps:
    """The size caps of one publish: its namespace's."""

    namespace: str
    module_bytes: int
    assets: archives.Limits

    def too_large(self, what: str, size: str) -> InvalidArgument:
        cap = self.module_bytes if what == "module" else self.assets.max_bytes
        return InvalidArgument(
            f"{what} {size} the limit of {cap} bytes of namespace {self.namespace!r} ({_RAISE})"
        )


@dataclass(frozen=True)
class CheckedAssets:
    """An assets archive that passed every check, in canonical form."""

    archive: archives.Archive

    def record(self, mount: str) -> Assets:
        """What the version stores about it."""
        a = self.archive
        return Assets(a.digest, len(a.canonical), a.file_count, a.content_bytes, mount)


@contextlib.contextmanager
def counted_attempt() -> Iterator[None]:
    """Count one publish attempt by how it ends: ok, refused or cancelled."""
    try:
        yield
    except asyncio.CancelledError:
        PUBLISHED.labels("cancelled").inc()
        raise
    except BaseException:
        PUBLISHED.labels("refused").inc()
        raise
    PUBLISHED.labels("ok").inc()


class Publishing:
    """The Publish use case."""

    def __init__(  # noqa: PLR0913 - keyword-only settings
        self,
        db: Database,
        *,
        policy: Policy,
        chunk_bytes: int,
        max_concurrent: int,
        idle_timeout: float,
        max_versions: int,
        limits: Limits,
        max_assets_files: int,
    ) -> None:
        self.db = db
        self.limits = limits
        self.max_assets_files = max_assets_files
        self.policy = policy
        self.chunk_bytes = chunk_bytes
        self.idle_timeout = idle_timeout
        self.max_versions = max_versions
        #: Bounded memory: at most this many uploads are buffered at once.
        self.slots = asyncio.Semaphore(max_concurrent)

    async def publish(
        self, who: Principal, origin: Origin, parts: AsyncIterator[PublishPart]
    ) -> Version:
        """Publish the version that `parts` carries: the metadata first, then the bytes."""
        who.require(Scope.PUBLISH)
        it = parts.__aiter__()

        async def next_part() -> PublishPart:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    return await it.__anext__()
            except TimeoutError:
                raise InvalidArgument(
                    f"publish stream idle for more than {self.idle_timeout:.0f}s; upload aborted"
                ) from None

        try:
            md = await next_part()
        except StopAsyncIteration:
            md = None
        if not isinstance(md, PublishMetadata):
            raise InvalidArgument("the first Publish message must carry metadata")
        mod, version, metadata = self._check_metadata(md)
        mount = check_guest_path(md.assets_mount, "metadata.assets_mount", DEFAULT_ASSETS_MOUNT)
        scratch = _check_scratch(md.scratch)
        ns_id = await self._check_can_publish(who, mod, version.precedence_key())
        module_cap, assets_cap = await self.limits.for_namespace_id(self.db.pool, ns_id)
        caps = Caps(
            mod.namespace,
            module_cap,
            archives.Limits(max_bytes=assets_cap, max_files=self.max_assets_files),
        )
        if md.size_bytes > caps.module_bytes:
            raise caps.too_large("module", f"of metadata.size_bytes {md.size_bytes} is above")

        if self.slots.locked():
            log.info("publish waiting for a free slot")
        async with self.slots:
            blob, digest, archive = await self._receive(next_part, md, caps)
            if archive is not None and scratch is not None and scratch.mount == mount:
                raise InvalidArgument(
                    f"metadata.scratch.mount {mount!r} is the assets mount too; give one"
                    " of them another path"
                )
            report = await self._validate(blob)
            tree = None if archive is None else await self._read_assets(archive, caps.assets)
            nv = NewVersion(
                module=mod,
                version=version,
                metadata=metadata,
                digest=digest,
                size_bytes=len(blob),
                kind=report.kind,
                validation=report,
                assets=None if tree is None else tree.record(mount),
                scratch=scratch,
            )
            published = await self._store(who, origin, nv, blob, tree)
        PUBLISH_BYTES.inc(len(blob))
        log.info(
            "published",
            extra={
                "module_name": mod.display,
                "version": str(version),
                "size_bytes": len(blob),
                "assets_digest": "" if tree is None else tree.archive.digest,
            },
        )
        return published

    async def _receive(  # noqa: C901 - one branch per kind of stream message
        self, next_part: Callable[[], Awaitable[PublishPart]], md: PublishMetadata, caps: Caps
    ) -> tuple[bytes, str, bytes | None]:
        """The module's bytes and their sha256 hex, checked against the size cap and
        what the metadata declared, then the assets archive's bytes (None: no assets)."""
        data = bytearray()
        hasher = hashlib.sha256()
        archive: bytearray | None = None
        while True:
            try:
                part = await next_part()
            except StopAsyncIteration:
                break
            if isinstance(part, AssetsChunk):
                archive = archive if archive is not None else bytearray()
                if len(archive) + len(part.data) > caps.assets.max_bytes:
                    raise caps.too_large("assets", "archive is larger than")
                archive += part.data
                continue
            if not isinstance(part, bytes):
                raise InvalidArgument("only the first Publish message may carry metadata")
            if archive is not None:
                raise InvalidArgument("module chunks must all come before the assets chunks")
            if len(data) + len(part) > caps.module_bytes:
                raise caps.too_large("module", "is larger than")
            data += part
            hasher.update(part)
        if not data:
            raise InvalidArgument("no module bytes: send chunk messages after the metadata")
        if archive is None and (md.assets_mount or md.assets_size_bytes):
            raise InvalidArgument(
                "metadata.assets_mount or metadata.assets_size_bytes given without assets"
                " (send the archive as assets_chunk messages)"
            )
        if archive is not None and md.assets_size_bytes not in (0, len(archive)):
            raise InvalidArgument(
                f"metadata.assets_size_bytes is {md.assets_size_bytes} but {len(archive)}"
                " assets bytes arrived"
            )
        if md.size_bytes and md.size_bytes != len(data):
            raise InvalidArgument(
                f"metadata.size_bytes is {md.size_bytes} but {len(data)} bytes arrived"
            )
        digest = hasher.hexdigest()
        expected = md.sha256.lower()
        if expected and expected != digest:
            raise InvalidArgument(f"metadata.sha256 {expected} does not match the bytes ({digest})")
        return bytes(data), digest, None if archive is None else bytes(archive)

    async def _read_assets(self, data: bytes, limits: archives.Limits) -> CheckedAssets:
        """The archive checked and in canonical form; InvalidArgument naming the entry."""
        with tracer.start_as_current_span("marketplace.assets") as span:
            started = time.perf_counter()
            span.set_attribute("assets.archive_bytes", len(data))
            try:
                archive = await asyncio.to_thread(archives.read, data, limits)
            except archives.ArchiveError as exc:
                ASSETS.labels("refused").inc()
                raise InvalidArgument(str(exc)) from None
            finally:
                ASSETS_SECONDS.observe(time.perf_counter() - started)
            span.set_attribute("assets.digest", archive.digest)
            span.set_attribute("assets.file_count", archive.file_count)
        ASSETS.labels("accepted").inc()
        return CheckedAssets(archive)

    def _check_metadata(self, md: PublishMetadata) -> tuple[ModuleName, semver.Version, Metadata]:
        """The module, the version and the metadata, each checked against its rules."""
        mod = names.parse_module_name(md.name, "metadata.name")
        version = names.check_version(md.version, "metadata.version")
        given = md.metadata
        metadata = Metadata(
            description=names.check_description(given.description, "metadata.description"),
            license=names.check_license(given.license, "metadata.license"),
            category=names.check_category(given.category, "metadata.category"),
            tags=tuple(names.check_tags(list(given.tags), "metadata.tags")),
            homepage=names.check_url(given.homepage, "metadata.homepage"),
            repository=names.check_url(given.repository, "metadata.repository"),
        )
        if md.sha256 and not names.SHA256_HEX.match(md.sha256.lower()):
            raise InvalidArgument("metadata.sha256 must be 64 lowercase hex characters")
        return mod, version, metadata

    async def _check_can_publish(
        self, who: Principal, mod: ModuleName, version_key: str
    ) -> int | None:
        """Fail fast before the upload: namespace permission and version existence. The
        namespace's id (None: a new namespace this publish would claim)."""
        async with self.db.pool.acquire() as conn:
            ns_id = await namespaces.find(conn, mod.namespace_norm)
            if ns_id is None:
                names.check_namespace(mod.namespace, "name namespace", claiming=True)
                return None
            await require_owner(conn, who, ns_id)
            if await modules.version_exists(conn, mod.full_norm, version_key):
                raise AlreadyExists(
                    f"{mod.display}@{version_key} already exists; versions are immutable"
                )
            return ns_id

    async def _validate(self, blob: bytes) -> Report:
        with tracer.start_as_current_span("marketplace.validate") as span:
            started = time.perf_counter()
            report = await asyncio.to_thread(validate_module, blob, self.policy)
            VALIDATION_SECONDS.observe(time.perf_counter() - started)
            span.set_attribute("wasm.size_bytes", len(blob))
            span.set_attribute("wasm.valid", report.valid)
        errors = [f for f in report.findings if f.severity == ERROR]
        if errors:
            raise InvalidArgument(
                "module failed validation: " + "; ".join(f"[{f.code}] {f.message}" for f in errors)
            )
        return report

    async def _store(
        self,
        who: Principal,
        origin: Origin,
        nv: NewVersion,
        blob: bytes,
        tree: CheckedAssets | None,
    ) -> Version:
        """The version, its blob(s), the refreshed module and the audit event in one
        transaction."""
        mod = nv.module
        async with self.db.transaction() as tx:
            ns_id, claimed = await _namespace_for(tx, who, mod)
            module_id = await modules.lock(tx, ns_id, mod.name_norm)
            created = False
            if module_id is None:
                module_id = await modules.insert(tx, ns_id, mod, str(nv.version))
                created = module_id is not None
                if module_id is None:  # created concurrently: wait for it and lock it
                    module_id = await modules.lock(tx, ns_id, mod.name_norm)
                assert module_id is not None
            count, clash = await modules.version_count_and_clash(
                tx, module_id, nv.version.precedence_key()
            )
            if clash is not None:
                same = (
                    "" if clash == str(nv.version) else f" ({nv.version} has the same precedence)"
                )
                raise AlreadyExists(
                    f"{mod.display}@{clash} already exists; versions are immutable{same}"
                )
            if count >= self.max_versions:
                raise ResourceExhausted(
                    f"{mod.display} has {count} versions, the limit is {self.max_versions}"
                )
            await blobs.insert(tx, nv.digest, blob, self.chunk_bytes)
            if tree is not None:
                archive = tree.archive
                await blobs.insert(tx, archive.digest, archive.canonical, self.chunk_bytes)
                await blobs.insert_assets(
                    tx, archive.digest, archive.file_count, archive.content_bytes
                )
            version_id = await modules.insert_version(tx, module_id, nv, who.user_id)
            if created:
                await search_store.index_name(tx, mod)
            await modules.refresh(tx, module_id, touch=True)
            stored = await modules.version_by_id(tx, version_id)
            event = audit.event(
                AuditAction.PUBLISH,
                who,
                origin,
                AuditTarget(
                    namespace=mod.namespace_norm, module=stored.name, version=stored.version
                ),
                digest=nv.digest,
                size_bytes=nv.size_bytes,
                kind=str(nv.kind),
                **({"assets_digest": tree.archive.digest} if tree is not None else {}),
                namespace_claimed=claimed,
            )
            await audit_log.record(tx, event)
            # Last: the feed's order lock is then held only from here to the commit.
            await feed.append(tx, version_id)
        audit.committed(event)
        return stored


def _check_scratch(asked: Scratch | None) -> Scratch | None:
    """The version's scratch space with its mount checked."""
    if asked is None:
        return None
    mount = check_guest_path(asked.mount, "metadata.scratch.mount", DEFAULT_SCRATCH_MOUNT)
    return Scratch(mount, asked.max_bytes, asked.max_files)


async def _namespace_for(tx: Conn, who: Principal, mod: ModuleName) -> tuple[int, bool]:
    """The module's namespace, locked, and whether this publish claimed it: claimed for
    `who` when new, else `who` must own it."""
    ns_id = await namespaces.find(tx, mod.namespace_norm, lock=True)
    if ns_id is not None:
        await require_owner(tx, who, ns_id)
        return ns_id, False
    names.check_namespace(mod.namespace, "name namespace", claiming=True)
    ns_id = await namespaces.insert(tx, mod.namespace, mod.namespace_norm)
    if ns_id is None:  # claimed concurrently: it is an owner check now
        ns_id = await namespaces.find(tx, mod.namespace_norm, lock=True)
        assert ns_id is not None
        await require_owner(tx, who, ns_id)
        return ns_id, False
    await namespaces.add_owner(tx, ns_id, who.user_id)
    return ns_id, True
