"""Translation between marketplace.proto messages and the registry's records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any, cast

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.protoenum import ProtoEnum
from wasmgrid.marketplace.components import World, WorldItem
from wasmgrid.marketplace.limits import NamespaceLimits
from wasmgrid.marketplace.records import (
    Assets,
    AssetsChunk,
    AuditAction,
    AuditEvent,
    AuditFilter,
    DownloadStats,
    Metadata,
    Module,
    PublishMetadata,
    PublishPart,
    Purpose,
    Rating,
    RatingSummary,
    Scratch,
    SearchHit,
    SearchRequest,
    Token,
    User,
    Version,
)
from wasmgrid.marketplace.search import Sort
from wasmgrid.marketplace.tokens import Role, Scope
from wasmgrid.marketplace.validation import Report

ROLES = ProtoEnum.members(pb.Role, Role)
SCOPES = ProtoEnum.members(pb.Scope, Scope)
PURPOSES = ProtoEnum.members(pb.DownloadPurpose, Purpose)
SORTS = ProtoEnum.members(pb.SearchSort, Sort)
AUDIT_ACTIONS = ProtoEnum.members(pb.AuditAction, AuditAction)
#: Module kinds and finding severities are stored as the proto's short names.
KINDS = ProtoEnum.names(pb.ModuleKind)
SEVERITIES = ProtoEnum.names(pb.Severity)


def _ts(value: datetime | None, out: Timestamp) -> None:
    if value is not None:
        out.FromDatetime(value)


# ------------------------------------------------------------------ identity


def user_to_pb(user: User) -> pb.User:
    """A user as proto."""
    out = pb.User(username=user.username, role=ROLES.to_proto(user.role))
    _ts(user.created_at, out.created_at)
    return out


def token_to_pb(token: Token) -> pb.Token:
    """A token as proto (never its secret)."""
    out = pb.Token(
        id=str(token.id),
        name=token.name,
        prefix=token.prefix,
        scopes=[SCOPES.to_proto(s) for s in token.scopes],
        username=token.username,
    )
    _ts(token.created_at, out.created_at)
    _ts(token.expires_at, out.expires_at)
    _ts(token.last_used_at, out.last_used_at)
    _ts(token.revoked_at, out.revoked_at)
    return out


def scopes_from_pb(values: Iterable[int]) -> list[Scope | None]:
    """Requested scopes (None for SCOPE_UNSPECIFIED); INVALID_ARGUMENT naming `scopes`
    for a number the contract does not define."""
    return [SCOPES.from_proto(v, "scopes") for v in values]


# ------------------------------------------------------------------ modules and versions


def _metadata_fields(m: Metadata) -> dict[str, Any]:
    """A version's metadata as the fields that Module and ModuleVersion share."""
    return {
        "description": m.description,
        "license": m.license,
        "category": m.category,
        "tags": m.tags,
        "homepage": m.homepage,
        "repository": m.repository,
    }


def module_to_pb(m: Module) -> pb.Module:
    """A module as proto."""
    out = pb.Module(
        name=m.name,
        namespace=m.namespace,
        latest_version=m.latest_version,
        kind=KINDS.to_proto(m.kind, default=0),
        downloads=m.downloads,
        runtime_fetches=m.runtime_fetches,
        rating_average=m.rating_average,
        rating_count=m.rating_count,
        version_count=m.version_count,
        owners=m.owners,
        all_yanked=m.all_yanked,
        **_metadata_fields(m.metadata),
    )
    _ts(m.created_at, out.created_at)
    _ts(m.updated_at, out.updated_at)
    return out


def version_to_pb(v: Version) -> pb.ModuleVersion:
    """A version as proto, with its validation report when it was read."""
    out = pb.ModuleVersion(
        name=v.name,
        version=v.version,
        digest=v.digest,
        size_bytes=v.size_bytes,
        kind=KINDS.to_proto(v.kind, default=0),
        published_by=v.published_by,
        yanked=v.yanked,
        yank_reason=v.yank_reason,
        downloads=v.downloads,
        prerelease=v.prerelease,
        **_metadata_fields(v.metadata),
    )
    _ts(v.published_at, out.published_at)
    _ts(v.yanked_at, out.yanked_at)
    if v.validation is not None:
        out.validation.CopyFrom(report_to_pb(v.validation))
    if v.assets is not None:
        out.assets.CopyFrom(assets_to_pb(v.assets))
    if v.scratch is not None:
        out.scratch.CopyFrom(scratch_to_pb(v.scratch))
    return out


def scratch_to_pb(sc: Scratch) -> pb.ScratchSpace:
    """A version's scratch space as proto."""
    return pb.ScratchSpace(mount=sc.mount, max_bytes=sc.max_bytes, max_files=sc.max_files)


def limits_to_pb(limits: NamespaceLimits) -> pb.NamespaceLimits:
    """A namespace's size caps as proto."""
    return pb.NamespaceLimits(
        namespace=limits.namespace,
        max_module_bytes=limits.max_module_bytes,
        max_assets_bytes=limits.max_assets_bytes,
        custom=limits.custom,
    )


def assets_to_pb(a: Assets) -> pb.Assets:
    """A version's assets as proto."""
    return pb.Assets(
        digest=a.digest,
        size_bytes=a.size_bytes,
        file_count=a.file_count,
        mount=a.mount,
        content_bytes=a.content_bytes,
    )


def report_to_pb(doc: Report) -> pb.ValidationReport:
    """A validation report as proto."""
    return pb.ValidationReport(
        valid=doc.valid,
        kind=KINDS.to_proto(doc.kind, default=0),
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
            pb.Finding(severity=SEVERITIES.to_proto(f.severity), code=f.code, message=f.message)
            for f in doc.findings
        ],
        validator=doc.validator,
        world=world_to_pb(doc.world),
    )


def world_to_pb(world: World | None) -> pb.ComponentWorld | None:
    """A component's world as proto (None for a core module)."""
    if world is None:
        return None

    def item(i: WorldItem) -> pb.WorldItem:
        return pb.WorldItem(name=i.name, kind=i.kind, wit=i.wit, items=i.items, access=i.access)

    return pb.ComponentWorld(
        imports=[item(i) for i in world.imports],
        exports=[item(e) for e in world.exports],
        is_command=world.is_command,
    )


def resolved_to_pb(v: Version) -> pb.ResolveResponse:
    """The version a requirement resolved to."""
    out = pb.ResolveResponse(
        name=v.name,
        version=v.version,
        digest=v.digest,
        size_bytes=v.size_bytes,
        kind=KINDS.to_proto(v.kind, default=0),
        yanked=v.yanked,
    )
    if v.assets is not None:
        out.assets.CopyFrom(assets_to_pb(v.assets))
    if v.scratch is not None:
        out.scratch.CopyFrom(scratch_to_pb(v.scratch))
    return out


def download_header(v: Version) -> pb.DownloadHeader:
    """The first message of a download: what the bytes are."""
    return pb.DownloadHeader(
        digest=v.digest,
        size_bytes=v.size_bytes,
        name=v.name,
        version=v.version,
        kind=KINDS.to_proto(v.kind, default=0),
    )


def purpose_from_pb(number: int) -> Purpose:
    """A download's purpose (unspecified counts as USER)."""
    return PURPOSES.from_proto(number, "purpose") or Purpose.USER


async def publish_parts(stream: AsyncIterator[pb.PublishRequest]) -> AsyncIterator[PublishPart]:
    """A Publish stream as metadata, chunks of module or assets bytes, or None for an
    empty message."""
    async for message in stream:
        payload = message.WhichOneof("payload")
        if payload == "metadata":
            md = message.metadata
            yield PublishMetadata(
                name=md.name,
                version=md.version,
                metadata=Metadata(
                    description=md.description,
                    license=md.license,
                    category=md.category,
                    tags=tuple(md.tags),
                    homepage=md.homepage,
                    repository=md.repository,
                ),
                size_bytes=md.size_bytes,
                sha256=md.sha256,
                assets_mount=md.assets_mount,
                assets_size_bytes=md.assets_size_bytes,
                scratch=Scratch(md.scratch.mount, md.scratch.max_bytes, md.scratch.max_files)
                if md.HasField("scratch")
                else None,
            )
        elif payload == "chunk":
            yield message.chunk
        elif payload == "assets_chunk":
            yield AssetsChunk(message.assets_chunk)
        else:
            yield None


def search_from_pb(r: pb.SearchModulesRequest) -> SearchRequest:
    """A search request's parameters (enums checked here, the rest by the catalog)."""
    return SearchRequest(
        query=r.query,
        category=r.category,
        tag=r.tag,
        license=r.license,
        kind=KINDS.from_proto(r.kind, "kind") or "",
        owner=r.owner,
        namespace=r.namespace,
        sort=SORTS.from_proto(r.sort, "sort"),
        limit=r.page.limit,
        cursor=r.page.cursor,
    )


def hit_to_pb(h: SearchHit) -> pb.ModuleSummary:
    """A search hit as proto."""
    out = pb.ModuleSummary(
        name=h.name,
        latest_version=h.latest_version,
        description=h.description,
        license=h.license,
        category=h.category,
        tags=h.tags,
        kind=KINDS.to_proto(h.kind, default=0),
        downloads=h.downloads,
        rating_average=h.rating_average,
        rating_count=h.rating_count,
        score=h.score,
    )
    _ts(h.updated_at, out.updated_at)
    return out


# ------------------------------------------------------------------ ratings and statistics


def rating_to_pb(r: Rating) -> pb.Rating:
    """A rating as proto."""
    out = pb.Rating(username=r.username, stars=r.stars, review=r.review)
    _ts(r.created_at, out.created_at)
    _ts(r.updated_at, out.updated_at)
    return out


def summary_to_pb(s: RatingSummary) -> pb.RatingSummary:
    """A rating summary as proto."""
    return pb.RatingSummary(count=s.count, average=s.average, histogram=s.histogram)


def download_stats_to_pb(s: DownloadStats) -> pb.GetDownloadStatsResponse:
    """Download statistics as the GetDownloadStats answer."""
    return pb.GetDownloadStatsResponse(
        name=s.name,
        days=s.days,
        user_downloads=s.user_downloads,
        runtime_fetches=s.runtime_fetches,
        user_downloads_total=s.user_downloads_total,
        runtime_fetches_total=s.runtime_fetches_total,
        versions=[
            pb.VersionDownloads(
                version=v.version,
                user_downloads=v.user_downloads,
                runtime_fetches=v.runtime_fetches,
                user_downloads_total=v.user_downloads_total,
                runtime_fetches_total=v.runtime_fetches_total,
            )
            for v in s.versions
        ],
        daily=[
            pb.DailyDownloads(
                date=d.day.isoformat(),
                user_downloads=d.user_downloads,
                runtime_fetches=d.runtime_fetches,
            )
            for d in s.daily
        ],
    )


# ------------------------------------------------------------------ audit


def _time_filter(request: pb.ListAuditEventsRequest, field: str) -> datetime | None:
    if not request.HasField(field):
        return None
    try:
        value: datetime = getattr(request, field).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{field}: not a valid timestamp") from None
    return value


def audit_filter_from_pb(request: pb.ListAuditEventsRequest) -> AuditFilter:
    """ListAuditEvents' filters as plain values."""
    return AuditFilter(
        namespace=request.namespace,
        actor=request.actor,
        action=AUDIT_ACTIONS.from_proto(request.action, "action"),
        since=_time_filter(request, "since"),
        until=_time_filter(request, "until"),
    )


def audit_event_to_pb(stored: AuditEvent) -> pb.AuditEvent:
    """A stored audit event as proto."""
    ev = stored.event
    t = ev.target
    detail = Struct()
    detail.update(cast(dict[str, Any], ev.detail))
    out = pb.AuditEvent(
        id=stored.id,
        actor=ev.actor_name,
        action=AUDIT_ACTIONS.to_proto(ev.action),
        namespace=t.namespace,
        module=t.module,
        version=t.version,
        token_id="" if t.token_id is None else str(t.token_id),
        subject=t.subject,
        detail=detail,
        client_address=ev.origin.client_address,
        peer_address=ev.origin.peer_address,
        trace_id=ev.origin.trace_id,
    )
    _ts(stored.at, out.at)
    return out
