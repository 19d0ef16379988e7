"""Unit tests of the pure domain modules: semver, names, wasm reader and validation."""

from __future__ import annotations

import pytest
import wasmtime

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.marketplace import names, search
from wasmgrid.marketplace.semver import Requirement, SemverError, Version, resolve
from wasmgrid.marketplace.validation import ERROR, WARNING, Policy, validate_module
from wasmgrid.marketplace.wasmbinary import (
    WasmFormatError,
    read_module,
    uleb128,
    with_custom_section,
)


def test_semver_precedence() -> None:
    order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ]
    parsed = [Version.parse(v) for v in order]
    assert sorted(parsed) == parsed
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")
    for bad in ("1.0", "01.0.0", "1.0.0-01", "v1.0.0", "1.0.0-", "x" * 65):
        with pytest.raises(SemverError):
            Version.parse(bad)


@pytest.mark.parametrize(
    ("req", "yes", "no"),
    [
        ("^1.2", ["1.2.0", "1.9.9"], ["1.1.9", "2.0.0", "2.0.0-rc.1", "1.3.0-beta"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("=1.0.0", ["1.0.0"], ["1.0.1"]),
        (">=1, <2", ["1.0.0", "1.99.0"], ["2.0.0", "0.9.0"]),
        (">=1.0.0-beta, <2", ["1.0.0-beta.2", "1.5.0"], ["1.1.0-beta"]),
        ("*", ["0.0.1", "9.9.9"], ["1.0.0-rc.1"]),
        ("1.2.3", ["1.2.3", "1.9.0"], ["2.0.0"]),
    ],
)
def test_requirements(req: str, yes: list[str], no: list[str]) -> None:
    r = Requirement.parse(req)
    for v in yes:
        assert r.matches(Version.parse(v)), (req, v)
    for v in no:
        assert not r.matches(Version.parse(v)), (req, v)


def test_resolve_skips_yanked_unless_pinned() -> None:
    pool = [
        (Version.parse(v), y) for v, y in [("1.0.0", False), ("1.1.0", True), ("2.0.0-rc.1", False)]
    ]
    assert resolve(Requirement.parse("^1"), pool) == Version.parse("1.0.0")
    assert resolve(Requirement.parse("=1.1.0"), pool) == Version.parse("1.1.0")
    assert resolve(Requirement.parse("latest"), pool) == Version.parse("1.0.0")
    only_pre = [(Version.parse("3.0.0-rc.1"), False)]
    assert resolve(Requirement.parse("latest"), only_pre) == Version.parse("3.0.0-rc.1")
    for bad in (">=", "^1.x.3-rc", "1,,2", "~>1"):
        with pytest.raises(SemverError):
            Requirement.parse(bad)


def test_names() -> None:
    assert names.normalize("Foo_Bar") == names.normalize("foo-bar") == "foo-bar"
    assert names.parse_module_name("Ns/My_Mod").full_norm == "ns/my-mod"
    for bad in ("a", "-ab", "ab-", "a b", "a__b", "x" * 40, "admin"):
        with pytest.raises(InvalidArgument):
            names.check_username(bad)
    assert names.check_category("Crypto & Security") == "crypto-security"
    assert names.check_category("game_engine") == "game-engine"
    assert names.check_license("apache-2.0 OR mit") == "Apache-2.0 OR MIT"
    with pytest.raises(InvalidArgument, match="license"):
        names.check_license("GPL-2.0+ AND Proprietary-Thing")
    with pytest.raises(InvalidArgument, match="tags"):
        names.check_tags(["a", "a"])


def test_typo_correction_building_blocks() -> None:
    assert search.word_trigrams("image") == ["  i", " im", "ima", "mag", "age", "ge "]
    assert search.word_trigrams("aaaa") == ["  a", " aa", "aaa", "aa "]
    assert search.name_words("fast-tensor-hash-12") == ["fast", "tensor", "hash", "12"]
    assert search.name_words("a-b-a") == ["a", "b"]
    assert search.min_shared(6) == 4
    assert search.min_shared(5) == 3
    assert search.min_shared(1) == 1
    assert [search.words_needed(k) for k in (1, 2, 3, 4, 5, 8)] == [1, 2, 2, 3, 3, 5]
    # "imge" shares 3 of its 5 trigrams with "image": enough to correct it.
    shared = set(search.word_trigrams("imge")) & set(search.word_trigrams("image"))
    assert len(shared) >= search.min_shared(len(search.word_trigrams("imge")))


def test_fuzzy_tsquery() -> None:
    assert search.fuzzy_tsquery(["tensr"], {0: ["tensor", "tense"]}) == (
        "((tensr:* | tensor:A | tense:A))"
    )
    # Two words: both must match; the word itself is already its prefix alternative.
    assert search.fuzzy_tsquery(["imge", "resize"], {0: ["image"], 1: ["resize"]}) == (
        "((imge:* | image:A) & (resize:*))"
    )
    # Three words: any two of them.
    three = search.fuzzy_tsquery(["bloom", "filter", "cache"], {0: ["bloom"]})
    assert three.count("&") == 3
    assert three.count(" | (") == 2
    # Nothing in the vocabulary looks like any word: nothing beyond the exact search.
    assert search.fuzzy_tsquery(["zzzz"], {}) == ""
    # Corrections come from the database: anything but [a-z0-9] is dropped, not quoted.
    assert search.fuzzy_tsquery(["ab"], {0: ["a'b", "a:b", "abc"]}) == "((ab:* | abc:A))"


def test_validation_report_of_examples(repo_root: object) -> None:
    from pathlib import Path

    root = Path(str(repo_root))
    hello = validate_module((root / "examples/modules/hello/hello.wasm").read_bytes(), Policy())
    assert hello.valid
    assert hello.kind == "command"
    assert {i.module for i in hello.imports} == {"wasi_snapshot_preview1"}
    math = validate_module((root / "examples/modules/mathfn/mathfn.wasm").read_bytes(), Policy())
    assert math.valid
    assert math.kind == "reactor"
    assert "multi-value" in math.features
    assert {"fib", "add", "divmod"} <= {e.name for e in math.exports}


def test_validation_findings() -> None:
    wat = """(module
      (import "env" "f" (func))
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory 2)
      (func (export "run"))
      (@custom "producers" "\\01\\08language\\01\\04Rust\\061.80.0"))"""
    data = bytes(wasmtime.wat2wasm(wat))
    report = validate_module(data, Policy())
    codes = {f.code: f.severity for f in report.findings}
    assert codes["import.disallowed"] == ERROR
    assert "env.f" in report.errors[0].message
    assert codes["memory.unbounded"] == WARNING
    assert report.language == "Rust"
    assert not report.valid
    allowed = validate_module(data, Policy.with_allow_list(["env"]))
    assert allowed.valid
    assert allowed.kind == "reactor"
    huge = bytes(wasmtime.wat2wasm('(module (memory 20000) (func (export "f")))'))
    assert "memory.initial_too_large" in {f.code for f in validate_module(huge, Policy()).errors}
    shared = read_module(bytes(wasmtime.wat2wasm("(module (memory 1 2 shared))")))
    assert "threads" in shared.features
    assert shared.memories[0].shared


def test_reader_refuses_junk() -> None:
    for junk in (b"", b"\x00asm", b"\x00asm\x0d\x00\x01\x00", b"\x00asm\x01\x00\x00\x00\x02\xff"):
        with pytest.raises(WasmFormatError):
            read_module(junk)


def test_mutated_modules_never_crash_the_validator(repo_root: object) -> None:
    """Random byte flips and truncations give a report (maybe invalid), never an exception."""
    import random
    from pathlib import Path

    base = (Path(str(repo_root)) / "examples/modules/mathfn/mathfn.wasm").read_bytes()
    rng = random.Random(4)
    for i in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(8, len(data))] = rng.randrange(256)
        if i % 3 == 0:
            data = data[: rng.randrange(8, len(data))]
        report = validate_module(bytes(data), Policy())
        assert report.valid == (not report.errors)


async def test_rechunk_and_blob_cache() -> None:
    from collections.abc import AsyncIterator

    from wasmgrid.marketplace.blobs import BlobCache, rechunk

    async def source() -> AsyncIterator[bytes]:
        for piece in (b"abc", b"defgh", b"", b"ijklmnop", b"q"):
            yield piece

    out = [p async for p in rechunk(source(), 4)]
    assert out == [b"abcd", b"efgh", b"ijkl", b"mnop", b"q"]
    pieces = [bytes([i]) * n for i, n in enumerate((3, 10, 0, 4, 4, 1, 9, 2))]

    async def varied() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    whole = b"".join(pieces)
    for size in (1, 2, 3, 4, 5, 7, 33, 34, 100):
        out = [p async for p in rechunk(varied(), size)]
        assert b"".join(out) == whole
        assert all(isinstance(p, bytes) for p in out)
        assert [len(p) for p in out[:-1]] == [size] * (len(out) - 1)
        assert 0 < len(out[-1]) <= size
    aligned = [b"abcd", b"ef", b"gh", b"ijkl"]

    async def aligned_source() -> AsyncIterator[bytes]:
        for piece in aligned:
            yield piece

    same = [p async for p in rechunk(aligned_source(), 4)]
    assert same == [b"abcd", b"efgh", b"ijkl"]
    assert same[0] is aligned[0]
    assert same[2] is aligned[3]  # exact-size pieces: no copy

    cache = BlobCache(max_bytes=10)
    cache.put("a", [b"1234"])
    cache.put("b", [b"12", b"34"])
    assert cache.get("a") == [b"1234"]  # now most recent
    cache.put("c", [b"1234"])  # 12 > 10: evicts the least recent ("b")
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.used == 8
    cache.put("huge", [b"123456"])  # above half the budget: never cached
    assert cache.get("huge") is None


def test_uleb128_and_an_appended_custom_section_read_back() -> None:
    assert [uleb128(n) for n in (0, 127, 128, 624485)] == [
        b"\x00",
        b"\x7f",
        b"\x80\x01",
        b"\xe5\x8e\x26",
    ]
    base = bytes(wasmtime.wat2wasm('(module (func (export "f")))'))
    grown = with_custom_section(base, b"pad", bytes(200))
    assert "pad" in read_module(grown).custom_sections
    wasmtime.Module(wasmtime.Engine(), grown)  # still a valid module
