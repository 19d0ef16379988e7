"""The fuzz targets: which parser each one drives, what it instruments, its seed corpus.

Each target is a module ``fuzz.targets.<name>`` with ``check(data: bytes) -> None``:
it feeds `data` to the parser and returns when the outcome is one the parser's callers
handle (a value with the properties they rely on, or the parser's own error type); any
other exception, or a :class:`fuzz.oracle.Violation`, is a finding. This registry does
not import the target modules: the fuzzing entry point imports them under atheris's
instrumentation, which only sees modules imported after it is set up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent.parent
CORPUS_DIR = FUZZ_DIR / "corpus"


@dataclass(frozen=True)
class Target:
    """One parser of untrusted input under fuzzing."""

    name: str
    #: What is fuzzed and who feeds it untrusted bytes.
    what: str
    #: Modules (and their submodules) whose Python code atheris instruments for coverage.
    instrument: tuple[str, ...]
    #: Longest input libFuzzer generates (bytes).
    max_len: int
    #: Non-empty for a slot with no code to fuzz yet: why, and what will fill it.
    pending: str = ""

    @property
    def module(self) -> str:
        """The module holding this target's ``check``."""
        return f"fuzz.targets.{self.name}"

    @property
    def corpus(self) -> Path:
        """The committed seed corpus (read-only while fuzzing)."""
        return CORPUS_DIR / self.name

    def check(self) -> Callable[[bytes], None]:
        """The target's ``check`` (imports the parser: after instrumentation, if any)."""
        check: Callable[[bytes], None] = importlib.import_module(self.module).check
        return check


TARGETS: tuple[Target, ...] = (
    Target(
        "wasm",
        "the marketplace's publish-time validator and security scan (wasmtime validation"
        " + the binary reader and instruction decoder): every published module",
        (
            "wasmgrid.marketplace.validation",
            "wasmgrid.marketplace.wasmbinary",
            "wasmgrid.marketplace.wasminstr",
        ),
        64 * 1024,
    ),
    Target(
        "routes",
        "the gateway's routes-file loader (YAML → validated route table) and the matcher:"
        " an operator's file, reloaded while the gateway runs",
        ("wasmgrid.gateway.routes", "wasmgrid.common.units"),
        8 * 1024,
    ),
    Target(
        "cgi",
        "the gateway's CGI response parser: a guest module's stdout becomes an HTTP response",
        ("wasmgrid.gateway.cgi",),
        8 * 1024,
    ),
    Target(
        "multipart",
        "the gateway's multipart publish reader (PUT /v1/modules/…, parts 'metadata' and"
        " 'module') with aiohttp's multipart parser under it: any client",
        ("wasmgrid.gateway.api.upload", "aiohttp.multipart"),
        8 * 1024,
    ),
    Target(
        "semver",
        "the marketplace's version and requirement parser and resolver: versions at"
        " publish, requirements in every invoke URL",
        ("wasmgrid.marketplace.semver",),
        512,
    ),
    Target(
        "archive",
        "the marketplace's assets archive reader (tar, tar.gz, tar.zst, zip → one checked,"
        " canonical tree): every publish with assets",
        ("wasmgrid.marketplace.archives",),
        64 * 1024,
    ),
)

BY_NAME = {t.name: t for t in TARGETS}


def runnable() -> list[Target]:
    """Targets with code to fuzz."""
    return [t for t in TARGETS if not t.pending]


def get(name: str) -> Target:
    """The target called `name`; KeyError naming the choices."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no fuzz target {name!r} (choose from {', '.join(BY_NAME)})") from None
