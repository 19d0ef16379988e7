"""Outbox: what a stream's one writer sends, in batches bounded in bytes."""

from __future__ import annotations

import asyncio

from wasmgrid.common.outbox import Outbox


async def test_a_batch_is_everything_ready_in_order_and_waits_for_the_first() -> None:
    box: Outbox[bytes] = Outbox()
    waiting = asyncio.ensure_future(box.batch(len))
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing ready: it waits
    box.put(b"a")
    box.put(b"bb")
    assert await waiting == [b"a", b"bb"]
    assert len(box) == 0


async def test_a_batch_stays_under_its_byte_bound_but_always_takes_one() -> None:
    box: Outbox[bytes] = Outbox()
    for item in (b"x" * 6, b"y" * 3, b"z" * 2, b"w" * 20):
        box.put(item)
    assert await box.batch(len, max_bytes=10) == [b"x" * 6, b"y" * 3]
    assert await box.batch(len, max_bytes=10) == [b"z" * 2]
    assert await box.batch(len, max_bytes=10) == [b"w" * 20]  # alone, though larger


async def test_a_closed_outbox_hands_out_what_is_left_then_none() -> None:
    box: Outbox[bytes] = Outbox()
    box.put(b"last")
    box.close()
    assert await box.batch(len) == [b"last"]
    assert await box.batch(len) is None
    empty: Outbox[bytes] = Outbox()
    waiting = asyncio.ensure_future(empty.batch(len))
    await asyncio.sleep(0)
    empty.close()
    assert await waiting is None
