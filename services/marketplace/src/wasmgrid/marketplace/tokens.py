"""API tokens: random ``wgt_`` secrets stored only as their SHA-256; roles and scopes."""

from __future__ import annotations

import hashlib
import re
import secrets
from enum import StrEnum

from wasmgrid.common.errors import Unauthenticated

PREFIX = "wgt_"
#: 32 random bytes, URL-safe base64 without padding: 43 characters.
_SECRET_BYTES = 32
TOKEN_FORMAT = re.compile(r"^wgt_[A-Za-z0-9_-]{20,200}\Z")


class Scope(StrEnum):
    """What a token allows (stored as these names); reads need none."""

    PUBLISH = "publish"
    YANK = "yank"
    RATE = "rate"
    ADMIN = "admin"


class Role(StrEnum):
    """What a user may be granted (stored as these names)."""

    USER = "user"
    PUBLISHER = "publisher"
    ADMIN = "admin"


#: Scopes each role may hold (a token never exceeds its user's role).
ROLE_SCOPES = {
    Role.ADMIN: frozenset(Scope),
    Role.PUBLISHER: frozenset({Scope.PUBLISH, Scope.YANK, Scope.RATE}),
    Role.USER: frozenset({Scope.RATE}),
}
MAX_TTL_SECONDS = 366 * 24 * 3600
MAX_ACTIVE_TOKENS = 100


def new_secret() -> str:
    """A fresh token secret: ``wgt_`` + 43 URL-safe characters (256 bits)."""
    return PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def digest(secret: str) -> bytes:
    """What is stored: the SHA-256 of the secret."""
    return hashlib.sha256(secret.encode()).digest()


def display_prefix(secret: str) -> str:
    """The first characters of a secret, shown to tell tokens apart."""
    return secret[:12]


def bearer_secret(authorization: str | None) -> str | None:
    """The secret from an ``authorization: Bearer wgt_…`` value; None when absent."""
    if authorization is None or authorization == "":
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated('authorization metadata must be "Bearer wgt_…"')
    secret = value.strip()
    if not TOKEN_FORMAT.match(secret):
        raise Unauthenticated("authorization token is malformed (expected wgt_…)")
    return secret


def covers(held: frozenset[Scope], wanted: Scope) -> bool:
    """Whether scopes `held` allow `wanted` (admin covers everything)."""
    return wanted in held or Scope.ADMIN in held
