"""The audit log (table ``audit_log``, migration 0010): append-only, one row per change.

:func:`record` is the one way a row is written; each use case that changes the
registry calls it on its own transaction, so the row commits or rolls back with the
change it describes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from wasmgrid.marketplace.records import (
    AuditAction,
    AuditEvent,
    AuditTarget,
    NewAuditEvent,
    Origin,
)
from wasmgrid.marketplace.store.database import Conn, Executor

_COLUMNS = (
    "id, at, actor_id, actor_name, action, namespace, module, version, token_id, subject,"
    " detail::text AS detail, client_address, peer_address, trace_id"
)


@dataclass(frozen=True)
class Query:
    """Which rows to read: each filter None when absent, `after` the ``(at, id)`` of the
    previous page's last row."""

    namespace_norm: str | None
    actor_id: int | None
    action: AuditAction | None
    since: datetime | None
    until: datetime | None
    limit: int
    after: tuple[datetime, int] | None


async def record(conn: Conn, event: NewAuditEvent) -> int:
    """Append `event` in the transaction `conn` is in; the new row's id."""
    t = event.target
    o = event.origin
    row_id: int = await conn.fetchval(
        "INSERT INTO audit_log (actor_id, actor_name, action, namespace, module, version,"
        " token_id, subject, detail, client_address, peer_address, trace_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12) RETURNING id",
        event.actor_id,
        event.actor_name,
        str(event.action),
        t.namespace or None,
        t.module or None,
        t.version or None,
        t.token_id,
        t.subject or None,
        json.dumps(event.detail, separators=(",", ":")),
        o.client_address,
        o.peer_address,
        o.trace_id,
    )
    return row_id


async def page(ex: Executor, q: Query) -> list[AuditEvent]:
    """Up to `q.limit` events matching `q`, newest first (by ``at``, then ``id``)."""
    where: list[str] = []
    args: list[object] = []

    def bind(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if q.namespace_norm is not None:
        where.append(f"namespace = {bind(q.namespace_norm)}")
    if q.actor_id is not None:
        where.append(f"actor_id = {bind(q.actor_id)}")
    if q.action is not None:
        where.append(f"action = {bind(str(q.action))}")
    if q.since is not None:
        where.append(f"at >= {bind(q.since)}")
    if q.until is not None:
        where.append(f"at < {bind(q.until)}")
    if q.after is not None:
        at, last_id = q.after
        where.append(f"(at, id) < ({bind(at)}::timestamptz, {bind(last_id)}::bigint)")
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await ex.fetch(
        f"SELECT {_COLUMNS} FROM audit_log{condition}"  # noqa: S608 - constant fragments; values are bound parameters
        f" ORDER BY at DESC, id DESC LIMIT {bind(q.limit)}",
        *args,
    )
    return [
        AuditEvent(
            id=r["id"],
            at=r["at"],
            event=NewAuditEvent(
                action=AuditAction(r["action"]),
                actor_id=r["actor_id"],
                actor_name=r["actor_name"],
                target=AuditTarget(
                    namespace=r["namespace"] or "",
                    module=r["module"] or "",
                    version=r["version"] or "",
                    token_id=r["token_id"] if isinstance(r["token_id"], uuid.UUID) else None,
                    subject=r["subject"] or "",
                ),
                detail=json.loads(r["detail"]),
                origin=Origin(r["client_address"], r["peer_address"], r["trace_id"]),
            ),
        )
        for r in rows
    ]
