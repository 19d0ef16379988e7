"""Blob streaming helpers: re-chunking and a byte-bounded LRU of immutable blobs."""

from __future__ import annotations

from collections.abc import AsyncIterator


def rechunk(source: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """Re-slice a byte stream into pieces of exactly `size` (the last may be shorter).

    Pieces of exactly `size` pass through untouched (the usual case: stored chunks
    and client chunks are both 1 MiB); otherwise each output byte is copied once,
    or twice when it straddles two input pieces.
    """

    async def gen() -> AsyncIterator[bytes]:
        pending = bytearray()
        async for piece in source:
            if not pending and len(piece) == size:
                yield piece
                continue
            view = memoryview(piece)
            if pending:
                take = size - len(pending)
                pending += view[:take]
                view = view[take:]
                if len(pending) < size:
                    continue
                yield bytes(pending)
                pending.clear()
            while len(view) >= size:
                yield bytes(view[:size])
                view = view[size:]
            pending += view
        if pending:
            yield bytes(pending)

    return gen()


class BlobCache:
    """A byte-bounded LRU of whole blobs (they are immutable, so never stale)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self._items: dict[str, list[bytes]] = {}

    def get(self, digest: str) -> list[bytes] | None:
        pieces = self._items.pop(digest, None)
        if pieces is not None:
            self._items[digest] = pieces  # most recently used last
        return pieces

    def put(self, digest: str, pieces: list[bytes]) -> None:
        size = sum(len(p) for p in pieces)
        if size > self.max_bytes // 2 or digest in self._items:
            return
        self._items[digest] = pieces
        self.used += size
        while self.used > self.max_bytes:
            old = next(iter(self._items))
            self.used -= sum(len(p) for p in self._items.pop(old))
