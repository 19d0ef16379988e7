"""The SQL migration runner: ordered, idempotent, once under concurrency, tamper-evident."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from wasmgrid.common.migrations import (
    MigrationError,
    load_migrations,
    migrate,
    service_migrations,
)
from wasmgrid.common.testing import free_port


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


async def test_applies_in_order_then_is_idempotent(tmp_path: Path, database_url: str) -> None:
    d = write(
        tmp_path / "m",
        {
            "0002_add_column.sql": "ALTER TABLE items ADD COLUMN note text;",
            "0001_create.sql": "CREATE TABLE items (id serial PRIMARY KEY);",
        },
    )
    assert await migrate(database_url, d, schema="demo") == ["0001_create", "0002_add_column"]
    assert await migrate(database_url, d, schema="demo") == []
    conn = await asyncpg.connect(database_url)
    try:
        cols = await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'demo' AND table_name = 'items' ORDER BY ordinal_position"
        )
        assert [c["column_name"] for c in cols] == ["id", "note"]
        versions = await conn.fetch("SELECT version FROM demo.schema_migrations ORDER BY version")
        assert [v["version"] for v in versions] == [1, 2]
    finally:
        await conn.close()


async def test_concurrent_runners_apply_each_migration_once(
    tmp_path: Path, database_url: str
) -> None:
    # A non-idempotent migration: a second application would insert a second row.
    d = write(
        tmp_path / "m",
        {
            "0001_create.sql": "CREATE TABLE runs (n int);",
            "0002_insert.sql": "INSERT INTO runs VALUES (1); SELECT pg_sleep(0.2);",
        },
    )
    results = await asyncio.gather(*(migrate(database_url, d, schema="race") for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 2]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM race.runs") == 1
    finally:
        await conn.close()


async def test_failed_migration_rolls_back_and_is_retried(
    tmp_path: Path, database_url: str
) -> None:
    d = write(tmp_path / "m", {"0001_bad.sql": "CREATE TABLE a (id int); SELECT 1/0;"})
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(database_url, d, schema="fail")
    (d / "0001_bad.sql").write_text("CREATE TABLE a (id int);")
    assert await migrate(database_url, d, schema="fail") == ["0001_bad"]


async def test_edited_applied_migration_is_refused(tmp_path: Path, database_url: str) -> None:
    d = write(tmp_path / "m", {"0001_create.sql": "CREATE TABLE t (id int);"})
    await migrate(database_url, d, schema="edit")
    (d / "0001_create.sql").write_text("CREATE TABLE t (id bigint);")
    with pytest.raises(MigrationError, match="0001_create changed after it was applied"):
        await migrate(database_url, d, schema="edit")


async def test_bad_file_names_and_schema_are_refused(tmp_path: Path, database_url: str) -> None:
    d = write(tmp_path / "m", {"create.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match=re.escape("not NNNN_name.sql")):
        await migrate(database_url, d)
    ok = write(tmp_path / "ok", {"0001_a.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match="plain identifier"):
        await migrate(database_url, ok, schema="x; DROP TABLE y")


def _migrate_command(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "wasmgrid.common.migrations", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_migration_command_applies_each_service_schema_once(database_url: str) -> None:
    env = {"WASMGRID_DATABASE_URL": database_url}
    first = _migrate_command("marketplace", "monitor", env=env)
    assert first.returncode == 0, first.stderr
    expected = []
    for service in ("marketplace", "monitor"):
        names = [f"{m.version:04d}_{m.name}" for m in load_migrations(service_migrations(service))]
        expected.append(f"migrations for {service}: {len(names)} applied: {', '.join(names)}")
    assert first.stdout.splitlines() == expected
    again = _migrate_command("marketplace", "monitor", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        "migrations for marketplace: 0 applied",
        "migrations for monitor: 0 applied",
    ]


def test_the_migration_command_names_what_is_wrong(database_url: str) -> None:
    env = {"WASMGRID_DATABASE_URL": database_url}
    for service, reason in (
        ("gateway", "service 'gateway' has no migrations"),
        ("nosuch", "service 'nosuch' is not installed here"),
        ("Drop;", "service name 'Drop;' is not a plain identifier"),
    ):
        result = _migrate_command("marketplace", service, env=env)
        assert (result.returncode, result.stderr.strip()) == (2, f"wasmgrid: {reason}")
        assert result.stdout == ""  # checked before any database work
    missing = _migrate_command("monitor")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "wasmgrid: missing setting WASMGRID_DATABASE_URL or WASMGRID_MONITOR_DATABASE_URL"
    )
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/wasmgrid"
    down = _migrate_command(
        "monitor", "--wait-seconds", "0", env={"WASMGRID_MONITOR_DATABASE_URL": nobody}
    )
    assert down.returncode == 1
    assert down.stderr.startswith(
        f"wasmgrid: migrations for monitor failed: database {nobody} not reachable after 0s"
    ), down.stderr
