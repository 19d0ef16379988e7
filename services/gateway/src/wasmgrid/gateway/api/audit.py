"""GET /v1/audit: the marketplace's audit log for admins, its filters as query parameters.

The filters are checked here as strictly as ``/openapi.json`` states them; the
marketplace checks the admin token, the page size and the cursor.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.gateway.api.relay import Inputs
from wasmgrid.gateway.openapi import PATH_PARAMS, QueryParam
from wasmgrid.gateway.problem import Problem

_AUDIT_ACTIONS = ProtoEnum.names(mp.AuditAction)
#: A namespace or username in a query, as strict as the document states it (the
#: marketplace folds case; the gateway holds queries to the documented form).
_NAME_SCHEMA = PATH_PARAMS["ns"]
_NAME = re.compile(_NAME_SCHEMA["pattern"].removesuffix("$") + r"\Z")


def _name_query(a: Inputs, name: str) -> str:
    """A namespace or username filter; absent: "" (no filter). Given, even empty, it
    must be one."""
    if name not in a.request.query:
        return ""
    value = a.query(name)
    if not (
        _NAME_SCHEMA["minLength"] <= len(value) <= _NAME_SCHEMA["maxLength"] and _NAME.match(value)
    ):
        raise Problem(
            400,
            f"query parameter {name}: {value[:64]!r} is not a namespace or username"
            " (2..39 letters and digits, single '-' or '_' between; case is folded)",
        )
    return value


def _instant(a: Inputs, name: str) -> datetime | None:
    """An RFC 3339 date-time query parameter (a missing offset is read as UTC)."""
    if name not in a.request.query:
        return None
    raw = a.query(name)
    try:
        when = datetime.fromisoformat(raw.upper())
    except ValueError:
        raise Problem(
            400,
            f"query parameter {name}: {raw[:64]!r} is not an RFC 3339 date-time"
            " (e.g. 2026-12-01T00:00:00Z)",
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def audit_request(a: Inputs) -> mp.ListAuditEventsRequest:
    """GET /v1/audit's query → ListAuditEventsRequest (the marketplace checks the rest)."""
    request = mp.ListAuditEventsRequest(
        namespace=_name_query(a, "namespace"),
        actor=_name_query(a, "actor"),
        action=a.choice("action", _AUDIT_ACTIONS),
        page=a.page(),
    )
    for name in ("since", "until"):
        when = _instant(a, name)
        if when is not None:
            getattr(request, name).FromDatetime(when)
    return request


#: The filters of GET /v1/audit (the list's limit and cursor come beside them).
def _name_param(name: str, description: str) -> QueryParam:
    """A namespace or username filter, documented as `_name_query` checks it."""
    return QueryParam(
        name,
        description,
        pattern=_NAME_SCHEMA["pattern"],
        min_length=_NAME_SCHEMA["minLength"],
        max_length=_NAME_SCHEMA["maxLength"],
    )


AUDIT_FILTERS = (
    _name_param("namespace", "events about this namespace"),
    _name_param("actor", "events by this user (404 when there is no such user)"),
    QueryParam("action", "events of this action", enum=tuple(_AUDIT_ACTIONS.choices)),
    QueryParam("since", "events at or after this RFC 3339 time", format="date-time"),
    QueryParam("until", "events before this RFC 3339 time", format="date-time"),
)
