"""Translation between marketplace.proto messages and the registry's records."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.marketplace.records import Token, User
from wasmgrid.marketplace.tokens import Role, Scope

ROLES = ProtoEnum.members(pb.Role, Role)
SCOPES = ProtoEnum.members(pb.Scope, Scope)


def _ts(value: datetime | None, out: Timestamp) -> None:
    if value is not None:
        out.FromDatetime(value)


# ------------------------------------------------------------------ identity


def user_to_pb(user: User) -> pb.User:
    """A user as proto."""
    out = pb.User(username=user.username, role=ROLES.to_proto(user.role))
    _ts(user.created_at, out.created_at)
    return out


def token_to_pb(token: Token) -> pb.Token:
    """A token as proto (never its secret)."""
    out = pb.Token(
        id=str(token.id),
        name=token.name,
        prefix=token.prefix,
        scopes=[SCOPES.to_proto(s) for s in token.scopes],
        username=token.username,
    )
    _ts(token.created_at, out.created_at)
    _ts(token.expires_at, out.expires_at)
    _ts(token.last_used_at, out.last_used_at)
    _ts(token.revoked_at, out.revoked_at)
    return out


def scopes_from_pb(values: Iterable[int]) -> list[Scope | None]:
    """Requested scopes (None for SCOPE_UNSPECIFIED); INVALID_ARGUMENT naming `scopes`
    for a number the contract does not define."""
    return [SCOPES.from_proto(v, "scopes") for v in values]
