"""The assets archive reader: every format, the canonical form, and each refusal named."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import pytest
import zstandard

from wasmgrid.marketplace.archives import ArchiveError, Format, Kind, Limits, detect, read

LIMITS = Limits(max_bytes=1 << 20, max_files=100)


def tar_of(*members: tuple[str, str, bytes | str], compress: str = "") -> bytes:
    """A tar of (name, type, data-or-link-target) members: type f, d, l (symlink), h, c, p."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "f":
                assert isinstance(payload, bytes)
                info.size = len(payload)
                info.mode = 0o600
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {
                "d": tarfile.DIRTYPE,
                "l": tarfile.SYMTYPE,
                "h": tarfile.LNKTYPE,
                "c": tarfile.CHRTYPE,
                "p": tarfile.FIFOTYPE,
            }[kind]
            if kind in "lh":
                assert isinstance(payload, str)
                info.linkname = payload
            tar.addfile(info)
    raw = out.getvalue()
    if compress == "gz":
        return gzip.compress(raw, mtime=0)
    if compress == "zst":
        return zstandard.ZstdCompressor().compress(raw)
    return raw


def zip_of(*members: tuple[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return out.getvalue()


TREE = (("data/words.txt", "f", b"alpha\nbeta\n"), ("README", "f", b"hi"))


@pytest.mark.parametrize("compress", ["", "gz", "zst"])
def test_every_format_gives_the_same_canonical_tar_and_digest(compress: str) -> None:
    plain = read(tar_of(*TREE), LIMITS)
    other = read(tar_of(*reversed(TREE), compress=compress), LIMITS)
    from_zip = read(zip_of(("README", b"hi"), ("./data/words.txt", b"alpha\nbeta\n")), LIMITS)
    assert other.digest == plain.digest == from_zip.digest
    assert other.canonical == plain.canonical
    assert [e.path for e in plain.entries] == ["README", "data", "data/words.txt"]
    assert plain.file_count == 2
    assert plain.content_bytes == 13
    assert from_zip.format is Format.ZIP
    assert (
        detect(tar_of(*TREE, compress=compress)).value
        == ({"": "tar", "gz": "tar.gz", "zst": "tar.zst"}[compress])
    )


def test_the_canonical_tar_has_fixed_times_owners_and_modes() -> None:
    archive = read(tar_of(*TREE, ("bin", "d", b""), ("bin/tool", "f", b"x")), LIMITS)
    with tarfile.open(fileobj=io.BytesIO(archive.canonical)) as tar:
        members = tar.getmembers()
    assert [(m.name, m.mtime, m.uid, m.mode) for m in members] == [
        ("README", 0, 0, 0o644),
        ("bin", 0, 0, 0o755),
        ("bin/tool", 0, 0, 0o644),
        ("data", 0, 0, 0o755),
        ("data/words.txt", 0, 0, 0o644),
    ]


def test_links_inside_the_tree_are_kept() -> None:
    archive = read(
        tar_of(("lib/a.txt", "f", b"a"), ("lib/alias", "l", "a.txt"), ("top", "l", "lib/../lib")),
        LIMITS,
    )
    kinds = {e.path: (e.kind, e.target) for e in archive.entries}
    assert kinds["lib/alias"] == (Kind.SYMLINK, "a.txt")
    assert kinds["top"] == (Kind.SYMLINK, "lib/../lib")


def test_a_hard_link_to_an_earlier_file_becomes_a_copy() -> None:
    archive = read(tar_of(("a", "f", b"same"), ("b", "h", "a")), LIMITS)
    assert {e.path: e.data for e in archive.entries} == {"a": b"same", "b": b"same"}


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ((("../escape", "f", b"x"),), "assets entry '../escape': '..' in the path"),
        ((("a/../../escape", "f", b"x"),), "assets entry 'a/../../escape': '..' in the path"),
        ((("/etc/passwd", "f", b"x"),), "assets entry '/etc/passwd': absolute path"),
        (
            (("out", "l", "../../etc"),),
            "assets entry 'out': symbolic link to '../../etc' leaves the tree",
        ),
        (
            (("abs", "l", "/etc/passwd"),),
            "assets entry 'abs': symbolic link to an absolute path",
        ),
        (
            (("d", "l", "."), ("s", "l", "d/x/../..")),
            "assets entry 's': symbolic link to 'd/x/../..' leaves the tree",
        ),
        ((("a", "l", "b"), ("b", "l", "a")), "assets entry 'a': symbolic link loop"),
        (
            (("link", "l", "dir"), ("dir", "d", b""), ("link/file", "f", b"x")),
            "assets entry 'link/file': beneath 'link', a symbolic link",
        ),
        ((("dev", "c", b""),), "assets entry 'dev': device entries are not allowed"),
        ((("fifo", "p", b""),), "assets entry 'fifo': FIFO entries are not allowed"),
        (
            (("a.txt", "f", b"1"), ("./a.txt", "f", b"2")),
            "assets entry './a.txt': duplicate entry for 'a.txt'",
        ),
        (
            (("h", "h", "missing"),),
            "assets entry 'h': hard link to 'missing', which is not an earlier file",
        ),
        ((("a\\b", "f", b"x"),), "assets entry 'a\\\\b': backslash in the path"),
    ],
)
def test_a_bad_entry_is_refused_by_name(
    members: tuple[tuple[str, str, bytes | str], ...], message: str
) -> None:
    with pytest.raises(ArchiveError) as caught:
        read(tar_of(*members), LIMITS)
    assert str(caught.value) == message


def test_a_zip_symlink_out_of_the_tree_is_refused() -> None:
    with pytest.raises(ArchiveError) as caught:
        read(zip_of(("a", b"x"), symlinks={"out": "../../etc/passwd"}), LIMITS)
    assert (
        str(caught.value)
        == "assets entry 'out': symbolic link to '../../etc/passwd' leaves the tree"
    )


def test_a_zip_with_a_duplicate_entry_is_refused() -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = zip_of(("a", b"1"), ("a", b"2"))
    with pytest.raises(ArchiveError) as caught:
        read(data, LIMITS)
    assert str(caught.value) == "assets entry 'a': duplicate entry for 'a'"


def test_the_byte_and_file_caps_hold_before_anything_big_is_read() -> None:
    small = Limits(max_bytes=100, max_files=2)
    with pytest.raises(ArchiveError) as caught:
        read(tar_of(("big", "f", b"x" * 101)), small)
    assert str(caught.value) == (
        "assets entry 'big': the files unpack to more than 100 bytes (the assets size limit)"
    )
    with pytest.raises(ArchiveError) as caught:
        read(tar_of(("a", "f", b""), ("b", "f", b""), ("c", "f", b"")), small)
    assert str(caught.value) == "assets entry 'c': more than 2 files (the assets file-count limit)"
    long_name = "d/" * 600 + "f"
    with pytest.raises(ArchiveError, match="path longer than 1024 bytes"):
        read(tar_of((long_name, "f", b"")), LIMITS)


def test_a_compression_bomb_stops_at_the_decompressed_cap() -> None:
    # A gzip of 64 MiB of zeros after a valid first block: never decompressed whole.
    bomb = gzip.compress(tar_of(("a", "f", b"x"))[:512] + b"\0" * (64 << 20), mtime=0)
    with pytest.raises(ArchiveError) as caught:
        read(bomb, Limits(max_bytes=1000, max_files=2))
    # 1000 bytes + 3 tar blocks for each of 2 + 2 entries + 20 blocks of end padding.
    assert str(caught.value) == (
        "assets: the archive decompresses to more than 17384 bytes"
        " (the unpacked-size limit plus tar headers)"
    )


def test_unknown_bytes_and_a_truncated_archive_are_refused() -> None:
    with pytest.raises(ArchiveError) as caught:
        read(b"not an archive at all", LIMITS)
    assert str(caught.value) == (
        "assets: not a tar, tar.gz, tar.zst or zip archive (unknown leading bytes)"
    )
    truncated = tar_of(("a", "f", b"x" * 5000))[:1500]
    with pytest.raises(ArchiveError, match=r"^assets: unreadable archive"):
        read(truncated, LIMITS)


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def test_a_damaged_zip_is_refused_as_unreadable() -> None:
    # Fuzz finding: bytes cut from inside a member leave the central directory's offsets
    # pointing before the data (zipfile raised ValueError: negative seek value).
    whole = _zip({"a.txt": b"x" * 200, "b.txt": b"y" * 200})
    damaged = whole[:100] + whole[212:]
    with pytest.raises(ArchiveError, match="unreadable zip archive"):
        read(damaged, LIMITS)


def test_a_zip_entry_without_a_name_is_refused() -> None:
    # Fuzz finding: zipfile's is_dir() raised IndexError on an empty name.
    with pytest.raises(ArchiveError, match="empty name"):
        read(_zip({"": b"x"}), LIMITS)
