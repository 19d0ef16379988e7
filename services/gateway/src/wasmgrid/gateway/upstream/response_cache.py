"""What the response cache stores and under which key: pure values, no I/O.

A response is cached only when it is a 2xx (not a 206) without ``Set-Cookie`` or
``Cache-Control: no-store|private|no-cache``, within the size limit; its key holds the
module digest, so a new publish is a new key.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class CachedResponse:
    """A response as stored in the cache service."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def encode(self) -> bytes:
        meta = json.dumps({"s": self.status, "h": self.headers}, separators=(",", ":")).encode()
        return struct.pack(">I", len(meta)) + meta + self.body

    @classmethod
    def decode(cls, data: bytes) -> CachedResponse | None:
        """None for bytes that are not an entry we wrote (treated as a miss)."""
        try:
            (n,) = struct.unpack(">I", data[:4])
            meta = json.loads(data[4 : 4 + n])
            headers = [(str(k), str(v)) for k, v in meta["h"]]
            return cls(int(meta["s"]), headers, data[4 + n :])
        except (struct.error, ValueError, KeyError, TypeError):
            return None


def response_cache_key(
    digest: str,
    method: str,
    path: str,
    query: str,
    body: bytes,
    vary: Sequence[tuple[str, str]],
) -> str:
    """The cache key: digest + method + path + query + body + vary headers, hashed.

    One SHA-256 over the length of every part (so no two different requests frame to
    the same bytes) followed by the parts, the body included as is.
    """
    parts = [digest.encode(), method.upper().encode(), path.encode(), query.encode()]
    parts.extend(f"{name.lower()}={value}".encode() for name, value in vary)
    lengths = [len(part) for part in parts]
    lengths.append(len(body))
    h = hashlib.sha256(struct.pack(f">{len(lengths)}Q", *lengths))
    h.update(b"".join(parts))
    h.update(body)
    return f"r:{digest[:16]}:{h.hexdigest()}"


def cacheable(status: int, headers: Sequence[tuple[str, str]], body: bytes, limit: int) -> bool:
    """Whether a response may be stored: a 2xx but 206, no cookie, no cache veto, small."""
    if not 200 <= status < 300 or status == 206 or len(body) > limit:
        return False
    for name, value in headers:
        lower = name.lower()
        if lower == "set-cookie":
            return False
        if lower == "cache-control" and any(
            d in value.lower() for d in ("no-store", "private", "no-cache")
        ):
            return False
    return True
