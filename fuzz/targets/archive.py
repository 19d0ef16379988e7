"""Fuzz target: the marketplace's assets archive reader (tar, tar.gz, tar.zst, zip).

The input is the archive's bytes, as a publisher uploads them. The only error a caller
handles is :class:`ArchiveError` (answered INVALID_ARGUMENT naming the entry).
Properties of an accepted archive:

- ``archive.paths``: every entry's path is relative and normalised: no leading ``/``,
  no empty, ``.`` or ``..`` component, no backslash or control character, within the
  path-length limit. The runtime unpacks these paths under its data directory.
- ``archive.unpack``: the canonical tar unpacks with tarfile's ``data`` filter, as
  the runtime unpacks it (a tree the marketplace accepts but a replica cannot unpack
  would fail every call of that version).
- ``archive.bounds``: content bytes and file count are within the limits.
- ``archive.canonical``: reading the canonical tar back gives the same entries and
  the same digest (the digest is the tree's content address: one tree, one address).
"""

from __future__ import annotations

import io
import tarfile
import tempfile

from fuzz.oracle import Violation, require
from wasmgrid.marketplace.archives import Archive, ArchiveError, Limits, read

#: Small bounds, so that the fuzzer meets them (a real publish allows far more).
LIMITS = Limits(max_bytes=64 * 1024, max_files=64, max_path_bytes=128)


def _check_paths(archive: Archive) -> None:
    for entry in archive.entries:
        path = entry.path
        normal = all(part not in ("", ".", "..") for part in path.split("/"))
        require(
            bool(path) and not path.startswith("/") and normal,
            "archive.paths",
            f"{path!r} is not a normalised relative path",
        )
        require(
            "\\" not in path and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in path),
            "archive.paths",
            f"{path!r} holds a backslash or a control character",
        )
        require(len(path.encode()) <= LIMITS.max_path_bytes, "archive.paths", f"{path!r} too long")


def _check_unpacks(archive: Archive) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        tarfile.open(fileobj=io.BytesIO(archive.canonical)) as tar,
    ):
        try:
            tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise Violation("archive.unpack", f"{type(exc).__name__}: {exc}") from None


def check(data: bytes) -> None:
    """Read the archive; check the accepted tree's properties and its canonical form."""
    try:
        archive = read(data, LIMITS)
    except ArchiveError:
        return
    _check_paths(archive)
    require(
        archive.content_bytes <= LIMITS.max_bytes and archive.file_count <= LIMITS.max_files,
        "archive.bounds",
        f"{archive.content_bytes} bytes in {archive.file_count} files",
    )
    _check_unpacks(archive)
    again = read(archive.canonical, LIMITS)
    require(
        again.entries == archive.entries and again.digest == archive.digest,
        "archive.canonical",
        f"the canonical tar of {len(archive.entries)} entries reads back differently",
    )
