"""Request and response details shared by the client: paths, pages, problems, digests."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from wasmgrid.client._errors import ProblemError

Json = dict[str, Any]
#: ``progress(bytes_done, bytes_total)``; total is 0 when unknown.
Progress = Callable[[int, int], None]
CHUNK = 256 * 1024


def module_path(module: str) -> str:
    """``ns/name[@requirement]`` → the escaped ``{ns}/{name[@req]}`` path segments."""
    ns, sep, rest = module.partition("/")
    if not sep or not ns or not rest or "/" in rest:
        raise ValueError(f"module {module!r} is not namespace/name[@requirement]")
    return f"{quote(ns, safe='')}/{quote(rest, safe='@^~=<>,*.')}"


def name_path(name: str) -> str:
    if "@" in name:
        raise ValueError(f"module {name!r}: give namespace/name without a version here")
    return module_path(name)


def seg(value: str) -> str:
    return quote(value, safe="")


def page_params(limit: int | None, cursor: str | None) -> list[tuple[str, str]]:
    params = []
    if limit is not None:
        params.append(("limit", str(limit)))
    if cursor:
        params.append(("cursor", cursor))
    return params


def audit_params(
    namespace: str | None,
    actor: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[tuple[str, str]]:
    """GET /v1/audit's filters as query parameters (times in RFC 3339, naive ones UTC)."""
    params = [
        (k, v) for k, v in (("namespace", namespace), ("actor", actor), ("action", action)) if v
    ]
    for key, moment in (("since", since), ("until", until)):
        if moment is not None:
            aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
            params.append((key, aware.isoformat()))
    return params


def next_cursor(doc: Json) -> str:
    page = doc.get("page") or {}
    return str(page.get("next_cursor", "")) if isinstance(page, dict) else ""


def problem_from_response(status: int, headers: Mapping[str, str], body: bytes) -> ProblemError:
    """A :class:`ProblemError` from an error response (problem+json or anything else)."""
    doc: Any = None
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        text = body[:300].decode("utf-8", errors="replace").strip()
        return ProblemError(status, f"HTTP {status}", text, headers=headers)
    standard = {"type", "title", "status", "detail", "instance"}
    return ProblemError(
        int(doc.get("status", status)),
        str(doc.get("title", f"HTTP {status}")),
        str(doc.get("detail", "")),
        type=str(doc.get("type", "about:blank")),
        instance=doc.get("instance"),
        extensions={k: v for k, v in doc.items() if k not in standard},
        headers=headers,
    )


def announced_digest(headers: Mapping[str, str]) -> str:
    """The SHA-256 the server announced (``ETag: "sha256:<hex>"`` or ``Repr-Digest``)."""
    etag = headers.get("ETag", "").strip('"')
    if etag.startswith("sha256:"):
        return etag.removeprefix("sha256:").lower()
    repr_digest = headers.get("Repr-Digest", "")
    if repr_digest.startswith("sha-256=:"):
        try:
            return base64.b64decode(repr_digest[len("sha-256=:") : -1]).hex()
        except ValueError:
            return ""
    return ""


async def file_chunks(
    path: Path, size: int, progress: Progress | None, *, before: int = 0, total: int = 0
) -> AsyncIterator[bytes]:
    """The file in chunks; `progress` sees `before` + bytes sent of `total` (or `size`)."""
    sent = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
            sent += len(chunk)
            if progress is not None:
                progress(before + sent, total or size)


async def bytes_chunks(
    data: bytes, progress: Progress | None, *, before: int = 0, total: int = 0
) -> AsyncIterator[bytes]:
    """`data` in chunks; `progress` sees `before` + bytes sent of `total` (or its size)."""
    view = memoryview(data)
    for offset in range(0, len(data), CHUNK):
        chunk = bytes(view[offset : offset + CHUNK])
        yield chunk
        if progress is not None:
            progress(before + offset + len(chunk), total or len(data))


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            hasher.update(chunk)
    return hasher.hexdigest()
