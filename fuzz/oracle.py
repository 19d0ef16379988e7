"""What a target asserts beyond "no unexpected exception": named properties of the output."""

from __future__ import annotations


class Violation(AssertionError):
    """An input made a parser break a property its callers rely on.

    `kind` names the property (``cgi.header-ctl``): a stable id that known findings and
    reports refer to.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def require(condition: bool, kind: str, detail: str) -> None:
    """Raise :class:`Violation` `kind` unless `condition` holds."""
    if not condition:
        raise Violation(kind, detail)
