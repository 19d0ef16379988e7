"""Grouping alerts into notifications, their payload formats, and delivery with retry.

Grouping follows Alertmanager: alerts with the same values of the ``group_by``
labels form a group; a group is notified when an alert starts firing or is
resolved (after ``group_wait`` for a new group, at most once per
``group_interval`` after that), and re-notified every ``repeat_interval``
while anything in it still fires. Silenced alerts are left out. The payload
carries the whole group, so when a newer payload for the same group and
receiver is queued, an undelivered older one is superseded (recorded, not
dropped silently).

Delivery goes through an outbox in PostgreSQL: a payload survives a monitor
restart and a receiver outage, and is retried with exponential backoff until
delivered or, after ``max_age``, marked failed (logged and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import aiohttp
import asyncpg
from prometheus_client import Counter

from wasmgrid.common.tasks import cancel_and_wait
from wasmgrid.monitor.alerting import Alert, AlertState
from wasmgrid.monitor.loops import LOOP_ERRORS

log = logging.getLogger(__name__)

NOTIFICATIONS = Counter(
    "wasmgrid_monitor_notifications_total",
    "Notification delivery outcomes.",
    ["receiver_kind", "outcome"],
)

ZERO_TIME = "0001-01-01T00:00:00Z"
RECEIVER_NAME = "wasmgrid"


def rfc3339(t: float) -> str:
    """Unix seconds → RFC 3339 UTC with milliseconds."""
    return (
        dt.datetime.fromtimestamp(t, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def group_key(group_labels: Mapping[str, str]) -> str:
    """Alertmanager-style group key: ``{}:{alertname="X"}``."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(group_labels.items()))
    return f"{{}}:{{{inner}}}"


@dataclass(frozen=True)
class AlertView:
    """An alert as it appears in one notification (a snapshot)."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float
    fingerprint: str


@dataclass(frozen=True)
class GroupNotification:
    """One group's notification: its key, labels, status and alerts."""

    key: str
    labels: dict[str, str]
    status: str
    alerts: tuple[AlertView, ...]


@dataclass
class _Group:
    labels: dict[str, str]
    first_seen: float
    last_sent: float | None = None  # None: never notified
    notified: dict[str, Alert] = field(default_factory=dict)


class Planner:
    """Decides, each evaluation, which groups to notify and with what."""

    def __init__(
        self,
        group_by: Sequence[str],
        group_wait: float,
        group_interval: float,
        repeat_interval: float,
    ) -> None:
        self.group_by = tuple(group_by)
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval
        self._groups: dict[str, _Group] = {}

    def assume_notified(self, alerts: Iterable[Alert], now: float) -> None:
        """Treat restored firing alerts as already notified (their payloads were queued by
        the previous run); repeat_interval then applies as usual."""
        for alert in alerts:
            if alert.state is not AlertState.FIRING or alert.silenced_by:
                continue
            labels = self._labels(alert)
            key = group_key(labels)
            group = self._groups.setdefault(key, _Group(labels, now, last_sent=now))
            group.notified[alert.fingerprint] = alert

    def _labels(self, alert: Alert) -> dict[str, str]:
        return {k: alert.labels[k] for k in self.group_by if k in alert.labels}

    def _due(self, group: _Group, *, changed: bool, firing: bool, now: float) -> bool:
        """Whether `group` is notified now: a change after group_wait (first message) or
        group_interval, else a reminder of what still fires after repeat_interval."""
        if changed:
            if group.last_sent is None:
                return now - group.first_seen >= self.group_wait
            return now - group.last_sent >= self.group_interval
        return (
            firing and group.last_sent is not None and now - group.last_sent >= self.repeat_interval
        )

    def plan(self, alerts: Iterable[Alert], now: float) -> list[GroupNotification]:
        """Notifications due at `now` for the current alerts."""
        current: dict[str, dict[str, Alert]] = {}
        labels_of: dict[str, dict[str, str]] = {}
        silenced: set[str] = set()
        for alert in alerts:
            if alert.silenced_by:
                silenced.add(alert.fingerprint)
                continue
            if alert.state is not AlertState.FIRING:
                continue
            labels = self._labels(alert)
            key = group_key(labels)
            labels_of[key] = labels
            current.setdefault(key, {})[alert.fingerprint] = alert
        out: list[GroupNotification] = []
        for key in set(current) | set(self._groups):
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(labels_of[key], now)
            firing = current.get(key, {})
            new = firing.keys() - group.notified.keys()
            gone = group.notified.keys() - firing.keys()
            for fp in gone & silenced:  # silenced after firing: no "resolved" message
                del group.notified[fp]
            resolved = [group.notified[fp] for fp in gone - silenced]
            if self._due(group, changed=bool(new or resolved), firing=bool(firing), now=now):
                views = [_view(a, "firing", 0.0) for a in firing.values()]
                views += [_view(a, "resolved", a.resolved_at or now) for a in resolved]
                views.sort(key=lambda v: (v.status, v.starts_at, v.fingerprint))
                out.append(
                    GroupNotification(
                        key, group.labels, "firing" if firing else "resolved", tuple(views)
                    )
                )
                group.notified = dict(firing)
                group.last_sent = now
            if not firing and not group.notified:
                del self._groups[key]
        return out


def _view(alert: Alert, status: str, ends_at: float) -> AlertView:
    return AlertView(
        status, dict(alert.labels), dict(alert.annotations), alert.active_since, ends_at,
        alert.fingerprint,
    )  # fmt: skip


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    common = dict(maps[0])
    for m in maps[1:]:
        common = {k: v for k, v in common.items() if m.get(k) == v}
    return common


def webhook_payload(n: GroupNotification, external_url: str) -> dict[str, Any]:
    """The Alertmanager webhook JSON (version 4) for one group notification."""
    return {
        "version": "4",
        "groupKey": n.key,
        "truncatedAlerts": 0,
        "status": n.status,
        "receiver": RECEIVER_NAME,
        "groupLabels": n.labels,
        "commonLabels": _common([a.labels for a in n.alerts]),
        "commonAnnotations": _common([a.annotations for a in n.alerts]),
        "externalURL": external_url,
        "alerts": [
            {
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at),
                "endsAt": rfc3339(a.ends_at) if a.ends_at else ZERO_TIME,
                "generatorURL": external_url,
                "fingerprint": a.fingerprint,
            }
            for a in n.alerts
        ],
    }


def alertmanager_payload(
    n: GroupNotification, external_url: str, now: float, valid_for: float
) -> list[dict[str, Any]]:
    """The Alertmanager API v2 ``POST /api/v2/alerts`` body for one group.

    Firing alerts get ``endsAt = now + valid_for``, as Prometheus does, so that
    Alertmanager resolves them by itself if the monitor goes away.
    """
    return [
        {
            "labels": a.labels,
            "annotations": a.annotations,
            "startsAt": rfc3339(a.starts_at),
            "endsAt": rfc3339(a.ends_at if a.status == "resolved" else now + valid_for),
            "generatorURL": external_url,
        }
        for a in n.alerts
    ]


@dataclass(frozen=True)
class Outgoing:
    """A payload to queue for one receiver."""

    receiver_kind: str
    receiver: str
    group_key: str
    status: str
    alert_count: int
    payload: Any


class NotificationState(StrEnum):
    """Where a queued notification is (the outbox's ``state`` column)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    SUPERSEDED = "superseded"
    FAILED = "failed"


@dataclass(frozen=True)
class NotificationRecord:
    """A notification in the outbox, as ListNotifications shows it (times in unix seconds)."""

    id: int
    receiver_kind: str
    receiver: str
    group_key: str
    status: str
    alert_count: int
    state: NotificationState
    attempts: int
    last_error: str
    created_at: float
    next_attempt_at: float  # 0 unless pending
    delivered_at: float  # 0 until delivered


def backoff(attempts: int, minimum: float, maximum: float) -> float:
    """Delay before retry number `attempts` (1-based): minimum · 2^(attempts-1), capped."""
    exponent = min(max(attempts - 1, 0), 30)
    return min(maximum, minimum * float(1 << exponent))


class Outbox(Protocol):
    """What the deliverer needs from the store (:class:`wasmgrid.monitor.store.AlertingStore`)."""

    async def claim_due(self, limit: int, lease: float) -> list[dict[str, Any]]:
        """Due pending payloads, leased to this caller for `lease` seconds."""
        ...

    async def mark_delivered(self, ident: int) -> None:
        """Record a successful delivery."""
        ...

    async def mark_failed_attempt(
        self, ident: int, error: str, retry_in: float, give_up_after: float
    ) -> bool:
        """Record a failed attempt; True when the payload is now failed for good."""
        ...

    async def next_due_in(self) -> float | None:
        """Seconds until the next pending payload is due, None when there is none."""
        ...


class Deliverer:
    """Posts queued payloads to their receivers, with retries and backoff."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        timeout: float,
        min_backoff: float,
        max_backoff: float,
        max_age: float,
        batch: int = 20,
    ) -> None:
        self.outbox = outbox
        self.timeout = timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.max_age = max_age
        self.batch = batch
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    def dead_task(self) -> str | None:
        """ "deliver" if the delivery loop ended (it should run forever)."""
        return "deliver" if self._task is not None and self._task.done() else None

    def wake(self) -> None:
        """Deliver now (new payloads were queued)."""
        self._wake.set()

    async def start(self) -> None:
        """Start delivering in the background."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._task = asyncio.create_task(self._loop(), name="notify-deliver")

    async def stop(self) -> None:
        """Stop delivering; undelivered payloads stay queued in the outbox."""
        await cancel_and_wait(self._task)
        if self._session is not None:
            await self._session.close()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                delivered_any = await self.deliver_due()
                wait = 0.0 if delivered_any else await self.outbox.next_due_in()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Keep the loop alive: payloads stay queued until the database is back.
                log.warning("notification outbox unavailable: %r", exc)
                wait = 2.0
            except Exception:  # logged with traceback and counted; delivery must go on
                LOOP_ERRORS.labels("deliver").inc()
                log.exception("notification delivery round failed")
                wait = 2.0
            if wait is None:
                wait = 5.0
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), min(wait, 5.0))

    async def deliver_due(self) -> bool:
        """Attempt every due payload once; True if any was attempted."""
        rows = await self.outbox.claim_due(self.batch, lease=self.timeout * 2 + 5)
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return bool(rows)

    async def _deliver(self, row: Mapping[str, Any]) -> None:
        assert self._session is not None
        kind, url = row["receiver_kind"], row["receiver"]
        target = f"{url}/api/v2/alerts" if kind == "alertmanager" else url
        error = ""
        try:
            async with self._session.post(
                target,
                data=row["payload"],
                headers={"Content-Type": "application/json", "User-Agent": "wasmgrid-monitor"},
            ) as resp:
                if 200 <= resp.status < 300:
                    await self.outbox.mark_delivered(row["id"])
                    NOTIFICATIONS.labels(kind, "delivered").inc()
                    return
                body = (await resp.content.read(512)).decode("utf-8", "replace")
                error = f"HTTP {resp.status}: {body}".strip()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        attempts = int(row["attempts"]) + 1
        retry_in = backoff(attempts, self.min_backoff, self.max_backoff)
        gave_up = await self.outbox.mark_failed_attempt(row["id"], error, retry_in, self.max_age)
        NOTIFICATIONS.labels(kind, "failed" if gave_up else "retry").inc()
        if gave_up:
            log.error(
                "notification %s to %s failed for good after %d attempts: %s",
                row["id"], url, attempts, error,
                extra={"group_key": row["group_key"]},
            )  # fmt: skip
        else:
            log.warning(
                "notification %s to %s failed (attempt %d, retry in %.1fs): %s",
                row["id"], url, attempts, retry_in, error,
            )  # fmt: skip


def outgoing_for(
    notifications: Sequence[GroupNotification],
    webhook_urls: Sequence[str],
    external_url: str,
) -> list[Outgoing]:
    """Webhook payloads for every group notification and every webhook URL."""
    out: list[Outgoing] = []
    for n in notifications:
        body = json.dumps(webhook_payload(n, external_url), separators=(",", ":"))
        for url in webhook_urls:
            out.append(Outgoing("webhook", url, n.key, n.status, len(n.alerts), body))
    return out


def outgoing_alertmanager(
    notifications: Sequence[GroupNotification], url: str, external_url: str, valid_for: float
) -> list[Outgoing]:
    """Alertmanager API v2 payloads for every group notification."""
    now = time.time()
    return [
        Outgoing(
            "alertmanager",
            url,
            n.key,
            n.status,
            len(n.alerts),
            json.dumps(alertmanager_payload(n, external_url, now, valid_for)),
        )
        for n in notifications
    ]
