"""Unit tests of the layers' seams: the search statement builder, cursors, the publish
stream translation and principals. No database: statements are inspected as text."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.common.errors import InvalidArgument, PermissionDenied
from wasmgrid.marketplace import convert
from wasmgrid.marketplace.records import (
    Metadata,
    Principal,
    PublishMetadata,
    SearchHit,
    SearchQuery,
    Token,
    TokenLookup,
)
from wasmgrid.marketplace.search import Sort
from wasmgrid.marketplace.store.search import SORT_KEYS, _Statement, cursor_values
from wasmgrid.marketplace.tokens import Role, Scope

HOSTILE = "x'); DROP TABLE modules; --$1"


def _query(sort: Sort, filters: str = "") -> SearchQuery:
    """A two-word search with every filter (category, tag, license, kind, owner and
    namespace) set to `filters`."""
    f = filters
    return SearchQuery(("image", "resize"), f, f, f, f, f, f, sort, limit=20)


HIT = SearchHit(
    name="ab/image-resize",
    full_norm="ab/image-resize",
    latest_version="1.0.0",
    description="",
    license="MIT",
    category="utilities",
    tags=(),
    kind="command",
    downloads=42,
    rating_average=4.25,
    rating_count=8,
    updated_at=datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC),
    score=0.75,
)


@pytest.mark.parametrize("sort", list(Sort))
@pytest.mark.parametrize("mode", ["exact", "vocabulary", "pg_trgm"])
def test_user_text_reaches_a_search_statement_only_as_parameters(sort: Sort, mode: str) -> None:
    q = _query(sort, filters=HOSTILE)
    statement = _Statement(
        q,
        use_pg_trgm=mode == "pg_trgm",
        relaxed="(imag:* | image:A)" if mode == "vocabulary" else "",
    )
    after = cursor_values(sort, replace(HIT, full_norm=HOSTILE))
    sql = statement.sql(json.loads(json.dumps(after)), 21)
    assert "DROP" not in sql and "'x'" not in sql
    assert HOSTILE in statement.args
    # Every placeholder is bound, and every bound value has a placeholder.
    used = {int(n) for n in re.findall(r"\$(\d+)", sql)}
    assert used == set(range(1, len(statement.args) + 1))


@pytest.mark.parametrize("sort", list(Sort))
def test_a_sort_order_pages_by_the_keys_it_declares(sort: Sort) -> None:
    keys = SORT_KEYS[sort]
    assert keys[-1].column == "full_norm"  # the unique name ends every order
    order = ", ".join(f"{k.column}{' DESC' if k.descending else ''}" for k in keys)
    statement = _Statement(_query(sort), use_pg_trgm=False, relaxed="")
    sql = statement.sql(cursor_values(sort, HIT), 21)
    assert f"ORDER BY {order} LIMIT" in sql
    assert sql.endswith("ORDER BY " + ", ".join(f"s.{term}" for term in order.split(", ")))
    first = keys[0]
    # The keyset starts with a bound an index scan in this order can start from.
    assert re.search(rf"WHERE \({first.column} {'<=' if first.descending else '>='} \$\d+", sql)


@pytest.mark.parametrize("sort", list(Sort))
def test_cursor_values_bind_back_to_the_hit_they_came_from(sort: Sort) -> None:
    hit = HIT
    values = json.loads(json.dumps(cursor_values(sort, hit)))
    for key, value in zip(SORT_KEYS[sort], values, strict=True):
        assert key.bind_value(value) == getattr(hit, key.field or key.column)


def test_a_forged_cursor_value_is_refused_naming_the_cursor() -> None:
    statement = _Statement(_query(Sort.DOWNLOADS), use_pg_trgm=False, relaxed="")
    with pytest.raises(InvalidArgument, match="page.cursor"):
        statement.sql(["many", "ab/cd"], 21)
    with pytest.raises(InvalidArgument, match="page.cursor"):
        _Statement(_query(Sort.NAME), use_pg_trgm=False, relaxed="").sql([7], 21)


async def test_a_publish_stream_becomes_metadata_then_bytes() -> None:
    md = pb.PublishMetadata(name="ab/cd", version="1.0.0", tags=["x"], size_bytes=3, sha256="ff")

    async def stream() -> AsyncIterator[pb.PublishRequest]:
        yield pb.PublishRequest(metadata=md)
        yield pb.PublishRequest(chunk=b"abc")
        yield pb.PublishRequest()

    parts = [part async for part in convert.publish_parts(stream())]
    assert parts == [
        PublishMetadata(
            name="ab/cd",
            version="1.0.0",
            metadata=Metadata("", "", "", ("x",), "", ""),
            size_bytes=3,
            sha256="ff",
        ),
        b"abc",
        None,
    ]


def test_unknown_enum_numbers_are_invalid_naming_the_field() -> None:
    with pytest.raises(InvalidArgument, match="^purpose: 9 "):
        convert.purpose_from_pb(9)
    with pytest.raises(InvalidArgument, match="^sort: 9 "):
        convert.search_from_pb(pb.SearchModulesRequest(sort=9))  # type: ignore[arg-type]
    assert convert.scopes_from_pb([0, pb.SCOPE_RATE]) == [None, Scope.RATE]


def _principal(role: Role, scopes: tuple[Scope, ...]) -> Principal:
    now = datetime.now(UTC)
    token = Token(uuid.uuid4(), "t", "wgt_abcdefgh", scopes, "ann", now, None, None, None)
    return Principal.of(TokenLookup(token, 7, role, expired=False, stale=False))


def test_a_token_never_exceeds_its_users_role() -> None:
    demoted = _principal(Role.USER, (Scope.PUBLISH, Scope.RATE, Scope.ADMIN))
    assert demoted.scopes == {Scope.RATE}
    assert not demoted.is_admin
    demoted.require(Scope.RATE)
    with pytest.raises(PermissionDenied, match="^token lacks the 'publish' scope$"):
        demoted.require(Scope.PUBLISH)
    admin = _principal(Role.ADMIN, (Scope.ADMIN,))
    assert admin.is_admin
    admin.require(Scope.PUBLISH)  # admin covers every scope
