"""The registry's records: frozen values that the store returns, the domain modules work
on and :mod:`convert` turns into messages. No I/O and no driver types here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from wasmgrid.common.errors import PermissionDenied
from wasmgrid.marketplace.tokens import ROLE_SCOPES, Role, Scope, covers

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next ("" after the last page)."""

    items: list[T]
    next_cursor: str


# ------------------------------------------------------------------ identity


@dataclass(frozen=True)
class User:
    """A registry account."""

    id: int
    username: str
    role: Role
    created_at: datetime


@dataclass(frozen=True)
class Token:
    """An API token as shown to its owner (never its secret)."""

    id: uuid.UUID
    name: str
    prefix: str
    scopes: tuple[Scope, ...]
    username: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    """A token just created, with its secret (shown once, stored only as a hash)."""

    token: Token
    secret: str


@dataclass(frozen=True)
class TokenLookup:
    """A stored token found by its secret's hash, with what authentication decides on."""

    token: Token
    user_id: int
    role: Role
    expired: bool
    #: last_used_at is older than the write interval (or unset): time to refresh it.
    stale: bool


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the user and the token used."""

    user_id: int
    username: str
    role: Role
    token: Token
    #: The token's scopes within its user's role: a demoted user's old tokens lose power.
    scopes: frozenset[Scope]

    @classmethod
    def of(cls, found: TokenLookup) -> Principal:
        """The principal behind a valid token."""
        scopes = frozenset(found.token.scopes) & ROLE_SCOPES[found.role]
        return cls(found.user_id, found.token.username, found.role, found.token, scopes)

    @property
    def is_admin(self) -> bool:
        """An admin user calling with an admin-scoped token."""
        return self.role is Role.ADMIN and Scope.ADMIN in self.scopes

    def require(self, scope: Scope) -> None:
        """PERMISSION_DENIED unless the token allows `scope`."""
        if not covers(self.scopes, scope):
            raise PermissionDenied(f"token lacks the {str(scope)!r} scope")
