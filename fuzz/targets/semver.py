"""Fuzz target: the marketplace's semver parser, requirement parser and resolver.

The input is NUL-separated text (undecodable bytes replaced): a version, a
requirement, then candidate versions. The only error a caller handles is
:class:`SemverError` (answered INVALID_ARGUMENT naming the field). Properties:

- ``semver.round-trip``: an accepted version prints back as the exact text given. A
  version is stored as its printed form, so text that parses to another version (a
  trailing newline, digits from another script) publishes a version nobody asked for.
- ``semver.requirement-digits``: an accepted requirement's numbers are ASCII digits;
  ``^1٠`` must not mean ``^10``.
- ``semver.order``: equal precedence keys ⇔ equal versions; ordering is total.
- ``semver.exact``: a pinned requirement (``=x.y.z``) matches its own version.
- ``semver.resolve``: resolution picks a candidate that is live (or pinned) and matches.
"""

from __future__ import annotations

from fuzz.oracle import require
from wasmgrid.marketplace.semver import Requirement, SemverError, Version, resolve


def _version(text: str) -> Version | None:
    try:
        v = Version.parse(text)
    except SemverError:
        return None
    require(str(v) == text, "semver.round-trip", f"{text!r} parses as {str(v)!r}")
    return v


def check(data: bytes) -> None:
    """Parse the version, the requirement and the candidates; resolve; check properties."""
    fields = data.decode("utf-8", "replace").split("\x00")
    version = _version(fields[0])
    requirement: Requirement | None = None
    if len(fields) > 1:
        try:
            requirement = Requirement.parse(fields[1])
        except SemverError:
            requirement = None
    if requirement is not None:
        foreign = [c for c in fields[1] if c.isdigit() and not c.isascii()]
        require(not foreign, "semver.requirement-digits", f"{fields[1]!r} accepted")
        pinned = requirement.exact
        if pinned is not None:
            require(requirement.matches(pinned), "semver.exact", f"{fields[1]!r}")
    candidates = [v for v in (_version(t) for t in fields[2:]) if v is not None]
    if version is not None:
        candidates.append(version)
    for a in candidates:
        for b in candidates:
            same_key = a.precedence_key() == b.precedence_key()
            require(same_key == (a == b), "semver.order", f"{a} vs {b}")
            require((a < b) + (b < a) + (a == b) == 1, "semver.order", f"{a} vs {b}")
    if requirement is not None:
        pool = [(v, i % 2 == 1) for i, v in enumerate(candidates)]
        chosen = resolve(requirement, pool)
        if chosen is not None:
            pinned_hit = requirement.exact is not None and chosen == requirement.exact
            live = any(v == chosen and not yanked for v, yanked in pool)
            require(pinned_hit or live, "semver.resolve", f"{chosen} is yanked")
            require(
                requirement.latest or pinned_hit or requirement.matches(chosen),
                "semver.resolve",
                f"{chosen} does not match {requirement.text!r}",
            )
