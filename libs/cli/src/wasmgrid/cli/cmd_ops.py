"""Operating the suite: status, alerts, trace, routes, cache stats, the audit log."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import click
from rich.table import Table
from rich.text import Text

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.cli.app import connection_options, run_async, session
from wasmgrid.cli.output import count, size, when
from wasmgrid.cli.waterfall import duration_text, layout
from wasmgrid.client import AuditEvent, CacheNamespaces, CacheStats
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.common.units import parse_duration

_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_AUDIT_ACTIONS = ProtoEnum.names(mp.AuditAction).choices
_STATUS_STYLE = {"serving": "green", "not_serving": "red", "unreachable": "red"}


@click.command()
@connection_options
def status() -> None:
    """Show the fleet's health.

    Exits 1 when a service has no serving replica.
    """
    s = session()
    health = s.request(lambda wg: wg.health())
    out = s.out
    if out.json_mode:
        out.json(health)
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("SERVICE", "STATUS", "REPLICAS"):
            table.add_column(column)
        for svc in health.services:
            table.add_row(
                svc.service,
                Text(svc.status.upper(), style=_STATUS_STYLE.get(svc.status, "yellow")),
                f"{svc.replicas_serving}/{svc.replicas} serving",
            )
        out.rich(table)
        for target in health.targets:
            if target.status != "serving":
                out.text(f"  {target.service} {target.instance}: {target.status} — {target.reason}")
        out.text(f"overall: {health.overall.upper()}")
    if health.overall != "serving":
        raise click.exceptions.Exit(1)


@click.command()
@click.option("--state", type=click.Choice(["pending", "firing", "resolved"]), help="only these")
@click.option("--rule", help="only alerts of this rule")
@click.option("--silenced", is_flag=True, help="include silenced alerts")
@click.option("--limit", type=click.IntRange(1, 5000), help="at most this many (default 500)")
@connection_options
def alerts(state: str | None, rule: str | None, silenced: bool, limit: int | None) -> None:
    """List alerts, firing first.

    Firing alerts come first, then pending ones, then recently resolved ones.
    """
    s = session()
    found = s.request(
        lambda wg: wg.alerts(state=state, rule=rule, include_silenced=silenced, limit=limit)
    )
    if s.out.json_mode:
        s.out.json(found)
        return
    s.out.table(
        ["STATE", "SEVERITY", "RULE", "VALUE", "SINCE", "SUMMARY"],
        [
            [
                a.state + (" (silenced)" if a.silenced_by else ""),
                a.severity,
                a.rule,
                f"{a.value:g}",
                when(a.fired_at or a.active_since),
                a.annotations.get("summary", ""),
            ]
            for a in found.alerts
        ],
        empty="no alerts",
    )
    if found.truncated:
        s.out.note("more alerts matched; raise --limit to see them")


@click.command()
@click.argument("trace_id")
@connection_options
def trace(trace_id: str) -> None:
    """Draw a trace as a waterfall.

    One row per span, children under their parents, bars on a shared time axis.
    A request's trace id is in the gateway's X-Trace-Id response header.
    """
    if not _TRACE_ID.match(trace_id):
        raise click.BadParameter(f"{trace_id!r} is not 32 hex digits", param_hint="TRACE_ID")
    s = session()
    found = s.request(lambda wg: wg.trace(trace_id.lower()))
    out = s.out
    if out.json_mode:
        out.json(found)
        return
    summary = found.summary
    out.text(
        f"trace {found.trace_id}: {summary.root_service} {summary.root_name},"
        f" {duration_text(summary.duration)}, {summary.span_count} spans,"
        f" {summary.error_count} errors"
    )
    width = max(20, min(60, out.out.width - 70))
    rows = layout(found, width)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("SPAN", "SERVICE", "START", "DURATION", "TIMELINE"):
        numeric = column in ("START", "DURATION")
        table.add_column(column, no_wrap=True, justify="right" if numeric else "left")
    for row in rows:
        span = row.span
        style = "red" if span.status == "error" else "cyan"
        table.add_row(
            "  " * row.depth + span.name,
            span.service,
            f"+{duration_text(row.start)}",
            duration_text(span.duration),
            Text(row.bar(width), style=style),
        )
    out.rich(table)
    for row in rows:
        if row.span.status == "error" and row.span.status_message:
            out.text(f"error in {row.span.name}: {row.span.status_message}")


@click.command()
@connection_options
def routes() -> None:
    """List the gateway's custom routes (from its routes file)."""
    s = session()
    found = s.request(lambda wg: wg.routes())
    out = s.out
    if out.json_mode:
        out.json(found)
        return
    out.table(
        ["NAME", "METHODS", "HOST", "PATH", "MODULE", "MODE"],
        [
            [
                str(r.get("name", "")),
                ",".join(r.get("methods") or ["any"]),
                str(r.get("host") or "*"),
                str(r.get("path", "")),
                str(r.get("module", "")),
                str(r.get("mode", "")) + (f" {r['function']}" if r.get("function") else ""),
            ]
            for r in found.routes
        ],
        empty="no custom routes" + (f" in {found.file}" if found.file else " (no routes file)"),
    )
    if found.last_error:
        out.error(f"the last reload of the routes file failed: {found.last_error}")


@click.group()
def cache() -> None:
    """Inspect the cache service."""


@cache.command("stats")
@click.argument("namespace", required=False)
@connection_options
def cache_stats(namespace: str | None) -> None:
    """Show cache namespaces' stats, or one namespace in detail."""
    s = session()

    async def go() -> CacheNamespaces | CacheStats:
        async with s.client() as wg:
            if namespace:
                return await wg.cache_stats(namespace)
            return await wg.cache_namespaces(limit=1000)

    found = run_async(go())
    out = s.out
    if out.json_mode:
        out.json(found)
        return
    tier = found.shared_tier
    if isinstance(found, CacheStats):
        st = found.stats
        ev, lat = st.evictions, st.get_latency
        out.fields(
            [
                ("namespace", st.config.name),
                ("policy", f"{st.config.policy} · compression {st.config.compression}"),
                ("entries", count(st.entries)),
                ("memory", f"{size(st.charged_bytes)} of {size(st.config.max_bytes)}"),
                ("hits", f"{count(st.hits)} ({st.hit_ratio:.1%}, {count(st.shared_hits)} shared)"),
                ("misses", count(st.misses)),
                ("sets", f"{count(st.sets)} ({count(st.rejected)} not admitted)"),
                (
                    "evictions",
                    f"{count(ev.capacity)} capacity, {count(ev.expiry)} expiry,"
                    f" {count(ev.explicit)} explicit",
                ),
                ("compression", f"{st.compression_ratio:.2f}x"),
                ("get latency", f"p50 {lat.p50_us:.0f}µs, p99 {lat.p99_us:.0f}µs"),
                ("shared tier", f"{tier.state} {tier.endpoint}".strip()),
            ]
        )
        return
    out.table(
        ["NAMESPACE", "POLICY", "ENTRIES", "BYTES", "HIT %", "HITS", "MISSES"],
        [
            [
                st.config.name,
                st.config.policy,
                count(st.entries),
                size(st.charged_bytes),
                f"{st.hit_ratio:.1%}",
                count(st.hits),
                count(st.misses),
            ]
            for st in found.namespaces
        ],
        empty="no cache namespaces yet",
    )
    out.text(f"shared tier: {tier.state} {tier.endpoint}".rstrip())
    if found.next_cursor:
        out.note("only the first 1000 namespaces are shown")


def _moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An RFC 3339 time (a date alone is its midnight, UTC without an offset), or an age
    such as ``90m``, ``24h`` or ``7d`` before now."""
    if value is None:
        return None
    if value.strip()[-1:].isalpha():  # an age has a unit: a bare number could be a year
        try:
            seconds = parse_duration(value, param.name or "")
        except InvalidArgument:
            pass
        else:
            return datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither an RFC 3339 time (2026-12-01T10:00:00Z, 2026-12-01)"
            " nor an age (90m, 24h, 7d)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _target(e: AuditEvent) -> str:
    parts = [f"{e.module}@{e.version}" if e.version else (e.module or e.namespace)]
    if e.subject:
        parts.append(f"user {e.subject}")
    if e.token_id:
        parts.append(f"token {e.token_id}")
    return ", ".join(p for p in parts if p)


def _detail(e: AuditEvent) -> str:
    return " ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))}"
        for k, v in e.detail.items()
    )


@click.command()
@click.option("--namespace", help="only events about this namespace")
@click.option("--actor", help="only events by this user")
@click.option("--action", type=click.Choice(_AUDIT_ACTIONS), help="only events of this action")
@click.option(
    "--since",
    callback=_moment,
    metavar="TIME",
    help="at or after TIME: RFC 3339 (2026-12-01T10:00:00Z) or an age (24h, 7d)",
)
@click.option("--until", callback=_moment, metavar="TIME", help="before TIME (same forms)")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="at most this many events",
)
@connection_options
def audit(
    namespace: str | None,
    actor: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> None:
    """Show the registry's audit log, newest first (needs an admin token).

    Every change the registry committed: publishes, yanks, tokens, users, roles, owners,
    namespace caps and ratings, with who made it, the client's address and the trace id.
    """
    s = session()
    page = s.request(
        lambda wg: wg.audit(
            namespace=namespace,
            actor=actor,
            action=action,
            since=since,
            until=until,
            limit=limit,
        )
    )
    out = s.out
    if out.json_mode:
        out.json(page)
        return
    out.table(
        ["TIME (UTC)", "ACTOR", "ACTION", "TARGET", "DETAIL", "CLIENT", "TRACE"],
        [
            [
                e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if e.at else "",
                e.actor or "-",
                e.action,
                _target(e),
                _detail(e),
                e.client_address,
                e.trace_id,
            ]
            for e in page.events
        ],
        empty="no audit events matched",
    )
    if page.next_cursor:
        out.note("older events match too: raise --limit (at most 1000) or narrow --since/--until")
