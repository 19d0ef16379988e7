"""Rendering OTLP values (AnyValue, attributes, resources) as plain Python text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

#: Longest attribute value kept when rendering (longer ones are cut with a marker).
MAX_VALUE_CHARS = 4096
#: Attributes rendered per span, event or record.
MAX_ATTRIBUTES = 128


def _plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def any_value_text(value: AnyValue) -> str:
    """An AnyValue as text: strings as-is, scalars with str(), arrays and maps as JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        text = value.string_value
    elif kind is None:
        text = ""
    elif kind in ("array_value", "kvlist_value"):
        text = json.dumps(_plain(value), default=str, separators=(",", ":"))
    elif kind == "bytes_value":
        text = value.bytes_value.hex()
    elif kind == "bool_value":
        text = "true" if value.bool_value else "false"
    else:
        text = str(getattr(value, kind))
    if len(text) > MAX_VALUE_CHARS:
        return text[:MAX_VALUE_CHARS] + "…(truncated)"
    return text


def attributes_text(attributes: Iterable[KeyValue]) -> dict[str, str]:
    """Attributes as a str → str map (bounded)."""
    out: dict[str, str] = {}
    for kv in attributes:
        if len(out) >= MAX_ATTRIBUTES:
            break
        out[kv.key] = any_value_text(kv.value)
    return out


def attribute(attributes: Iterable[KeyValue], key: str) -> AnyValue | None:
    """The value of attribute `key`, or None."""
    for kv in attributes:
        if kv.key == key:
            return kv.value
    return None


def service_name(resource: Resource) -> str:
    """The resource's service.name, or "unknown_service" as the OTel spec says."""
    value = attribute(resource.attributes, "service.name")
    if value is None or not value.string_value:
        return "unknown_service"
    return value.string_value
