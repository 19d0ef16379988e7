"""The MarketplaceService gRPC servicer: translates proto ⇄ domain and store calls."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace
from prometheus_client import Counter, Histogram

from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.api.marketplace.v1 import marketplace_pb2_grpc as pb_grpc
from wasmgrid.common.db import create_pool, ping
from wasmgrid.common.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServiceError,
    Unauthenticated,
    Unavailable,
)
from wasmgrid.common.metrics import LATENCY_BUCKETS
from wasmgrid.common.migrations import migrate
from wasmgrid.common.paging import (
    cursor_binding,
    decode_cursor,
    encode_cursor,
    page_limit,
    split_page,
)
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.common.server import Service
from wasmgrid.marketplace import names, search, semver, tokens
from wasmgrid.marketplace.blobs import BlobCache, rechunk
from wasmgrid.marketplace.components import world_proto
from wasmgrid.marketplace.names import parse_module_name
from wasmgrid.marketplace.settings import MarketplaceSettings
from wasmgrid.marketplace.store import (
    SCHEMA,
    Conn,
    NewVersion,
    Principal,
    RegistryStore,
    SearchQuery,
)
from wasmgrid.marketplace.validation import ERROR, Policy, Report, validate_module

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

PUBLISHED = Counter("marketplace_publish_total", "Publish attempts by outcome.", ["outcome"])
PUBLISH_BYTES = Counter("marketplace_publish_bytes_total", "Module bytes accepted by publish.")
VALIDATION_SECONDS = Histogram(
    "marketplace_validation_seconds",
    "Time to validate and scan one module.",
    buckets=LATENCY_BUCKETS,
)
DOWNLOADS = Counter("marketplace_downloads_total", "Completed downloads by purpose.", ["purpose"])
DOWNLOAD_BYTES = Counter(
    "marketplace_download_bytes_total", "Bytes streamed by Download.", ["purpose"]
)
AUTH_FAILURES = Counter("marketplace_auth_failures_total", "Rejected credentials.")

#: Proto enums by short name: roles, scopes and kinds are stored as those names.
_ROLES = ProtoEnum.names(pb.Role)
_SCOPES = ProtoEnum.names(pb.Scope)
_KINDS = ProtoEnum.names(pb.ModuleKind)
_SEVERITIES = ProtoEnum.names(pb.Severity)
_SORTS = ProtoEnum.names(pb.SearchSort)
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
MAX_REVIEW = 2000
MAX_REASON = 500
DEFAULT_CHUNK, MIN_CHUNK, MAX_CHUNK = 1 << 20, 4 << 10, 4 << 20
MAX_STATS_DAYS, DEFAULT_STATS_DAYS = 366, 30
MAX_VERSION_PAGE, DEFAULT_VERSION_PAGE = 1000, 100
#: Search results and ratings per page.
MAX_PAGE, DEFAULT_PAGE = 100, 20


def _ts(value: datetime | None, out: Timestamp) -> None:
    if value is not None:
        out.FromDatetime(value)


def _user(row: Any) -> pb.User:
    u = pb.User(username=row["username"], role=_ROLES.to_proto(row["role"]))
    _ts(row["created_at"], u.created_at)
    return u


def _token(row: Any) -> pb.Token:
    t = pb.Token(
        id=str(row["id"]),
        name=row["name"],
        prefix=row["prefix"],
        scopes=[_SCOPES.to_proto(s) for s in row["scopes"] if s in _SCOPES.choices],
        username=row["username"],
    )
    _ts(row["created_at"], t.created_at)
    _ts(row["expires_at"], t.expires_at)
    _ts(row["last_used_at"], t.last_used_at)
    _ts(row["revoked_at"], t.revoked_at)
    return t


def _report(doc: Report) -> pb.ValidationReport:
    return pb.ValidationReport(
        valid=doc.valid,
        kind=_KINDS.to_proto(doc.kind, default=0),
        size_bytes=doc.size_bytes,
        imports=[pb.WasmImport(module=i.module, name=i.name, kind=i.kind) for i in doc.imports],
        exports=[pb.WasmExport(name=e.name, kind=e.kind) for e in doc.exports],
        memories=[
            pb.WasmMemory(
                min_pages=m.min_pages,
                max_pages=m.max_pages or 0,
                has_max=m.max_pages is not None,
                shared=m.shared,
                memory64=m.memory64,
                imported=m.imported,
            )
            for m in doc.memories
        ],
        custom_sections=doc.custom_sections,
        producers=[
            pb.Producer(field=p.field, name=p.name, version=p.version) for p in doc.producers
        ],
        language=doc.language,
        toolchain=doc.toolchain,
        features=doc.features,
        findings=[
            pb.Finding(severity=_SEVERITIES.to_proto(f.severity), code=f.code, message=f.message)
            for f in doc.findings
        ],
        validator=doc.validator,
        world=world_proto(doc.world),
    )


def _version(row: Any) -> pb.ModuleVersion:
    v = pb.ModuleVersion(
        name=row["full_name"],
        version=row["version"],
        digest=row["digest"],
        size_bytes=row["size_bytes"],
        kind=_KINDS.to_proto(row["kind"], default=0),
        description=row["description"],
        license=row["license"],
        category=row["category"],
        tags=row["tags"],
        homepage=row["homepage"],
        repository=row["repository"],
        published_by=row["published_by"],
        yanked=row["yanked"],
        yank_reason=row["yank_reason"],
        downloads=row["downloads"],
        prerelease=row["prerelease"],
    )
    _ts(row["published_at"], v.published_at)
    _ts(row["yanked_at"], v.yanked_at)
    if "validation" in row.keys():
        v.validation.CopyFrom(_report(Report.from_dict(json.loads(row["validation"]))))
    return v


def _module(row: Any) -> pb.Module:
    m = pb.Module(
        name=row["full_name"],
        namespace=row["namespace"],
        latest_version=row["latest_version"],
        description=row["description"],
        license=row["license"],
        category=row["category"],
        tags=row["tags"],
        homepage=row["homepage"],
        repository=row["repository"],
        kind=_KINDS.to_proto(row["kind"], default=0),
        downloads=row["downloads"],
        runtime_fetches=row["runtime_fetches"],
        rating_average=row["rating_avg"],
        rating_count=row["rating_count"],
        version_count=row["version_count"],
        owners=row["owners"],
        all_yanked=row["all_yanked"],
    )
    _ts(row["created_at"], m.created_at)
    _ts(row["updated_at"], m.updated_at)
    return m


def _summary(row: Any) -> pb.RatingSummary:
    return pb.RatingSummary(
        count=row["rating_count"], average=row["rating_avg"], histogram=list(row["stars"])
    )


def _rating(row: Any) -> pb.Rating:
    r = pb.Rating(username=row["username"], stars=row["stars"], review=row["review"])
    _ts(row["created_at"], r.created_at)
    _ts(row["updated_at"], r.updated_at)
    return r


def _version_text(value: str, field: str = "version") -> str:
    if not value:
        raise InvalidArgument(f"{field} is required")
    try:
        return str(semver.Version.parse(value))
    except semver.SemverError as exc:
        raise InvalidArgument(f"{field} {exc}") from None


def _parse_version(value: str, field: str = "version") -> semver.Version:
    if not value:
        raise InvalidArgument(f"{field} is required")
    try:
        return semver.Version.parse(value)
    except semver.SemverError as exc:
        raise InvalidArgument(f"{field} {exc}") from None


class MarketplaceServicer(pb_grpc.MarketplaceServiceServicer):
    """gRPC handlers; authorization decisions live here and in the store."""

    def __init__(self, svc: MarketplaceService) -> None:
        self.svc = svc
        self.settings = svc.settings

    @property
    def store(self) -> RegistryStore:
        return self.svc.store

    async def _principal(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal | None:
        auth = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                auth = value if isinstance(value, str) else value.decode()
        try:
            secret = tokens.bearer_secret(auth)
            if secret is None:
                return None
            return await self.store.authenticate(secret)
        except Unauthenticated:
            AUTH_FAILURES.inc()
            raise

    async def _require(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        who = await self._principal(context)
        if who is None:
            raise Unauthenticated(
                "this call needs an API token: metadata authorization: Bearer wgt_…"
            )
        return who

    # ------------------------------------------------------------ identity

    async def CreateUser(
        self, request: pb.CreateUserRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CreateUserResponse:
        who = await self._principal(context)
        is_admin = who is not None and who.is_admin
        if not self.settings.open_signup and not is_admin:
            if who is None:
                raise Unauthenticated("sign-up is closed: an admin token is needed to create users")
            raise PermissionDenied("sign-up is closed: only admins can create users")
        role = _ROLES.from_proto(request.role, "role") or "publisher"
        if role == "admin" and not is_admin:
            raise PermissionDenied("role ADMIN: only an admin can create admins")
        if len(request.token_name) > names.MAX_TOKEN_NAME:
            raise InvalidArgument(
                f"token_name is {len(request.token_name)} characters,"
                f" at most {names.MAX_TOKEN_NAME}"
            )
        names.check_username(request.username)
        user, token, secret = await self.store.create_user(
            request.username, role, request.token_name or "initial"
        )
        log.info("user created", extra={"role": role})
        return pb.CreateUserResponse(user=_user(user), token=_token(token), secret=secret)

    async def WhoAmI(
        self, request: pb.WhoAmIRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.WhoAmIResponse:
        who = await self._require(context)
        user = await self.store.user_row(who.user_id)
        return pb.WhoAmIResponse(
            user=_user(user),
            token=_token(who.token),
            namespaces=await self.store.user_namespaces(who.user_id),
        )

    async def CreateToken(
        self, request: pb.CreateTokenRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CreateTokenResponse:
        who = await self._require(context)
        if len(request.name) > names.MAX_TOKEN_NAME:
            raise InvalidArgument(
                f"name is {len(request.name)} characters, at most {names.MAX_TOKEN_NAME}"
            )
        if not request.scopes:
            raise InvalidArgument("scopes must name at least one scope")
        wanted: list[str] = []
        for s in request.scopes:
            scope = _SCOPES.from_proto(s, "scopes")
            if scope is None:
                raise InvalidArgument("scopes: 0 (SCOPE_UNSPECIFIED) is not a scope")
            if scope not in tokens.ROLE_SCOPES[who.role]:
                raise PermissionDenied(f"scope {scope!r} is not allowed for role {who.role!r}")
            if not tokens.covers(who.scopes, scope):
                raise PermissionDenied(f"scope {scope!r} exceeds the calling token's scopes")
            if scope not in wanted:
                wanted.append(scope)
        if request.ttl_seconds > tokens.MAX_TTL_SECONDS:
            raise InvalidArgument(
                f"ttl_seconds {request.ttl_seconds} is above the maximum {tokens.MAX_TTL_SECONDS}"
            )
        row, secret = await self.store.create_token(
            who, request.name, wanted, int(request.ttl_seconds)
        )
        return pb.CreateTokenResponse(token=_token(row), secret=secret)

    async def ListTokens(
        self, request: pb.ListTokensRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListTokensResponse:
        who = await self._require(context)
        rows = await self.store.list_tokens(who, request.include_inactive)
        return pb.ListTokensResponse(tokens=[_token(r) for r in rows])

    async def RevokeToken(
        self, request: pb.RevokeTokenRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RevokeTokenResponse:
        who = await self._require(context)
        try:
            token_id = uuid.UUID(request.token_id)
        except ValueError:
            raise InvalidArgument(f"token_id {request.token_id[:64]!r} is not a UUID") from None
        return pb.RevokeTokenResponse(token=_token(await self.store.revoke_token(who, token_id)))

    # ------------------------------------------------------------ owners

    async def AddOwner(
        self, request: pb.AddOwnerRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.AddOwnerResponse:
        who = await self._require(context)
        names.check_namespace(request.namespace)
        # An existing user is looked up: reserved names (e.g. the bootstrap admin) are fine.
        names.check_namespace(request.username, "username")
        rows = await self.store.add_owner(who, request.namespace, request.username)
        return pb.AddOwnerResponse(owners=[_user(r) for r in rows])

    async def RemoveOwner(
        self, request: pb.RemoveOwnerRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RemoveOwnerResponse:
        who = await self._require(context)
        names.check_namespace(request.namespace)
        names.check_namespace(request.username, "username")
        rows = await self.store.remove_owner(who, request.namespace, request.username)
        return pb.RemoveOwnerResponse(owners=[_user(r) for r in rows])

    async def ListOwners(
        self, request: pb.ListOwnersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListOwnersResponse:
        await self._principal(context)
        rows = await self.store.list_owners(request.namespace)
        return pb.ListOwnersResponse(owners=[_user(r) for r in rows])

    # ------------------------------------------------------------ publish

    async def Publish(
        self,
        request_iterator: AsyncIterator[pb.PublishRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.PublishResponse:
        try:
            who = await self._require(context)
            who.require(tokens.PUBLISH)
            result = await self._publish(who, request_iterator)
        except ServiceError:
            PUBLISHED.labels("refused").inc()
            # A refusal can come before the bytes are read (bad token, version exists,
            # not the owner). grpc.aio clients still sending then see "INTERNAL: Internal
            # error from Core" instead of our status: read out what they send (bounded)
            # so they get the status that names the problem.
            await self._drain(request_iterator)
            raise
        except BaseException as exc:
            PUBLISHED.labels(
                "cancelled" if isinstance(exc, asyncio.CancelledError) else "refused"
            ).inc()
            raise
        PUBLISHED.labels("ok").inc()
        return result

    async def _drain(self, stream: AsyncIterator[pb.PublishRequest]) -> None:
        """Discard the rest of a refused upload: at most the module cap, within the idle
        timeout; past either the client gets a transport error, as an abuser deserves."""
        s = self.settings
        budget = s.max_module_bytes + 1024 * 1024
        try:
            async with asyncio.timeout(s.publish_idle_timeout_seconds):
                async for message in stream:
                    budget -= message.ByteSize()
                    if budget < 0:
                        return
        except (TimeoutError, grpc.aio.AioRpcError, grpc.aio.AbortError):
            return

    async def _publish(
        self, who: Principal, stream: AsyncIterator[pb.PublishRequest]
    ) -> pb.PublishResponse:
        s = self.settings
        idle = s.publish_idle_timeout_seconds
        it = stream.__aiter__()

        async def next_message() -> pb.PublishRequest | None:
            try:
                async with asyncio.timeout(idle):
                    return await it.__anext__()
            except StopAsyncIteration:
                return None
            except TimeoutError:
                raise InvalidArgument(
                    f"publish stream idle for more than {idle:.0f}s; upload aborted"
                ) from None

        first = await next_message()
        if first is None or first.WhichOneof("payload") != "metadata":
            raise InvalidArgument("the first Publish message must carry metadata")
        md = first.metadata
        mod = parse_module_name(md.name, "metadata.name")
        version = _parse_version(md.version, "metadata.version")
        description = names.check_description(md.description, "metadata.description")
        license_ = names.check_license(md.license, "metadata.license")
        category = names.check_category(md.category, "metadata.category")
        tags = names.check_tags(list(md.tags), "metadata.tags")
        homepage = names.check_url(md.homepage, "metadata.homepage")
        repository = names.check_url(md.repository, "metadata.repository")
        if md.size_bytes > s.max_module_bytes:
            raise InvalidArgument(
                f"metadata.size_bytes {md.size_bytes} is above the limit of {s.max_module_bytes}"
                " bytes (WASMGRID_MARKETPLACE_MAX_MODULE_BYTES)"
            )
        expected_digest = md.sha256.lower()
        if expected_digest and not _DIGEST.match(expected_digest):
            raise InvalidArgument("metadata.sha256 must be 64 lowercase hex characters")
        await self.store.check_can_publish(who, mod, version.precedence_key())

        # Bounded memory: at most max_concurrent_publishes uploads are buffered at once.
        if self.svc.publish_slots.locked():
            log.info("publish waiting for a free slot")
        async with self.svc.publish_slots:
            data = bytearray()
            hasher = hashlib.sha256()
            while (msg := await next_message()) is not None:
                if msg.WhichOneof("payload") != "chunk":
                    raise InvalidArgument("only the first Publish message may carry metadata")
                if len(data) + len(msg.chunk) > s.max_module_bytes:
                    raise InvalidArgument(
                        f"module is larger than the limit of {s.max_module_bytes} bytes"
                        " (WASMGRID_MARKETPLACE_MAX_MODULE_BYTES)"
                    )
                data += msg.chunk
                hasher.update(msg.chunk)
            if not data:
                raise InvalidArgument("no module bytes: send chunk messages after the metadata")
            if md.size_bytes and md.size_bytes != len(data):
                raise InvalidArgument(
                    f"metadata.size_bytes is {md.size_bytes} but {len(data)} bytes arrived"
                )
            digest = hasher.hexdigest()
            if expected_digest and expected_digest != digest:
                raise InvalidArgument(
                    f"metadata.sha256 {expected_digest} does not match the bytes ({digest})"
                )
            blob = bytes(data)
            del data
            with tracer.start_as_current_span("marketplace.validate") as span:
                started = time.perf_counter()
                report = await asyncio.to_thread(validate_module, blob, self.svc.policy)
                VALIDATION_SECONDS.observe(time.perf_counter() - started)
                span.set_attribute("wasm.size_bytes", len(blob))
                span.set_attribute("wasm.valid", report.valid)
            errors = [f for f in report.findings if f.severity == ERROR]
            if errors:
                raise InvalidArgument(
                    "module failed validation: "
                    + "; ".join(f"[{f.code}] {f.message}" for f in errors)
                )
            nv = NewVersion(
                module=mod,
                version=version,
                description=description,
                license=license_,
                category=category,
                tags=tags,
                homepage=homepage,
                repository=repository,
                digest=digest,
                size_bytes=len(blob),
                kind=report.kind,
                validation=report.to_dict(),
            )
            row = await self.store.publish(who, nv, blob, s.max_versions_per_module)
        PUBLISH_BYTES.inc(len(blob))
        log.info(
            "published",
            extra={"module_name": mod.display, "version": str(version), "size_bytes": len(blob)},
        )
        return pb.PublishResponse(version=_version(row))

    # ------------------------------------------------------------ reads

    async def GetModule(
        self, request: pb.GetModuleRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetModuleResponse:
        await self._principal(context)
        row = await self.store.module(parse_module_name(request.name))
        return pb.GetModuleResponse(module=_module(row))

    async def ListVersions(
        self, request: pb.ListVersionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListVersionsResponse:
        await self._principal(context)
        mod = parse_module_name(request.name)
        limit = page_limit(
            request.page.limit, default=DEFAULT_VERSION_PAGE, maximum=MAX_VERSION_PAGE
        )
        rows = await self.store.versions(mod)
        ordered = sorted(rows, key=lambda r: semver.Version.parse(r["version"]), reverse=True)
        bind = cursor_binding("versions", mod.full_norm)
        after = decode_cursor(request.page.cursor, bind, 1)
        if after is not None:
            try:
                pivot = semver.Version.parse(str(after[0]))
            except semver.SemverError:
                raise InvalidArgument(
                    "page.cursor is not a cursor issued by this service"
                ) from None
            ordered = [r for r in ordered if semver.Version.parse(r["version"]) < pivot]
        page, more = split_page(ordered, limit)
        cursor = encode_cursor(bind, [page[-1]["version"]]) if more else ""
        return pb.ListVersionsResponse(
            versions=[_version(r) for r in page], page=common_pb2.PageResponse(next_cursor=cursor)
        )

    async def GetVersion(
        self, request: pb.GetVersionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetVersionResponse:
        await self._principal(context)
        mod = parse_module_name(request.name)
        row = await self.store.version(mod, _version_text(request.version))
        return pb.GetVersionResponse(version=_version(row))

    async def Resolve(
        self, request: pb.ResolveRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ResolveResponse:
        await self._principal(context)
        mod = parse_module_name(request.name)
        try:
            req = semver.Requirement.parse(request.requirement)
        except semver.SemverError as exc:
            raise InvalidArgument(f"requirement {exc}") from None
        rows = await self.store.versions(mod)
        by_version = {semver.Version.parse(r["version"]): r for r in rows}
        chosen = semver.resolve(req, ((v, r["yanked"]) for v, r in by_version.items()))
        if chosen is None:
            raise NotFound(
                f"no version of {mod.display!r} matches requirement {req.text!r}"
                " (yanked versions match only when pinned with =x.y.z)"
            )
        row = by_version[chosen]
        return pb.ResolveResponse(
            name=row["full_name"],
            version=row["version"],
            digest=row["digest"],
            size_bytes=row["size_bytes"],
            kind=_KINDS.to_proto(row["kind"], default=0),
            yanked=row["yanked"],
        )

    async def Download(
        self, request: pb.DownloadRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.DownloadResponse]:
        await self._principal(context)
        chunk = request.chunk_bytes or DEFAULT_CHUNK
        if not MIN_CHUNK <= chunk <= MAX_CHUNK:
            raise InvalidArgument(f"chunk_bytes {chunk} must be {MIN_CHUNK}..{MAX_CHUNK}")
        if request.purpose not in (0, pb.DOWNLOAD_PURPOSE_USER, pb.DOWNLOAD_PURPOSE_RUNTIME):
            raise InvalidArgument(f"purpose {request.purpose} is not a known purpose")
        purpose = "runtime" if request.purpose == pb.DOWNLOAD_PURPOSE_RUNTIME else "user"
        digest = request.digest.lower().removeprefix("sha256:")
        if digest and not _DIGEST.match(digest):
            raise InvalidArgument("digest must be 64 lowercase hex characters (sha256)")
        if request.name or request.version:
            mod = parse_module_name(request.name)
            row = await self.store.version(mod, _version_text(request.version))
            if digest and row["digest"] != digest:
                raise InvalidArgument(
                    f"digest {digest} does not match {row['full_name']}@{row['version']}"
                    f" ({row['digest']})"
                )
        elif digest:
            row = await self.store.version_by_digest(digest)
        else:
            raise InvalidArgument("give name and version, or digest")
        yield pb.DownloadResponse(
            header=pb.DownloadHeader(
                digest=row["digest"],
                size_bytes=row["size_bytes"],
                name=row["full_name"],
                version=row["version"],
                kind=_KINDS.to_proto(row["kind"], default=0),
            )
        )
        sent = 0
        async for piece in rechunk(self.svc.blob_chunks(row["digest"]), chunk):
            sent += len(piece)
            yield pb.DownloadResponse(chunk=piece)
        DOWNLOAD_BYTES.labels(purpose).inc(sent)
        DOWNLOADS.labels(purpose).inc()
        await self.store.record_download(row["id"], row["module_id"], purpose)

    async def Yank(
        self, request: pb.YankRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.YankResponse:
        who = await self._require(context)
        who.require(tokens.YANK)
        mod = parse_module_name(request.name)
        version = _version_text(request.version)
        reason = request.reason.strip()
        if not reason:
            raise InvalidArgument("reason is required (1..500 characters)")
        if len(reason) > MAX_REASON:
            raise InvalidArgument(f"reason is {len(reason)} characters, at most {MAX_REASON}")
        row = await self.store.set_yanked(who, mod, version, True, reason)
        return pb.YankResponse(version=_version(row))

    async def Unyank(
        self, request: pb.UnyankRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UnyankResponse:
        who = await self._require(context)
        who.require(tokens.YANK)
        mod = parse_module_name(request.name)
        row = await self.store.set_yanked(who, mod, _version_text(request.version), False, "")
        return pb.UnyankResponse(version=_version(row))

    # ------------------------------------------------------------ search

    async def SearchModules(
        self, request: pb.SearchModulesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SearchModulesResponse:
        await self._principal(context)
        words = search.query_words(request.query)
        sort = _SORTS.from_proto(request.sort, "sort") or ("relevance" if words else "downloads")
        if sort == "relevance" and not words:
            sort = "downloads"
        kind = _KINDS.from_proto(request.kind, "kind") or ""
        category = names.check_category(request.category) if request.category else ""
        tag = request.tag.strip().lower()
        if len(tag) > names.MAX_TAG_LENGTH:
            raise InvalidArgument(f"tag is {len(tag)} characters, at most {names.MAX_TAG_LENGTH}")
        for field, value in (("owner", request.owner), ("namespace", request.namespace)):
            if len(value) > names.NAMESPACE_MAX:
                raise InvalidArgument(
                    f"{field} is {len(value)} characters, at most {names.NAMESPACE_MAX}"
                )
        license_ = request.license
        if license_:
            # Match the canonical form stored at publish ("mit" finds "MIT").
            license_ = names.check_license(license_)
        q = SearchQuery(
            words=words,
            category=category,
            tag=tag,
            license=license_,
            kind=kind,
            owner=request.owner,
            namespace=request.namespace,
            sort=sort,
            limit=page_limit(request.page.limit, default=DEFAULT_PAGE, maximum=MAX_PAGE),
            cursor=request.page.cursor,
        )
        rows, cursor = await self.store.search(q)
        out = []
        for r in rows:
            item = pb.ModuleSummary(
                name=r["full_name"],
                latest_version=r["latest_version"],
                description=r["description"],
                license=r["license"],
                category=r["category"],
                tags=r["tags"],
                kind=_KINDS.to_proto(r["kind"], default=0),
                downloads=r["downloads"],
                rating_average=r["rating_avg"],
                rating_count=r["rating_count"],
                score=r["score"] if sort == "relevance" else 0.0,
            )
            _ts(r["updated_at"], item.updated_at)
            out.append(item)
        return pb.SearchModulesResponse(
            modules=out, page=common_pb2.PageResponse(next_cursor=cursor)
        )

    # ------------------------------------------------------------ ratings

    async def RateModule(
        self, request: pb.RateModuleRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RateModuleResponse:
        who = await self._require(context)
        who.require(tokens.RATE)
        mod = parse_module_name(request.name)
        if not 1 <= request.stars <= 5:
            raise InvalidArgument(f"stars {request.stars} must be 1..5")
        if len(request.review) > MAX_REVIEW:
            raise InvalidArgument(
                f"review is {len(request.review)} characters, at most {MAX_REVIEW}"
            )
        if "\x00" in request.review:
            raise InvalidArgument("review must not contain NUL characters")
        rating, summary = await self.store.rate(who, mod, request.stars, request.review.strip())
        return pb.RateModuleResponse(rating=_rating(rating), summary=_summary(summary))

    async def ListRatings(
        self, request: pb.ListRatingsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListRatingsResponse:
        await self._principal(context)
        mod = parse_module_name(request.name)
        limit = page_limit(request.page.limit, default=DEFAULT_PAGE, maximum=MAX_PAGE)
        bind = cursor_binding("ratings", mod.full_norm)
        after = decode_cursor(request.page.cursor, bind, 2)
        try:
            rows, summary = await self.store.ratings(mod, limit, after)
        except (TypeError, ValueError):
            raise InvalidArgument("page.cursor is not a cursor issued by this service") from None
        page, more = split_page(rows, limit)
        last = page[-1] if more else None
        cursor = (
            encode_cursor(bind, [last["updated_at"].isoformat(), last["user_id"]]) if last else ""
        )
        return pb.ListRatingsResponse(
            ratings=[_rating(r) for r in page],
            summary=_summary(summary),
            page=common_pb2.PageResponse(next_cursor=cursor),
        )

    # ------------------------------------------------------------ stats

    async def GetDownloadStats(
        self, request: pb.GetDownloadStatsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetDownloadStatsResponse:
        await self._principal(context)
        mod = parse_module_name(request.name)
        days = request.days or DEFAULT_STATS_DAYS
        if days > MAX_STATS_DAYS:
            raise InvalidArgument(f"days {days} is above the maximum {MAX_STATS_DAYS}")
        module = await self.store.module(mod)
        per_version, daily, today = await self.store.download_stats(mod, days)
        by_day = {r["day"]: r for r in daily}
        series = []
        for i in range(days):
            day = today - timedelta(days=days - 1 - i)
            r = by_day.get(day)
            series.append(
                pb.DailyDownloads(
                    date=day.isoformat(),
                    user_downloads=r["user_count"] if r else 0,
                    runtime_fetches=r["runtime_count"] if r else 0,
                )
            )
        versions = sorted(
            per_version, key=lambda r: semver.Version.parse(r["version"]), reverse=True
        )
        return pb.GetDownloadStatsResponse(
            name=module["full_name"],
            days=days,
            user_downloads=sum(r["win_user"] for r in per_version),
            runtime_fetches=sum(r["win_runtime"] for r in per_version),
            user_downloads_total=module["downloads"],
            runtime_fetches_total=module["runtime_fetches"],
            versions=[
                pb.VersionDownloads(
                    version=r["version"],
                    user_downloads=r["win_user"],
                    runtime_fetches=r["win_runtime"],
                    user_downloads_total=r["downloads"],
                    runtime_fetches_total=r["runtime_fetches"],
                )
                for r in versions
            ],
            daily=series,
        )


class MarketplaceService(Service):
    """The registry service: PostgreSQL pool, migrations, bootstrap admin, servicer."""

    name = "marketplace"
    #: Every OSError here comes from the database: the other errors of reconnecting
    #: (TimeoutError, FileNotFoundError for a Unix socket, the plain OSError asyncio
    #: raises when every address refused) are "retry later" too, not INTERNAL.
    unavailable_errors = (OSError,)

    def __init__(self, settings: MarketplaceSettings) -> None:
        self.settings = settings
        self.policy = Policy.with_allow_list(
            settings.allowed_import_modules,
            max_initial_memory_pages=settings.max_initial_memory_pages,
        )
        self.publish_slots = asyncio.Semaphore(settings.max_concurrent_publishes)
        self._pool: asyncpg.Pool | None = None
        self._search_pool: asyncpg.Pool | None = None
        self._store: RegistryStore | None = None
        self.blob_cache = BlobCache(settings.download_cache_bytes)
        self._refresher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def store(self) -> RegistryStore:
        if self._store is None:
            raise Unavailable("marketplace is starting; database not connected yet")
        return self._store

    async def start(self) -> None:
        s = self.settings
        self._pool = await create_pool(
            s.database_url,
            min_size=min(s.db_pool_min, s.db_pool_max),
            max_size=s.db_pool_max,
            wait_seconds=s.db_wait_seconds,
            server_settings={
                "search_path": f"{SCHEMA}, public",
                "statement_timeout": str(s.db_statement_timeout_ms),
            },
        )
        # Search gets its own small pool (a bulkhead: slow searches cannot starve
        # publishes) whose sessions refuse sequential scans: PostgreSQL estimates
        # prefix tsqueries so broadly that it scans every module and evaluates @@ per
        # row instead of using the GIN index, which is slower. Plans are always made for
        # the actual values: after five runs of a prepared statement PostgreSQL may
        # switch to a generic plan, which cannot know how many modules a tsquery
        # matches and runs text searches slower than the planning it saves costs
        # (docs/benchmarks.md).
        self._search_pool = await create_pool(
            s.database_url,
            min_size=1,
            max_size=s.search_pool_max,
            wait_seconds=s.db_wait_seconds,
            server_settings={
                "search_path": f"{SCHEMA}, public",
                "statement_timeout": str(s.db_statement_timeout_ms),
                "enable_seqscan": "off",
                "plan_cache_mode": "force_custom_plan",
            },
        )
        applied = await migrate(s.database_url, migrations_dir(), schema=SCHEMA)
        async with self._pool.acquire() as conn:
            use_trgm = s.pg_trgm and await _enable_pg_trgm(conn)
        if applied:
            log.info("migrations applied", extra={"migrations": applied})
        self._store = RegistryStore(
            self._pool,
            chunk_bytes=s.blob_chunk_bytes,
            use_pg_trgm=use_trgm,
            search_pool=self._search_pool,
        )
        log.info("typo tolerance via %s", "pg_trgm" if use_trgm else "the name-word vocabulary")
        if s.bootstrap_admin_token:
            # The operator may pick a reserved name (the default "admin" is one).
            names.check_namespace(s.bootstrap_admin, "WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN")
            if await self._store.bootstrap_admin(s.bootstrap_admin, s.bootstrap_admin_token):
                log.info("bootstrap admin ready", extra={"username": s.bootstrap_admin})

        self._refresher = asyncio.create_task(self._refresh_ratings())

    async def stop(self) -> None:
        if self._refresher is not None:
            # Let a refresh in flight finish: cancelling a query mid-way races pool.close().
            self._stopping.set()
            try:
                await asyncio.wait_for(self._refresher, 10)
            except TimeoutError:
                log.warning("rating refresh did not stop within 10s")
        if self._search_pool is not None:
            await self._search_pool.close()
        if self._pool is not None:
            await self._pool.close()

    async def _refresh_ratings(self) -> None:
        """Keep modules.rating_* (the search sort keys) within ~one interval of the shards."""
        interval = self.settings.rating_refresh_seconds
        # A rating's updated_at is its statement start; it commits shortly after. Rescanning
        # a margin behind the last pass covers ratings that committed late.
        margin = timedelta(seconds=max(60.0, 2 * interval))
        last = datetime.now(UTC) - margin
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            if self._stopping.is_set():
                return
            started = datetime.now(UTC)
            try:
                await self.store.refresh_rating_columns(last - margin)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("rating refresh failed, will retry: %r", exc)
                continue
            last = started

    async def check_ready(self) -> str | None:
        if self._pool is None:
            return "database pool not open"
        return await ping(self._pool)

    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        pb_grpc.add_MarketplaceServiceServicer_to_server(MarketplaceServicer(self), server)
        return [pb.DESCRIPTOR.services_by_name["MarketplaceService"].full_name]

    async def blob_chunks(self, digest: str) -> AsyncIterator[bytes]:
        """A blob's bytes in stored chunks, from the memory cache when hot."""
        cached = self.blob_cache.get(digest)
        if cached is not None:
            for piece in cached:
                yield piece
            return
        pieces: list[bytes] = []
        async for piece in self.store.read_chunks(digest):
            pieces.append(piece)
            yield piece
        self.blob_cache.put(digest, pieces)


def migrations_dir() -> Path:
    """The packaged migrations directory."""
    return Path(str(resources.files("wasmgrid.marketplace") / "migrations"))


async def _enable_pg_trgm(conn: Conn) -> bool:
    """True when pg_trgm is (or can be made) available, with its name index built."""
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        await conn.execute(
            "CREATE INDEX IF NOT EXISTS modules_name_trgm ON marketplace.modules"
            " USING gin (name_norm gin_trgm_ops)"
        )
    except asyncpg.PostgresError as exc:
        log.info("pg_trgm unavailable, using the name-word vocabulary: %s", exc)
        return False
    return True
