"""Local disk state: content-addressed module blobs and HMAC-signed compiled artifacts.

Both are caches (the marketplace is the source of truth and compiled code can be
rebuilt), so a missing, corrupt or foreign file is simply ignored and replaced.
Names are only ever sha256 hex digests and engine fingerprints, never user input.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ARTIFACT_MAGIC = b"WGA1"
_MAC_BYTES = 32
KEY_FILE = "artifact.key"


def _check_digest(digest: str) -> str:
    if not _HEX64.match(digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return digest


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync-free, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_or_create_key(data_dir: Path, configured: str) -> bytes:
    """The artifact HMAC key: the configured one, else one generated once and kept (0600)."""
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        key = path.read_bytes().strip()
        if len(key) >= 32:
            return key
        log.warning("artifact key file %s is too short; generating a new key", path)
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    log.info("generated a new artifact HMAC key in %s", path)
    return key


class DiskCache:
    """Files under one directory, bounded in total bytes; oldest-modified evicted first."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        self.bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())

    def put(self, path: Path, data: bytes) -> None:
        old = path.stat().st_size if path.exists() else 0
        _write_atomic(path, data)
        self.bytes += len(data) - old
        if self.bytes > self.max_bytes:
            self._evict(keep=path)

    def remove(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            path.unlink()
            self.bytes -= size
        except FileNotFoundError:
            pass

    def _evict(self, keep: Path) -> None:
        files = sorted(
            (p for p in self.root.rglob("*") if p.is_file() and p != keep),
            key=lambda p: p.stat().st_mtime,
        )
        for p in files:
            if self.bytes <= self.max_bytes:
                break
            self.remove(p)


class BlobStore:
    """Verified module bytes, one file per sha256 digest."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.cache = DiskCache(root, max_bytes)

    def path(self, digest: str) -> Path:
        d = _check_digest(digest)
        return self.cache.root / d[:2] / d

    def get(self, digest: str) -> bytes | None:
        """The blob, or None when absent or no longer matching its digest."""
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            log.warning("blob %s on disk does not match its digest; discarding", digest)
            self.cache.remove(path)
            return None
        return data

    def put(self, digest: str, data: bytes) -> None:
        """Store bytes already verified against `digest`."""
        self.cache.put(self.path(digest), data)


class ArtifactStore:
    """Serialized compiled modules keyed by (engine fingerprint, digest), each with an HMAC.

    ``wasmtime.Module.deserialize`` trusts its input completely, so an artifact is
    only handed to it when its HMAC (over fingerprint, digest and payload) verifies
    under our key. Anything else (tampered, written under another key or engine
    fingerprint, truncated) is deleted and the module is recompiled.
    """

    def __init__(self, root: Path, key: bytes, fingerprint: str, max_bytes: int) -> None:
        self.key = key
        self.fingerprint = fingerprint
        self.cache = DiskCache(root, max_bytes)

    def path(self, digest: str) -> Path:
        return self.cache.root / self.fingerprint / f"{_check_digest(digest)}.cwasm"

    def _mac(self, digest: str, payload: bytes) -> bytes:
        h = hmac.new(self.key, digestmod=hashlib.sha256)
        h.update(self.fingerprint.encode() + b"\0" + digest.encode() + b"\0")
        h.update(payload)
        return h.digest()

    def get(self, digest: str) -> tuple[bytes | None, str]:
        """(payload, "") when valid; (None, why) when absent ("missing") or rejected."""
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None, "missing"
        head = len(_ARTIFACT_MAGIC) + _MAC_BYTES
        if len(data) < head or not data.startswith(_ARTIFACT_MAGIC):
            reason = "corrupt"
        else:
            mac, payload = data[len(_ARTIFACT_MAGIC) : head], data[head:]
            if hmac.compare_digest(mac, self._mac(digest, payload)):
                os.utime(path)  # recently used: evicted last
                return payload, ""
            reason = "hmac"
        log.warning(
            "compiled artifact rejected; recompiling",
            extra={"digest": digest, "reason": reason},
        )
        self.cache.remove(path)
        return None, reason

    def put(self, digest: str, payload: bytes) -> None:
        mac = self._mac(digest, payload)
        self.cache.put(self.path(digest), _ARTIFACT_MAGIC + mac + bytes(payload))
