"""The evaluation loop: rules → backend → alert state machine → silences → notifications."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from wasmgrid.common.errors import ServiceError
from wasmgrid.common.tasks import cancel_and_wait
from wasmgrid.monitor.alerting import Alert, AlertEngine, AlertState, Silence
from wasmgrid.monitor.backend import Backend
from wasmgrid.monitor.leader import Leadership
from wasmgrid.monitor.loops import every
from wasmgrid.monitor.notify import (
    Deliverer,
    Outgoing,
    Planner,
    outgoing_alertmanager,
    outgoing_for,
)
from wasmgrid.monitor.rules import Rule
from wasmgrid.monitor.store import AlertingStore

log = logging.getLogger(__name__)

ALERTS = Gauge("wasmgrid_monitor_alerts", "Alerts known to the rule engine.", ["state"])
EVALUATION_SECONDS = Histogram(
    "wasmgrid_monitor_evaluation_seconds",
    "Time to evaluate every rule once.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
EVALUATION_FAILURES = Counter(
    "wasmgrid_monitor_rule_evaluation_failures_total", "Rule evaluations that failed."
)

#: How long Alertmanager should consider a pushed firing alert valid without a re-push.
ALERTMANAGER_VALID_FOR = 240.0
ALERTMANAGER_RESEND = 60.0
#: Notifications held in memory while the database cannot take them.
MAX_UNQUEUED = 1000
NOTIFICATIONS_DROPPED = Counter(
    "wasmgrid_monitor_notifications_dropped_total",
    "Notifications dropped because the database was down and the memory buffer was full.",
)


class Evaluator:
    """Evaluates every enabled rule on an interval and queues the notifications due."""

    def __init__(  # noqa: PLR0913 - keyword-only collaborators, settings
        self,
        *,
        backend: Backend,
        engine: AlertEngine,
        store: AlertingStore,
        deliverer: Deliverer,
        file_rules: Sequence[Rule],
        interval: float,
        planner: Planner,
        webhook_urls: Sequence[str],
        alertmanager_url: str,
        external_url: str,
        leadership: Leadership | None = None,
    ) -> None:
        self.backend = backend
        self.engine = engine
        self.store = store
        self.deliverer = deliverer
        self.file_rules = {r.name: r for r in file_rules}
        self.interval = interval
        self.planner = planner
        self.am_planner = Planner(planner.group_by, 0.0, 0.0, ALERTMANAGER_RESEND)
        self.webhook_urls = list(webhook_urls)
        self.alertmanager_url = alertmanager_url
        self.external_url = external_url
        self.api_rules: dict[str, Rule] = {}
        self.errors: dict[str, str] = {}
        self.silences: list[Silence] = []
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._unqueued: list[Outgoing] = []
        # Transitions not yet saved: (rule, fingerprint) → alert to upsert, or None to delete.
        self._changed: dict[tuple[str, str], Alert | None] = {}
        self.leadership = leadership

    def rules(self) -> dict[str, Rule]:
        """Every rule: file rules, then API rules (which cannot reuse a file rule's name)."""
        return {**self.api_rules, **self.file_rules}

    async def start(self) -> None:
        """Start evaluating in the background."""
        self._task = asyncio.create_task(self._loop(), name="rule-evaluation")

    async def stop(self) -> None:
        """Stop evaluating (and hand the notifier role to another replica)."""
        await cancel_and_wait(self._task)
        if self.leadership is not None:
            await self.leadership.close()

    async def _loop(self) -> None:
        await every("evaluation", self.interval, self.evaluate_once)

    def dead_task(self) -> str | None:
        """ "evaluation" if the evaluation loop ended (it should run forever)."""
        return "evaluation" if self._task is not None and self._task.done() else None

    async def _refresh(self) -> None:
        try:
            rules = await self.store.list_rules()
            self.silences = await self.store.active_silences()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot reload rules and silences, keeping the last ones: %r", exc)
            return
        self.api_rules = {r.name: r for r in rules if r.name not in self.file_rules}

    async def _evaluate_rule(self, rule: Rule, now: float) -> None:
        try:
            results = await self.backend.evaluate(rule.expression, now)
        except ServiceError as exc:
            self.errors[rule.name] = exc.message
            EVALUATION_FAILURES.inc()
            return
        self.errors.pop(rule.name, None)
        for change in self.engine.step(rule, results, now):
            key = (change.alert.rule, change.alert.fingerprint)
            self._changed[key] = change.alert if change.new is not None else None
            if change.new is AlertState.FIRING:
                log.warning(
                    "alert %s firing: %s",
                    rule.name,
                    change.alert.labels,
                    extra={"fingerprint": change.alert.fingerprint, "value": change.alert.value},
                )
            elif change.new is AlertState.RESOLVED:
                log.info("alert %s resolved: %s", rule.name, change.alert.labels)

    async def evaluate_once(self, now: float | None = None) -> None:
        """One round: reload rules and silences, evaluate, queue notifications."""
        async with self._lock:
            t0 = time.perf_counter()
            await self._refresh()
            # After the reload: a silence created while it ran starts at the database's
            # now(), and with the round's clock read before, it would not yet apply.
            now = time.time() if now is None else now
            rules = self.rules()
            gone = {key[0] for key in self.engine.alerts} - set(rules)
            gone |= {r.name for r in rules.values() if r.disabled}
            for name in gone:
                for alert in self.engine.forget_rule(name):
                    self._changed[(alert.rule, alert.fingerprint)] = None
            await asyncio.gather(
                *(self._evaluate_rule(r, now) for r in rules.values() if not r.disabled)
            )
            self.engine.apply_silences(self.silences, now)
            await self._notify(now)
            counts = dict.fromkeys(AlertState, 0)
            for alert in self.engine.alerts.values():
                counts[alert.state] += 1
            for state, n in counts.items():
                ALERTS.labels(state.name.lower()).set(n)
            EVALUATION_SECONDS.observe(time.perf_counter() - t0)
            self.rounds += 1

    def forget_rule(self, name: str) -> None:
        """Drop a rule's alerts now (it changed); their saved state is deleted too."""
        for alert in self.engine.forget_rule(name):
            self._changed[(alert.rule, alert.fingerprint)] = None

    async def restore(self, now: float, grace: float) -> int:
        """Load the alert state of a previous run; return how many alerts were restored.

        For `grace` seconds, restored alerts whose series have no data yet (the local
        store starts empty) keep their state instead of resolving.
        """
        alerts = await self.store.load_alerts()
        self.engine.restore(alerts, now + grace)
        self.planner.assume_notified(alerts, now)
        self.am_planner.assume_notified(alerts, now)
        return len(alerts)

    async def _save_state(self) -> None:
        if not self._changed:
            return
        changed, self._changed = self._changed, {}
        upserts = [a for a in changed.values() if a is not None]
        deletes = [k for k, a in changed.items() if a is None]
        try:
            await self.store.save_alerts(upserts, deletes)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot save alert state, will retry: %r", exc)
            for key, alert in changed.items():  # newer changes (none yet) would win
                self._changed.setdefault(key, alert)

    async def _notify(self, now: float) -> None:
        if self.leadership is not None and not await self.leadership.check():
            self._changed.clear()  # the notifier replica saves alert state
            return  # another replica notifies
        await self._save_state()
        alerts = list(self.engine.alerts.values())
        items: list[Outgoing] = []
        if self.webhook_urls:
            items += outgoing_for(
                self.planner.plan(alerts, now), self.webhook_urls, self.external_url
            )
        if self.alertmanager_url:
            items += outgoing_alertmanager(
                self.am_planner.plan(alerts, now),
                self.alertmanager_url,
                self.external_url,
                ALERTMANAGER_VALID_FOR,
            )
        items = self._unqueued + items
        if not items:
            return
        try:
            await self.store.enqueue(items)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Keep them in memory (bounded) and queue them once the database answers again.
            overflow = max(0, len(items) - MAX_UNQUEUED)
            self._unqueued = items[overflow:]
            log.error(
                "could not queue %d notification(s), will retry: %r%s",
                len(items),
                exc,
                f"; {overflow} oldest dropped (limit {MAX_UNQUEUED})" if overflow else "",
            )
            if overflow:
                NOTIFICATIONS_DROPPED.inc(overflow)
            return
        self._unqueued = []
        self.deliverer.wake()
