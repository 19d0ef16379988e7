"""The shared test helpers behave as the tests that lean on them assume."""

from __future__ import annotations

import socket

import pytest

from wasmgrid.common.testing import free_port, poll_until, wait_until


def test_free_port_can_be_bound_right_away() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


async def test_poll_until_returns_the_first_truthy_value() -> None:
    seen: list[int] = []

    async def check() -> int | None:
        seen.append(len(seen))
        return len(seen) if len(seen) >= 3 else None

    assert await poll_until(check, "three checks", interval=0) == 3


async def test_poll_until_names_what_never_happened_and_the_last_value() -> None:
    async def never() -> str:
        return ""

    with pytest.raises(AssertionError, match=r"waiting for the impossible; last: ''"):
        await poll_until(never, "the impossible", timeout=0.05, interval=0.01)


def test_wait_until_is_the_same_for_synchronous_checks() -> None:
    calls = iter([None, 0, "ready"])
    assert wait_until(lambda: next(calls), "ready", interval=0) == "ready"
    with pytest.raises(AssertionError, match="waiting for nothing"):
        wait_until(lambda: None, "nothing", timeout=0.05, interval=0.01)
