"""Modules and their versions (tables ``modules``, ``versions``).

A module row carries its latest version's metadata and search vector (kept current
by :func:`refresh` in the transaction that changes a version), so reads and search
never join the versions.
"""

from __future__ import annotations

import json

import asyncpg

from wasmgrid.marketplace import search, semver
from wasmgrid.marketplace.names import ModuleName
from wasmgrid.marketplace.records import Assets, Metadata, Module, NewVersion, Scratch, Version
from wasmgrid.marketplace.store.database import Conn, Executor
from wasmgrid.marketplace.validation import Report

_VERSION_COLS = (
    "v.id, v.module_id, v.version, v.prerelease, v.digest, v.size_bytes, v.kind,"
    " v.description, v.license, v.category, v.tags, v.homepage, v.repository,"
    " v.published_at, v.yanked, v.yank_reason, v.yanked_at, v.downloads,"
    " v.runtime_fetches, pu.username AS published_by,"
    " n.name || '/' || m.name AS full_name, v.assets_digest, v.assets_mount,"
    " a.file_count AS assets_files, a.content_bytes AS assets_content_bytes,"
    " ab.size_bytes AS assets_size_bytes, v.scratch_mount, v.scratch_max_bytes,"
    " v.scratch_max_files"
)
_VERSION_FROM = (
    "versions v JOIN modules m ON m.id = v.module_id"
    " JOIN namespaces n ON n.id = m.namespace_id JOIN users pu ON pu.id = v.published_by"
    " LEFT JOIN assets a ON a.digest = v.assets_digest"
    " LEFT JOIN blobs ab ON ab.digest = v.assets_digest"
)


def _metadata(row: asyncpg.Record) -> Metadata:
    return Metadata(
        description=row["description"],
        license=row["license"],
        category=row["category"],
        tags=tuple(row["tags"]),
        homepage=row["homepage"],
        repository=row["repository"],
    )


def _version(row: asyncpg.Record, validation: Report | None = None) -> Version:
    return Version(
        id=row["id"],
        module_id=row["module_id"],
        name=row["full_name"],
        version=row["version"],
        prerelease=row["prerelease"],
        digest=row["digest"],
        size_bytes=row["size_bytes"],
        kind=row["kind"],
        metadata=_metadata(row),
        published_at=row["published_at"],
        published_by=row["published_by"],
        yanked=row["yanked"],
        yank_reason=row["yank_reason"],
        yanked_at=row["yanked_at"],
        downloads=row["downloads"],
        runtime_fetches=row["runtime_fetches"],
        validation=validation,
        assets=_assets(row),
        scratch=None
        if row["scratch_mount"] is None
        else Scratch(row["scratch_mount"], row["scratch_max_bytes"], row["scratch_max_files"]),
    )


def _assets(row: asyncpg.Record) -> Assets | None:
    if row["assets_digest"] is None:
        return None
    return Assets(
        digest=row["assets_digest"],
        size_bytes=row["assets_size_bytes"],
        file_count=row["assets_files"],
        content_bytes=row["assets_content_bytes"],
        mount=row["assets_mount"],
    )


def _validated(row: asyncpg.Record) -> Version:
    return _version(row, Report.from_dict(json.loads(row["validation"])))


# ------------------------------------------------------------------ modules


async def module(ex: Executor, full_norm: str) -> Module | None:
    """A module with its version count, owners and exact rating summary."""
    row = await ex.fetchrow(
        "SELECT m.id, m.name, n.name AS namespace, n.name || '/' || m.name AS full_name,"
        " m.full_norm, m.latest_version, m.description, m.license, m.category, m.tags,"
        " m.homepage, m.repository, m.kind, m.all_yanked, m.created_at, m.updated_at,"
        " m.downloads, m.runtime_fetches, rs.c AS rating_count, rs.avg AS rating_avg,"
        " (SELECT count(*) FROM versions WHERE module_id = m.id) AS version_count,"
        " ARRAY(SELECT u.username FROM namespace_owners o JOIN users u ON u.id = o.user_id"
        "       WHERE o.namespace_id = m.namespace_id ORDER BY u.username_norm) AS owners"
        " FROM modules m JOIN namespaces n ON n.id = m.namespace_id"
        " CROSS JOIN LATERAL rating_summary(m.id) rs WHERE m.full_norm = $1",
        full_norm,
    )
    if row is None:
        return None
    return Module(
        id=row["id"],
        name=row["full_name"],
        namespace=row["namespace"],
        full_norm=row["full_norm"],
        latest_version=row["latest_version"],
        metadata=_metadata(row),
        kind=row["kind"],
        all_yanked=row["all_yanked"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        downloads=row["downloads"],
        runtime_fetches=row["runtime_fetches"],
        rating_count=row["rating_count"],
        rating_average=row["rating_avg"],
        version_count=row["version_count"],
        owners=tuple(row["owners"]),
    )


async def module_id(ex: Executor, full_norm: str) -> int | None:
    """The id of the module with this normalised ``namespace/name``."""
    mid: int | None = await ex.fetchval("SELECT id FROM modules WHERE full_norm = $1", full_norm)
    return mid


async def display_name(ex: Executor, full_norm: str) -> str | None:
    """The module's ``namespace/name`` as its owners spelled them."""
    name: str | None = await ex.fetchval(
        "SELECT n.name || '/' || m.name FROM modules m"
        " JOIN namespaces n ON n.id = m.namespace_id WHERE m.full_norm = $1",
        full_norm,
    )
    return name


async def lock(conn: Conn, ns_id: int, name_norm: str) -> int | None:
    """The module's id, its row locked until the transaction ends."""
    mid: int | None = await conn.fetchval(
        "SELECT id FROM modules WHERE namespace_id = $1 AND name_norm = $2 FOR UPDATE",
        ns_id,
        name_norm,
    )
    return mid


async def lock_by_name(conn: Conn, full_norm: str) -> tuple[int, int] | None:
    """``(module id, namespace id)``, the module's row locked until the transaction ends."""
    row = await conn.fetchrow(
        "SELECT id, namespace_id FROM modules WHERE full_norm = $1 FOR UPDATE", full_norm
    )
    return None if row is None else (row["id"], row["namespace_id"])


async def insert(conn: Conn, ns_id: int, mod: ModuleName, latest: str) -> int | None:
    """A new module's id; None when it was created concurrently."""
    mid: int | None = await conn.fetchval(
        "INSERT INTO modules (namespace_id, name, name_norm, full_norm, latest_version)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        ns_id,
        mod.name,
        mod.name_norm,
        mod.full_norm,
        latest,
    )
    return mid


async def refresh(conn: Conn, module_id: int, *, touch: bool = False) -> None:
    """Point the module at its latest version (the highest live release, else live
    prerelease, else the highest of all) and copy that version's metadata and search
    text; `touch` sets updated_at (a publish)."""
    rows = await conn.fetch(
        "SELECT id, version, yanked FROM versions WHERE module_id = $1", module_id
    )
    parsed = [(semver.Version.parse(r["version"]), r["yanked"], r["id"]) for r in rows]
    live = [p for p in parsed if not p[1]]
    releases = [p for p in live if not p[0].is_prerelease]
    chosen = max(releases or live or parsed, key=lambda p: p[0])
    names = await conn.fetchrow(
        "SELECT m.name_norm, n.name_norm AS ns FROM modules m"
        " JOIN namespaces n ON n.id = m.namespace_id WHERE m.id = $1",
        module_id,
    )
    assert names is not None
    name_words = f"{names['name_norm']} {search.name_text(names['name_norm'])} {names['ns']}"
    await conn.execute(
        "UPDATE modules m SET latest_version = v.version, description = v.description,"
        " license = v.license, category = v.category, tags = v.tags,"
        " homepage = v.homepage, repository = v.repository, kind = v.kind,"
        " all_yanked = $3,"
        " updated_at = CASE WHEN $4 THEN now() ELSE m.updated_at END,"
        " search_vector ="
        "   setweight(to_tsvector('simple', $5), 'A')"
        "   || setweight(to_tsvector('simple', array_to_string(v.tags, ' ')), 'B')"
        "   || setweight(to_tsvector('simple', v.description), 'C')"
        "   || setweight(to_tsvector('english', v.description), 'D')"
        " FROM versions v WHERE m.id = $1 AND v.id = $2",
        module_id,
        chosen[2],
        not live,
        touch,
        name_words,
    )


# ------------------------------------------------------------------ versions


async def version_exists(ex: Executor, full_norm: str, version_key: str) -> bool:
    """Whether the module has a version of this precedence."""
    return bool(
        await ex.fetchval(
            "SELECT 1 FROM versions v JOIN modules m ON m.id = v.module_id"
            " WHERE m.full_norm = $1 AND v.version_key = $2",
            full_norm,
            version_key,
        )
    )


async def version_count_and_clash(
    conn: Conn, module_id: int, version_key: str
) -> tuple[int, str | None]:
    """How many versions the module has, and the one with this precedence if any."""
    row = await conn.fetchrow(
        "SELECT count(*), max(version) FILTER (WHERE version_key = $2)"
        " FROM versions WHERE module_id = $1",
        module_id,
        version_key,
    )
    return (0, None) if row is None else (row[0], row[1])


async def insert_version(conn: Conn, module_id: int, nv: NewVersion, published_by: int) -> int:
    """Store a validated version (its blob already stored); its id."""
    vid: int = await conn.fetchval(
        "INSERT INTO versions (module_id, version, version_key, prerelease, digest,"
        " size_bytes, kind, description, license, category, tags, homepage, repository,"
        " validation, published_by, assets_digest, assets_mount, scratch_mount,"
        " scratch_max_bytes, scratch_max_files) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15, $16, $17,"
        " $18, $19, $20) RETURNING id",
        module_id,
        str(nv.version),
        nv.version.precedence_key(),
        nv.version.is_prerelease,
        nv.digest,
        nv.size_bytes,
        nv.kind,
        nv.metadata.description,
        nv.metadata.license,
        nv.metadata.category,
        list(nv.metadata.tags),
        nv.metadata.homepage,
        nv.metadata.repository,
        json.dumps(nv.validation.to_dict(), separators=(",", ":")),
        published_by,
        None if nv.assets is None else nv.assets.digest,
        None if nv.assets is None else nv.assets.mount,
        None if nv.scratch is None else nv.scratch.mount,
        0 if nv.scratch is None else nv.scratch.max_bytes,
        0 if nv.scratch is None else nv.scratch.max_files,
    )
    return vid


async def versions(ex: Executor, module_id: int) -> list[Version]:
    """Every version of a module, unordered (callers order by semver), without reports."""
    rows = await ex.fetch(
        f"SELECT {_VERSION_COLS} FROM {_VERSION_FROM} WHERE v.module_id = $1",  # noqa: S608 - constant fragments; values are bound parameters
        module_id,
    )
    return [_version(r) for r in rows]


async def version(ex: Executor, full_norm: str, version_key: str) -> Version | None:
    """The module's version of this precedence, with its validation report."""
    row = await ex.fetchrow(
        f"SELECT {_VERSION_COLS}, v.validation FROM {_VERSION_FROM}"  # noqa: S608 - constant fragments; values are bound parameters
        " WHERE m.full_norm = $1 AND v.version_key = $2",
        full_norm,
        version_key,
    )
    return None if row is None else _validated(row)


async def version_by_id(ex: Executor, version_id: int) -> Version:
    """A version known to exist, with its validation report."""
    row = await ex.fetchrow(
        f"SELECT {_VERSION_COLS}, v.validation FROM {_VERSION_FROM} WHERE v.id = $1",  # noqa: S608 - constant fragments; values are bound parameters
        version_id,
    )
    assert row is not None
    return _validated(row)


async def versions_in_feed(ex: Executor, after_seq: int, limit: int) -> list[tuple[int, Version]]:
    """(seq, version) of up to `limit` publish-feed rows after `after_seq`, oldest first."""
    rows = await ex.fetch(
        f"SELECT f.seq, {_VERSION_COLS} FROM {_VERSION_FROM}"  # noqa: S608 - constant fragments; values are bound parameters
        " JOIN publish_feed f ON f.version_id = v.id WHERE f.seq > $1 ORDER BY f.seq LIMIT $2",
        after_seq,
        limit,
    )
    return [(r["seq"], _version(r)) for r in rows]


async def version_by_digest(ex: Executor, digest: str) -> Version | None:
    """The first published version with these bytes."""
    row = await ex.fetchrow(
        f"SELECT {_VERSION_COLS} FROM {_VERSION_FROM} WHERE v.digest = $1"  # noqa: S608 - constant fragments; values are bound parameters
        " ORDER BY v.published_at, v.id LIMIT 1",
        digest,
    )
    return None if row is None else _version(row)


async def version_by_assets_digest(ex: Executor, digest: str) -> Version | None:
    """The first published version whose assets are the tree with this digest."""
    row = await ex.fetchrow(
        f"SELECT {_VERSION_COLS} FROM {_VERSION_FROM} WHERE v.assets_digest = $1"  # noqa: S608 - constant fragments; values are bound parameters
        " ORDER BY v.published_at, v.id LIMIT 1",
        digest,
    )
    return None if row is None else _version(row)


async def set_yanked(
    conn: Conn, module_id: int, version_key: str, yanked: bool, reason: str
) -> int | None:
    """Yank or unyank the version of this precedence; its id, None when there is none."""
    vid: int | None = await conn.fetchval(
        "UPDATE versions SET yanked = $3, yank_reason = $4,"
        " yanked_at = CASE WHEN $3 THEN coalesce(yanked_at, now()) END"
        " WHERE module_id = $1 AND version_key = $2 RETURNING id",
        module_id,
        version_key,
        yanked,
        reason if yanked else "",
    )
    return vid
