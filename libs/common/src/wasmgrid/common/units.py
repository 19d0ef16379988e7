"""Durations and sizes as people write them in configuration files: ``500ms``, ``64KiB``."""

from __future__ import annotations

import math
import re

from wasmgrid.common.errors import InvalidArgument

#: The highest size ceiling (module or assets cap) a marketplace may be configured with;
#: the gateway refuses a namespace cap above it before asking any marketplace.
MAX_SIZE_CEILING_BYTES = 16 << 30

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*([0-9]+)\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?\s*$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "KiB": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "GiB": 1024**3,
    "TB": 1000**4,
    "TiB": 1024**4,
}


def parse_duration(
    value: object, field: str, *, positive: bool = False, maximum: float | None = None
) -> float:
    """Seconds from a number of seconds or a string like ``250ms``, ``2s``, ``5m``, ``1h``
    or ``1d`` (a number without a unit is seconds).

    Never negative; with `positive`, zero is refused too; with `maximum`, so is anything
    longer. Anything else raises :class:`InvalidArgument` naming `field` and the value.
    """
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if seconds is None or not math.isfinite(seconds):
        raise InvalidArgument(f"{field}: {value!r} is not a duration like 500ms, 2s, 5m, 1h")
    _check_bounds(value, seconds, field, positive, maximum, "longer than the limit of {:g}s")
    return seconds


def parse_size(
    value: object, field: str, *, positive: bool = False, maximum: int | None = None
) -> int:
    """Bytes from a whole number of bytes or a string like ``512B``, ``64KiB``, ``1MiB``,
    ``100KB`` or ``2GB`` (KiB = 1024 bytes, KB = 1000; units are case-sensitive).

    Never negative; with `positive`, zero is refused too; with `maximum`, so is anything
    larger. Anything else raises :class:`InvalidArgument` naming `field` and the value.
    """
    size: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        size = int(m.group(1)) * _SIZE_UNITS[m.group(2)]
    if size is None:
        raise InvalidArgument(f"{field}: {value!r} is not a size like 64KiB, 1MiB, 100KB")
    _check_bounds(value, size, field, positive, maximum, "larger than the limit of {} bytes")
    return size


def _check_bounds(
    value: object, amount: float, field: str, positive: bool, maximum: float | None, over: str
) -> None:
    if amount < 0 or (positive and amount == 0):
        raise InvalidArgument(f"{field}: {value!r} must be {'above' if positive else 'at least'} 0")
    if maximum is not None and amount > maximum:
        raise InvalidArgument(f"{field}: {value!r} is {over.format(maximum)}")
