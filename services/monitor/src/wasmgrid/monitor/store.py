"""PostgreSQL persistence (schema ``monitor``): API rules, silences, the notification outbox."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from wasmgrid.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from wasmgrid.monitor.alerting import Alert, AlertState, Silence
from wasmgrid.monitor.notify import NotificationRecord, NotificationState, Outgoing
from wasmgrid.monitor.query import Matcher, MatchOp
from wasmgrid.monitor.rules import Rule, RuleSource, rule_from_dict, rule_to_dict, with_version

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA = "monitor"
#: Delivered, superseded and failed notifications are kept this long for ListNotifications.
NOTIFICATION_RETENTION = dt.timedelta(days=7)


def _ts(value: dt.datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def _dt(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def matchers_to_json(matchers: Sequence[Matcher]) -> str:
    """Matchers as stored JSON."""
    return json.dumps(
        [{"name": m.name, "op": m.op.name, "values": list(m.values)} for m in matchers]
    )


def matchers_from_json(text: str) -> tuple[Matcher, ...]:
    """Matchers from stored JSON."""
    return tuple(Matcher(d["name"], MatchOp[d["op"]], tuple(d["values"])) for d in json.loads(text))


class AlertingStore:
    """Alerting state on PostgreSQL (API rules, silences, the notification outbox); every
    SQL value is a ``$n`` parameter."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # ------------------------------------------------------------ rules

    def _rule(self, row: asyncpg.Record) -> Rule:
        rule = rule_from_dict(json.loads(row["spec"]), "stored rule", source=RuleSource.API)
        return with_version(rule, row["version"], _ts(row["created_at"]), _ts(row["updated_at"]))

    async def list_rules(self) -> list[Rule]:
        """Every API rule, by name."""
        rows = await self.pool.fetch(
            "SELECT name, spec::text AS spec, version, created_at, updated_at"
            " FROM monitor.rules ORDER BY name"
        )
        return [self._rule(r) for r in rows]

    async def get_rule(self, name: str) -> Rule | None:
        """One API rule, or None."""
        row = await self.pool.fetchrow(
            "SELECT name, spec::text AS spec, version, created_at, updated_at"
            " FROM monitor.rules WHERE name = $1",
            name,
        )
        return self._rule(row) if row is not None else None

    async def create_rule(self, rule: Rule) -> Rule:
        """Insert; AlreadyExists if the name is taken."""
        try:
            row = await self.pool.fetchrow(
                "INSERT INTO monitor.rules (name, spec) VALUES ($1, $2::jsonb)"
                " RETURNING name, spec::text AS spec, version, created_at, updated_at",
                rule.name,
                json.dumps(rule_to_dict(rule)),
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(f"rule {rule.name!r} already exists") from None
        assert row is not None
        return self._rule(row)

    async def update_rule(self, rule: Rule, expected_version: int) -> Rule:
        """Replace; NotFound, or FailedPrecondition on a version mismatch."""
        async with self.pool.acquire() as conn, conn.transaction():
            current = await conn.fetchval(
                "SELECT version FROM monitor.rules WHERE name = $1 FOR UPDATE", rule.name
            )
            if current is None:
                raise NotFound(f"rule {rule.name!r} does not exist")
            if expected_version and current != expected_version:
                raise FailedPrecondition(
                    f"rule {rule.name!r} is at version {current}, not expected_version"
                    f" {expected_version}: it changed meanwhile"
                )
            row = await conn.fetchrow(
                "UPDATE monitor.rules SET spec = $2::jsonb, version = version + 1,"
                " updated_at = now() WHERE name = $1"
                " RETURNING name, spec::text AS spec, version, created_at, updated_at",
                rule.name,
                json.dumps(rule_to_dict(rule)),
            )
        assert row is not None
        return self._rule(row)

    async def delete_rule(self, name: str) -> bool:
        """Delete; False if there was no such rule."""
        status = await self.pool.execute("DELETE FROM monitor.rules WHERE name = $1", name)
        return bool(status.endswith(" 1"))

    # ------------------------------------------------------------ silences

    @staticmethod
    def _silence(row: asyncpg.Record) -> Silence:
        return Silence(
            str(row["id"]),
            matchers_from_json(row["matchers"]),
            _ts(row["starts_at"]),
            _ts(row["ends_at"]),
            row["created_by"],
            row["comment"],
            _ts(row["created_at"]),
        )

    _SILENCE_COLS = (
        "id, matchers::text AS matchers, starts_at, ends_at, created_by, comment, created_at"
    )

    async def create_silence(self, s: Silence) -> Silence:
        """Insert a validated silence."""
        row = await self.pool.fetchrow(
            "INSERT INTO monitor.silences (id, matchers, starts_at, ends_at, created_by, comment,"  # noqa: S608 - constant fragments; values are bound parameters
            " created_at) VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7)"
            f" RETURNING {self._SILENCE_COLS}",
            uuid.UUID(s.id),
            matchers_to_json(s.matchers),
            _dt(s.starts_at),
            _dt(s.ends_at),
            s.created_by,
            s.comment,
            _dt(s.created_at),
        )
        assert row is not None
        return self._silence(row)

    @staticmethod
    def _uuid(ident: str) -> uuid.UUID:
        try:
            return uuid.UUID(ident)
        except ValueError:
            raise InvalidArgument(f"id {ident!r} is not a UUID") from None

    async def get_silence(self, ident: str) -> Silence:
        """One silence; NotFound if unknown."""
        row = await self.pool.fetchrow(
            f"SELECT {self._SILENCE_COLS} FROM monitor.silences WHERE id = $1",  # noqa: S608 - constant fragments; values are bound parameters
            self._uuid(ident),
        )
        if row is None:
            raise NotFound(f"silence {ident!r} does not exist")
        return self._silence(row)

    async def list_silences(self, include_expired: bool, limit: int) -> list[Silence]:
        """Silences, newest first."""
        rows = await self.pool.fetch(
            f"SELECT {self._SILENCE_COLS} FROM monitor.silences"  # noqa: S608 - constant fragments; values are bound parameters
            " WHERE $1 OR ends_at > now() ORDER BY created_at DESC, id LIMIT $2",
            include_expired,
            limit,
        )
        return [self._silence(r) for r in rows]

    async def active_silences(self) -> list[Silence]:
        """Silences not yet ended (active or pending)."""
        rows = await self.pool.fetch(
            f"SELECT {self._SILENCE_COLS} FROM monitor.silences WHERE ends_at > now()"  # noqa: S608 - constant fragments; values are bound parameters
        )
        return [self._silence(r) for r in rows]

    async def expire_silence(self, ident: str) -> Silence:
        """End a silence now (kept for the record); NotFound if unknown."""
        row = await self.pool.fetchrow(
            "UPDATE monitor.silences SET ends_at = LEAST(ends_at, now()),"  # noqa: S608 - constant fragments; values are bound parameters
            " starts_at = LEAST(starts_at, now() - interval '1 microsecond')"
            f" WHERE id = $1 RETURNING {self._SILENCE_COLS}",
            self._uuid(ident),
        )
        if row is None:
            raise NotFound(f"silence {ident!r} does not exist")
        return self._silence(row)

    # ------------------------------------------------------------ alert state

    async def save_alerts(
        self, upserts: Sequence[Alert], deletes: Sequence[tuple[str, str]]
    ) -> None:
        """Record alert transitions (one transaction)."""
        if not upserts and not deletes:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            if deletes:
                await conn.executemany(
                    "DELETE FROM monitor.alerts WHERE rule = $1 AND fingerprint = $2", deletes
                )
            if upserts:
                await conn.executemany(
                    "INSERT INTO monitor.alerts (rule, fingerprint, labels, annotations, state,"
                    " severity, value, active_since, fired_at, resolved_at)"
                    " VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7, $8, $9, $10)"
                    " ON CONFLICT (rule, fingerprint) DO UPDATE SET labels = EXCLUDED.labels,"
                    " annotations = EXCLUDED.annotations, state = EXCLUDED.state,"
                    " severity = EXCLUDED.severity, value = EXCLUDED.value,"
                    " active_since = EXCLUDED.active_since, fired_at = EXCLUDED.fired_at,"
                    " resolved_at = EXCLUDED.resolved_at",
                    [
                        (
                            a.rule,
                            a.fingerprint,
                            json.dumps(a.labels),
                            json.dumps(a.annotations),
                            int(a.state),
                            a.severity,
                            a.value if math.isfinite(a.value) else 0.0,
                            a.active_since,
                            a.fired_at,
                            a.resolved_at,
                        )
                        for a in upserts
                    ],
                )

    async def load_alerts(self) -> list[Alert]:
        """Alerts saved by a previous run."""
        rows = await self.pool.fetch(
            "SELECT rule, fingerprint, labels::text AS labels, annotations::text AS annotations,"
            " state, severity, value, active_since, fired_at, resolved_at FROM monitor.alerts"
        )
        return [
            Alert(
                r["rule"],
                r["fingerprint"],
                json.loads(r["labels"]),
                json.loads(r["annotations"]),
                AlertState(r["state"]),
                r["severity"],
                r["value"],
                r["active_since"],
                r["fired_at"],
                r["resolved_at"],
            )
            for r in rows
        ]

    # ------------------------------------------------------------ notification outbox

    async def enqueue(self, items: Sequence[Outgoing]) -> None:
        """Queue payloads; an undelivered older payload of the same group and receiver is
        marked superseded (the newer one carries the whole group)."""
        if not items:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            for item in items:
                await conn.execute(
                    "UPDATE monitor.notifications SET state = 'superseded'"
                    " WHERE state = 'pending' AND receiver = $1 AND group_key = $2",
                    item.receiver,
                    item.group_key,
                )
                await conn.execute(
                    "INSERT INTO monitor.notifications"
                    " (receiver_kind, receiver, group_key, status, alert_count, payload)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    item.receiver_kind,
                    item.receiver,
                    item.group_key,
                    item.status,
                    item.alert_count,
                    item.payload,
                )

    async def claim_due(self, limit: int, lease: float) -> list[dict[str, Any]]:
        """Due pending payloads, leased (next_attempt_at pushed out) so no other worker
        takes them meanwhile."""
        rows = await self.pool.fetch(
            "UPDATE monitor.notifications SET next_attempt_at = now() + make_interval(secs => $2)"
            " WHERE id IN (SELECT id FROM monitor.notifications"
            "   WHERE state = 'pending' AND next_attempt_at <= now()"
            "   ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
            " RETURNING id, receiver_kind, receiver, group_key, payload, attempts",
            limit,
            lease,
        )
        return [dict(r) for r in rows]

    async def mark_delivered(self, ident: int) -> None:
        """Record a successful delivery."""
        await self.pool.execute(
            "UPDATE monitor.notifications SET state = CASE WHEN state = 'pending'"
            " THEN 'delivered' ELSE state END, attempts = attempts + 1,"
            " delivered_at = now(), last_error = '' WHERE id = $1",
            ident,
        )

    async def mark_failed_attempt(
        self, ident: int, error: str, retry_in: float, give_up_after: float
    ) -> bool:
        """Record a failed attempt and schedule a retry; True when it is now failed for good."""
        state = await self.pool.fetchval(
            "UPDATE monitor.notifications SET attempts = attempts + 1, last_error = $2,"
            " next_attempt_at = now() + make_interval(secs => $3),"
            " state = CASE WHEN state <> 'pending' THEN state"
            "   WHEN created_at < now() - make_interval(secs => $4) THEN 'failed'"
            "   ELSE 'pending' END"
            " WHERE id = $1 RETURNING state",
            ident,
            error[:2000],
            retry_in,
            give_up_after,
        )
        return bool(state == "failed")

    async def next_due_in(self) -> float | None:
        """Seconds until the next pending payload is due (0 if overdue), None if none."""
        value = await self.pool.fetchval(
            "SELECT EXTRACT(EPOCH FROM (min(next_attempt_at) - now()))::float8"
            " FROM monitor.notifications WHERE state = 'pending'"
        )
        return None if value is None else max(0.0, float(value))

    async def list_notifications(
        self, states: Sequence[NotificationState], limit: int
    ) -> list[NotificationRecord]:
        """Notifications in any of `states` (all when empty), newest first."""
        rows = await self.pool.fetch(
            "SELECT id, receiver_kind, receiver, group_key, status, alert_count, state, attempts,"
            " last_error, created_at, next_attempt_at, delivered_at FROM monitor.notifications"
            " WHERE cardinality($1::text[]) = 0 OR state = ANY($1::text[])"
            " ORDER BY id DESC LIMIT $2",
            [str(s) for s in states],
            limit,
        )
        return [
            NotificationRecord(
                id=r["id"],
                receiver_kind=r["receiver_kind"],
                receiver=r["receiver"],
                group_key=r["group_key"],
                status=r["status"],
                alert_count=r["alert_count"],
                state=NotificationState(r["state"]),
                attempts=r["attempts"],
                last_error=r["last_error"],
                created_at=_ts(r["created_at"]),
                next_attempt_at=_ts(r["next_attempt_at"]) if r["state"] == "pending" else 0.0,
                delivered_at=_ts(r["delivered_at"]),
            )
            for r in rows
        ]

    async def prune_notifications(self) -> int:
        """Delete finished notifications older than the retention; return how many."""
        status = await self.pool.execute(
            "DELETE FROM monitor.notifications"
            " WHERE state <> 'pending' AND created_at < now() - $1::interval",
            NOTIFICATION_RETENTION,
        )
        return int(status.split()[-1])
