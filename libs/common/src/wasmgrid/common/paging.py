"""Page sizes and keyset cursors for list RPCs (``common.v1.PageRequest``).

A cursor is opaque to callers: base64 of the sort values of the last item of the page
before, bound to a hash of the request it was issued for (the query, filters and sort),
so a cursor replayed against another request is refused instead of skipping items.
Cursors carry no secret and need no signature: forging one only moves where a list
starts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from wasmgrid.common.errors import InvalidArgument

T = TypeVar("T")

#: Longest cursor accepted (a cursor this service issued is far shorter).
MAX_CURSOR_CHARS = 1024


def page_limit(requested: int, *, default: int, maximum: int, field: str = "page.limit") -> int:
    """The page size to serve: `default` for 0, `requested` up to `maximum`, else
    :class:`InvalidArgument` naming the field, the value and the maximum."""
    if requested == 0:
        return default
    if requested < 0 or requested > maximum:
        raise InvalidArgument(f"{field} {requested} is outside 1..{maximum} (0 for {default})")
    return requested


def cursor_binding(*parts: object) -> str:
    """A short hash of what a list request asked for, to bind its cursors to it."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def encode_cursor(binding: str, values: Sequence[Any]) -> str:
    """The cursor that resumes after an item with sort values `values` (JSON types)."""
    raw = json.dumps({"b": binding, "v": list(values)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(
    text: str, binding: str, arity: int, field: str = "page.cursor"
) -> list[Any] | None:
    """The sort values in `text`, or None for an empty cursor (the first page).

    Raises :class:`InvalidArgument` for a cursor this service did not issue, or one
    issued for another request (another `binding`).
    """
    if not text:
        return None
    if len(text) > MAX_CURSOR_CHARS:
        raise InvalidArgument(f"{field} is {len(text)} characters, at most {MAX_CURSOR_CHARS}")
    try:
        doc = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("v"), list):
        raise InvalidArgument(f"{field} is not a cursor issued by this service")
    if doc.get("b") != binding:
        raise InvalidArgument(
            f"{field} was issued for a different query, filter or sort; start from an empty cursor"
        )
    values: list[Any] = doc["v"]
    if len(values) != arity:
        raise InvalidArgument(f"{field} is not a cursor issued by this service")
    return values


def split_page(items: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """The first `limit` of `items` (fetched with one extra) and whether more follow."""
    return list(items[:limit]), len(items) > limit
