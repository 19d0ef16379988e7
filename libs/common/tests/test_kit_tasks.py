"""cancel_and_wait: stopping background loops."""

from __future__ import annotations

import asyncio

import pytest

from wasmgrid.common.tasks import cancel_and_wait


async def test_every_task_is_cancelled_and_awaited_and_none_is_skipped() -> None:
    stopped: list[str] = []

    async def loop(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append(name)

    a, b = asyncio.create_task(loop("a")), asyncio.create_task(loop("b"))
    await asyncio.sleep(0)
    await cancel_and_wait(a, None, b)
    assert sorted(stopped) == ["a", "b"]
    assert a.cancelled()
    assert b.cancelled()


async def test_a_task_that_fails_while_stopping_is_not_hidden() -> None:
    async def crashes_on_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    task = asyncio.create_task(crashes_on_cancel())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel_and_wait(task)
