"""Local disk state: content-addressed module blobs and HMAC-signed compiled artifacts.

Nothing here holds a whole module in memory: downloads are written as they arrive and
renamed into place once verified, files are hashed in chunks, and artifacts are loaded
by wasmtime straight from their file.

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
import shutil
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ARTIFACT_MAGIC = b"WGA2"
#: The MAC file's magic of a serialized component (wasmtime loads the two kinds with
#: different calls; the kind is covered by the MAC like the payload).
_COMPONENT_MAGIC = b"WGC2"
#: Read size when hashing files.
_CHUNK = 1024 * 1024
_MAC_BYTES = 32
KEY_FILE = "artifact.key"


def _check_digest(digest: str) -> str:
    if not _HEX64.match(digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return digest


def _write_atomic(path: Path, data: bytes | bytearray) -> None:
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


def _finished_files(root: Path) -> Iterator[Path]:
    """The cache files under `root`: dot names are writes in progress (temporary files,
    the downloads' directory), skipped, and so is a directory gone while walked."""
    for parent, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d[0] != "."]
        for name in files:
            if name[0] != ".":
                yield Path(parent, name)


def _size(path: Path) -> int:
    # Another worker process sharing the directory may rename or evict it meanwhile.
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


class DiskCache:
    """Files under one directory, bounded in total bytes; oldest-modified evicted first.

    Worker processes of one runtime share the directory: a file another process renames
    or evicts while this one looks is skipped, never an error.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        self.bytes = sum(_size(p) for p in _finished_files(root))

    def put(self, path: Path, data: bytes | bytearray) -> None:
        old = path.stat().st_size if path.exists() else 0
        _write_atomic(path, data)
        self.bytes += len(data) - old
        if self.bytes > self.max_bytes:
            self._evict(keep=path)

    def adopt(self, path: Path, tmp: Path) -> None:
        """Rename a finished file `tmp` (under this cache's root) to `path`."""
        old = path.stat().st_size if path.exists() else 0
        path.parent.mkdir(parents=True, exist_ok=True)
        size = tmp.stat().st_size
        os.replace(tmp, path)
        self.bytes += size - old
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
        files = sorted((p for p in _finished_files(self.root) if p != keep), key=_mtime)
        for p in files:
            if self.bytes <= self.max_bytes:
                break
            self.remove(p)


class BlobStore:
    """Verified module bytes, one file per sha256 digest, written as they stream in.

    The worker processes of one runtime share the store, each downloading into a
    directory of its own (``.incoming/worker-<n>``): a worker that starts clears only
    its own, the downloads its predecessor (same worker number, exited) left behind,
    never those a sibling has in progress.
    """

    def __init__(self, root: Path, max_bytes: int, *, worker: int = 0) -> None:
        self.incoming_dir = root / ".incoming" / f"worker-{worker}"
        shutil.rmtree(self.incoming_dir, ignore_errors=True)
        self.incoming_dir.mkdir(parents=True, exist_ok=True)
        self.cache = DiskCache(root, max_bytes)

    def path(self, digest: str) -> Path:
        d = _check_digest(digest)
        return self.cache.root / d[:2] / d

    def verified(self, digest: str) -> Path | None:
        """The blob's path, or None when absent or no longer matching its digest.

        The file is hashed in chunks, never read whole into memory.
        """
        path = self.path(digest)
        try:
            with open(path, "rb") as f:
                actual = file_sha256(f.fileno())
        except FileNotFoundError:
            return None
        if actual != digest:
            log.warning("blob %s on disk does not match its digest; discarding", digest)
            self.cache.remove(path)
            return None
        return path

    def incoming(self) -> Path:
        """A fresh temporary path in the store for a download in progress."""
        self.incoming_dir.mkdir(parents=True, exist_ok=True)
        return self.incoming_dir / f".{secrets.token_hex(8)}.tmp"

    def adopt(self, digest: str, tmp: Path) -> Path:
        """Move a downloaded file already verified against `digest` into the store."""
        path = self.path(digest)
        self.cache.adopt(path, tmp)
        return path


def file_sha256(fd: int) -> str:
    """The sha256 hex digest of an open file, read in chunks from its start."""
    h = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, _CHUNK, offset):
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


class ArtifactStore:
    """Serialized compiled modules keyed by (engine fingerprint, digest), each with an HMAC.

    ``wasmtime.Module.deserialize_file`` trusts its input completely, so an artifact is
    only handed to it when its HMAC (over fingerprint, digest and payload) verifies
    under our key. The payload is the bare serialized module (``<digest>.cwasm``, so
    wasmtime maps it from disk without a copy in memory) and the HMAC sits beside it
    (``<digest>.mac``). Anything else (tampered, written under another key or engine
    fingerprint, truncated, a MAC without its payload) is deleted and the module is
    recompiled.
    """

    def __init__(self, root: Path, key: bytes, fingerprint: str, max_bytes: int) -> None:
        self.key = key
        self.fingerprint = fingerprint
        self.cache = DiskCache(root, max_bytes)

    def path(self, digest: str) -> Path:
        return self.cache.root / self.fingerprint / f"{_check_digest(digest)}.cwasm"

    def mac_path(self, digest: str) -> Path:
        return self.path(digest).with_suffix(".mac")

    def _mac(self, digest: str, magic: bytes) -> hmac.HMAC:
        h = hmac.new(self.key, digestmod=hashlib.sha256)
        h.update(self.fingerprint.encode() + b"\0" + digest.encode() + b"\0")
        if magic != _ARTIFACT_MAGIC:  # a module's MAC is what it was before components
            h.update(magic + b"\0")
        return h

    def open(self, digest: str) -> tuple[int | None, str, bool]:
        """(an open descriptor of the verified payload, "", whether it is a component) or
        (None, why, False): why is "missing", "corrupt" or "hmac". The caller loads from
        the descriptor (the file it verified, even if the path is replaced meanwhile) and
        closes it."""
        path, mac_path = self.path(digest), self.mac_path(digest)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None, "missing", False
        reason = "corrupt"
        try:
            stored = mac_path.read_bytes()
            magic = stored[: len(_ARTIFACT_MAGIC)]
            if len(stored) == len(_ARTIFACT_MAGIC) + _MAC_BYTES and magic in (
                _ARTIFACT_MAGIC,
                _COMPONENT_MAGIC,
            ):
                h = self._mac(digest, magic)
                offset = 0
                while chunk := os.pread(fd, _CHUNK, offset):
                    h.update(chunk)
                    offset += len(chunk)
                if hmac.compare_digest(stored[len(_ARTIFACT_MAGIC) :], h.digest()):
                    os.utime(path)  # recently used: evicted last
                    return fd, "", magic == _COMPONENT_MAGIC
                reason = "hmac"
        except FileNotFoundError:
            pass
        os.close(fd)
        log.warning(
            "compiled artifact rejected; recompiling",
            extra={"digest": digest, "reason": reason},
        )
        self.remove(digest)
        return None, reason, False

    def remove(self, digest: str) -> None:
        self.cache.remove(self.path(digest))
        self.cache.remove(self.mac_path(digest))

    def put(self, digest: str, payload: bytes | bytearray, *, component: bool = False) -> None:
        """Store a serialized module or component: the payload first, then its MAC (a
        crash between leaves a payload without MAC, which is refused and recompiled)."""
        magic = _COMPONENT_MAGIC if component else _ARTIFACT_MAGIC
        h = self._mac(digest, magic)
        h.update(payload)
        self.cache.put(self.path(digest), payload)
        self.cache.put(self.mac_path(digest), magic + h.digest())
