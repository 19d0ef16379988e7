"""Findings already reported and scheduled for a fix, each with its regression test.

libFuzzer stops at the first crash, so a finding that is easy to reach would hide every
other one until it is fixed. While a finding is listed here, a fuzz run counts its
occurrences (reported beside the run, never hidden) and goes on; ``--strict`` stops at
it like at any other. Each entry names the owning package's regression test, marked
``xfail(strict=True)``: when the fix lands that test passes, pytest reports the strict
xfail as a failure, and the entry is removed here together with the marker
(``fuzz/tests`` also fails, since the reproducer below no longer raises).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from fuzz.oracle import Violation


@dataclass(frozen=True)
class KnownFinding:
    """One known finding: which failures it covers and where it is tracked."""

    id: str
    target: str
    summary: str
    #: ``path::test_name`` of the strict-xfail regression test.
    regression: str
    #: The smallest input known to reproduce it.
    reproducer: bytes
    #: A Violation of this kind, or an exception of one of these types ...
    kind: str = ""
    exc_types: tuple[type[BaseException], ...] = ()
    #: ... whose message holds this, raised through a frame whose ``file:function``
    #: holds `where` (when set).
    message: str = ""
    where: str = ""

    def matches(self, exc: BaseException) -> bool:
        """Whether `exc` is this finding."""
        if self.kind:
            return isinstance(exc, Violation) and exc.kind == self.kind
        if not isinstance(exc, self.exc_types) or self.message not in str(exc):
            return False
        if not self.where:
            return True
        frames = traceback.extract_tb(exc.__traceback__)
        return any(self.where in f"{frame.filename}:{frame.name}" for frame in frames)


KNOWN: tuple[KnownFinding, ...] = ()


def classify(target: str, exc: BaseException) -> KnownFinding | None:
    """The known finding of `target` that `exc` is, if any."""
    for finding in KNOWN:
        if finding.target == target and finding.matches(exc):
            return finding
    return None
