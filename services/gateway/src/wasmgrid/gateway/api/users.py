"""User administration for admins: ``GET /v1/users`` and ``PUT /v1/users/{username}/role``.

The gateway checks the shape of each input as strictly as ``/openapi.json`` states it;
the marketplace decides who may (admins), keeps an admin (the last one and the
bootstrap admin cannot be demoted: 409) and records each change in the audit log.
"""

from __future__ import annotations

from typing import Any

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.gateway.api.relay import Inputs, Rpc, relay
from wasmgrid.gateway.openapi import Link, Operation, QueryParam, page_params
from wasmgrid.gateway.problem import Problem

_ROLES = ProtoEnum.names(mp.Role)
#: Users per page (the marketplace's MAX_USERS_PAGE).
USERS_MAX_PAGE = 1000
#: The fields of PUT /v1/users/{username}/role's body.
ROLE_FIELDS = ("role", "issue_token")
ROLE_SCHEMAS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("role", {"type": "string", "enum": list(_ROLES.choices)}),
    (
        "issue_token",
        {
            "type": "boolean",
            "description": "also create a token for the user with every scope of the new"
            " role; its secret is in this answer only",
        },
    ),
)
_ADMINS_ONLY = (("403", "the token is not an admin's (admin role with the admin scope)"),)


def _list_users(a: Inputs) -> mp.ListUsersRequest:
    return mp.ListUsersRequest(role=a.choice("role", _ROLES), page=a.page())


def _set_role(a: Inputs) -> mp.SetUserRoleRequest:
    role = a.field("role", str, None)
    if role is None:
        raise Problem(400, f"role: required, one of {', '.join(_ROLES.choices)}")
    return mp.SetUserRoleRequest(
        username=a.path("username"),
        role=_ROLES.parse(role, "role"),
        issue_token=a.field("issue_token", bool, False),
    )


#: The two operations, in the gateway's table after POST /v1/users.
USER_OPERATIONS: tuple[Operation, ...] = (
    relay(
        "GET",
        "/v1/users",
        "list_users",
        "Every user by username, a page at a time (admins only)",
        "identity",
        Rpc("marketplace", "ListUsers", _list_users),
        query=(
            QueryParam("role", "users of this role only", enum=tuple(_ROLES.choices)),
            *page_params(USERS_MAX_PAGE),
        ),
        auth="required",
        statuses=_ADMINS_ONLY,
        links=(
            Link("set_role", "set_user_role", (("username", "$response.body#/users/0/username"),)),
        ),
    ),
    relay(
        "PUT",
        "/v1/users/{username}/role",
        "set_user_role",
        "Change a user's role (admins only; the registry always keeps an admin)",
        "identity",
        Rpc("marketplace", "SetUserRole", _set_role),
        fields=ROLE_FIELDS,
        field_schemas=ROLE_SCHEMAS,
        required_fields=("role",),
        auth="required",
        statuses=(
            *_ADMINS_ONLY,
            ("409", "the change would demote the last admin or the bootstrap admin"),
        ),
    ),
)
