"""Accounts and API tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from wasmgrid.client._convert import enum_field, enum_list


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A registry account."""

    username: str = ""
    #: ``user``, ``publisher`` or ``admin``.
    role: str = enum_field("ROLE_")
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """An API token's public description (the secret is shown only when it is created)."""

    id: str = ""
    name: str = ""
    #: The first 12 characters of the secret, to recognise it.
    prefix: str = ""
    #: ``publish``, ``yank``, ``rate``, ``admin``.
    scopes: tuple[str, ...] = enum_list("SCOPE_")
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    username: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedUser:
    """A new user with its first token; `secret` is shown only here."""

    user: User = field(default_factory=User)
    token: Token = field(default_factory=Token)
    secret: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatedToken:
    """A new token; `secret` is shown only here."""

    token: Token = field(default_factory=Token)
    secret: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WhoAmI:
    """The user and token behind the credentials, and the namespaces the user owns."""

    user: User = field(default_factory=User)
    token: Token = field(default_factory=Token)
    namespaces: tuple[str, ...] = ()
    #: What the token may do now: its scopes within the user's current role.
    effective_scopes: tuple[str, ...] = enum_list("SCOPE_")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPage:
    """A page of users by username; ``next_cursor`` is empty after the last."""

    users: tuple[User, ...] = ()
    next_cursor: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleChange:
    """A user after a role change, its role before, and the token issued with the change
    (``secret`` empty unless one was asked for; shown only here)."""

    user: User = field(default_factory=User)
    previous_role: str = enum_field("ROLE_")
    token: Token | None = None
    secret: str = ""
