"""What one writer sends on a stream, taken in batches.

A stream that carries many independent calls (the runtime's call stream) is written by
one task; whatever has become ready since its last write goes out in the next message,
so a busy stream costs one write per batch instead of one per item.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: A batch stays under this many bytes (an item larger than that goes alone): well below
#: gRPC's message size bound, so a batch never fails where its items alone would not.
MAX_BATCH_BYTES = 4 * 1024 * 1024


class Outbox(Generic[T]):
    """Items to send, in order; :meth:`batch` waits for at least one."""

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self.closed = False

    def put(self, item: T) -> None:
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        """No more items: :meth:`batch` returns what is left, then None."""
        self.closed = True
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)

    async def batch(
        self, size: Callable[[T], int], max_bytes: int = MAX_BATCH_BYTES
    ) -> list[T] | None:
        """The items ready now, oldest first, up to `max_bytes` by `size` (at least
        one); None once the outbox is closed and empty."""
        items = self._items
        while not items:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        first = items.popleft()
        out = [first]
        total = size(first)
        while items and total + (next_size := size(items[0])) <= max_bytes:
            out.append(items.popleft())
            total += next_size
        return out
