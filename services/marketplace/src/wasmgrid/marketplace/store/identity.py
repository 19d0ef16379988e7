"""Users and API tokens (tables ``users``, ``tokens``)."""

from __future__ import annotations

import uuid

import asyncpg

from wasmgrid.marketplace.records import NewToken, Token, TokenLookup, User
from wasmgrid.marketplace.store.database import Conn, Executor
from wasmgrid.marketplace.tokens import Role, Scope

_TOKEN_COLS = (
    "t.id, t.name, t.prefix, t.scopes, t.created_at, t.expires_at, t.last_used_at,"  # noqa: S105 - columns
    " t.revoked_at, u.username"
)
_TOKEN_FROM = "tokens t JOIN users u ON u.id = t.user_id"  # noqa: S105 - a SQL join
_USER_COLS = "id, username, role, created_at"
_KNOWN_SCOPES = frozenset(Scope)


def user_of(row: asyncpg.Record) -> User:
    """A user from a row with _USER_COLS."""
    return User(row["id"], row["username"], Role(row["role"]), row["created_at"])


def _token(row: asyncpg.Record) -> Token:
    return Token(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        # A scope a later version stored and this one does not know is left out.
        scopes=tuple(Scope(s) for s in row["scopes"] if s in _KNOWN_SCOPES),
        username=row["username"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


async def insert_user(conn: Conn, username: str, norm: str, role: Role) -> User | None:
    """A new user; None when the normalised name is taken."""
    row = await conn.fetchrow(
        "INSERT INTO users (username, username_norm, role) VALUES ($1, $2, $3)"  # noqa: S608 - constant fragments; values are bound parameters
        f" ON CONFLICT (username_norm) DO NOTHING RETURNING {_USER_COLS}",
        username,
        norm,
        str(role),
    )
    return None if row is None else user_of(row)


async def user(ex: Executor, user_id: int) -> User:
    """The user with this id (which exists: ids come from authenticated tokens)."""
    row = await ex.fetchrow(f"SELECT {_USER_COLS} FROM users WHERE id = $1", user_id)  # noqa: S608 - constant fragments; values are bound parameters
    assert row is not None
    return user_of(row)


async def user_by_name(ex: Executor, norm: str) -> User | None:
    """The user with this normalised name."""
    row = await ex.fetchrow(f"SELECT {_USER_COLS} FROM users WHERE username_norm = $1", norm)  # noqa: S608 - constant fragments; values are bound parameters
    return None if row is None else user_of(row)


async def user_for_update(conn: Conn, norm: str) -> User | None:
    """The user with this normalised name, its row locked until the transaction ends."""
    row = await conn.fetchrow(
        f"SELECT {_USER_COLS} FROM users WHERE username_norm = $1 FOR UPDATE",  # noqa: S608 - constant fragments; values are bound parameters
        norm,
    )
    return None if row is None else user_of(row)


async def lock_admins(conn: Conn) -> list[int]:
    """The ids of every admin, their rows locked in id order until the transaction ends.

    Two demotions at once then serialise: the second waits for the first's locks and,
    once it commits, no longer counts the admin it demoted (PostgreSQL re-checks a
    locked row's WHERE after the wait), so the last admin cannot be demoted twice over.
    Lock these before any single user row, in this order everywhere, or two role
    changes can deadlock.
    """
    rows = await conn.fetch("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE")
    return [r["id"] for r in rows]


async def set_role(conn: Conn, user_id: int, role: Role) -> User:
    """Give the user `role`; the user as it now is."""
    row = await conn.fetchrow(
        f"UPDATE users SET role = $2 WHERE id = $1 RETURNING {_USER_COLS}",  # noqa: S608 - constant fragments; values are bound parameters
        user_id,
        str(role),
    )
    assert row is not None
    return user_of(row)


async def list_users(
    ex: Executor, role: Role | None, after_norm: str | None, limit: int
) -> list[User]:
    """Up to `limit` users by normalised name after `after_norm`, of `role` when given."""
    where: list[str] = []
    args: list[object] = []
    if role is not None:
        args.append(str(role))
        where.append(f"role = ${len(args)}")
    if after_norm is not None:
        args.append(after_norm)
        where.append(f"username_norm > ${len(args)}")
    args.append(limit)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await ex.fetch(
        f"SELECT {_USER_COLS} FROM users{condition}"  # noqa: S608 - constant fragments; values are bound parameters
        f" ORDER BY username_norm LIMIT ${len(args)}",
        *args,
    )
    return [user_of(r) for r in rows]


async def lock_user(conn: Conn, user_id: int) -> None:
    """Serialise token creation per user until the transaction ends."""
    await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)


async def lock_bootstrap(conn: Conn) -> None:
    """Serialise bootstrap-admin creation across replicas until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('marketplace-bootstrap'))")


async def insert_token(conn: Conn, new: NewToken, token_hash: bytes, prefix: str) -> Token:
    """A new token, stored by the hash of its secret (`prefix` is its displayed start)."""
    token_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO tokens (id, user_id, name, token_hash, prefix, scopes, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        token_id,
        new.user_id,
        new.name,
        token_hash,
        prefix,
        sorted(str(s) for s in new.scopes),
        new.expires_at,
    )
    found = await token(conn, token_id)
    assert found is not None
    return found


async def token(ex: Executor, token_id: uuid.UUID) -> Token | None:
    """The token with this id."""
    row = await ex.fetchrow(f"SELECT {_TOKEN_COLS} FROM {_TOKEN_FROM} WHERE t.id = $1", token_id)  # noqa: S608 - constant fragments; values are bound parameters
    return None if row is None else _token(row)


async def token_owner(ex: Executor, token_id: uuid.UUID) -> int | None:
    """The user id owning a token."""
    owner: int | None = await ex.fetchval("SELECT user_id FROM tokens WHERE id = $1", token_id)
    return owner


async def token_known(ex: Executor, token_hash: bytes) -> bool:
    """Whether a token with this hash is stored (whatever its state)."""
    return bool(await ex.fetchval("SELECT 1 FROM tokens WHERE token_hash = $1", token_hash))


async def find_token(ex: Executor, token_hash: bytes) -> TokenLookup | None:
    """The token with this hash, its user's role, whether it expired, and whether its
    last use was recorded more than a minute ago (it is written at most once a minute)."""
    row = await ex.fetchrow(
        f"SELECT {_TOKEN_COLS}, u.id AS user_id, u.role,"  # noqa: S608 - constant fragments; values are bound parameters
        " (t.expires_at IS NOT NULL AND t.expires_at <= now()) AS expired,"
        " (t.last_used_at IS NULL OR t.last_used_at < now() - interval '60 seconds')"
        " AS stale"
        f" FROM {_TOKEN_FROM} WHERE t.token_hash = $1",
        token_hash,
    )
    if row is None:
        return None
    return TokenLookup(_token(row), row["user_id"], Role(row["role"]), row["expired"], row["stale"])


async def touch_token(ex: Executor, token_id: uuid.UUID) -> None:
    """Record that the token was used now."""
    await ex.execute("UPDATE tokens SET last_used_at = now() WHERE id = $1", token_id)


async def count_active_tokens(ex: Executor, user_id: int) -> int:
    """Tokens of the user neither revoked nor expired."""
    count: int = await ex.fetchval(
        "SELECT count(*) FROM tokens WHERE user_id = $1 AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        user_id,
    )
    return count


async def list_tokens(
    ex: Executor, user_id: int, include_inactive: bool, limit: int
) -> list[Token]:
    """The user's tokens, newest first; revoked and expired ones only when asked."""
    active = " AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())"
    rows = await ex.fetch(
        f"SELECT {_TOKEN_COLS} FROM {_TOKEN_FROM}"  # noqa: S608 - constant fragments; values are bound parameters
        f" WHERE t.user_id = $1{'' if include_inactive else active}"
        " ORDER BY t.created_at DESC, t.id LIMIT $2",
        user_id,
        limit,
    )
    return [_token(r) for r in rows]


async def revoke_token(ex: Executor, token_id: uuid.UUID) -> bool:
    """Mark the token revoked; False when it already was (its first revocation time stays)."""
    result: str = await ex.execute(
        "UPDATE tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
    )
    return result.split()[-1] != "0"
