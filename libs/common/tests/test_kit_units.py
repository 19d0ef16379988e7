"""Durations and sizes as written in routes files and rule files."""

from __future__ import annotations

import pytest

from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        (" 30 s ", 30.0),
        ("7", 7.0),
        (3, 3.0),
        (0.5, 0.5),
        (0, 0.0),
    ],
)
def test_durations_in_every_unit(text: object, seconds: float) -> None:
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize("bad", ["soon", "5 minutes", "-1s", "1w", "", True, None, [1], "1e3s"])
def test_what_is_not_a_duration_is_refused_naming_the_field_and_value(bad: object) -> None:
    with pytest.raises(InvalidArgument, match=r"^rule\.for: "):
        parse_duration(bad, "rule.for")


def test_negative_nan_and_infinite_durations_are_refused() -> None:
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(InvalidArgument):
            parse_duration(bad, "x")


def test_positive_refuses_zero_and_maximum_refuses_longer() -> None:
    with pytest.raises(InvalidArgument, match=r"x: 0 must be above 0"):
        parse_duration(0, "x", positive=True)
    assert parse_duration("24h", "x", maximum=86400) == 86400
    with pytest.raises(InvalidArgument, match=r"x: '25h' is longer than the limit of 86400s"):
        parse_duration("25h", "x", maximum=86400)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512B", 512),
        ("2KiB", 2048),
        ("1MB", 1_000_000),
        ("1MiB", 1 << 20),
        ("3GiB", 3 << 30),
        ("1TiB", 1 << 40),
        (" 64 KiB ", 65536),
        ("100", 100),
        (4096, 4096),
        (0, 0),
    ],
)
def test_sizes_in_every_unit(text: object, size: int) -> None:
    assert parse_size(text, "x") == size


@pytest.mark.parametrize("bad", ["big", "1.5MiB", "1kib", "-1", True, 1.0, None])
def test_what_is_not_a_size_is_refused_naming_the_field_and_value(bad: object) -> None:
    with pytest.raises(InvalidArgument, match=r"^limits\.memory: "):
        parse_size(bad, "limits.memory")


def test_size_bounds() -> None:
    with pytest.raises(InvalidArgument, match="must be above 0"):
        parse_size("0B", "x", positive=True)
    with pytest.raises(InvalidArgument, match="larger than the limit of 1024 bytes"):
        parse_size("2KiB", "x", maximum=1024)
    with pytest.raises(InvalidArgument, match="must be at least 0"):
        parse_size(-5, "x")
