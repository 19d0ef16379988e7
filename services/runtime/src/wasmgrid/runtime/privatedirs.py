"""A runtime process's working directories, which a killed process does not leak.

A runtime keeps its guests' output files and scratch directories in a directory of its
own, on tmpfs when it can: memory. A process that is SIGKILLed (the OOM killer, a
supervisor's or an orchestrator's kill, a crash) cannot remove it, and every restart
would leave one more behind, holding whatever the calls in flight had written.

So each directory holds a lock file that its owner keeps ``flock``-ed for as long as it
lives, and a starting runtime removes each sibling directory whose lock it can take: the
kernel drops a lock when the process holding it dies, whatever PID namespace that
process ran in, so a directory is never taken from a live runtime that shares the
filesystem. A directory appears under its final name only once it is locked (it is
made under a hidden staging name and renamed), so a sweep never takes one that another
process is still setting up. Directories without a lock file (made by an older version,
or by something else) are left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: The lock file in each directory, held by its owner.
LOCK_NAME = ".owner.lock"
#: A staging directory (the owner died between making and naming it) is swept once it
#: is this old and unlocked: younger ones may be another process's, not yet locked.
STAGING_GRACE_SECONDS = 60.0


@dataclass
class PrivateDir:
    """A directory this process owns (its lock held on `lock_fd`) until :meth:`remove`."""

    path: str
    lock_fd: int

    def remove(self) -> None:
        """Delete the directory and its contents, then let the lock go."""
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self.lock_fd)


def _staging_prefix(prefix: str) -> str:
    return f".{prefix}staging-"


def claim(parent: str, prefix: str) -> PrivateDir:
    """A new directory ``<parent>/<prefix><random>``, locked by this process."""
    staging = tempfile.mkdtemp(prefix=_staging_prefix(prefix), dir=parent)
    try:
        fd = os.open(os.path.join(staging, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    final = os.path.join(parent, prefix + os.path.basename(staging)[len(_staging_prefix(prefix)) :])
    try:
        os.rename(staging, final)
    except BaseException:
        os.close(fd)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PrivateDir(final, fd)


def tree_bytes(path: str | os.PathLike[str]) -> int:
    """The bytes of the files under `path` (those that vanish meanwhile count 0)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _take_if_dead(path: str, *, missing_lock_ok: bool) -> int | None:
    """Remove `path` if no live process holds its lock; the bytes it held, or None."""
    try:
        fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        if not missing_lock_ok:
            return None
        size = tree_bytes(path)
        shutil.rmtree(path, ignore_errors=True)
        return size
    except OSError:  # another user's, or unreadable: not ours to judge
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # its owner is alive
        size = tree_bytes(path)
        shutil.rmtree(path, ignore_errors=True)
        return size
    finally:
        os.close(fd)


def sweep(parent: str, prefix: str) -> list[tuple[str, int]]:
    """Remove the directories under `parent` that dead processes left; (path, bytes) each.

    Only ``<prefix>*`` directories with an unlocked lock file, and staging directories
    older than :data:`STAGING_GRACE_SECONDS` that are not locked, are removed.
    """
    removed: list[tuple[str, int]] = []
    staging = _staging_prefix(prefix)
    now = time.time()
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        with contextlib.suppress(OSError):
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name.startswith(prefix):
                size = _take_if_dead(entry.path, missing_lock_ok=False)
            elif entry.name.startswith(staging):
                if now - entry.stat(follow_symlinks=False).st_mtime < STAGING_GRACE_SECONDS:
                    continue
                size = _take_if_dead(entry.path, missing_lock_ok=True)
            else:
                continue
            if size is not None:
                removed.append((entry.path, size))
    for path, size in removed:
        log.warning(
            "removed %s (%d bytes): left by a runtime process that died without stopping",
            path,
            size,
        )
    return removed
