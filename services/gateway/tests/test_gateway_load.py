"""Balancing over real runtime replicas, a replica killed under load, rate-limit precision."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from wasmgrid.api.runtime.v1 import runtime_pb2
from wasmgrid.cli.embedded import EmbeddedRedis
from wasmgrid.common.testing import Poll, free_port, poll_until
from wasmgrid.gateway.ratelimit import Decision, Limiter, Rule, sliding_window_step
from wasmgrid.runtime.testing import Runtime, by_digest

from .conftest import TEST_MODULES, Infra, RunningGateway, StartGateway


@pytest.fixture
async def replicas(infra: Infra) -> AsyncIterator[list[Runtime]]:
    """Three runtime replicas: the session one and two more for this test."""
    extra = [await infra.start_runtime(), await infra.start_runtime()]
    try:
        yield [infra.runtime, *extra]
    finally:
        for rt in extra:
            await infra.stop_runtime(rt)


async def _spread(
    gw: RunningGateway, replicas: list[Runtime], n: int, path: str, concurrency: int = 1
) -> list[int]:
    before = [await r.invocations() for r in replicas]
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem, gw.http.post(gw.url(path), data=b"x") as resp:
            assert resp.status == 200, await resp.text()

    await asyncio.gather(*(one() for _ in range(n)))
    return [await r.invocations() - b for r, b in zip(replicas, before, strict=True)]


async def test_balancing_policies_distribution(
    start_gateway: StartGateway, replicas: list[Runtime]
) -> None:
    addrs = [r.runner.address for r in replicas]
    targets = ",".join(addrs)
    hello = "/v1/run/examples/hello"

    rr = await start_gateway(runtime_targets=targets, balancer_policy="round_robin")
    assert await _spread(rr, replicas, 60, hello) == [20, 20, 20]

    weighted = f"{addrs[0]}=3,{addrs[1]},{addrs[2]}"
    wrr = await start_gateway(runtime_targets=weighted, balancer_policy="weighted_round_robin")
    assert await _spread(wrr, replicas, 60, hello) == [36, 12, 12]

    ch = await start_gateway(runtime_targets=targets, balancer_policy="consistent_hash")
    counts = await _spread(ch, replicas, 30, hello)
    assert sorted(counts) == [0, 0, 30], counts  # one digest → one warm replica

    rnd = await start_gateway(runtime_targets=targets, balancer_policy="random")
    counts = await _spread(rnd, replicas, 90, hello)
    assert sum(counts) == 90, counts
    assert min(counts) >= 10, counts

    for policy in ("least_connections", "power_of_two"):
        gw = await start_gateway(runtime_targets=targets, balancer_policy=policy)
        counts = await _spread(gw, replicas, 90, hello, concurrency=6)
        assert sum(counts) == 90, (policy, counts)
        assert min(counts) >= 5, (policy, counts)


async def _runtime_process(infra: Infra, port: int) -> tuple[asyncio.subprocess.Process, Path]:
    """A runtime replica in its own process group (so the test can SIGKILL it like a crash),
    and the file its log goes to.

    The runtime is a supervisor with a worker process per core: killing only the
    supervisor would leave the workers a graceful SIGTERM shutdown, not a crash.
    """
    log_path = infra.tmp / f"runtime-proc-{port}.log"
    env = {
        **os.environ,
        "WASMGRID_RUNTIME_GRPC_PORT": str(port),
        "WASMGRID_RUNTIME_METRICS_PORT": "0",
        "WASMGRID_RUNTIME_DATA_DIR": str(infra.tmp / f"runtime-proc-{port}"),
        "WASMGRID_RUNTIME_MARKETPLACE_ADDR": infra.market.address,
        "WASMGRID_RUNTIME_LOG_LEVEL": "WARNING",
    }
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wasmgrid.runtime",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
            start_new_session=True,
        )

    async def listening() -> bool:
        assert proc.returncode is None, f"the runtime process on :{port} exited"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    await poll_until(listening, f"the runtime process to listen on :{port}", 60, 0.1)
    return proc, log_path


@dataclass(frozen=True)
class _Answer:
    """One call of the load: which client sent it, when it started and ended, its answer."""

    client: int
    started: float
    ended: float
    status: int
    body: bytes


@dataclass(frozen=True)
class _Load:
    """What `_load_while` saw: the gateway, every answer, when the signal was sent, and
    what the signalled runtime logged (shown when an assertion fails)."""

    gw: RunningGateway
    answers: list[_Answer]
    signalled_at: float
    runtime_log: str

    def failures(self) -> list[_Answer]:
        return [a for a in self.answers if a.status != 200]

    def report(self) -> str:
        shown = "\n".join(
            f"client {a.client} {a.started - self.signalled_at:+.3f}s.."
            f"{a.ended - self.signalled_at:+.3f}s {a.status} {a.body[:300]!r}"
            for a in self.failures()
        )
        return f"{len(self.answers)} calls; failed (times from the signal):\n{shown}\n" + (
            f"runtime log:\n{self.runtime_log[-4000:]}"
        )


CLIENTS = 8


async def _load_while(
    start_gateway: StartGateway, infra: Infra, poll: Poll, sig: signal.Signals
) -> _Load:
    """8 clients call hello through a gateway over two runtime replicas, one call at a time
    each; once 40 calls were answered, the second replica's whole process group gets
    `sig`, and the load goes on until that process has exited and 40 more calls were
    answered after it did (so the end of a drain is always under load, however slow
    the machine)."""
    port = free_port()
    proc, log_path = await _runtime_process(infra, port)
    answers: list[_Answer] = []
    signalled_at = 0.0
    try:
        gw = await start_gateway(
            runtime_targets=f"{infra.runtime.runner.address},127.0.0.1:{port}",
            balancer_policy="round_robin",
            health_check_interval_seconds=0.2,
        )

        async def both_healthy() -> bool:
            return bool(gw.gateway.pool.healthy_count() == 2)

        await poll(both_healthy, "both runtime replicas to be healthy", 30)
        done = asyncio.Event()

        async def client(n: int) -> None:
            while not done.is_set():
                started = time.monotonic()
                async with gw.http.post(gw.url("/v1/run/examples/hello"), data=b"load") as resp:
                    body = await resp.read()
                answers.append(_Answer(n, started, time.monotonic(), resp.status, body))

        def answered(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return len(answers) >= n

            return check

        async def signaller() -> None:
            nonlocal signalled_at
            try:
                await poll(answered(40), "40 calls answered before the signal", 60)
                signalled_at = time.monotonic()
                os.killpg(proc.pid, sig)  # the supervisor and its workers at once
                async with asyncio.timeout(60):
                    await proc.wait()
                await poll(answered(len(answers) + 40), "40 calls answered after the exit", 60)
            finally:
                done.set()

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(signaller())
            for n in range(CLIENTS):
                tasks.create_task(client(n))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    return _Load(gw, answers, signalled_at, log_path.read_text(errors="replace"))


async def test_replica_killed_under_load_fails_only_the_calls_in_flight_on_it(
    start_gateway: StartGateway, infra: Infra, poll: Poll
) -> None:
    load = await _load_while(start_gateway, infra, poll, signal.SIGKILL)
    failures = load.failures()
    # Only calls in flight on the replica when it died may fail: none before the kill...
    assert all(a.ended >= load.signalled_at for a in failures), load.report()
    # ...and each client has one call at a time, and the first call that finds the replica
    # gone takes it out of the balancer at once, so a client fails at most once. (A call
    # sent in the moment before the gateway's transport sees the reset is in flight too:
    # it may be written to the dead socket, hence "per client", not "started before".)
    per_client = Counter(a.client for a in failures)
    assert max(per_client.values(), default=0) <= 1, load.report()

    async def marked_down() -> bool:
        return bool(load.gw.gateway.pool.healthy_count() == 1)

    await poll(marked_down, "the killed replica to be marked unhealthy", 10)


async def test_replica_stopped_gracefully_under_load_fails_nothing(
    start_gateway: StartGateway, infra: Infra, poll: Poll
) -> None:
    # SIGTERM, as Kubernetes stops a pod: the runtime turns NOT_SERVING and keeps
    # serving for its drain period (3 s by default), the gateway's health checks move
    # the traffic to the other replica, then the runtime stops. No call fails, before,
    # during or after the drain.
    load = await _load_while(start_gateway, infra, poll, signal.SIGTERM)
    assert not load.failures(), load.report()


async def _hello_ok(gw: RunningGateway) -> None:
    """Invoke examples/hello through `gw`; it must answer 200."""
    async with gw.http.post(gw.url("/v1/run/examples/hello"), data=b"x") as resp:
        assert resp.status == 200, await resp.read()


async def test_a_replica_found_unreachable_is_out_before_the_next_health_check(
    start_gateway: StartGateway, infra: Infra
) -> None:
    extra = await infra.start_runtime()
    stopped = False
    try:
        # Health checks too rare to notice anything during the test, and no Watch
        # stream: only calls can.
        gw = await start_gateway(
            runtime_targets=f"{infra.runtime.runner.address},{extra.runner.address}",
            balancer_policy="round_robin",
            health_check_interval_seconds=300,
            health_watch=False,
        )
        pool = gw.gateway.pool
        for _ in range(10):  # both serve; the retry budget fills (0.2 per call)
            await _hello_ok(gw)
        assert pool.healthy_count() == 2
        await infra.stop_runtime(extra)
        stopped = True
        for _ in range(10):
            await _hello_ok(gw)
        # The first call that picked it found the connection refused and ran on the other
        # replica; that took it out, so no later call tried it (one retry, not five).
        assert pool.budget.retries == 1
        assert pool.healthy_count() == 1
    finally:
        if not stopped:
            await infra.stop_runtime(extra)


async def test_a_call_refused_by_a_full_replica_runs_on_another_at_once(
    start_gateway: StartGateway, infra: Infra, poll: Poll
) -> None:
    # A replica with every execution slot busy refuses a call before starting it, and
    # says so in a trailer: the gateway runs the call on another replica instead of
    # answering the client 503.
    full = await infra.start_runtime(max_concurrent=1)
    try:
        gw = await start_gateway(
            runtime_targets=f"{infra.runtime.runner.address},{full.runner.address}",
            balancer_policy="round_robin",
        )
        pool = gw.gateway.pool
        for _ in range(10):  # both serve; the retry budget fills (0.2 per call)
            await _hello_ok(gw)
        spin = runtime_pb2.InvokeRequest(
            module=by_digest(TEST_MODULES["spin"]),
            limits=runtime_pb2.Limits(timeout_ms=3_000, fuel=10**10),
        )
        holding = asyncio.ensure_future(full.stub.Invoke(spin))

        async def slot_taken() -> bool:
            return (await full.stub.GetStats(runtime_pb2.GetStatsRequest())).in_flight == 1

        await poll(slot_taken, "a guest to hold the full replica's only slot")
        for _ in range(4):  # round robin: two of them pick the full replica first
            await _hello_ok(gw)
        assert not holding.done(), "the slot came free during the calls"
        stats = await full.stub.GetStats(runtime_pb2.GetStatsRequest())
        assert stats.rejected == 2
        assert pool.budget.retries == 2
        assert pool.healthy_count() == 2, "a full replica is healthy: not ejected"
        assert (await holding).outcome == runtime_pb2.OUTCOME_TIMEOUT
    finally:
        await infra.stop_runtime(full)


async def test_a_draining_replica_leaves_the_rotation_at_once_through_its_health_watch(
    start_gateway: StartGateway, infra: Infra, poll: Poll
) -> None:
    # Kubernetes stops a pod: SIGTERM, and the runtime says NOT_SERVING while it keeps
    # answering for its drain period. With checks every 300 s only the Watch stream can
    # tell the gateway in time; no call fails, none reaches the draining replica.
    extra = await infra.start_runtime(drain_seconds=5)
    gw = await start_gateway(
        runtime_targets=f"{infra.runtime.runner.address},{extra.runner.address}",
        balancer_policy="round_robin",
        health_check_interval_seconds=300,
    )
    pool = gw.gateway.pool
    for _ in range(4):  # round robin: both replicas serve
        await _hello_ok(gw)
    before = await extra.invocations()
    assert before > 0
    assert pool.healthy_count() == 2
    stopping = asyncio.create_task(extra.runner.stop(0.5))
    try:

        async def one_left() -> bool:
            return bool(pool.healthy_count() == 1)

        await poll(one_left, "the draining replica to leave the rotation", 4)
        assert not stopping.done(), "the replica stopped before the gateway saw it drain"
        for _ in range(10):
            await _hello_ok(gw)
        assert await extra.invocations() == before
        assert pool.budget.retries == 0
    finally:
        await stopping
        await infra.stop_runtime(extra)


# The precision routes cache the module's response (the limiter runs before the cache),
# and a twin route on another host (same cache key, no limit) warms it first: admitted
# requests then cost no wasm execution, so the one event loop shared by client, gateways
# and services stays responsive and the offered load stays 5x the limit throughout.


async def _warm(gw: RunningGateway, path: str) -> None:
    async with gw.http.get(gw.url(path), headers={"Host": "warm.local"}) as resp:
        assert resp.status == 200
    async with gw.http.get(gw.url(path), headers={"Host": "warm.local"}) as resp:
        assert resp.headers["X-Cache"] == "HIT"


async def _offered_load(
    gateways: list[RunningGateway], path: str, rate: float, seconds: float
) -> tuple[Counter[int], float]:
    """Send `rate` requests/s for `seconds`, round-robin over gateways; statuses and span."""
    statuses: Counter[int] = Counter()
    tasks: list[asyncio.Task[None]] = []
    n = int(rate * seconds)
    start = time.monotonic()

    async def one(gw: RunningGateway) -> None:
        async with gw.http.get(gw.url(path)) as resp:
            body = await resp.read()
            statuses[resp.status] += 1
            if resp.status == 503:
                # Only the runtime refusing at once (all execution slots busy) is
                # expected: the request passed the limiter and counts as admitted.
                assert b"runtime service:" in body, body

    last = start
    for i in range(n):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        last = time.monotonic()
        tasks.append(asyncio.create_task(one(gateways[i % len(gateways)])))
    await asyncio.gather(*tasks)
    return statuses, last - start


def _warm_route(path: str) -> str:
    """A twin of a limited route on another host: same cache key, no limit (see above)."""
    return (
        f"  - name: warm\n    host: warm.local\n    path: {path}\n    module: examples/hello\n"
        "    middleware:\n      - cache: {ttl: 60s}\n"
    )


def _record_decisions(
    limiter: Limiter, decided: list[float], answered: list[float] | None = None
) -> None:
    """Note the (monotonic) time each decision of `limiter` starts and, optionally, ends."""
    check = limiter.check

    async def timed_check(key: str, rule: Rule) -> Decision:
        decided.append(time.monotonic())
        result = await check(key, rule)
        if answered is not None:
            answered.append(time.monotonic())
        return result

    limiter.check = timed_check  # type: ignore[method-assign]  # instrumented in place


async def test_rate_limit_precision_in_memory(start_gateway: StartGateway) -> None:
    limit = 50
    path = "/limited"
    # A 3 s bucket: client, gateway and runtime share one event loop here, so a stall of
    # the loop (a busy shared machine) is also a pause of the offered load; tokens are
    # only lost if a pause outlasts the bucket.
    burst = 3 * limit
    routes = f"""
routes:
  - name: limited
    path: /limited
    module: examples/hello
    middleware:
      - rate_limit: {{algorithm: token_bucket, limit: {limit}, window: 1s, burst: {burst},
                      key: route}}
      - cache: {{ttl: 60s}}
"""
    routes += _warm_route(path)
    gw = await start_gateway(routes, near_cache_max_ttl_seconds=60)
    await _warm(gw, path)
    # The bucket's own clock decides; record when decisions were made so the expectation
    # uses the same span (the client's send times drift from them under load).
    decided: list[float] = []
    _record_decisions(gw.gateway.limiter, decided)
    seconds = 10.0
    statuses, _ = await _offered_load([gw], "/limited", rate=5 * limit, seconds=seconds)
    span = decided[-1] - decided[0]
    assert span >= seconds - 0.1, span
    # The limit over the span the limiter decided in (longer than the offered 10 s when the
    # loop stalls): the full bucket plus that span's refill.
    expected = burst + limit * span
    # A stall longer than the bucket takes to fill loses the refill past full: that much
    # less can be admitted, and no more.
    fill = burst / limit
    lost = sum(max(0.0, b - a - fill) for a, b in itertools.pairwise(decided))
    least = expected - limit * lost
    # Admitted = passed the limiter. The initial burst can meet a busy runtime, which
    # refuses at once (503, never queued); those were admitted all the same.
    admitted = statuses[200] + statuses[503]
    assert set(statuses) <= {200, 429, 503}, statuses
    assert least * 0.99 <= admitted <= expected * 1.01, (admitted, least, expected, statuses)


async def test_rate_limit_precision_through_redis_two_gateways(
    start_gateway: StartGateway, redis_url: str
) -> None:
    limit = 50
    path = "/shared"
    routes = f"""
routes:
  - name: shared
    path: /shared
    module: examples/hello
    middleware:
      - rate_limit: {{algorithm: sliding_window, limit: {limit}, window: 1s, key: global}}
      - cache: {{ttl: 60s}}
"""
    routes += _warm_route(path)
    # A generous Redis timeout: the load generator shares the gateways' event loop, and a
    # stall of that loop must not turn into fail-open decisions.
    shared = {
        "redis_url": redis_url,
        "rate_limit_redis_timeout_seconds": 2,
        "near_cache_max_ttl_seconds": 60,
    }
    one = await start_gateway(routes, **shared)
    two = await start_gateway(routes, **shared)
    await _warm(one, path)
    await _warm(two, path)
    decided: list[float] = []
    answered: list[float] = []
    for gw in (one, two):
        _record_decisions(gw.gateway.limiter, decided, answered)
    statuses, span = await _offered_load([one, two], "/shared", rate=5 * limit, seconds=10.0)
    # The reference: the pure in-process sliding-window log fed the same decisions. Redis
    # runs its script (with its own clock) somewhere between when a decision was asked
    # and when it was answered, so the reference is computed for both and brackets it;
    # they coincide when the machine is quiet. A limit that was not shared would admit
    # twice as much.
    rule = Rule("sliding_window", limit, 1.0, limit)
    references = []
    for times in (sorted(decided), sorted(answered)):
        log: deque[float] = deque()
        references.append(sum(sliding_window_step(log, t, rule).allowed for t in times))
    low, high = min(references), max(references)
    assert low >= 9 * limit, references  # the load really was 5x for ~10 windows
    admitted = statuses[200] + statuses[503]  # see the in-memory test
    assert set(statuses) <= {200, 429, 503}, statuses
    assert 0.99 * low <= admitted <= 1.01 * high, (admitted, references, span, statuses)


async def test_redis_down_fails_open_or_closed(
    start_gateway: StartGateway, redis_server: EmbeddedRedis
) -> None:
    routes = """
routes:
  - name: limited
    path: /limited
    module: examples/hello
    middleware:
      - rate_limit: {algorithm: token_bucket, limit: 5, window: 1s, key: ip}
"""
    dead = "redis://127.0.0.1:1/0"
    fail_open = await start_gateway(routes, redis_url=dead, rate_limit_fail_open=True)
    fail_closed = await start_gateway(routes, redis_url=dead, rate_limit_fail_open=False)
    async with fail_open.http.get(fail_open.url("/limited")) as resp:
        assert resp.status == 200
    async with fail_closed.http.get(fail_closed.url("/limited")) as resp:
        assert resp.status == 429
    async with fail_open.http.get(fail_open.url("/metrics")) as resp:
        text = await resp.text()
    assert 'wasmgrid_gateway_rate_limit_decisions_total{backend="redis",result="fail_open"}' in text
    assert "wasmgrid_gateway_rate_limit_backend_errors_total" in text


async def test_dns_targets_are_resolved(
    start_gateway: StartGateway, infra: Infra, poll: Poll
) -> None:
    port = infra.runtime.runner.address.rsplit(":", 1)[1]
    gw = await start_gateway(runtime_targets=f"dns:///localhost:{port}", dns_refresh_seconds=0.5)

    async def resolved() -> bool:
        return bool(gw.gateway.pool.healthy_count() >= 1)

    await poll(resolved, "localhost to resolve to a healthy runtime", 10)
    assert f"127.0.0.1:{port}" in gw.gateway.pool.balancer.endpoints
    async with gw.http.post(gw.url("/v1/run/examples/hello"), data=b"dns") as resp:
        assert resp.status == 200
        assert await resp.read() == b"DNS"
