"""Search: the name-word vocabulary (table ``name_word_trigrams``)."""

from __future__ import annotations

from wasmgrid.marketplace import search
from wasmgrid.marketplace.names import ModuleName
from wasmgrid.marketplace.store.database import Conn


async def index_name(conn: Conn, mod: ModuleName) -> None:
    """Add the words of a new module's name to the typo-correction vocabulary."""
    pairs = [(g, w) for w in search.name_words(mod.name_norm) for g in search.word_trigrams(w)]
    await conn.execute(
        "INSERT INTO name_word_trigrams (trigram, word)"
        " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        [g for g, _ in pairs],
        [w for _, w in pairs],
    )
