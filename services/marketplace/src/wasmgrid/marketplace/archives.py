"""Assets archives: read tar, tar.gz, tar.zst or zip safely; write one canonical tar.

A version's assets arrive as an archive in any of four formats and are stored as one
canonical form: an uncompressed POSIX tar whose entries are sorted by path, every parent
directory listed, mtimes 0, owners 0/root, modes 0644/0755 (0755 for a file that had any
execute bit) and links 0777. The same tree gives the same bytes whatever archive it came
in, so the canonical tar's sha256 is the tree's content address.

Reading refuses, naming the entry: absolute paths, ``..`` components, backslashes and
control characters in names, paths longer than the limit, duplicate entries (after
normalisation, also a file and a directory at one path), devices, FIFOs and other special
files, hard links to anything but an earlier regular file, symbolic links that are
absolute or that leave the tree once every link in the archive is followed, and any
entry beneath a symbolic link. Total unpacked bytes, file count and decompressed stream
bytes are bounded before they are read, so a compression bomb stops at the cap.

Pure: bytes in, an :class:`Archive` or :class:`ArchiveError` out.
"""

from __future__ import annotations

import enum
import gzip
import hashlib
import io
import posixpath
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Protocol

import zstandard

#: Symbolic links followed while resolving one path before it counts as a loop.
MAX_LINK_HOPS = 40
#: tar header and padding bytes allowed per entry when bounding a decompressed stream.
_TAR_OVERHEAD_PER_ENTRY = 3 * tarfile.BLOCKSIZE
_READ = 1 << 20


class ArchiveError(ValueError):
    """An archive that is refused; the message names the entry and the rule."""


class Format(enum.Enum):
    """Archive formats accepted for assets, detected from the leading bytes."""

    TAR = "tar"
    TAR_GZ = "tar.gz"
    TAR_ZST = "tar.zst"
    ZIP = "zip"


class Kind(enum.Enum):
    """What an entry of the tree is."""

    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"


@dataclass(frozen=True)
class Limits:
    """Bounds on what an archive may unpack to."""

    max_bytes: int
    max_files: int
    max_path_bytes: int = 1024


@dataclass(frozen=True)
class Entry:
    """One normalised entry: a path relative to the tree's root, without ``./``."""

    path: str
    kind: Kind
    data: bytes = b""
    executable: bool = False
    target: str = ""


@dataclass(frozen=True)
class Archive:
    """A checked tree in canonical form."""

    format: Format
    entries: tuple[Entry, ...]
    #: The canonical tar.
    canonical: bytes
    #: Lowercase hex sha256 of :attr:`canonical`: the content address.
    digest: str
    #: Regular files (directories and links not counted).
    file_count: int
    #: Bytes of the regular files' contents.
    content_bytes: int


def detect(data: bytes) -> Format:
    """The format of `data` from its magic bytes (tar by its ustar header)."""
    if data[:2] == b"\x1f\x8b":
        return Format.TAR_GZ
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return Format.TAR_ZST
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return Format.ZIP
    if data[257:262] == b"ustar" or (len(data) >= 1024 and not data[:1024].strip(b"\0")):
        return Format.TAR
    raise ArchiveError("assets: not a tar, tar.gz, tar.zst or zip archive (unknown leading bytes)")


def read(data: bytes, limits: Limits) -> Archive:
    """Check `data` (any accepted format) and return its tree in canonical form."""
    fmt = detect(data)
    tree = _Tree(limits)
    if fmt is Format.ZIP:
        _read_zip(data, tree)
    else:
        _read_tar(_decompressed(data, fmt, limits), tree)
    entries = tree.finish()
    canonical = write_canonical(entries)
    files = [e for e in entries if e.kind is Kind.FILE]
    return Archive(
        format=fmt,
        entries=entries,
        canonical=canonical,
        digest=hashlib.sha256(canonical).hexdigest(),
        file_count=len(files),
        content_bytes=sum(len(e.data) for e in files),
    )


def write_canonical(entries: tuple[Entry, ...]) -> bytes:
    """The canonical tar of sorted, complete `entries` (see the module docstring)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if entry.kind is Kind.DIRECTORY:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif entry.kind is Kind.SYMLINK:
                info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.target
                tar.addfile(info)
            else:
                info.mode = 0o755 if entry.executable else 0o644
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return out.getvalue()


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Bounded(io.RawIOBase):
    """A read-only stream that fails once more than `cap` bytes have come out of it."""

    def __init__(self, inner: _Readable, cap: int) -> None:
        self.inner = inner
        self.cap = cap
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self.inner.read(len(buffer))
        self.total += len(chunk)
        if self.total > self.cap:
            raise ArchiveError(
                f"assets: the archive decompresses to more than {self.cap} bytes"
                " (the unpacked-size limit plus tar headers)"
            )
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _decompressed(data: bytes, fmt: Format, limits: Limits) -> IO[bytes]:
    cap = limits.max_bytes + (limits.max_files + 2) * _TAR_OVERHEAD_PER_ENTRY + 20 * 512
    raw: _Readable
    if fmt is Format.TAR_GZ:
        raw = gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")
    elif fmt is Format.TAR_ZST:
        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
    else:
        raw = io.BytesIO(data)
    return io.BufferedReader(_Bounded(raw, cap), _READ)


def _read_tar(stream: IO[bytes], tree: _Tree) -> None:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for info in tar:
                name = info.name
                if info.isdir():
                    tree.add(name, Kind.DIRECTORY)
                elif info.issym():
                    tree.add(name, Kind.SYMLINK, target=info.linkname)
                elif info.islnk():
                    tree.add_hardlink(name, info.linkname)
                elif info.isreg():
                    tree.check_size(name, info.size)
                    member = tar.extractfile(info)
                    assert member is not None
                    tree.add(
                        name, Kind.FILE, data=member.read(), executable=bool(info.mode & 0o111)
                    )
                else:
                    raise ArchiveError(
                        f"assets entry {name!r}: {_tar_kind(info)} entries are not allowed"
                    )
    except ArchiveError:
        raise
    except (
        tarfile.TarError,
        EOFError,
        OSError,
        ValueError,
        zlib.error,
        zstandard.ZstdError,
    ) as exc:
        raise ArchiveError(f"assets: unreadable archive ({exc})") from None


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.ischr() or info.isblk():
        return "device"
    if info.isfifo():
        return "FIFO"
    return f"type {info.type!r}"


def _read_zip(data: bytes, tree: _Tree) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                name = info.filename
                if not name:
                    raise ArchiveError("assets: a zip entry has an empty name")
                mode = info.external_attr >> 16 if info.create_system == 3 else 0
                if info.is_dir():
                    tree.add(name, Kind.DIRECTORY)
                    continue
                # No type bits (most zip writers) means a regular file.
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFLNK):
                    raise ArchiveError(f"assets entry {name!r}: special files are not allowed")
                tree.check_size(name, info.file_size)
                with zf.open(info) as member:
                    content = member.read(info.file_size + 1)
                if len(content) != info.file_size:
                    raise ArchiveError(f"assets entry {name!r}: size differs from its header")
                if stat.S_ISLNK(mode):
                    tree.add(name, Kind.SYMLINK, target=content.decode("utf-8", "replace"))
                else:
                    tree.add(name, Kind.FILE, data=content, executable=bool(mode & 0o111))
    except ArchiveError:
        raise
    # zipfile meets a damaged archive with whatever its parsing hits: a negative seek
    # (ValueError), a short struct, a bad deflate stream, an encrypted entry (RuntimeError).
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        OSError,
        EOFError,
        ValueError,
        RuntimeError,
        struct.error,
        zlib.error,
    ) as exc:
        raise ArchiveError(f"assets: unreadable zip archive ({exc})") from None


class _Tree:
    """Entries checked as they arrive; :meth:`finish` checks the links and sorts."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.entries: dict[str, Entry] = {}
        self.content_bytes = 0
        self.files = 0

    def normalise(self, raw: str) -> str:
        if not raw or raw in (".", "./"):
            return ""
        if any(ord(c) < 32 or ord(c) == 127 for c in raw):
            raise ArchiveError(f"assets entry {raw!r}: control characters in the path")
        if "\\" in raw:
            raise ArchiveError(f"assets entry {raw!r}: backslash in the path")
        if raw.startswith("/"):
            raise ArchiveError(f"assets entry {raw!r}: absolute path")
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ArchiveError(f"assets entry {raw!r}: '..' in the path")
        path = "/".join(parts)
        if len(path.encode()) > self.limits.max_path_bytes:
            raise ArchiveError(
                f"assets entry {raw[:80]!r}…: path longer than {self.limits.max_path_bytes} bytes"
            )
        return path

    def check_size(self, raw: str, size: int) -> None:
        if self.content_bytes + size > self.limits.max_bytes:
            raise ArchiveError(
                f"assets entry {raw!r}: the files unpack to more than {self.limits.max_bytes}"
                " bytes (the assets size limit)"
            )

    def add(  # noqa: C901 - one refusal per kind of unsafe archive entry
        self,
        raw: str,
        kind: Kind,
        *,
        data: bytes = b"",
        executable: bool = False,
        target: str = "",
    ) -> None:
        path = self.normalise(raw)
        if not path:
            if kind is Kind.DIRECTORY:
                return  # the root itself
            raise ArchiveError(f"assets entry {raw!r}: empty path")
        if path in self.entries:
            raise ArchiveError(f"assets entry {raw!r}: duplicate entry for {path!r}")
        if kind is Kind.FILE:
            self.check_size(raw, len(data))
            self.content_bytes += len(data)
        if kind is not Kind.DIRECTORY:
            self.files += 1
            if self.files > self.limits.max_files:
                raise ArchiveError(
                    f"assets entry {raw!r}: more than {self.limits.max_files} files"
                    " (the assets file-count limit)"
                )
        if kind is Kind.SYMLINK:
            if not target:
                raise ArchiveError(f"assets entry {raw!r}: symbolic link with an empty target")
            if target.startswith("/"):
                raise ArchiveError(f"assets entry {raw!r}: symbolic link to an absolute path")
            if any(ord(c) < 32 for c in target) or "\\" in target:
                raise ArchiveError(f"assets entry {raw!r}: bad symbolic link target")
        self.entries[path] = Entry(path, kind, data, executable, target)

    def add_hardlink(self, raw: str, target: str) -> None:
        source = self.entries.get(self.normalise(target))
        if source is None or source.kind is not Kind.FILE:
            raise ArchiveError(
                f"assets entry {raw!r}: hard link to {target!r}, which is not an earlier file"
            )
        self.add(raw, Kind.FILE, data=source.data, executable=source.executable)

    def finish(self) -> tuple[Entry, ...]:
        entries = dict(self.entries)
        for path in list(entries):
            parent = posixpath.dirname(path)
            while parent:
                found = entries.get(parent)
                if found is None:
                    entries[parent] = Entry(parent, Kind.DIRECTORY)
                elif found.kind is not Kind.DIRECTORY:
                    what = "a symbolic link" if found.kind is Kind.SYMLINK else "a file"
                    raise ArchiveError(f"assets entry {path!r}: beneath {parent!r}, {what}")
                parent = posixpath.dirname(parent)
        for entry in entries.values():
            if entry.kind is Kind.SYMLINK:
                _resolve(entries, entry)
        return tuple(entries[p] for p in sorted(entries))


def _resolve(entries: dict[str, Entry], link: Entry) -> None:
    """Follow `link` through the tree's own links; refuse one that leaves the tree."""
    pending = _components(link.target)
    where = posixpath.dirname(link.path).split("/") if "/" in link.path else []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if not where:
                raise ArchiveError(
                    f"assets entry {link.path!r}: symbolic link to {link.target!r} leaves the tree"
                )
            where.pop()
            continue
        candidate = "/".join([*where, part])
        found = entries.get(candidate)
        if found is not None and found.kind is Kind.SYMLINK:
            hops += 1
            if hops > MAX_LINK_HOPS:
                raise ArchiveError(f"assets entry {link.path!r}: symbolic link loop")
            pending = _components(found.target) + pending
            continue
        where.append(part)


def _components(target: str) -> list[str]:
    return [p for p in target.split("/") if p not in ("", ".")]
