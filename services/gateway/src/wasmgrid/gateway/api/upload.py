"""Publishing: a module upload streamed to the marketplace, never buffered whole.

Two forms: a raw ``application/wasm`` body with its metadata in the query, or
``multipart/form-data`` with a ``metadata`` part (JSON, first), a ``module`` part and
optionally an ``assets`` part (a tar, tar.gz, tar.zst or zip of the version's read-only
files; ``assets_mount`` in the metadata says where the guest sees them).
:func:`read_upload` turns either into the metadata and the stream of messages that
carry the module's bytes, then the assets' bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.gateway.api.bodies import MAX_JSON, check_text, field, json_response, to_json
from wasmgrid.gateway.api.relay import caller_metadata, require_credentials
from wasmgrid.gateway.problem import (
    Problem,
    call_upstream,
    refuse_unknown_fields,
    upstream_errors,
)
from wasmgrid.gateway.state import GATEWAY
from wasmgrid.gateway.upstream import timed

#: Bytes of the module per message to the marketplace.
CHUNK = 256 * 1024
#: The fields the multipart ``metadata`` part may carry.
METADATA_FIELDS = (
    "name",
    "version",
    "description",
    "license",
    "category",
    "tags",
    "homepage",
    "repository",
    "sha256",
    "assets_mount",
    "scratch",
)
#: The fields of the metadata's ``scratch`` object.
SCRATCH_FIELDS = ("mount", "max_bytes", "max_files")


def metadata_from_query(request: web.Request, name: str, version: str) -> mp.PublishMetadata:
    """A raw upload's metadata: query parameters (``tag`` repeated, ``tags`` comma-separated)."""
    query = request.query
    return mp.PublishMetadata(
        name=name,
        version=version,
        description=query.get("description", ""),
        license=query.get("license", ""),
        category=query.get("category", ""),
        tags=[
            *query.getall("tag", []),
            *(t.strip() for v in query.getall("tags", []) for t in v.split(",") if t.strip()),
        ],
        homepage=query.get("homepage", ""),
        repository=query.get("repository", ""),
        sha256=query.get("sha256", ""),
    )


def metadata_from_json(doc: dict[str, Any], name: str, version: str) -> mp.PublishMetadata:
    """A multipart upload's metadata part; its name and version, if given, must be the URL's."""
    refuse_unknown_fields(doc, METADATA_FIELDS, "metadata part")
    tags = field(doc, "tags", list, [])
    if not all(isinstance(t, str) for t in tags):
        raise Problem(400, "metadata.tags: must be a list of strings")
    for key, value in doc.items():
        if isinstance(value, str):
            check_text(f"metadata.{key}", value)
    for key, expected in (("name", name), ("version", version)):
        given = doc.get(key)
        if given is not None and given != expected:
            raise Problem(400, f"metadata.{key}: {given!r} disagrees with the URL ({expected!r})")
    return mp.PublishMetadata(
        name=name,
        version=version,
        description=field(doc, "description", str, ""),
        license=field(doc, "license", str, ""),
        category=field(doc, "category", str, ""),
        tags=tags,
        homepage=field(doc, "homepage", str, ""),
        repository=field(doc, "repository", str, ""),
        sha256=field(doc, "sha256", str, ""),
        assets_mount=field(doc, "assets_mount", str, ""),
        scratch=_scratch(doc),
    )


def _scratch(doc: dict[str, Any]) -> mp.ScratchSpace | None:
    """The metadata's optional ``scratch`` object: each call gets a private directory."""
    given = field(doc, "scratch", dict, None)
    if given is None:
        return None
    refuse_unknown_fields(given, SCRATCH_FIELDS, "metadata.scratch")
    values = {}
    for name in ("max_bytes", "max_files"):
        value = field(given, name, int, 0)
        if value < 0:
            raise Problem(400, f"metadata.scratch.{name}: {value} must be 0 (the default) or more")
        values[name] = value
    return mp.ScratchSpace(mount=field(given, "mount", str, ""), **values)


@contextlib.contextmanager
def malformed_multipart() -> Iterator[None]:
    """Within: aiohttp's multipart parser refusing the body becomes a 400 naming why
    (a wrong boundary, a part header that is not ``Name: value``, a ``_charset_`` part
    that names no charset: aiohttp raises RuntimeError for that one). Only the parser's
    calls run within."""
    try:
        yield
    except (ValueError, HttpProcessingError, RuntimeError) as exc:
        raise Problem(400, f"multipart body is malformed: {exc}") from None


async def read_multipart(  # noqa: C901 - one check per part and field of the form
    reader: MultipartReader, name: str, version: str
) -> tuple[mp.PublishMetadata, AsyncIterator[mp.PublishRequest]]:
    """The ``metadata`` part (JSON, at most :data:`MAX_JSON` bytes) and a stream of the
    ``module`` part that follows it, then of the optional ``assets`` part; 400/413
    naming what is wrong with the parts."""
    with malformed_multipart():
        first = await reader.next()
    if not isinstance(first, BodyPartReader) or first.name != "metadata":
        raise Problem(400, "multipart publish: the first part must be 'metadata' (JSON)")
    raw = bytearray()
    with malformed_multipart():
        while chunk := await first.read_chunk(8192):
            raw += chunk
            if len(raw) > MAX_JSON:
                raise Problem(413, f"metadata part exceeds {MAX_JSON} bytes")
    try:
        doc = json.loads(bytes(raw) or b"{}")
    except ValueError as exc:
        raise Problem(400, f"metadata part is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Problem(400, "metadata part: must be a JSON object")
    meta = metadata_from_json(doc, name, version)
    with malformed_multipart():
        second = await reader.next()
    if not isinstance(second, BodyPartReader) or second.name != "module":
        raise Problem(400, "multipart publish: the second part must be 'module' (the wasm)")

    async def messages() -> AsyncIterator[mp.PublishRequest]:
        while True:
            with malformed_multipart():
                chunk = await second.read_chunk(CHUNK)
            if not chunk:
                break
            yield mp.PublishRequest(chunk=chunk)
        with malformed_multipart():
            third = await reader.next()
        if third is None:
            return
        if not isinstance(third, BodyPartReader) or third.name != "assets":
            raise Problem(
                400, "multipart publish: the part after 'module' may only be 'assets' (an archive)"
            )
        while True:
            with malformed_multipart():
                chunk = await third.read_chunk(CHUNK)
            if not chunk:
                break
            yield mp.PublishRequest(assets_chunk=chunk)
        with malformed_multipart():
            after = await reader.next()
        if after is not None:
            raise Problem(400, "multipart publish: nothing may follow the 'assets' part")

    return meta, messages()


async def _raw_messages(request: web.Request) -> AsyncIterator[mp.PublishRequest]:
    async for chunk in request.content.iter_chunked(CHUNK):
        yield mp.PublishRequest(chunk=chunk)


def content_type(request: web.Request) -> str:
    """The request's media type; 400 when its parameters do not parse (aiohttp's parser,
    CPython's email one, raises IndexError on ``a/b; c*``)."""
    try:
        return request.content_type
    except (IndexError, ValueError) as exc:
        raise Problem(
            400, f"Content-Type {request.headers.get('Content-Type', '')!r} does not parse: {exc}"
        ) from None


async def read_upload(
    request: web.Request, name: str, version: str
) -> tuple[mp.PublishMetadata, AsyncIterator[mp.PublishRequest]]:
    """The metadata and the module's (then the assets') bytes of a publish request,
    either form (415 otherwise)."""
    ctype = content_type(request)
    if ctype in ("application/wasm", "application/octet-stream"):
        return metadata_from_query(request, name, version), _raw_messages(request)
    if ctype == "multipart/form-data":
        with malformed_multipart():
            reader = await request.multipart()
        return await read_multipart(reader, name, version)
    raise Problem(
        415,
        f"publish body Content-Type {ctype!r}: send application/wasm (metadata in the query)"
        " or multipart/form-data with parts 'metadata', 'module' and optionally 'assets'",
    )


async def publish(request: web.Request) -> web.Response:
    """PUT /v1/modules/{ns}/{name}/{version}: stream the module to the marketplace."""
    require_credentials(request)
    gw = request.app[GATEWAY]
    # The caller is authenticated before a byte of the body is read: a bad token is a 401
    # whatever the body holds (a multipart's metadata is read here, before the marketplace
    # sees the token), and a stranger's upload is not read at all.
    await call_upstream(
        "marketplace",
        "WhoAmI",
        gw.registry.stub.WhoAmI(
            mp.WhoAmIRequest(),
            metadata=caller_metadata(request),
            timeout=gw.settings.relay_timeout_seconds,
        ),
    )
    namespace = request.match_info["ns"]
    limit = await gw.registry.publish_limit(namespace)
    declared = request.content_length
    if declared is not None and declared > limit:
        raise Problem(
            413,
            f"module upload of {declared} bytes exceeds the {limit}-byte limit of namespace"
            f" {namespace!r}",
        )
    name = f"{namespace}/{request.match_info['name']}"
    meta, messages = await read_upload(request, name, request.match_info["version"])
    if content_type(request) != "multipart/form-data" and declared is not None:
        meta.size_bytes = declared
    failure: list[BaseException] = []

    async def requests() -> AsyncIterator[mp.PublishRequest]:
        yield mp.PublishRequest(metadata=meta)
        total = 0
        try:
            async for message in messages:
                total += len(message.chunk) + len(message.assets_chunk)
                if total > limit:
                    raise Problem(
                        413,
                        f"module upload exceeds the {limit}-byte limit of namespace"
                        f" {namespace!r} (streamed)",
                    )
                yield message
        except BaseException as exc:
            # grpc cancels the call when the iterator fails, so the marketplace stores
            # nothing; remember why to answer the client with it.
            failure.append(exc)
            raise

    try:
        with upstream_errors("marketplace"):
            resp = await timed(
                "marketplace",
                "Publish",
                gw.registry.stub.Publish(requests(), metadata=caller_metadata(request)),
            )
    except asyncio.CancelledError:
        if failure and not isinstance(failure[0], asyncio.CancelledError):
            raise failure[0] from None
        raise
    return json_response(to_json(resp), 201)
