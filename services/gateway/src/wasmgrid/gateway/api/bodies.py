"""JSON in and out of the REST facade: capped, strict bodies and proto answers as JSON."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message

from wasmgrid.gateway.problem import Problem, refuse_unknown_fields

#: Largest JSON body (and multipart metadata part) the facade reads.
MAX_JSON = 64 * 1024


def to_json(message: Message) -> dict[str, Any]:
    """A proto message as JSON-ready dict (proto field names, defaults included)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def json_response(data: Any, status: int = 200) -> web.Response:
    """`data` as a compact ``application/json`` response."""
    return web.Response(
        status=status,
        body=json.dumps(data, separators=(",", ":")).encode(),
        content_type="application/json",
    )


async def read_json(
    request: web.Request, fields: tuple[str, ...], *, required: bool = True
) -> dict[str, Any]:
    """The request's JSON object, at most :data:`MAX_JSON` bytes, carrying only `fields`
    (400 naming any other); an empty body is ``{}`` unless `required`."""
    if request.content_length is not None and request.content_length > MAX_JSON:
        raise Problem(413, f"JSON body of {request.content_length} bytes exceeds {MAX_JSON} bytes")
    raw = bytearray()
    async for chunk in request.content.iter_chunked(8192):
        raw += chunk
        if len(raw) > MAX_JSON:
            raise Problem(413, f"JSON body exceeds {MAX_JSON} bytes")
    if not raw.strip():
        if required:
            raise Problem(400, "request body: a JSON object is required")
        return {}
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise Problem(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Problem(400, "request body: must be a JSON object")
    refuse_unknown_fields(doc, fields, "request body")
    return doc


def field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """``doc[name]`` when present, checked to be a `kind` (400 naming the field)."""
    value = doc.get(name, default)
    if value is default:
        return value
    if isinstance(value, bool) and kind is not bool:
        raise Problem(400, f"{name}: must be {getattr(kind, '__name__', kind)}")
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON does not tell 1.0 from 1
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise Problem(400, f"{name}: must be {names}, got {type(value).__name__}")
    for text in value if isinstance(value, list) else (value,):
        if isinstance(text, str):
            check_text(name, text)
    return value


def check_text(name: str, text: str) -> None:
    """400 naming `name` when `text` is no UTF-8 string: JSON's ``"\\ud800"`` escapes
    decode to a lone surrogate, which no protobuf string field can carry."""
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise Problem(
            400, f"{name}: holds {text[exc.start]!r} at {exc.start}, a lone surrogate (not UTF-8)"
        ) from None
