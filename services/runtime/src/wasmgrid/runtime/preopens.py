"""Directories a call's guest can see: read-only assets and a private scratch directory.

A guest has no filesystem unless a call asks for one. Assets are a tree unpacked once per
replica (:mod:`wasmgrid.runtime.assets`) and preopened read-only (``fs_mutable=False``:
wasmtime refuses every write, create, rename or delete beneath it with ``EPERM``,
whatever the host's file modes). Scratch is a new empty directory
per call, preopened writable and removed once the guest has stopped, whatever the outcome.

wasmtime has no per-directory quota, so the scratch caps are enforced like the stdout
cap: at every epoch tick the call's directory is measured (bytes of its files and the
number of entries) and a guest past either cap is stopped with ``SCRATCH_LIMIT``. Between
two ticks a guest can overshoot by what it writes in one tick, so the scratch root should
be a size-bounded filesystem (tmpfs by default); the host's disk is never the one filled.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import wasmtime


@dataclass(frozen=True)
class Preopen:
    """A host directory the guest sees at `guest_path`."""

    host_path: str
    guest_path: str
    writable: bool = False


@dataclass(frozen=True)
class ScratchRequest:
    """A call's private writable directory and its caps."""

    #: Host directory the call's directory is made in.
    parent: str
    guest_path: str
    max_bytes: int
    max_files: int


class ScratchUsage:
    """Measures one scratch directory (called from the epoch callback)."""

    __slots__ = ("bytes", "files", "max_bytes", "max_files", "path")

    def __init__(self, path: str, max_bytes: int, max_files: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.bytes = 0
        self.files = 0

    def measure(self) -> None:
        """Count the entries and the bytes of the regular files (allocated, not apparent:
        a sparse file costs what it stores)."""
        total = 0
        entries = 0
        stack = [self.path]
        while stack:
            with contextlib.suppress(OSError), os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    with contextlib.suppress(OSError):
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            st = entry.stat(follow_symlinks=False)
                            total += max(st.st_size if st.st_blocks else 0, st.st_blocks * 512)
        self.bytes = total
        self.files = entries

    def over(self) -> bool:
        """Measure now; whether a cap is exceeded."""
        self.measure()
        return self.bytes > self.max_bytes or self.files > self.max_files

    def describe(self) -> str:
        """The cap that was broken, for the call's message."""
        if self.bytes > self.max_bytes:
            return (
                f"scratch space exceeded its limit of {self.max_bytes} bytes"
                f" ({self.bytes} bytes written); guest stopped"
            )
        return (
            f"scratch space exceeded its limit of {self.max_files} files"
            f" ({self.files} entries); guest stopped"
        )


def preopen(wasi: wasmtime.WasiConfig, preopens: Sequence[Preopen]) -> None:
    """Give the guest each directory at its guest path (read-only unless `writable`)."""
    for p in preopens:
        wasi.preopen_dir(p.host_path, p.guest_path, fs_mutable=p.writable)


@contextlib.contextmanager
def scratch_directory(
    request: ScratchRequest | None,
) -> Iterator[tuple[Preopen, ScratchUsage] | None]:
    """A new empty directory for one call (None when not asked for), removed on exit
    whatever happened."""
    if request is None:
        yield None
        return
    path = os.path.join(request.parent, f"scratch-{secrets.token_hex(8)}")
    os.mkdir(path, 0o700)
    try:
        yield (
            Preopen(path, request.guest_path, writable=True),
            ScratchUsage(path, request.max_bytes, request.max_files),
        )
    finally:
        shutil.rmtree(path, ignore_errors=True)
