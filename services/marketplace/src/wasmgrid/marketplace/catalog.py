"""Reading the registry: modules, versions, resolve, download, yank.

Versions are immutable; yanking hides a version from resolution (except an exact
``=x.y.z`` pin) but never from download.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from prometheus_client import Counter

from wasmgrid.common.errors import InvalidArgument, NotFound
from wasmgrid.common.paging import (
    cursor_binding,
    decode_cursor,
    encode_cursor,
    page_limit,
    split_page,
)
from wasmgrid.marketplace import audit, names, search, semver
from wasmgrid.marketplace.blobs import BlobCache, rechunk
from wasmgrid.marketplace.identity import require_owner
from wasmgrid.marketplace.names import ModuleName
from wasmgrid.marketplace.records import (
    DEFAULT_PAGE,
    MAX_PAGE,
    AuditAction,
    AuditTarget,
    Module,
    Origin,
    Page,
    Principal,
    Purpose,
    SearchHit,
    SearchQuery,
    SearchRequest,
    Version,
)
from wasmgrid.marketplace.search import Sort
from wasmgrid.marketplace.store import audit as audit_log
from wasmgrid.marketplace.store import blobs, modules, stats
from wasmgrid.marketplace.store import search as search_store
from wasmgrid.marketplace.store.database import Database
from wasmgrid.marketplace.tokens import Scope

DOWNLOADS = Counter(
    "marketplace_downloads_total",
    "Completed downloads by purpose (assets: a version's assets tree).",
    ["purpose"],
)
DOWNLOAD_BYTES = Counter(
    "marketplace_download_bytes_total", "Bytes streamed by Download.", ["purpose"]
)

DEFAULT_CHUNK, MIN_CHUNK, MAX_CHUNK = 1 << 20, 4 << 10, 4 << 20
MAX_VERSION_PAGE, DEFAULT_VERSION_PAGE = 1000, 100
MAX_REASON = 500


class Catalog:
    """Modules and versions as readers see them, downloads, and yanking."""

    def __init__(self, db: Database, blob_cache: BlobCache) -> None:
        self.db = db
        self.blob_cache = blob_cache

    async def module(self, name: str) -> Module:
        """A module by ``namespace/name``."""
        mod = names.parse_module_name(name)
        found = await modules.module(self.db.pool, mod.full_norm)
        if found is None:
            raise NotFound(f"module {mod.display!r} not found")
        return found

    async def versions(self, name: str, limit: int, cursor: str) -> Page[Version]:
        """A module's versions, highest precedence first, a page at a time."""
        mod = names.parse_module_name(name)
        limit = page_limit(limit, default=DEFAULT_VERSION_PAGE, maximum=MAX_VERSION_PAGE)
        ordered = sorted(
            await self._all_versions(mod),
            key=lambda v: semver.Version.parse(v.version),
            reverse=True,
        )
        bind = cursor_binding("versions", mod.full_norm)
        after = decode_cursor(cursor, bind, 1)
        if after is not None:
            try:
                pivot = semver.Version.parse(str(after[0]))
            except semver.SemverError:
                raise InvalidArgument(
                    "page.cursor is not a cursor issued by this service"
                ) from None
            ordered = [v for v in ordered if semver.Version.parse(v.version) < pivot]
        page, more = split_page(ordered, limit)
        return Page(page, encode_cursor(bind, [page[-1].version]) if more else "")

    async def version(self, name: str, version: str) -> Version:
        """One version, with its validation report."""
        return await self._version(names.parse_module_name(name), names.check_version(version))

    async def resolve(self, name: str, requirement: str) -> Version:
        """The highest version matching a requirement (``^1.2``, ``latest``, …)."""
        mod = names.parse_module_name(name)
        try:
            req = semver.Requirement.parse(requirement)
        except semver.SemverError as exc:
            raise InvalidArgument(f"requirement {exc}") from None
        by_version = {semver.Version.parse(v.version): v for v in await self._all_versions(mod)}
        chosen = semver.resolve(req, ((s, v.yanked) for s, v in by_version.items()))
        if chosen is None:
            raise NotFound(
                f"no version of {mod.display!r} matches requirement {req.text!r}"
                " (yanked versions match only when pinned with =x.y.z)"
            )
        return by_version[chosen]

    # ------------------------------------------------------------ search

    async def search(self, request: SearchRequest) -> Page[SearchHit]:
        """Modules matching text and filters, a page at a time (see the README's Search).

        A text query runs the exact full-text search alone; only when it finds fewer
        than ``search.FUZZY_BELOW`` modules do typo-tolerant name matches join in. The
        first page decides and its cursor carries the decision, so every page of one
        search draws from the same result set.
        """
        q = _search_query(request)
        keys = search_store.SORT_KEYS[q.sort]
        bind = cursor_binding(
            list(q.words), q.category, q.tag, q.license, q.kind, q.owner, q.namespace, q.sort
        )
        after = decode_cursor(request.cursor, bind, len(keys) + bool(q.words))
        fuzzy: bool | None = None
        if after is not None and q.words:
            flag = after.pop()
            if flag not in (0, 1):
                raise InvalidArgument("page.cursor is not a cursor issued by this service")
            fuzzy = bool(flag)
        trgm = self.db.use_pg_trgm
        async with self.db.search_connection() as conn:
            if q.words and fuzzy is None:
                # Fetching FUZZY_BELOW rows costs the same top-N sort as a page: the
                # exact result count is known below that without counting.
                hits = await search_store.page(
                    conn,
                    q,
                    after=None,
                    fuzzy=False,
                    limit=max(q.limit + 1, search.FUZZY_BELOW),
                    use_pg_trgm=trgm,
                )
                fuzzy = len(hits) < search.FUZZY_BELOW
                if fuzzy:
                    hits = await search_store.page(
                        conn, q, after=None, fuzzy=True, limit=q.limit + 1, use_pg_trgm=trgm
                    )
            else:
                hits = await search_store.page(
                    conn, q, after=after, fuzzy=bool(fuzzy), limit=q.limit + 1, use_pg_trgm=trgm
                )
        items, more = split_page(hits, q.limit)
        next_cursor = ""
        if more:
            values = search_store.cursor_values(q.sort, items[-1])
            if q.words:
                values.append(int(bool(fuzzy)))
            next_cursor = encode_cursor(bind, values)
        return Page(items, next_cursor)

    # ------------------------------------------------------------ download

    async def download(
        self, name: str, version: str, digest: str, purpose: Purpose, chunk_bytes: int
    ) -> tuple[Version, AsyncIterator[bytes]]:
        """What is downloaded (by name and version, or by digest) and its bytes in
        pieces of `chunk_bytes` (0 = 1 MiB); the download counts once the bytes are
        all read."""
        chunk = chunk_bytes or DEFAULT_CHUNK
        if not MIN_CHUNK <= chunk <= MAX_CHUNK:
            raise InvalidArgument(f"chunk_bytes {chunk} must be {MIN_CHUNK}..{MAX_CHUNK}")
        digest = digest.lower().removeprefix("sha256:")
        if digest and not names.SHA256_HEX.match(digest):
            raise InvalidArgument("digest must be 64 lowercase hex characters (sha256)")
        if name or version:
            found = await self.version(name, version)
            if digest and found.digest != digest:
                raise InvalidArgument(
                    f"digest {digest} does not match {found.name}@{found.version} ({found.digest})"
                )
        elif digest:
            by_digest = await modules.version_by_digest(self.db.pool, digest)
            if by_digest is None:
                return await self._download_assets(digest, chunk)
            found = by_digest
        else:
            raise InvalidArgument("give name and version, or digest")
        return found, self._send(found, purpose, chunk)

    async def _download_assets(
        self, digest: str, chunk: int
    ) -> tuple[Version, AsyncIterator[bytes]]:
        """An assets tree's canonical tar, labelled with the first version carrying it.
        Not counted as a download of that version: the module's own download is."""
        carrier = await modules.version_by_assets_digest(self.db.pool, digest)
        if carrier is None or carrier.assets is None:
            raise NotFound(f"digest {digest} not found")
        target = dataclasses.replace(carrier, digest=digest, size_bytes=carrier.assets.size_bytes)
        return target, self._send(target, None, chunk)

    async def _send(
        self, target: Version, purpose: Purpose | None, chunk: int
    ) -> AsyncIterator[bytes]:
        sent = 0
        async for piece in rechunk(self._blob(target.digest), chunk):
            sent += len(piece)
            yield piece
        label = "assets" if purpose is None else str(purpose)
        DOWNLOAD_BYTES.labels(label).inc(sent)
        DOWNLOADS.labels(label).inc()
        if purpose is not None:
            await stats.record_download(self.db.pool, target.id, target.module_id, purpose)

    async def _blob(self, digest: str) -> AsyncIterator[bytes]:
        """A blob's bytes in stored chunks, from the memory cache when hot."""
        cached = self.blob_cache.get(digest)
        if cached is not None:
            for piece in cached:
                yield piece
            return
        pieces: list[bytes] = []
        async for piece in blobs.read_chunks(self.db.pool, digest):
            pieces.append(piece)
            yield piece
        self.blob_cache.put(digest, pieces)

    # ------------------------------------------------------------ yank

    async def yank(
        self, who: Principal, origin: Origin, name: str, version: str, reason: str
    ) -> Version:
        """Hide a version from resolution, saying why (1..500 characters)."""
        who.require(Scope.YANK)
        mod = names.parse_module_name(name)
        parsed = names.check_version(version)
        # The length as sent (what the OpenAPI document's maxLength counts), then blank.
        if len(reason) > MAX_REASON:
            raise InvalidArgument(f"reason is {len(reason)} characters, at most {MAX_REASON}")
        if "\x00" in reason:
            raise InvalidArgument("reason must not contain NUL characters")
        reason = reason.strip()
        if not reason:
            raise InvalidArgument(
                f"reason is required: 1..{MAX_REASON} characters, not all whitespace"
            )
        return await self._set_yanked(who, origin, mod, parsed, reason)

    async def unyank(self, who: Principal, origin: Origin, name: str, version: str) -> Version:
        """Let a yanked version resolve again."""
        who.require(Scope.YANK)
        mod = names.parse_module_name(name)
        return await self._set_yanked(who, origin, mod, names.check_version(version), None)

    async def _set_yanked(
        self,
        who: Principal,
        origin: Origin,
        mod: ModuleName,
        version: semver.Version,
        reason: str | None,
    ) -> Version:
        """Yank with `reason`, or unyank (None); an audit event either way."""
        yanked = reason is not None
        async with self.db.transaction() as tx:
            locked = await modules.lock_by_name(tx, mod.full_norm)
            if locked is None:
                raise NotFound(f"module {mod.display!r} not found")
            module_id, ns_id = locked
            await require_owner(tx, who, ns_id)
            vid = await modules.set_yanked(
                tx, module_id, version.precedence_key(), yanked, reason or ""
            )
            if vid is None:
                raise NotFound(f"version {str(version)!r} of {mod.display!r} not found")
            await modules.refresh(tx, module_id)
            found = await modules.version_by_id(tx, vid)
            event = audit.event(
                AuditAction.YANK if yanked else AuditAction.UNYANK,
                who,
                origin,
                AuditTarget(namespace=mod.namespace_norm, module=found.name, version=found.version),
                **({"reason": reason} if yanked else {}),
            )
            await audit_log.record(tx, event)
        audit.committed(event)
        return found

    # ------------------------------------------------------------ helpers

    async def _module_id(self, mod: ModuleName) -> int:
        mid = await modules.module_id(self.db.pool, mod.full_norm)
        if mid is None:
            raise NotFound(f"module {mod.display!r} not found")
        return mid

    async def _all_versions(self, mod: ModuleName) -> list[Version]:
        return await modules.versions(self.db.pool, await self._module_id(mod))

    async def _version(self, mod: ModuleName, version: semver.Version) -> Version:
        found = await modules.version(self.db.pool, mod.full_norm, version.precedence_key())
        if found is None:
            await self._module_id(mod)
            raise NotFound(f"version {str(version)!r} of {mod.display!r} not found")
        return found


def _search_query(r: SearchRequest) -> SearchQuery:
    """Search parameters checked and normalised; relevance only with words."""
    words = search.query_words(r.query)
    sort = r.sort
    if sort is None or (sort is Sort.RELEVANCE and not words):
        sort = Sort.RELEVANCE if words else Sort.DOWNLOADS
    category = names.check_category(r.category) if r.category else ""
    # The length as sent (what the OpenAPI document's maxLength counts).
    if len(r.tag) > names.MAX_TAG_LENGTH:
        raise InvalidArgument(f"tag is {len(r.tag)} characters, at most {names.MAX_TAG_LENGTH}")
    tag = r.tag.strip().lower()
    for field, value in (("owner", r.owner), ("namespace", r.namespace)):
        if len(value) > names.NAMESPACE_MAX:
            raise InvalidArgument(
                f"{field} is {len(value)} characters, at most {names.NAMESPACE_MAX}"
            )
    for field, value in (("tag", tag), ("owner", r.owner), ("namespace", r.namespace)):
        if "\x00" in value:  # PostgreSQL's text holds none: the query would fail
            raise InvalidArgument(f"{field} must not contain NUL characters")
    # The canonical form stored at publish ("mit" finds "MIT").
    return SearchQuery(
        words=tuple(words),
        category=category,
        tag=tag,
        license=names.check_license(r.license) if r.license else "",
        kind=r.kind,
        owner=r.owner,
        namespace=r.namespace,
        sort=sort,
        limit=page_limit(r.limit, default=DEFAULT_PAGE, maximum=MAX_PAGE),
    )
