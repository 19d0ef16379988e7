"""Ordered SQL migrations with a ``schema_migrations`` table and an advisory lock.

Files are ``NNNN_description.sql`` in one directory, applied in numeric order,
each in its own transaction together with its bookkeeping row. A
session-level advisory lock (keyed by the schema) makes concurrent replicas
apply every migration exactly once; a migration edited after it was applied is
refused (its checksum changed) rather than silently skipped.

A service that owns a schema ships its migrations as ``wasmgrid.<service>/migrations``
into schema ``<service>``. ``python -m wasmgrid.common.migrations SERVICE…`` applies
them as a step of its own, before the service starts (a one-shot container or a
Kubernetes Job from the service's image); the services also apply them at start.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.resources
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from wasmgrid.common.db import create_pool
from wasmgrid.common.settings import DATABASE_URL_ENV

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
        rows = await conn.fetch(f"SELECT version, name, checksum FROM {table}")  # noqa: S608 - constant fragments; values are bound parameters
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
                    f"INSERT INTO {table} (version, name, checksum) VALUES ($1, $2, $3)",  # noqa: S608 - constant fragments; values are bound parameters
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


def service_migrations(service: str) -> Path:
    """The migrations directory that service `service` ships (``wasmgrid.<service>``)."""
    if not _IDENT.match(service):
        raise MigrationError(f"service name {service!r} is not a plain identifier")
    try:
        root = importlib.resources.files(f"wasmgrid.{service}")
    except ModuleNotFoundError:
        raise MigrationError(f"service {service!r} is not installed here") from None
    directory = Path(str(root / "migrations"))
    if not directory.is_dir():
        raise MigrationError(f"service {service!r} has no migrations")
    return directory


async def migrate_service(dsn: str, service: str, *, wait_seconds: float = 0.0) -> list[str]:
    """Apply `service`'s pending migrations to its schema, waiting up to `wait_seconds`
    for the database to accept connections."""
    directory = service_migrations(service)
    pool = await create_pool(dsn, min_size=1, max_size=1, wait_seconds=wait_seconds)
    try:
        async with pool.acquire() as conn:
            return await apply_migrations(conn, directory, schema=service)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m wasmgrid.common.migrations SERVICE…``: migrate, print one line each."""
    parser = argparse.ArgumentParser(
        prog="python -m wasmgrid.common.migrations",
        description="Apply the SQL migrations of wasmgrid services to PostgreSQL"
        f" (WASMGRID_<SERVICE>_DATABASE_URL, else {DATABASE_URL_ENV}).",
    )
    parser.add_argument("services", nargs="+", metavar="SERVICE", help="marketplace, monitor")
    parser.add_argument(
        "--wait-seconds",
        type=float,
        default=30.0,
        help="how long to wait for the database to accept connections (default 30)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    dsns: dict[str, str] = {}
    for service in args.services:  # every argument checked before any database work
        own = f"WASMGRID_{service.upper()}_DATABASE_URL"
        try:
            service_migrations(service)
        except MigrationError as exc:
            print(f"wasmgrid: {exc}", file=sys.stderr)
            return 2
        dsns[service] = os.environ.get(own) or os.environ.get(DATABASE_URL_ENV, "")
        if not dsns[service]:
            print(f"wasmgrid: missing setting {DATABASE_URL_ENV} or {own}", file=sys.stderr)
            return 2
    for service, dsn in dsns.items():
        try:
            applied = asyncio.run(migrate_service(dsn, service, wait_seconds=args.wait_seconds))
        except (MigrationError, OSError, asyncpg.PostgresError) as exc:
            print(f"wasmgrid: migrations for {service} failed: {exc}", file=sys.stderr)
            return 1
        names = f": {', '.join(applied)}" if applied else ""
        print(f"migrations for {service}: {len(applied)} applied{names}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
