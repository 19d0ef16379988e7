"""The audit log: the events the use cases record, and the admins' reading of them.

Each use case that changes the registry builds its event with :func:`event` and writes
it with :func:`wasmgrid.marketplace.store.audit.record` on the transaction of the
change, then calls :func:`committed` once that transaction has committed (the metric and
the log line count only what is in the table). Refusals change nothing and are not
events: the kit logs each refused RPC and counts it by status code.
"""

from __future__ import annotations

import logging
from datetime import datetime

from opentelemetry import trace
from prometheus_client import Counter

from wasmgrid.common.errors import InvalidArgument, NotFound, PermissionDenied
from wasmgrid.common.paging import (
    cursor_binding,
    decode_cursor,
    encode_cursor,
    page_limit,
    split_page,
)
from wasmgrid.marketplace import names
from wasmgrid.marketplace.records import (
    AuditAction,
    AuditEvent,
    AuditFilter,
    AuditTarget,
    NewAuditEvent,
    Origin,
    Page,
    Principal,
)
from wasmgrid.marketplace.store import audit as store
from wasmgrid.marketplace.store import identity as users
from wasmgrid.marketplace.store.database import Database

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

RECORDED = Counter(
    "marketplace_audit_events_total", "Audit events committed, by action.", ["action"]
)
for _action in AuditAction:
    RECORDED.labels(str(_action))

#: Events per ListAuditEvents page: the default and the most a request may ask for.
DEFAULT_PAGE, MAX_PAGE = 100, 1000


def event(
    action: AuditAction,
    who: Principal | None,
    origin: Origin,
    target: AuditTarget,
    **detail: object,
) -> NewAuditEvent:
    """The event of `action` by `who` (None: no user acted) from `origin`."""
    return NewAuditEvent(
        action=action,
        actor_id=None if who is None else who.user_id,
        actor_name="" if who is None else who.username,
        target=target,
        detail=detail,
        origin=origin,
    )


def committed(ev: NewAuditEvent) -> None:
    """Count and log an event whose transaction committed."""
    RECORDED.labels(str(ev.action)).inc()
    t = ev.target
    fields = {
        "audit_action": str(ev.action),
        "actor": ev.actor_name,
        "namespace": t.namespace,
        "module_name": t.module,
        "version": t.version,
        "token_id": "" if t.token_id is None else str(t.token_id),
        "subject": t.subject,
        "client_address": ev.origin.client_address,
    }
    trace.get_current_span().add_event(
        "audit", {key: value for key, value in fields.items() if value}
    )
    log.info("audit %s", ev.action, extra=fields)


class AuditLog:
    """The ListAuditEvents use case."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(
        self, who: Principal | None, wanted: AuditFilter, limit: int, cursor: str
    ) -> Page[AuditEvent]:
        """Events matching `wanted`, newest first, a page at a time (admins only)."""
        if who is None or not who.is_admin:
            raise PermissionDenied("only an admin may read the audit log")
        namespace = names.check_namespace(wanted.namespace) if wanted.namespace else None
        since, until = wanted.since, wanted.until
        if since is not None and until is not None and since >= until:
            raise InvalidArgument(
                f"since {since.isoformat()} is not before until {until.isoformat()}"
            )
        limit = page_limit(limit, default=DEFAULT_PAGE, maximum=MAX_PAGE)
        actor_norm = names.check_namespace(wanted.actor, "actor") if wanted.actor else None
        bind = cursor_binding(
            "audit",
            namespace,
            actor_norm,
            wanted.action,
            since and since.isoformat(),
            until and until.isoformat(),
        )
        after = _keyset(decode_cursor(cursor, bind, 2))
        with tracer.start_as_current_span("marketplace.audit.list") as span:
            actor_id = None
            if actor_norm is not None:
                actor = await users.user_by_name(self.db.pool, actor_norm)
                if actor is None:
                    raise NotFound(f"actor {wanted.actor!r} is not a user")
                actor_id = actor.id
            query = store.Query(namespace, actor_id, wanted.action, since, until, limit + 1, after)
            found = await store.page(self.db.pool, query)
            items, more = split_page(found, limit)
            span.set_attribute("wasmgrid.audit.events", len(items))
        last = items[-1] if more else None
        next_cursor = encode_cursor(bind, [last.at.isoformat(), last.id]) if last else ""
        log.info(
            "audit events listed",
            extra={
                "by": who.username,
                "events": len(items),
                "namespace": namespace or "",
                "actor": actor_norm or "",
                "audit_action": "" if wanted.action is None else str(wanted.action),
            },
        )
        return Page(items, next_cursor)


def _keyset(values: list[object] | None) -> tuple[datetime, int] | None:
    if values is None:
        return None
    try:
        return datetime.fromisoformat(str(values[0])), int(str(values[1]))
    except (TypeError, ValueError):
        raise InvalidArgument("page.cursor is not a cursor issued by this service") from None
