"""Namespaces and their owners (tables ``namespaces``, ``namespace_owners``).

Usernames and namespaces share one name space: creating a user claims the namespace
of the same name.
"""

from __future__ import annotations

from wasmgrid.marketplace.records import User
from wasmgrid.marketplace.store.database import Conn, Executor
from wasmgrid.marketplace.store.identity import user_of


async def find(ex: Executor, norm: str, *, lock: bool = False) -> int | None:
    """The id of the namespace with this normalised name; `lock` holds its row until
    the transaction ends (owner changes and publishes to it wait)."""
    ns_id: int | None = await ex.fetchval(
        "SELECT id FROM namespaces WHERE name_norm = $1" + (" FOR UPDATE" if lock else ""),  # noqa: S608 - constant fragments; values are bound parameters
        norm,
    )
    return ns_id


async def insert(conn: Conn, name: str, norm: str) -> int | None:
    """A new namespace's id; None when the normalised name is taken (waiting for a
    concurrent claim to commit or roll back)."""
    ns_id: int | None = await conn.fetchval(
        "INSERT INTO namespaces (name, name_norm) VALUES ($1, $2)"
        " ON CONFLICT (name_norm) DO NOTHING RETURNING id",
        name,
        norm,
    )
    return ns_id


async def ensure(conn: Conn, name: str, norm: str) -> int:
    """The id of the namespace with this normalised name, created when missing."""
    ns_id: int = await conn.fetchval(
        "INSERT INTO namespaces (name, name_norm) VALUES ($1, $2)"
        " ON CONFLICT (name_norm) DO UPDATE SET name_norm = EXCLUDED.name_norm"
        " RETURNING id",
        name,
        norm,
    )
    return ns_id


async def owners(ex: Executor, ns_id: int) -> list[User]:
    """The namespace's owners by normalised username."""
    rows = await ex.fetch(
        "SELECT u.id, u.username, u.role, u.created_at FROM namespace_owners o"
        " JOIN users u ON u.id = o.user_id WHERE o.namespace_id = $1"
        " ORDER BY u.username_norm",
        ns_id,
    )
    return [user_of(r) for r in rows]


async def is_owner(ex: Executor, ns_id: int, user_id: int) -> bool:
    """Whether the user owns the namespace."""
    return bool(
        await ex.fetchval(
            "SELECT 1 FROM namespace_owners WHERE namespace_id = $1 AND user_id = $2",
            ns_id,
            user_id,
        )
    )


async def add_owner(conn: Conn, ns_id: int, user_id: int) -> bool:
    """Make the user an owner; False when it already was one (no change)."""
    result: str = await conn.execute(
        "INSERT INTO namespace_owners (namespace_id, user_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING",
        ns_id,
        user_id,
    )
    return result.split()[-1] != "0"


async def remove_owner(conn: Conn, ns_id: int, user_id: int) -> None:
    """The user no longer owns the namespace."""
    await conn.execute(
        "DELETE FROM namespace_owners WHERE namespace_id = $1 AND user_id = $2", ns_id, user_id
    )


async def owned_by(ex: Executor, user_id: int) -> list[str]:
    """Normalised names of the namespaces the user owns, sorted."""
    rows = await ex.fetch(
        "SELECT n.name_norm FROM namespace_owners o JOIN namespaces n ON n.id = o.namespace_id"
        " WHERE o.user_id = $1 ORDER BY n.name_norm",
        user_id,
    )
    return [r["name_norm"] for r in rows]


async def limits(ex: Executor, ns_id: int) -> tuple[int | None, int | None]:
    """The namespace's own (max_module_bytes, max_assets_bytes); None = the default."""
    row = await ex.fetchrow(
        "SELECT max_module_bytes, max_assets_bytes FROM namespaces WHERE id = $1", ns_id
    )
    return (None, None) if row is None else (row[0], row[1])


async def set_limits(
    conn: Conn, ns_id: int, max_module_bytes: int | None, max_assets_bytes: int | None
) -> None:
    """Set the namespace's caps (None = back to the default)."""
    await conn.execute(
        "UPDATE namespaces SET max_module_bytes = $2, max_assets_bytes = $3 WHERE id = $1",
        ns_id,
        max_module_bytes,
        max_assets_bytes,
    )
