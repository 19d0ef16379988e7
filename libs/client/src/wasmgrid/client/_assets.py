"""A version's assets as an upload: an archive file as it is, a directory packed first."""

from __future__ import annotations

import contextlib
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: Archive formats the registry reads, by their leading bytes.
_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"PK\x03\x04", b"PK\x05\x06")


def pack_directory(root: Path, dest: Path) -> None:
    """Write `root`'s tree to `dest` as tar.gz: paths relative to `root`, sorted, links
    kept as links (the registry refuses one that leaves the tree), owners and times
    dropped (the registry stores a canonical form anyway)."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    with tarfile.open(dest, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            base = Path(dirpath)
            for name in sorted(dirnames + filenames):
                path = base / name
                arcname = path.relative_to(root).as_posix()
                tar.add(path, arcname=arcname, recursive=False, filter=clean)


def is_archive(path: Path) -> bool:
    """Whether the file starts like a tar, tar.gz, tar.zst or zip archive."""
    with path.open("rb") as f:
        head = f.read(262)
    return head.startswith(_MAGIC) or head[257:262] == b"ustar"


@contextlib.contextmanager
def assets_file(source: os.PathLike[str] | str) -> Iterator[Path]:
    """The archive to upload for `source`: the file itself, or a directory packed as a
    temporary tar.gz (removed on exit). ValueError naming what is wrong."""
    path = Path(source)
    if path.is_dir():
        with tempfile.TemporaryDirectory(prefix="wasmgrid-assets-") as tmp:
            packed = Path(tmp) / "assets.tar.gz"
            pack_directory(path, packed)
            yield packed
        return
    if not path.is_file():
        raise ValueError(f"assets {path}: no such file or directory")
    if not is_archive(path):
        raise ValueError(f"assets {path}: not a directory or a tar, tar.gz, tar.zst or zip archive")
    yield path
