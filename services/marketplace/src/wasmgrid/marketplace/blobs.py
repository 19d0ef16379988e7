"""Blob streaming helpers: re-chunking, and a byte-bounded cache of immutable blobs."""

from __future__ import annotations

from collections.abc import AsyncIterator

from wasmgrid.common.lru import LruMap

#: Blobs held at most, whatever their sizes.
MAX_BLOBS = 100_000


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
    """Whole blobs by digest (immutable, so never stale) within `max_bytes`, least recently
    used first out. A blob above half the budget is never held: one large download
    must not flush every hot blob."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._blobs: LruMap[str, list[bytes]] = LruMap(
            MAX_BLOBS, max_weight=max_bytes, weight=lambda pieces: sum(map(len, pieces))
        )

    @property
    def used(self) -> int:
        """Bytes held."""
        return self._blobs.weight

    def get(self, digest: str) -> list[bytes] | None:
        """The blob's pieces, or None."""
        return self._blobs.get(digest)

    def put(self, digest: str, pieces: list[bytes]) -> None:
        """Hold the blob unless it is above half the budget."""
        if sum(map(len, pieces)) <= self.max_bytes // 2:
            self._blobs.put(digest, pieces)
