"""Search building blocks that need no database: query words and trigrams.

User text never reaches SQL text: words are reduced to ``[a-z0-9]`` and passed
as parameters to ``to_tsquery``. Pages and cursors are the kit's
(:mod:`wasmgrid.common.paging`).
"""

from __future__ import annotations

import itertools
import math
import re
from enum import StrEnum

from wasmgrid.common.errors import InvalidArgument

MAX_QUERY = 200
MAX_WORDS = 8
#: Share of a query word's trigrams a vocabulary word must hold to correct it, and
#: share of the query's words a typo-tolerant match must match (pg_trgm's
#: ``pg_trgm.word_similarity_threshold`` default).
SIMILARITY_THRESHOLD = 0.6

#: Typo-tolerant name matches join a text search only when its exact (full-text)
#: matches are fewer than this: a misspelt query finds what it meant, a good one
#: does not pay for the correction.
FUZZY_BELOW = 10
#: Vocabulary words kept per query word as its corrections (most shared trigrams first).
MAX_CORRECTIONS = 8


class Sort(StrEnum):
    """Search result orders; each ends with the normalised name, so pages are stable."""

    RELEVANCE = "relevance"
    DOWNLOADS = "downloads"
    RATING = "rating"
    RECENT = "recent"
    NAME = "name"


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


def min_shared(query_trigrams: int) -> int:
    """Least trigrams a vocabulary word must share with a query word of
    `query_trigrams` trigrams to be one of its corrections (SIMILARITY_THRESHOLD)."""
    return max(1, math.ceil(query_trigrams * SIMILARITY_THRESHOLD - 1e-9))


def name_words(name_norm: str) -> list[str]:
    """The distinct words of a normalised module name, in order."""
    return list(dict.fromkeys(_WORD.findall(name_norm)))


def word_trigrams(word: str) -> list[str]:
    """pg_trgm-compatible trigrams of one word (padded with two spaces before and one
    after), in order, each once."""
    padded = f"  {word} "
    return list(dict.fromkeys(padded[i : i + 3] for i in range(len(padded) - 2)))


def words_needed(words: int) -> int:
    """Query words a typo-tolerant match must match (SIMILARITY_THRESHOLD of them)."""
    return max(1, math.ceil(words * SIMILARITY_THRESHOLD - 1e-9))


def fuzzy_tsquery(words: list[str], corrections: dict[int, list[str]]) -> str:
    """A ``to_tsquery('simple', …)`` text for the typo-tolerant search.

    Each query word matches as a prefix anywhere, or as one of its `corrections`
    (vocabulary words of module names, keyed by the word's index) in a name (weight
    A); a module must match ``words_needed`` of the query words. "" when nothing
    could match beyond the exact search.
    """
    groups = []
    for i, word in enumerate(words):
        alternatives = [f"{word}:*"] + [
            f"{c}:A" for c in corrections.get(i, []) if _WORD.fullmatch(c) and c != word
        ]
        groups.append("(" + " | ".join(alternatives) + ")")
    if not any(corrections.get(i) for i in range(len(words))):
        return ""
    need = words_needed(len(words))
    return " | ".join(
        "(" + " & ".join(combo) + ")" for combo in itertools.combinations(groups, need)
    )


def name_text(name_norm: str) -> str:
    """Searchable words of a normalised module name (separators become spaces)."""
    return name_norm.replace("-", " ")
