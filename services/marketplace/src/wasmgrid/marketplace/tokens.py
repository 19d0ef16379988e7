"""API tokens: random ``wgt_`` secrets stored only as their SHA-256, with scopes."""

from __future__ import annotations

import hashlib
import re
import secrets

from wasmgrid.common.errors import InvalidArgument, Unauthenticated

PREFIX = "wgt_"
#: 32 random bytes, URL-safe base64 without padding: 43 characters.
_SECRET_BYTES = 32
TOKEN_FORMAT = re.compile(r"^wgt_[A-Za-z0-9_-]{20,200}$")

PUBLISH, YANK, RATE, ADMIN = "publish", "yank", "rate", "admin"
ALL_SCOPES = (PUBLISH, YANK, RATE, ADMIN)
#: Scopes each role may hold (a token never exceeds its user's role).
ROLE_SCOPES = {
    "admin": frozenset(ALL_SCOPES),
    "publisher": frozenset({PUBLISH, YANK, RATE}),
    "user": frozenset({RATE}),
}
MAX_TTL_SECONDS = 366 * 24 * 3600
MAX_ACTIVE_TOKENS = 100


def new_secret() -> str:
    """A fresh token secret: ``wgt_`` + 43 URL-safe characters (256 bits)."""
    return PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def check_format(secret: str, field: str = "token") -> None:
    """Refuse a string that cannot be a token (before any lookup)."""
    if not TOKEN_FORMAT.match(secret):
        raise InvalidArgument(f"{field} must look like wgt_ followed by 20..200 [A-Za-z0-9_-]")


def digest(secret: str) -> bytes:
    """What is stored: the SHA-256 of the secret."""
    return hashlib.sha256(secret.encode()).digest()


def display_prefix(secret: str) -> str:
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


def covers(held: frozenset[str] | set[str], wanted: str) -> bool:
    """Whether scopes `held` allow `wanted` (admin covers everything)."""
    return wanted in held or ADMIN in held
