"""Ordered SQL migrations with a ``schema_migrations`` table and an advisory lock.

Files are ``NNNN_description.sql`` in one directory, applied in numeric order,
each in its own transaction together with its bookkeeping row. A
session-level advisory lock (keyed by the schema) makes concurrent replicas
apply every migration exactly once; a migration edited after it was applied is
refused (its checksum changed) rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4,})_([a-z0-9_]+)\.sql$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class MigrationError(RuntimeError):
    """A migration directory or an applied migration is inconsistent."""


@dataclass(frozen=True)
class Migration:
    """One ``.sql`` file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    """Read and order the migrations in `directory`, refusing bad names and duplicates."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"migration file name {path.name!r} is not NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"two migrations with version {version}: {path.name}")
        found[version] = Migration(version, m.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


def _lock_key(schema: str) -> int:
    digest = hashlib.sha256(f"wasmgrid-migrations:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def apply_migrations(
    conn: asyncpg.Connection | PoolConnectionProxy, directory: Path, *, schema: str = "public"
) -> list[str]:
    """Apply pending migrations into `schema`; return the names applied now."""
    if not _IDENT.match(schema):
        raise MigrationError(f"schema name {schema!r} is not a plain identifier")
    migrations = load_migrations(directory)
    key = _lock_key(schema)
    await conn.execute("SELECT pg_advisory_lock($1)", key)
    try:
        # Identifiers cannot be parameters; `schema` is checked against _IDENT above.
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        table = f"{schema}.schema_migrations"
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch(f"SELECT version, name, checksum FROM {table}")
        applied = {r["version"]: r for r in rows}
        done: list[str] = []
        for mig in migrations:
            prior = applied.get(mig.version)
            if prior is not None:
                if prior["checksum"] != mig.checksum:
                    raise MigrationError(
                        f"migration {mig.version:04d}_{mig.name} changed after it was applied"
                        f" (checksum {prior['checksum'][:12]} in {table},"
                        f" {mig.checksum[:12]} on disk)"
                    )
                continue
            async with conn.transaction():
                await conn.execute(f"SET LOCAL search_path TO {schema}, public")
                await conn.execute(mig.sql)
                await conn.execute(
                    f"INSERT INTO {table} (version, name, checksum) VALUES ($1, $2, $3)",
                    mig.version,
                    mig.name,
                    mig.checksum,
                )
            label = f"{mig.version:04d}_{mig.name}"
            log.info("applied migration %s to schema %s", label, schema)
            done.append(label)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", key)


async def migrate(dsn: str, directory: Path, *, schema: str = "public") -> list[str]:
    """Connect to `dsn`, apply pending migrations, disconnect."""
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn, directory, schema=schema)
    finally:
        await conn.close()
