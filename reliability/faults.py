"""The fault scenarios: a real process stopped, killed, hung or its link made lossy, under load.

Each scenario runs its traffic for ``warm`` seconds, injects the fault, keeps it for
``fault`` seconds, heals it, and keeps the traffic ``after`` seconds more; then it
counts what the clients saw (:class:`reliability.report.Row`) and judges it against
the issue's target for that fault. ``Timing.scaled`` shortens the phases (the test in
`make test` runs the Redis scenario at a fraction of them).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from reliability import client
from reliability.client import Answer, Publisher, Recorder
from reliability.report import Row, first_failure, recovery
from reliability.stack import Stack

#: The route the reliability stack adds: hello behind a shared (Redis) rate limit that a
#: healthy stack never reaches, so Redis is on every request's path.
LIMITED_PATH = "/rel/hello"
ROUTES = f"""routes:
  - name: limited-hello
    path: {LIMITED_PATH}
    methods: [POST]
    module: examples/hello
    middleware:
      - rate_limit: {{algorithm: token_bucket, limit: 1000000, window: 1s, key: global}}
"""
#: What "answered fast" means for a refusal or a deadline answer while a dependency hangs.
PROMPT_SECONDS = 5.0
#: A hang lasts this many times the fault phase: past the gateway's 10 s upstream deadline,
#: so that what happens when a deadline expires is seen too.
HANG_FACTOR = 1.5


@dataclass(frozen=True)
class Timing:
    """Phase lengths in seconds."""

    warm: float = 5.0
    fault: float = 10.0
    after: float = 15.0

    def scaled(self, factor: float) -> Timing:
        """Every phase `factor` times as long."""
        return Timing(self.warm * factor, self.fault * factor, self.after * factor)


@dataclass
class Marks:
    """When the fault began and ended, and when the traffic stopped (recorder time)."""

    fault: float = 0.0
    healed: float = 0.0
    end: float = 0.0


Action = Callable[[], Awaitable[Any]]


async def blocking(fn: Callable[[], Any]) -> Any:
    """Run a blocking fault action (pg_ctl, a health wait) off the event loop."""
    return await asyncio.to_thread(fn)


async def under_load(
    recorder: Recorder,
    traffic: Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, Any]]],
    timing: Timing,
    fault: Action,
    heal: Action,
) -> Marks:
    """Run the traffic through warm → fault → heal → after; the marks of each step."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(t(stop)) for t in traffic]
    marks = Marks()
    try:
        await asyncio.sleep(timing.warm)
        marks.fault = recorder.now()
        await fault()
        await asyncio.sleep(max(0.0, timing.fault - (recorder.now() - marks.fault)))
        await heal()
        marks.healed = recorder.now()
        await asyncio.sleep(timing.after)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        marks.end = recorder.now()
    return marks


def stamp(row: Row, marks: Marks) -> Row:
    """Record the scenario's marks in its row."""
    row.marks = {k: round(v, 3) for k, v in asdict(marks).items()}
    return row


def invokes(stack: Stack, recorder: Recorder, connections: int, path: str = "") -> Any:
    request = client.invoke(stack.base_url, recorder, path or "/v1/run/examples/hello")
    return lambda stop: client.closed_loop(request, connections, stop)


def reads(stack: Stack, recorder: Recorder, connections: int) -> Any:
    request = client.read(stack.base_url, recorder)
    return lambda stop: client.closed_loop(request, connections, stop, pause=0.05)


def _during(answers: Sequence[Answer], marks: Marks) -> list[Answer]:
    return [a for a in answers if marks.fault <= a.sent < marks.healed]


def _errors_during(answers: Sequence[Answer], marks: Marks) -> int:
    return sum(1 for a in _during(answers, marks) if not a.ok)


# --------------------------------------------------------------------------- scenarios


async def redis_down(stack: Stack, timing: Timing) -> Row:
    """Redis stopped under load: rate limits fail open, the cache service degrades."""
    assert stack.dev.redis is not None
    redis = stack.dev.redis
    rec = Recorder()
    log_offset = stack.log_size("gateway")
    marks = await under_load(
        rec,
        [invokes(stack, rec, 8, LIMITED_PATH)],
        timing,
        lambda: blocking(redis.stop),
        lambda: blocking(redis.start),
    )
    row = Row("redis down", target="degraded and correct: every request answered, and right")
    answers = rec.of("invoke")
    row.count(answers)
    row.recovery_s = recovery(answers, marks.healed, marks.end)
    row.met = not row.errors and row.lost == 0
    if not row.met:
        row.notes.append(f"{_errors_during(answers, marks)} failures while Redis was down")
    warnings = stack.log_since("gateway", log_offset).count("rate limit backend failed")
    row.facts["gateway warnings logged"] = warnings
    if warnings > 100:
        row.notes.append(
            f"the gateway logged {warnings:,} 'rate limit backend failed' warnings, one per"
            " request, while Redis was down"
        )
    return stamp(row, marks)


async def postgres_restart(stack: Stack, timing: Timing) -> Row:
    """PostgreSQL stopped (fast shutdown) and started again under invokes, reads, publishes."""
    pg = stack.dev.postgres
    assert pg is not None
    rec = Recorder()
    publisher = Publisher(stack.base_url, stack.admin_token, rec, "reliability/pg-restart")
    marks = await under_load(
        rec,
        [invokes(stack, rec, 6), reads(stack, rec, 1), publisher.run],
        timing,
        lambda: blocking(pg.stop),
        lambda: blocking(pg.start),
    )
    await publisher.verify()
    row = Row(
        "postgres restart",
        target="publishes fail clearly (503 + Retry-After) and none is half-written; reads"
        " recover without restarting a service; invokes of modules resolved before keep"
        " working while the registry's database is down",
    )
    row.count(rec.answers)
    _judge_publishes(row, publisher)
    row.recovery_s = recovery(rec.of("read"), marks.healed, marks.end)
    unclear = [
        p for p in publisher.publications if p.kind != "ok" and not p.kind.startswith("503 ")
    ]
    no_retry = [a for a in rec.of("publish") if a.status == 503 and not a.retry_after]
    invoked = rec.of("invoke")
    failing = _errors_during(invoked, marks)
    row.met = (
        row.lost == 0
        and not unclear
        and not no_retry
        and row.recovery_s is not None
        and not failing
    )
    if failing:
        row.notes.append(_stale_note(first_failure(invoked, marks.fault), failing))
    if unclear:
        row.notes.append(f"{len(unclear)} failed publishes not answered 503 ({unclear[0].kind})")
    if no_retry:
        row.notes.append(f"{len(no_retry)} publish 503s without Retry-After")
    if row.recovery_s is None:
        row.notes.append("reads still failing at the end")
    row.facts["invoke failures during the fault"] = failing
    return stamp(row, marks)


def _judge_publishes(row: Row, publisher: Publisher) -> None:
    pubs = publisher.publications
    acked_missing = [p for p in pubs if p.kind == "ok" and p.found != "present"]
    half = [p for p in pubs if p.found.startswith("differs")]
    committed = [p for p in pubs if p.kind != "ok" and p.found == "present"]
    unknown = [p for p in pubs if p.found.startswith("unknown")]
    row.lost += len(acked_missing) + len(half)
    row.facts["publishes"] = {
        "acknowledged": sum(1 for p in pubs if p.kind == "ok"),
        "refused": sum(1 for p in pubs if p.kind != "ok"),
        "acknowledged but missing": len(acked_missing),
        "half-written": len(half),
        "failed for the client but stored whole": len(committed),
        "not verifiable": len(unknown),
    }
    if acked_missing:
        row.notes.append(f"{len(acked_missing)} acknowledged publishes missing")
    if half:
        row.notes.append(f"{len(half)} publishes half-written ({half[0].found})")
    if committed:
        row.notes.append(
            f"{len(committed)} publishes answered as failed were stored whole (the client may"
            " retry and get 409)"
        )


async def postgres_hung(stack: Stack, timing: Timing) -> Row:
    """Every PostgreSQL process SIGSTOPped (a hung database) under invokes and reads."""
    rec = Recorder()
    marks = await under_load(
        rec,
        [invokes(stack, rec, 6), reads(stack, rec, 2)],
        replace(timing, fault=timing.fault * HANG_FACTOR),
        lambda: blocking(stack.pause_postgres),
        lambda: blocking(stack.resume_postgres),
    )
    return _registry_row(
        "postgres hung",
        rec,
        marks,
        "invokes of modules resolved before keep working; DB-bound calls are answered 503"
        f" with Retry-After within {PROMPT_SECONDS:.0f} s (statement and acquire deadlines)",
    )


async def marketplace_down(stack: Stack, timing: Timing) -> Row:
    """The marketplace SIGKILLed while the runtimes hold the module, then started again."""
    rec = Recorder()
    restart_seconds: list[float] = []

    async def heal() -> None:
        began = time.monotonic()
        stack.start_process("marketplace")
        await blocking(lambda: stack.wait_serving(60, ["marketplace"]))
        restart_seconds.append(time.monotonic() - began)

    marks = await under_load(
        rec,
        [invokes(stack, rec, 6), reads(stack, rec, 1)],
        timing,
        lambda: blocking(lambda: stack.signal("marketplace", signal.SIGKILL)),
        heal,
    )
    row = _registry_row(
        "marketplace down",
        rec,
        marks,
        "invokes of modules resolved before keep working from the last resolution (stale"
        " within a documented bound) while the registry is down",
        reads_prompt=False,
    )
    row.facts["marketplace restart to SERVING s"] = round(restart_seconds[0], 1)
    return row


async def marketplace_hung(stack: Stack, timing: Timing) -> Row:
    """The marketplace SIGSTOPped (hung: connections accepted, nothing answered)."""
    rec = Recorder()
    marks = await under_load(
        rec,
        [invokes(stack, rec, 6), reads(stack, rec, 1)],
        replace(timing, fault=timing.fault * HANG_FACTOR),
        lambda: blocking(lambda: stack.signal("marketplace", signal.SIGSTOP)),
        lambda: blocking(lambda: stack.signal("marketplace", signal.SIGCONT)),
    )
    return _registry_row(
        "marketplace hung",
        rec,
        marks,
        "invokes of modules resolved before keep working while the registry hangs; registry"
        f" calls are answered 503 with Retry-After within {PROMPT_SECONDS:.0f} s",
    )


def _registry_row(
    name: str, rec: Recorder, marks: Marks, target: str, *, reads_prompt: bool = True
) -> Row:
    row = Row(name, target=target)
    row.count(rec.answers)
    invoked, read = rec.of("invoke"), rec.of("read")
    row.recovery_s = recovery(rec.answers, marks.healed, marks.end)
    kept = first_failure(invoked, marks.fault)
    failing = _errors_during(invoked, marks)
    row.facts["invokes kept working after the fault for s"] = (
        "the whole fault" if kept is None or kept > marks.healed - marks.fault else kept
    )
    row.facts["invoke failures during the fault"] = failing
    slow = [a for a in _during(read, marks) if a.latency > PROMPT_SECONDS]
    unclear = [
        a for a in _during(read, marks) if not a.ok and not (a.status == 503 and a.retry_after)
    ]
    row.met = failing == 0 and row.lost == 0 and row.recovery_s is not None
    if failing:
        row.notes.append(_stale_note(kept, failing))
    if reads_prompt:
        row.met = row.met and not slow and not unclear
        if slow:
            p = max(a.latency for a in slow)
            row.notes.append(
                f"{len(slow)} registry reads waited over {PROMPT_SECONDS:.0f} s (max {p:.1f} s),"
                " answered or not"
            )
        if unclear:
            kinds = sorted({a.kind for a in unclear})
            row.notes.append(f"registry reads answered {', '.join(kinds)}, not 503 + Retry-After")
    if row.recovery_s is None:
        row.notes.append("still failing at the end")
    return stamp(row, marks)


def _stale_note(kept: float | None, failing: int) -> str:
    return (
        f"invokes failed from {kept} s into the fault ({failing} failures): a resolution is"
        " reused for WASMGRID_GATEWAY_RESOLVE_CACHE_TTL_SECONDS (2 s), then resolved again,"
        " and nothing serves the last one while the registry cannot answer"
    )


async def runtime_killed(stack: Stack, timing: Timing) -> Row:
    """One runtime replica SIGKILLed under load, then started again."""
    rec = Recorder()
    victim = stack.replicas[0]

    async def heal() -> None:
        stack.start_process(victim)
        await blocking(lambda: stack.wait_serving(60, [victim]))

    marks = await under_load(
        rec,
        [invokes(stack, rec, 16)],
        timing,
        lambda: blocking(lambda: stack.signal(victim, signal.SIGKILL)),
        heal,
    )
    return _replica_row("runtime replica SIGKILLed", rec, marks)


async def runtime_stopped(stack: Stack, timing: Timing) -> Row:
    """One runtime replica SIGSTOPped (hung) under load, then SIGCONTed."""
    rec = Recorder()
    victim = stack.replicas[-1]
    marks = await under_load(
        rec,
        [invokes(stack, rec, 16)],
        timing,
        lambda: blocking(lambda: stack.signal(victim, signal.SIGSTOP)),
        lambda: blocking(lambda: stack.signal(victim, signal.SIGCONT)),
    )
    return _replica_row("runtime replica SIGSTOPped", rec, marks)


async def lossy_link(stack: Stack, timing: Timing) -> Row:
    """The proxy between gateway and runtimes delays and resets while the fault lasts."""
    rec = Recorder()
    marks = await under_load(
        rec,
        [invokes(stack, rec, 16)],
        timing,
        lambda: blocking(lambda: stack.signal("proxy", signal.SIGUSR1)),
        lambda: blocking(lambda: stack.signal("proxy", signal.SIGUSR2)),
    )
    return _replica_row("slow, lossy link gateway→runtime", rec, marks)


def _replica_row(name: str, rec: Recorder, marks: Marks) -> Row:
    row = Row(name, target="nothing lost, no wrong answer; what clients saw, counted")
    answers = rec.of("invoke")
    row.count(answers)
    row.recovery_s = recovery(answers, marks.healed, marks.end)
    row.facts["failures during the fault"] = _errors_during(answers, marks)
    row.met = row.lost == 0 and row.recovery_s is not None
    if row.lost:
        row.notes.append(f"{row.lost} wrong answers")
    if row.recovery_s is None:
        row.notes.append("still failing at the end")
    return stamp(row, marks)


FAULTS: dict[str, Callable[[Stack, Timing], Awaitable[Row]]] = {
    "redis-down": redis_down,
    "postgres-restart": postgres_restart,
    "postgres-hung": postgres_hung,
    "marketplace-down": marketplace_down,
    "marketplace-hung": marketplace_hung,
    "runtime-kill": runtime_killed,
    "runtime-stop": runtime_stopped,
}
#: Scenarios that need the proxy in the gateway→runtime path (a stack of their own).
LINK_FAULTS: dict[str, Callable[[Stack, Timing], Awaitable[Row]]] = {"lossy-link": lossy_link}
