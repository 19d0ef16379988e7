"""Search building blocks that need no database: query words, trigrams, cursors.

User text never reaches SQL text: words are reduced to ``[a-z0-9]`` and passed
as parameters to ``to_tsquery``; cursors are signed-free but validated JSON
bound to a hash of the query, filters and sort they were issued for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from wasmgrid.common.errors import InvalidArgument

MAX_QUERY = 200
MAX_WORDS = 8
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
#: Minimum word similarity for a typo-tolerant name match (pg_trgm's
#: ``pg_trgm.word_similarity_threshold`` default).
SIMILARITY_THRESHOLD = 0.6

#: Typo-tolerant name matches join a text search only when its exact (full-text)
#: matches are fewer than this: a misspelt query finds what it meant, a good one
#: does not pay for a trigram scan.
FUZZY_BELOW = 10

SORTS = ("relevance", "downloads", "rating", "recent", "name")
_WORD = re.compile(r"[a-z0-9]+")


def query_words(query: str) -> list[str]:
    """Lowercase alphanumeric words of the query, deduplicated, at most MAX_WORDS."""
    if len(query) > MAX_QUERY:
        raise InvalidArgument(f"query is {len(query)} characters, at most {MAX_QUERY}")
    words = list(dict.fromkeys(_WORD.findall(query.lower())))
    return words[:MAX_WORDS]


def prefix_tsquery(words: list[str]) -> str:
    """A ``to_tsquery('simple', …)`` text matching every word as a prefix."""
    return " & ".join(f"{w}:*" for w in words)


def plain_tsquery(words: list[str]) -> str:
    """A ``to_tsquery('english', …)`` text (stemmed, stop words dropped by PostgreSQL)."""
    return " & ".join(words)


def trigrams(text: str) -> set[str]:
    """pg_trgm-compatible trigrams: each alphanumeric word padded with two spaces
    before and one after, lowercased."""
    out: set[str] = set()
    for word in _WORD.findall(text.lower()):
        padded = f"  {word} "
        out.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return out


def word_similarity(query: str, name: str) -> float:
    """Share of the query's trigrams that occur in `name` (0..1): a typo-tolerant
    "does the name contain something like the query" measure."""
    tq = trigrams(query)
    if not tq:
        return 0.0
    return len(tq & trigrams(name)) / len(tq)


def min_shared(query_trigrams: int) -> int:
    """Least shared trigrams for a name to pass SIMILARITY_THRESHOLD."""
    return max(1, math.ceil(query_trigrams * SIMILARITY_THRESHOLD - 1e-9))


def name_text(name_norm: str) -> str:
    """Searchable words of a normalised module name (separators become spaces)."""
    return name_norm.replace("-", " ")


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the sort values of the last row of the previous page."""

    binding: str
    values: list[Any]

    def encode(self) -> str:
        raw = json.dumps({"b": self.binding, "v": self.values}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def binding(*parts: object) -> str:
    """A short hash binding a cursor to the request it came from."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def decode_cursor(text: str, expected_binding: str, arity: int, field: str) -> list[Any] | None:
    """The keyset values in `text`, or None for the first page."""
    if not text:
        return None
    if len(text) > 1024:
        raise InvalidArgument(f"{field} is {len(text)} characters, at most 1024")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument(f"{field} is not a cursor issued by this service") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("v"), list):
        raise InvalidArgument(f"{field} is not a cursor issued by this service")
    if doc.get("b") != expected_binding:
        raise InvalidArgument(
            f"{field} was issued for a different query, filter or sort; start from an empty cursor"
        )
    values: list[Any] = doc["v"]
    if len(values) != arity:
        raise InvalidArgument(f"{field} is not a cursor issued by this service")
    return values


def page_limit(limit: int, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """The effective page size (0 = default), refusing values over the maximum."""
    if limit == 0:
        return default
    if limit > maximum:
        raise InvalidArgument(f"page.limit {limit} is above the maximum {maximum}")
    return limit
