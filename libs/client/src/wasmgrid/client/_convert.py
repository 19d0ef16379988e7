"""JSON (the gateway's proto3 JSON) → the SDK's frozen dataclasses.

The gateway renders protobuf messages with proto field names and every field
present: 64-bit integers arrive as strings, enums as their full names
(``ROLE_PUBLISHER``), timestamps as RFC 3339 and durations as ``"1.5s"``.
:func:`from_json` turns that into typed values once, driven by each dataclass's
type hints; keys a newer server adds are ignored, keys it omits take defaults.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")

_ENUM = "enum_prefix"
_DURATION = "duration"


def enum_field(prefix: str) -> Any:
    """A proto enum as a short string: ``ROLE_PUBLISHER`` (prefix ``ROLE_``) → ``publisher``."""
    return dataclasses.field(default="", metadata={_ENUM: prefix})


def enum_list(prefix: str) -> Any:
    """A tuple of proto enum names, each shortened like :func:`enum_field`."""
    return dataclasses.field(default=(), metadata={_ENUM: prefix})


def duration_field() -> Any:
    """A proto Duration (``"1.500s"``) as float seconds."""
    return dataclasses.field(default=0.0, metadata={_DURATION: True})


def parse_timestamp(value: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime (nanoseconds cut to microseconds)."""
    head, dot, rest = value.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        value = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _enum_name(value: Any, prefix: str) -> str:
    text = str(value)
    return text.removeprefix(prefix).lower() if text.startswith(prefix) else text.lower()


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _convert(hint: Any, value: Any, meta: Mapping[str, Any]) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(inner[0], value, meta)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, meta) for v in value)
    if origin is dict or hint is dict:
        return {str(k): v for k, v in dict(value).items()}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return from_json(hint, value)
    return _scalar(hint, value, meta)


def _scalar(hint: Any, value: Any, meta: Mapping[str, Any]) -> Any:
    if hint is datetime:
        return parse_timestamp(str(value))
    if hint is str:
        prefix = meta.get(_ENUM)
        return _enum_name(value, prefix) if prefix else str(value)
    if hint is float:
        if meta.get(_DURATION):
            return float(str(value).removesuffix("s"))
        return float(value)
    if hint is int:
        return int(value)
    if hint is bool:
        return bool(value)
    return value


def from_json(cls: type[T], doc: Any) -> T:
    """An instance of the dataclass `cls` from a decoded JSON object."""
    if not isinstance(doc, Mapping):
        raise TypeError(f"{cls.__name__}: expected a JSON object, got {type(doc).__name__}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in doc:
            kwargs[f.name] = _convert(hints[f.name], doc[f.name], f.metadata)
    return cls(**kwargs)


def to_jsonable(value: Any) -> Any:
    """A model (or anything nested in one) as plain JSON types; datetimes in ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value
