"""Value compression: none, zstd, or adaptive (zstd only where it pays), bounded decompression.

A stored value carries its codec and its raw length. Decompression reads at
most ``raw_len + 1`` bytes from a streaming reader, so a corrupt or hostile
frame (one that claims or expands to more than it should) can never allocate
more than the size the writer declared; a length mismatch is an error.
"""

from __future__ import annotations

import io
from enum import IntEnum, StrEnum

import zstandard

DEFAULT_ZSTD_LEVEL = 3
MIN_ZSTD_LEVEL = 1
MAX_ZSTD_LEVEL = 19
DEFAULT_MIN_COMPRESS_BYTES = 512
#: ADAPTIVE keeps the compressed form only if it saves at least this fraction.
MIN_SAVING = 0.05
#: Decompression reads at most this much at a time.
READ_CHUNK = 1 << 20


class Codec(IntEnum):
    """How a stored value is encoded (persisted in the shared tier: never renumber)."""

    RAW = 0
    ZSTD = 1


class CompressionMode(StrEnum):
    """A namespace's compression setting."""

    NONE = "none"
    ZSTD = "zstd"
    ADAPTIVE = "adaptive"


class CorruptValue(ValueError):
    """A stored value does not decode to its declared raw length."""


class Compressor:
    """Compresses and decompresses values; keeps one zstd context per level."""

    def __init__(self) -> None:
        self._compressors: dict[int, zstandard.ZstdCompressor] = {}
        self._decompressor = zstandard.ZstdDecompressor()

    def _zstd(self, level: int) -> zstandard.ZstdCompressor:
        ctx = self._compressors.get(level)
        if ctx is None:
            ctx = self._compressors[level] = zstandard.ZstdCompressor(
                level=level, write_content_size=True, write_checksum=False
            )
        return ctx

    def compress(
        self, value: bytes, mode: CompressionMode, level: int, min_bytes: int
    ) -> tuple[Codec, bytes]:
        """The codec and stored bytes for `value` under a namespace's settings."""
        if mode is CompressionMode.NONE or not value:
            return Codec.RAW, value
        if mode is CompressionMode.ADAPTIVE and len(value) < min_bytes:
            return Codec.RAW, value
        packed = self._zstd(level).compress(value)
        if mode is CompressionMode.ADAPTIVE and len(packed) > len(value) * (1 - MIN_SAVING):
            return Codec.RAW, value
        return Codec.ZSTD, packed

    def decompress(self, codec: int, stored: bytes, raw_len: int) -> bytes:
        """The original value; raises :class:`CorruptValue` unless exactly `raw_len` bytes."""
        if codec == Codec.RAW:
            if len(stored) != raw_len:
                raise CorruptValue(f"raw value is {len(stored)} bytes, expected {raw_len}")
            return stored
        if codec != Codec.ZSTD:
            raise CorruptValue(f"unknown codec {codec}")
        chunks: list[bytes] = []
        size = 0
        try:
            with self._decompressor.stream_reader(io.BytesIO(stored)) as reader:
                # Chunked: memory grows with what the frame really yields, never with
                # what a header claims; one byte past raw_len is enough to refuse it.
                while size <= raw_len:
                    chunk = reader.read(min(READ_CHUNK, raw_len + 1 - size))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
        except zstandard.ZstdError as exc:
            raise CorruptValue(f"zstd frame does not decode: {exc}") from None
        if size != raw_len:
            raise CorruptValue(f"zstd value decodes to {size}+ bytes, expected {raw_len}")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
