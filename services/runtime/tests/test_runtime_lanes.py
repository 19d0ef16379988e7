"""The inline lane: short guests run on the event loop, longer ones are re-run on a thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.common.testing import poll_until
from wasmgrid.runtime.testing import Runtime, RuntimeFactory, example_module, inline, wat_file

WAT = Path(__file__).parent / "wat"
REPO = Path(__file__).resolve().parents[3]
HEADER = b"Content-Type: text/plain; charset=utf-8\n\n"


def lanes() -> dict[str, float]:
    return {
        lane: REGISTRY.get_sample_value("wasmgrid_runtime_lane_total", {"lane": lane}) or 0.0
        for lane in ("inline", "spilled", "thread")
    }


def delta(before: dict[str, float]) -> dict[str, float]:
    after = lanes()
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


async def test_a_short_guest_is_answered_inline(runtime: Runtime) -> None:
    before = lanes()
    r = await runtime.stub.Invoke(
        pb.InvokeRequest(module=inline(example_module(REPO, "hello")), stdin=b"abc")
    )
    assert r.outcome == pb.OUTCOME_OK
    assert r.output.stdout == HEADER + b"ABC"
    assert delta(before) == {"inline": 1}


async def test_a_guest_past_the_budget_is_rerun_on_a_thread_with_the_same_answer(
    make_runtime: RuntimeFactory,
) -> None:
    rt = await make_runtime(inline_fuel=10_000)
    body = b"spill me " * 20_000  # ~180 KB: ~4M fuel, far past a 10k budget
    before = lanes()
    r = await rt.stub.Invoke(
        pb.InvokeRequest(module=inline(example_module(REPO, "hello")), stdin=body)
    )
    assert r.outcome == pb.OUTCOME_OK
    assert r.output.stdout == HEADER + body.upper()
    assert r.execution.fuel_consumed > 10_000  # the run that answered had the real fuel
    assert delta(before) == {"spilled": 1}


async def test_a_callers_own_fuel_limit_below_the_budget_is_final(runtime: Runtime) -> None:
    before = lanes()
    r = await runtime.stub.Invoke(
        pb.InvokeRequest(
            module=inline(wat_file(WAT / "infinite_loop.wat")), limits=pb.Limits(fuel=50_000)
        )
    )
    assert r.outcome == pb.OUTCOME_FUEL_EXHAUSTED
    assert "fuel limit of 50000" in r.trap_message
    assert delta(before) == {"inline": 1}


async def on_a_thread(before: dict[str, float], lane: str) -> None:
    """Until the guest of the call in flight has gone to a worker thread by `lane`."""

    async def dispatched() -> bool:
        return delta(before).get(lane) == 1

    await poll_until(dispatched, f"the guest to run on a worker thread ({lane})")


async def test_the_event_loop_keeps_serving_while_a_long_guest_runs(runtime: Runtime) -> None:
    health = health_pb2_grpc.HealthStub(runtime.channel)
    before = lanes()
    loop_call = asyncio.ensure_future(
        runtime.stub.Invoke(
            pb.InvokeRequest(
                module=inline(wat_file(WAT / "infinite_loop.wat")),
                limits=pb.Limits(fuel=10**12, timeout_ms=1500),
            )
        )
    )
    await on_a_thread(before, "spilled")
    for _ in range(5):
        answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    answered_while_running = not loop_call.done()
    r = await loop_call
    assert r.outcome == pb.OUTCOME_TIMEOUT
    assert answered_while_running, "health was answered only after the guest finished"


async def test_budget_zero_runs_every_call_on_a_thread(make_runtime: RuntimeFactory) -> None:
    rt = await make_runtime(inline_fuel=0)
    before = lanes()
    r = await rt.stub.Invoke(
        pb.InvokeRequest(module=inline(example_module(REPO, "hello")), stdin=b"x")
    )
    assert r.output.stdout == HEADER + b"X"
    assert delta(before) == {"thread": 1}


async def test_a_module_that_keeps_spilling_goes_straight_to_a_thread(
    make_runtime: RuntimeFactory,
) -> None:
    rt = await make_runtime(inline_fuel=10_000)
    hello = inline(example_module(REPO, "hello"))
    body = b"long " * 20_000
    before = lanes()
    for _ in range(6):
        r = await rt.stub.Invoke(pb.InvokeRequest(module=hello, stdin=body))
        assert r.output.stdout == HEADER + body.upper()
    # Two spills make it a long module; the next four calls skip the inline attempt.
    assert delta(before) == {"spilled": 2, "thread": 4}
    # Every 16th call of a long module tries inline again (the 12th from here: 4 went
    # straight to a thread already); once one finishes inline, the module is short again.
    for _ in range(16):
        await rt.stub.Invoke(pb.InvokeRequest(module=hello, stdin=b"short"))
    assert delta(before) == {"spilled": 2, "thread": 4 + 11, "inline": 5}


async def test_a_guest_that_can_sleep_in_a_host_call_never_blocks_the_loop(
    runtime: Runtime,
) -> None:
    health = health_pb2_grpc.HealthStub(runtime.channel)
    before = lanes()
    sleeper = asyncio.ensure_future(
        runtime.stub.Invoke(
            pb.InvokeRequest(
                module=inline(wat_file(WAT / "sleep.wat")), limits=pb.Limits(timeout_ms=5000)
            )
        )
    )
    await on_a_thread(before, "thread")
    assert not sleeper.done()
    answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert not sleeper.done(), "health was answered only after the 2 s sleep"
    r = await sleeper
    assert r.outcome == pb.OUTCOME_OK
    assert delta(before) == {"thread": 1}


async def test_a_guest_asleep_past_its_deadline_is_answered_timeout_by_the_backstop(
    runtime: Runtime,
) -> None:
    r = await runtime.stub.Invoke(
        pb.InvokeRequest(
            module=inline(wat_file(WAT / "sleep.wat")), limits=pb.Limits(timeout_ms=200)
        )
    )
    assert r.outcome == pb.OUTCOME_TIMEOUT
    assert "backstop" in r.trap_message
