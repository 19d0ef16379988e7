"""Unit tests of the runtime's pure domain modules (no gRPC, no engine where possible)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.runtime.engine import EngineOptions, engine_fingerprint
from wasmgrid.runtime.limits import LimitPolicy, LimitValues, resolve_limits
from wasmgrid.runtime.modules import parse_digest
from wasmgrid.runtime.sandbox import Outcome, Signature
from wasmgrid.runtime.stats import StatsTable
from wasmgrid.runtime.store import ArtifactStore, BlobStore, DiskCache
from wasmgrid.runtime.validation import check_call, check_env

POLICY = LimitPolicy(
    defaults=LimitValues(1000, 5000, 64 << 20, 1 << 20, 1 << 16),
    maxima=LimitValues(10_000, 60_000, 1 << 30, 8 << 20, 1 << 20),
    stack_bytes=512 * 1024,
    max_table_elements=100_000,
)


def test_limits_default_clamp_and_page_rounding() -> None:
    applied = resolve_limits(LimitValues(fuel=0, memory_bytes=100_000), POLICY)
    assert applied.fuel == 1000
    assert applied.memory_bytes == 65536  # rounded down to whole pages
    clamped = resolve_limits(LimitValues(fuel=10**12, timeout_ms=10**9), POLICY)
    assert (clamped.fuel, clamped.timeout_ms) == (10_000, 60_000)
    assert resolve_limits(LimitValues(memory_bytes=1), POLICY).memory_bytes == 65536


def test_the_deadline_caps_the_timeout_but_never_below_a_millisecond() -> None:
    asked = LimitValues(timeout_ms=5000)
    assert resolve_limits(asked, POLICY, timeout_cap_ms=120).timeout_ms == 120
    assert resolve_limits(asked, POLICY, timeout_cap_ms=9000).timeout_ms == 5000
    assert resolve_limits(asked, POLICY, timeout_cap_ms=0).timeout_ms == 1
    assert resolve_limits(LimitValues(), POLICY, timeout_cap_ms=None).timeout_ms == 5000


def test_negative_limit_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=re.escape("limits.fuel must be >= 0")):
        resolve_limits(LimitValues(fuel=-1), POLICY)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ab" * 32, "ab" * 32), ("sha256:" + "AB" * 32, "ab" * 32), ("  " + "0" * 64, "0" * 64)],
)
def test_parse_digest_accepts(raw: str, expected: str) -> None:
    assert parse_digest(raw) == expected


@pytest.mark.parametrize("raw", ["", "ab" * 31, "sha512:" + "ab" * 32, "../" + "a" * 61, "g" * 64])
def test_parse_digest_refuses(raw: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape("module.digest must be 64 hex")):
        parse_digest(raw)


def test_signature_rendering_and_callability() -> None:
    assert str(Signature("divmod", ("i32", "i32"), ("i32", "i32"))) == (
        "divmod(i32, i32) -> (i32, i32)"
    )
    assert str(Signature("f", (), ())) == "f() -> ()"
    assert not Signature("g", ("externref",), ("i32",)).callable


def test_check_call_names_the_real_signature() -> None:
    fns = {"add": Signature("add", ("i32", "i32"), ("i32",))}
    assert check_call(fns, "add", [("i32", 1), ("i32", 2)], "d").name == "add"
    with pytest.raises(InvalidArgument, match=r"args\[0\] of export add\(i32, i32\) -> i32"):
        check_call(fns, "add", [("f64", 1.0), ("i32", 2)], "d")
    with pytest.raises(InvalidArgument, match="exported functions: add"):
        check_call(fns, "sub", [], "d")


def test_check_env_limits() -> None:
    assert check_env([("A", "1")]) == (("A", "1"),)
    # Sizes are UTF-8 bytes, not characters: 128 two-byte letters make a 256-byte name.
    assert check_env([("é" * 128, "ü" * 10)]) == (("é" * 128, "ü" * 10),)
    with pytest.raises(InvalidArgument, match=re.escape("env[1].name must be 1..256 bytes")):
        check_env([("A", "1"), ("é" * 129, "x")])
    with pytest.raises(InvalidArgument, match=re.escape("env is 65537 bytes in total")):
        check_env([("A", "é" * 32767)])  # 1 + 65534 bytes, plus "=" and NUL
    with pytest.raises(InvalidArgument, match=re.escape("env[2].name 'B=C' must not contain")):
        check_env([("A", "1"), ("B", "2"), ("B=C", "3")])
    with pytest.raises(InvalidArgument, match=r"env\[0\].value of 'A' must not contain NUL"):
        check_env([("A", "x\0y")])


def test_stats_table_is_bounded_and_ranks_by_invocations() -> None:
    table = StatsTable(capacity=2)
    for digest, n in (("a", 3), ("b", 1), ("c", 2)):
        for _ in range(n):
            table.record(digest, f"name-{digest}", Outcome.OK, 0.001, 10)
    assert len(table.modules) == 2  # "a" was least recently used when "c" arrived
    assert [m.digest for m in table.top(5)] == ["c", "b"]
    assert table.invocations == 6
    assert table.outcomes[Outcome.OK] == 6


def test_fingerprint_changes_with_engine_options() -> None:
    base = engine_fingerprint(EngineOptions())
    assert base == engine_fingerprint(EngineOptions())
    assert base != engine_fingerprint(EngineOptions(stack_bytes=1 << 20))


def _opened(store: ArtifactStore, digest: str) -> tuple[bytes | None, str]:
    fd, reason, _ = store.open(digest)
    if fd is None:
        return None, reason
    try:
        return os.pread(fd, 1 << 20, 0), reason
    finally:
        os.close(fd)


def test_artifact_hmac_rejects_tampering_and_other_keys(tmp_path: Path) -> None:
    digest = "cd" * 32
    good = ArtifactStore(tmp_path, b"k" * 32, "fp", 1 << 20)
    good.put(digest, b"compiled code")
    assert good.path(digest).read_bytes() == b"compiled code"  # bare: loaded by path
    assert _opened(good, digest) == (b"compiled code", "")
    other = ArtifactStore(tmp_path, b"x" * 32, "fp", 1 << 20)
    assert _opened(other, digest) == (None, "hmac")
    assert not good.path(digest).exists()
    assert not good.mac_path(digest).exists()
    good.put(digest, b"compiled code")
    good.path(digest).write_bytes(b"compiled codf")
    assert _opened(good, digest) == (None, "hmac")
    good.put(digest, b"compiled code")
    good.mac_path(digest).write_bytes(b"junk")
    assert _opened(good, digest) == (None, "corrupt")
    good.put(digest, b"compiled code")
    good.mac_path(digest).unlink()  # a crash between payload and MAC
    assert _opened(good, digest) == (None, "corrupt")
    assert _opened(good, "ef" * 32) == (None, "missing")


def test_blob_store_adopts_downloads_and_verifies_on_read(tmp_path: Path) -> None:
    import hashlib

    data = b"\0asm\x01\0\0\0"
    digest = hashlib.sha256(data).hexdigest()
    blobs = BlobStore(tmp_path, 1 << 20)
    tmp = blobs.incoming()
    tmp.write_bytes(data)
    assert blobs.adopt(digest, tmp) == blobs.path(digest)
    assert not tmp.exists()
    assert blobs.verified(digest) == blobs.path(digest)
    assert blobs.cache.bytes == len(data)
    blobs.path(digest).write_bytes(b"bitrot")
    assert blobs.verified(digest) is None
    assert not blobs.path(digest).exists()
    with pytest.raises(ValueError, match="not a sha256 hex digest"):
        blobs.path("../etc/passwd")


def test_a_worker_starting_keeps_a_siblings_download_and_clears_its_predecessors(
    tmp_path: Path,
) -> None:
    import hashlib

    data = b"\0asm\x01\0\0\0"
    digest = hashlib.sha256(data).hexdigest()
    worker0 = BlobStore(tmp_path, 1 << 20, worker=0)
    downloading = worker0.incoming()
    downloading.write_bytes(data[:4])
    BlobStore(tmp_path, 1 << 20, worker=1)  # a sibling worker process starts meanwhile
    with downloading.open("ab") as f:
        f.write(data[4:])
    assert worker0.adopt(digest, downloading) == worker0.path(digest)
    assert worker0.verified(digest) == worker0.path(digest)
    left = worker0.incoming()
    left.write_bytes(b"half a download")
    # Worker 0 exits mid-download; the one started in its place clears what it left.
    restarted = BlobStore(tmp_path, 1 << 20, worker=0)
    assert not left.exists()
    assert restarted.cache.bytes == len(data)  # downloads in progress are not cache bytes
    assert restarted.verified(digest) == restarted.path(digest)


def test_disk_cache_evicts_oldest_beyond_its_bound(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=250)
    for i in range(4):
        cache.put(tmp_path / f"f{i}", b"x" * 100)
    assert cache.bytes <= 250
    assert (tmp_path / "f3").exists()
    assert not (tmp_path / "f0").exists()


def test_settings_refuse_placeholder_keys_and_defaults_above_maxima() -> None:
    from pydantic import ValidationError

    from wasmgrid.runtime.settings import RuntimeSettings

    with pytest.raises(ValidationError, match="not a placeholder"):
        RuntimeSettings.model_validate({"artifact_key": "changeme"})
    with pytest.raises(ValidationError, match="above WASMGRID_RUNTIME_MAX_FUEL"):
        RuntimeSettings.model_validate({"default_fuel": 10**12})
    ok = RuntimeSettings.model_validate(
        {"artifact_key": "x" * 32, "default_fuel": 5, "max_fuel": 5}
    )
    assert ok.grpc_port == 50051
    assert ok.metrics_port == 9091
    assert not ok.allow_inline
