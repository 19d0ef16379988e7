"""The registry's module categories: one list for the marketplace (which accepts only
these at publish) and the gateway's pages (which offer them as filters)."""

from __future__ import annotations

#: Category slugs accepted at publish, in the order the pages offer them.
CATEGORIES = (
    "mathematics",
    "image-processing",
    "machine-learning",
    "crypto-security",
    "networking",
    "database",
    "utilities",
    "game-engine",
)
