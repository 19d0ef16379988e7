"""Semantic Versioning 2.0.0: parsing, precedence, requirements and resolution.

Requirement syntax (Cargo-like): ``^1.2``, ``~1.2.3``, ``=1.0.0``, ``>=1, <2``
(comma = and), ``*``, ``latest``, and a bare version (same as caret). Partial
versions fill missing parts with zero for comparison and widen caret/tilde the
way Cargo does. A prerelease version only matches a comparator that names the
same major.minor.patch with a prerelease (so ``^1`` never picks ``2.0.0-rc.1``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import total_ordering

MAX_VERSION_LENGTH = 64
MAX_REQUIREMENT_LENGTH = 200

# ASCII digits and \Z, not \d and $: \d matches every script's digits ('1٠' would read
# as 10) and $ matches before a final newline.
_NUM = r"0|[1-9][0-9]*"
_IDENT = r"[0-9A-Za-z-]+"
_VERSION = re.compile(
    rf"^(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?"
    rf"(?:\+(?P<build>{_IDENT}(?:\.{_IDENT})*))?\Z"
)
_PARTIAL = re.compile(
    rf"^(?P<major>{_NUM})(?:\.(?P<minor>{_NUM}|\*|x|X)(?:\.(?P<patch>{_NUM}|\*|x|X))?)?"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?(?:\+{_IDENT}(?:\.{_IDENT})*)?\Z"
)
_OP = re.compile(r"^(>=|<=|>|<|=|\^|~)?\s*(.*)\Z", re.DOTALL)
_MAX_PART = 2**63 - 1


class SemverError(ValueError):
    """A version or requirement that does not parse; the message says why."""


@total_ordering
@dataclass(frozen=True)
class Version:
    """A parsed semver version; ordering is semver precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse a full ``MAJOR.MINOR.PATCH[-PRE][+BUILD]`` string."""
        if len(text) > MAX_VERSION_LENGTH:
            raise SemverError(f"is {len(text)} characters, at most {MAX_VERSION_LENGTH}")
        m = _VERSION.match(text)
        if not m:
            raise SemverError(
                f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])"
            )
        pre = tuple(m.group("pre").split(".")) if m.group("pre") else ()
        for ident in pre:
            if ident.isdigit() and len(ident) > 1 and ident[0] == "0":
                raise SemverError(f"{text!r}: numeric prerelease identifier {ident!r} has a 0")
        parts = [int(m.group(k)) for k in ("major", "minor", "patch")]
        if any(p > _MAX_PART for p in parts):
            raise SemverError(f"{text!r}: a number exceeds {_MAX_PART}")
        return cls(parts[0], parts[1], parts[2], pre, m.group("build") or "")

    @property
    def is_prerelease(self) -> bool:
        return bool(self.pre)

    @property
    def core(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def precedence_key(self) -> str:
        """The version without build metadata: equal keys mean equal precedence."""
        base = f"{self.major}.{self.minor}.{self.patch}"
        return f"{base}-{'.'.join(self.pre)}" if self.pre else base

    def __str__(self) -> str:
        key = self.precedence_key()
        return f"{key}+{self.build}" if self.build else key

    def _cmp_key(self) -> tuple[object, ...]:
        if not self.pre:
            return (*self.core, 1, ())
        ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (*self.core, 0, ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._cmp_key() == other._cmp_key()

    def __hash__(self) -> int:
        return hash(self._cmp_key())

    def __lt__(self, other: Version) -> bool:
        return self._cmp_key() < other._cmp_key()


@dataclass(frozen=True)
class Comparator:
    """One ``op version`` term; `parts` is how many of major/minor/patch were given."""

    op: str
    version: Version
    parts: int

    def matches(self, v: Version) -> bool:
        lo, hi = self._bounds()
        if v < lo:
            return False
        return hi is None or v < hi

    def _bounds(self) -> tuple[Version, Version | None]:
        """Half-open [lo, hi) range of this comparator (hi None = unbounded)."""
        b, parts = self.version, self.parts
        zero = Version(0, 0, 0, ("0",))  # lowest possible version
        # The first version above every one the given parts match (=1.2 → 1.3.0-0).
        above = _next_precedence(b) if parts == 3 else _bump(b, parts - 1)
        if self.op == "=":
            return (b if parts == 3 else Version(*_floor(b))), above
        if self.op == ">":
            return above, None
        if self.op == ">=":
            return b, None
        if self.op == "<":
            return zero, b
        if self.op == "<=":
            return zero, above
        if self.op == "~":
            return b, _bump(b, min(parts, 2) - 1)
        # caret: bump the leftmost non-zero of the given parts
        if b.major > 0 or parts == 1:
            return b, _bump(b, 0)
        return b, _bump(b, 1 if b.minor > 0 or parts == 2 else 2)


def _floor(v: Version) -> tuple[int, int, int]:
    return v.core


def _bump(v: Version, index: int) -> Version:
    """The first version above every version sharing `v`'s first index+1 parts (a -0 floor)."""
    if index == 0:
        return Version(v.major + 1, 0, 0, ("0",))
    if index == 1:
        return Version(v.major, v.minor + 1, 0, ("0",))
    return Version(v.major, v.minor, v.patch + 1, ("0",))


def _next_precedence(v: Version) -> Version:
    """The smallest version strictly greater than `v`."""
    if v.pre:
        return Version(*v.core, (*v.pre, "0"))
    return Version(v.major, v.minor, v.patch + 1, ("0",))


def _comparator(term: str) -> Comparator | None:
    """One comma-separated term (``^1.2``, ``>=1``); None for a wildcard (matches all)."""
    m = _OP.match(term)
    assert m is not None
    op, rest = m.group(1) or "^", m.group(2).strip()
    if rest in ("*", "x", "X"):
        if op not in ("^", ">="):
            raise SemverError(f"{term!r}: wildcard only makes sense alone")
        return None
    pm = _PARTIAL.match(rest)
    if not pm:
        raise SemverError(f"{term!r} is not a version comparator (e.g. ^1.2, >=1, <2)")
    parts = 1
    minor = patch = 0
    if pm.group("minor") not in (None, "*", "x", "X"):
        parts, minor = 2, int(pm.group("minor"))
        if pm.group("patch") not in (None, "*", "x", "X"):
            parts, patch = 3, int(pm.group("patch"))
    pre = tuple(pm.group("pre").split(".")) if pm.group("pre") else ()
    if pre and parts < 3:
        raise SemverError(f"{term!r}: a prerelease needs a full MAJOR.MINOR.PATCH")
    return Comparator(op, Version(int(pm.group("major")), minor, patch, pre), parts)


@dataclass(frozen=True)
class Requirement:
    """A conjunction of comparators, or `latest` (no comparators, latest=True)."""

    comparators: tuple[Comparator, ...]
    latest: bool = False
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """Parse a requirement; empty, ``*`` and ``latest`` match any release."""
        raw = text.strip()
        if len(raw) > MAX_REQUIREMENT_LENGTH:
            raise SemverError(f"is {len(raw)} characters, at most {MAX_REQUIREMENT_LENGTH}")
        if raw in ("", "latest"):
            return cls((), latest=True, text=raw or "latest")
        if raw in ("*", "x", "X"):
            return cls((), text=raw)
        comps: list[Comparator] = []
        for term in raw.split(","):
            term = term.strip()
            if not term:
                raise SemverError(f"{text!r} has an empty term between commas")
            comp = _comparator(term)
            if comp is not None:
                comps.append(comp)
        return cls(tuple(comps), text=raw)

    @property
    def exact(self) -> Version | None:
        """The pinned version when the requirement is a single ``=x.y.z``."""
        if len(self.comparators) == 1:
            c = self.comparators[0]
            if c.op == "=" and c.parts == 3:
                return c.version
        return None

    def matches(self, v: Version) -> bool:
        if not all(c.matches(v) for c in self.comparators):
            return False
        if v.is_prerelease:
            # Prereleases only when a comparator opts into this exact major.minor.patch.
            return any(c.version.pre and c.version.core == v.core for c in self.comparators)
        return True


def resolve(requirement: Requirement, candidates: Iterable[tuple[Version, bool]]) -> Version | None:
    """The highest matching version; yanked ones (flag True) only when pinned exactly.

    `latest` picks the highest non-yanked release, or the highest non-yanked
    prerelease when there is no release.
    """
    pinned = requirement.exact
    pool: Sequence[tuple[Version, bool]] = list(candidates)
    if pinned is not None:
        hits = [v for v, _ in pool if v == pinned]
        return hits[0] if hits else None
    live = [v for v, yanked in pool if not yanked]
    if requirement.latest:
        releases = [v for v in live if not v.is_prerelease]
        chosen = releases or live
        return max(chosen) if chosen else None
    matching = [v for v in live if requirement.matches(v)]
    return max(matching) if matching else None
