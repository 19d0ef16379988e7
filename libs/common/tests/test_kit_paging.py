"""Page sizes and keyset cursors shared by every list RPC."""

from __future__ import annotations

import pytest

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.paging import (
    cursor_binding,
    decode_cursor,
    encode_cursor,
    page_limit,
    split_page,
)


def test_zero_asks_for_the_default_and_anything_above_the_maximum_is_refused() -> None:
    assert page_limit(0, default=20, maximum=100) == 20
    assert page_limit(100, default=20, maximum=100) == 100
    with pytest.raises(InvalidArgument, match=r"^page\.limit 101 is outside 1\.\.100"):
        page_limit(101, default=20, maximum=100)
    with pytest.raises(InvalidArgument, match=r"^changes_limit 5000 "):
        page_limit(5000, default=50, maximum=1000, field="changes_limit")


def test_a_cursor_round_trips_its_sort_values() -> None:
    binding = cursor_binding("search", "hello", "downloads")
    text = encode_cursor(binding, [42, "examples/hello"])
    assert decode_cursor(text, binding, 2) == [42, "examples/hello"]
    assert "=" not in text  # URL-safe, unpadded


def test_an_empty_cursor_is_the_first_page() -> None:
    assert decode_cursor("", "b", 1) is None


def test_a_cursor_from_another_request_is_refused() -> None:
    text = encode_cursor(cursor_binding("q=a"), ["x"])
    with pytest.raises(InvalidArgument, match="issued for a different query"):
        decode_cursor(text, cursor_binding("q=b"), 1)


@pytest.mark.parametrize("bad", ["not base64!", "bm90IGpzb24", encode_cursor("b", [1, 2])])
def test_what_this_service_did_not_issue_is_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^page\.cursor is not a cursor issued"):
        decode_cursor(bad, "b", 1)


def test_an_overlong_cursor_is_refused_with_its_length() -> None:
    with pytest.raises(InvalidArgument, match="2000 characters, at most 1024"):
        decode_cursor("a" * 2000, "b", 1)


def test_bindings_differ_by_request_and_are_stable() -> None:
    assert cursor_binding("a", 1) == cursor_binding("a", 1)
    assert cursor_binding("a", 1) != cursor_binding("a", 2)


def test_split_page_says_whether_more_follow() -> None:
    assert split_page([1, 2, 3], 2) == ([1, 2], True)
    assert split_page([1, 2], 2) == ([1, 2], False)
