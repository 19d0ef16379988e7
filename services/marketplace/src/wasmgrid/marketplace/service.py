"""The marketplace service: its lifecycle and the gRPC servicer.

The servicer is thin: it reads the caller's token from the metadata, turns the request
into plain values (:mod:`convert`), calls a use case of the :class:`Domain` and turns
the records it returns back into messages. Rules live in the domain modules
(:mod:`identity`, :mod:`publishing`, :mod:`catalog`, :mod:`ratings`, :mod:`stats`),
SQL in :mod:`store`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc

from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.api.marketplace.v1 import marketplace_pb2_grpc as pb_grpc
from wasmgrid.common.errors import ServiceError, Unauthenticated, Unavailable
from wasmgrid.common.logs import current_trace_ids
from wasmgrid.common.origin import client_address, peer_host
from wasmgrid.common.server import Service
from wasmgrid.marketplace import convert
from wasmgrid.marketplace.audit import AuditLog
from wasmgrid.marketplace.blobs import BlobCache
from wasmgrid.marketplace.catalog import Catalog
from wasmgrid.marketplace.feed import PublishFeed
from wasmgrid.marketplace.identity import Identity
from wasmgrid.marketplace.limits import Defaults, Limits
from wasmgrid.marketplace.publishing import Publishing, counted_attempt
from wasmgrid.marketplace.ratings import Ratings
from wasmgrid.marketplace.records import Origin, Principal
from wasmgrid.marketplace.settings import MarketplaceSettings
from wasmgrid.marketplace.stats import Stats
from wasmgrid.marketplace.store.database import Database
from wasmgrid.marketplace.validation import Policy

log = logging.getLogger(__name__)

Ctx = grpc.aio.ServicerContext[Any, Any]
#: How long stop() lets a rating refresh in flight finish.
REFRESH_STOP_SECONDS = 10.0


@dataclass(frozen=True)
class Domain:
    """The registry's use cases, built once the database is connected."""

    db: Database
    identity: Identity
    publishing: Publishing
    catalog: Catalog
    ratings: Ratings
    stats: Stats
    limits: Limits
    audit: AuditLog


class MarketplaceServicer(pb_grpc.MarketplaceServiceServicer):
    """MarketplaceService over gRPC: proto in, a use case, proto out."""

    def __init__(self, svc: MarketplaceService) -> None:
        self.svc = svc
        self.settings = svc.settings

    @property
    def domain(self) -> Domain:
        """The use cases (UNAVAILABLE while the service is starting)."""
        return self.svc.domain

    async def _principal(self, context: Ctx) -> Principal | None:
        """The caller, if it sent a token (which must then be valid)."""
        auth = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                auth = value if isinstance(value, str) else value.decode()
        return await self.domain.identity.authenticate(auth)

    @staticmethod
    def _origin(context: Ctx) -> Origin:
        """Where the call came from: the client's address (the gateway's word for it,
        else the peer's), the peer's address, and the call's trace id."""
        peer = context.peer()
        return Origin(
            client_address(context.invocation_metadata(), peer),
            peer_host(peer),
            current_trace_ids()[0],
        )

    async def _require(self, context: Ctx) -> Principal:
        """The caller, who must have sent a valid token."""
        who = await self._principal(context)
        if who is None:
            raise Unauthenticated(
                "this call needs an API token: metadata authorization: Bearer wgt_…"
            )
        return who

    # ------------------------------------------------------------ identity

    async def CreateUser(
        self, request: pb.CreateUserRequest, context: Ctx
    ) -> pb.CreateUserResponse:
        who = await self._principal(context)
        user, issued = await self.domain.identity.create_user(
            who,
            self._origin(context),
            request.username,
            convert.ROLES.from_proto(request.role, "role"),
            request.token_name,
        )
        return pb.CreateUserResponse(
            user=convert.user_to_pb(user),
            token=convert.token_to_pb(issued.token),
            secret=issued.secret,
        )

    async def WhoAmI(self, request: pb.WhoAmIRequest, context: Ctx) -> pb.WhoAmIResponse:
        who = await self._require(context)
        user, owned = await self.domain.identity.whoami(who)
        return pb.WhoAmIResponse(
            user=convert.user_to_pb(user),
            token=convert.token_to_pb(who.token),
            namespaces=owned,
            # In the token's own order, less what the user's role no longer holds.
            effective_scopes=[
                convert.SCOPES.to_proto(s) for s in who.token.scopes if s in who.scopes
            ],
        )

    async def CreateToken(
        self, request: pb.CreateTokenRequest, context: Ctx
    ) -> pb.CreateTokenResponse:
        who = await self._require(context)
        issued = await self.domain.identity.create_token(
            who,
            self._origin(context),
            request.name,
            convert.scopes_from_pb(request.scopes),
            int(request.ttl_seconds),
        )
        return pb.CreateTokenResponse(token=convert.token_to_pb(issued.token), secret=issued.secret)

    async def ListTokens(
        self, request: pb.ListTokensRequest, context: Ctx
    ) -> pb.ListTokensResponse:
        who = await self._require(context)
        found = await self.domain.identity.list_tokens(who, request.include_inactive)
        return pb.ListTokensResponse(tokens=[convert.token_to_pb(t) for t in found])

    async def RevokeToken(
        self, request: pb.RevokeTokenRequest, context: Ctx
    ) -> pb.RevokeTokenResponse:
        who = await self._require(context)
        token = await self.domain.identity.revoke_token(
            who, self._origin(context), request.token_id
        )
        return pb.RevokeTokenResponse(token=convert.token_to_pb(token))

    async def ListUsers(self, request: pb.ListUsersRequest, context: Ctx) -> pb.ListUsersResponse:
        who = await self._require(context)
        page = await self.domain.identity.list_users(
            who,
            convert.ROLES.from_proto(request.role, "role"),
            request.page.limit,
            request.page.cursor,
        )
        return pb.ListUsersResponse(
            users=[convert.user_to_pb(u) for u in page.items],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def SetUserRole(
        self, request: pb.SetUserRoleRequest, context: Ctx
    ) -> pb.SetUserRoleResponse:
        who = await self._require(context)
        change = await self.domain.identity.set_role(
            who,
            self._origin(context),
            request.username,
            convert.ROLES.from_proto(request.role, "role"),
            request.issue_token,
        )
        out = pb.SetUserRoleResponse(
            user=convert.user_to_pb(change.user),
            previous_role=convert.ROLES.to_proto(change.previous),
        )
        if change.issued is not None:
            out.token.CopyFrom(convert.token_to_pb(change.issued.token))
            out.secret = change.issued.secret
        return out

    # ------------------------------------------------------------ owners

    async def AddOwner(self, request: pb.AddOwnerRequest, context: Ctx) -> pb.AddOwnerResponse:
        who = await self._require(context)
        owners = await self.domain.identity.add_owner(
            who, self._origin(context), request.namespace, request.username
        )
        return pb.AddOwnerResponse(owners=[convert.user_to_pb(u) for u in owners])

    async def RemoveOwner(
        self, request: pb.RemoveOwnerRequest, context: Ctx
    ) -> pb.RemoveOwnerResponse:
        who = await self._require(context)
        owners = await self.domain.identity.remove_owner(
            who, self._origin(context), request.namespace, request.username
        )
        return pb.RemoveOwnerResponse(owners=[convert.user_to_pb(u) for u in owners])

    async def ListOwners(
        self, request: pb.ListOwnersRequest, context: Ctx
    ) -> pb.ListOwnersResponse:
        await self._principal(context)
        owners = await self.domain.identity.list_owners(request.namespace)
        return pb.ListOwnersResponse(owners=[convert.user_to_pb(u) for u in owners])

    # ------------------------------------------------------------ publish

    async def Publish(
        self,
        request_iterator: AsyncIterator[pb.PublishRequest],
        context: Ctx,
    ) -> pb.PublishResponse:
        with counted_attempt():
            try:
                who = await self._require(context)
                published = await self.domain.publishing.publish(
                    who, self._origin(context), convert.publish_parts(request_iterator)
                )
            except ServiceError:
                # A refusal can come before the bytes are read (bad token, version exists,
                # not the owner). grpc.aio clients still sending then see "INTERNAL: Internal
                # error from Core" instead of our status: read out what they send (bounded)
                # so they get the status that names the problem.
                await self._drain(request_iterator)
                raise
        return pb.PublishResponse(version=convert.version_to_pb(published))

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

    # ------------------------------------------------------------ reads

    async def GetModule(self, request: pb.GetModuleRequest, context: Ctx) -> pb.GetModuleResponse:
        await self._principal(context)
        module = await self.domain.catalog.module(request.name)
        return pb.GetModuleResponse(module=convert.module_to_pb(module))

    async def ListVersions(
        self, request: pb.ListVersionsRequest, context: Ctx
    ) -> pb.ListVersionsResponse:
        await self._principal(context)
        page = await self.domain.catalog.versions(
            request.name, request.page.limit, request.page.cursor
        )
        return pb.ListVersionsResponse(
            versions=[convert.version_to_pb(v) for v in page.items],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def GetVersion(
        self, request: pb.GetVersionRequest, context: Ctx
    ) -> pb.GetVersionResponse:
        await self._principal(context)
        version = await self.domain.catalog.version(request.name, request.version)
        return pb.GetVersionResponse(version=convert.version_to_pb(version))

    async def Resolve(self, request: pb.ResolveRequest, context: Ctx) -> pb.ResolveResponse:
        await self._principal(context)
        version = await self.domain.catalog.resolve(request.name, request.requirement)
        return convert.resolved_to_pb(version)

    async def Download(
        self, request: pb.DownloadRequest, context: Ctx
    ) -> AsyncIterator[pb.DownloadResponse]:
        await self._principal(context)
        target, pieces = await self.domain.catalog.download(
            request.name,
            request.version,
            request.digest,
            convert.purpose_from_pb(request.purpose),
            request.chunk_bytes,
        )
        yield pb.DownloadResponse(header=convert.download_header(target))
        async for piece in pieces:
            yield pb.DownloadResponse(chunk=piece)

    async def WatchPublishes(
        self, request: pb.WatchPublishesRequest, context: Ctx
    ) -> AsyncIterator[pb.PublishEvent]:
        async for item in self.svc.feed.watch(request.after_seq):
            if isinstance(item, int):
                yield pb.PublishEvent(seq=item)
            else:
                yield pb.PublishEvent(seq=item.seq, version=convert.version_to_pb(item.version))

    async def GetNamespaceLimits(
        self, request: pb.GetNamespaceLimitsRequest, context: Ctx
    ) -> pb.NamespaceLimits:
        await self._principal(context)
        return convert.limits_to_pb(await self.domain.limits.get(request.namespace))

    async def SetNamespaceLimits(
        self, request: pb.SetNamespaceLimitsRequest, context: Ctx
    ) -> pb.NamespaceLimits:
        who = await self._require(context)
        limits = await self.domain.limits.set(
            who,
            self._origin(context),
            request.namespace,
            request.max_module_bytes,
            request.max_assets_bytes,
        )
        log.info(
            "namespace limits set",
            extra={
                "namespace": limits.namespace,
                "max_module_bytes": limits.max_module_bytes,
                "max_assets_bytes": limits.max_assets_bytes,
                "by": who.username,
            },
        )
        return convert.limits_to_pb(limits)

    async def Yank(self, request: pb.YankRequest, context: Ctx) -> pb.YankResponse:
        who = await self._require(context)
        version = await self.domain.catalog.yank(
            who, self._origin(context), request.name, request.version, request.reason
        )
        return pb.YankResponse(version=convert.version_to_pb(version))

    async def Unyank(self, request: pb.UnyankRequest, context: Ctx) -> pb.UnyankResponse:
        who = await self._require(context)
        version = await self.domain.catalog.unyank(
            who, self._origin(context), request.name, request.version
        )
        return pb.UnyankResponse(version=convert.version_to_pb(version))

    # ------------------------------------------------------------ search

    async def SearchModules(
        self, request: pb.SearchModulesRequest, context: Ctx
    ) -> pb.SearchModulesResponse:
        await self._principal(context)
        page = await self.domain.catalog.search(convert.search_from_pb(request))
        return pb.SearchModulesResponse(
            modules=[convert.hit_to_pb(h) for h in page.items],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    # ------------------------------------------------------------ ratings

    async def RateModule(
        self, request: pb.RateModuleRequest, context: Ctx
    ) -> pb.RateModuleResponse:
        who = await self._require(context)
        rating, summary = await self.domain.ratings.rate(
            who, self._origin(context), request.name, request.stars, request.review
        )
        return pb.RateModuleResponse(
            rating=convert.rating_to_pb(rating), summary=convert.summary_to_pb(summary)
        )

    async def ListRatings(
        self, request: pb.ListRatingsRequest, context: Ctx
    ) -> pb.ListRatingsResponse:
        await self._principal(context)
        page, summary = await self.domain.ratings.list(
            request.name, request.page.limit, request.page.cursor
        )
        return pb.ListRatingsResponse(
            ratings=[convert.rating_to_pb(r) for r in page.items],
            summary=convert.summary_to_pb(summary),
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    # ------------------------------------------------------------ stats

    async def GetDownloadStats(
        self, request: pb.GetDownloadStatsRequest, context: Ctx
    ) -> pb.GetDownloadStatsResponse:
        await self._principal(context)
        stats = await self.domain.stats.downloads(request.name, request.days)
        return convert.download_stats_to_pb(stats)

    # ------------------------------------------------------------ audit

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: Ctx
    ) -> pb.ListAuditEventsResponse:
        who = await self._require(context)
        page = await self.domain.audit.list(
            who,
            convert.audit_filter_from_pb(request),
            request.page.limit,
            request.page.cursor,
        )
        return pb.ListAuditEventsResponse(
            events=[convert.audit_event_to_pb(e) for e in page.items],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )


class MarketplaceService(Service):
    """The registry service: the database, the use cases, the bootstrap admin, the
    rating refresher and the servicer."""

    name = "marketplace"
    #: Every OSError here comes from the database: the other errors of reconnecting
    #: (TimeoutError, FileNotFoundError for a Unix socket, the plain OSError asyncio
    #: raises when every address refused) are "retry later" too, not INTERNAL.
    #: A statement past its statement_timeout (QueryCanceledError) or a client-side
    #: deadline (TimeoutError, an OSError) on a hung database: retry later, 503.
    unavailable_errors = (OSError, asyncpg.QueryCanceledError)

    def __init__(self, settings: MarketplaceSettings) -> None:
        self.settings = settings
        self._db: Database | None = None
        self._domain: Domain | None = None
        self.blob_cache = BlobCache(settings.download_cache_bytes)
        self._refresher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._feed: PublishFeed | None = None
        self._feed_task: asyncio.Task[None] | None = None

    @property
    def domain(self) -> Domain:
        """The use cases, once the database is connected."""
        if self._domain is None:
            raise Unavailable("marketplace is starting; database not connected yet")
        return self._domain

    async def start(self) -> None:
        s = self.settings
        self._db = db = await Database.open(
            s.database_url,
            pool_min=s.db_pool_min,
            pool_max=s.db_pool_max,
            search_pool_max=s.search_pool_max,
            wait_seconds=s.db_wait_seconds,
            statement_timeout_ms=s.db_statement_timeout_ms,
            pg_trgm=s.pg_trgm,
            acquire_timeout=s.db_acquire_timeout_seconds,
        )
        identity = Identity(
            db,
            open_signup=s.open_signup,
            bootstrap_admin=s.bootstrap_admin if s.bootstrap_admin_token else "",
        )
        limits = Limits(db, Defaults(s.max_module_bytes, s.max_assets_bytes, s.size_ceiling_bytes))
        publishing = Publishing(
            db,
            policy=Policy.with_allow_list(
                s.allowed_import_modules, max_initial_memory_pages=s.max_initial_memory_pages
            ),
            chunk_bytes=s.blob_chunk_bytes,
            max_concurrent=s.max_concurrent_publishes,
            idle_timeout=s.publish_idle_timeout_seconds,
            max_versions=s.max_versions_per_module,
            limits=limits,
            max_assets_files=s.max_assets_files,
        )
        self._domain = Domain(
            db,
            identity,
            publishing,
            Catalog(db, self.blob_cache),
            Ratings(db),
            Stats(db),
            limits,
            AuditLog(db),
        )
        if s.bootstrap_admin_token and await identity.bootstrap_admin(
            s.bootstrap_admin, s.bootstrap_admin_token, Origin("", "", "")
        ):
            log.info("bootstrap admin ready", extra={"username": s.bootstrap_admin})

        self._refresher = asyncio.create_task(
            self._domain.ratings.keep_sort_keys_fresh(s.rating_refresh_seconds, self._stopping)
        )
        self._feed = PublishFeed(db, s.database_url)
        self._feed_task = asyncio.create_task(self._feed.run(self._stopping), name="publish-feed")

    @property
    def feed(self) -> PublishFeed:
        """The publish feed, once the database is connected."""
        if self._feed is None:
            raise Unavailable("marketplace is starting; publish feed not running yet")
        return self._feed

    async def stop(self) -> None:
        self._stopping.set()
        if self._feed_task is not None:
            await asyncio.wait_for(self._feed_task, REFRESH_STOP_SECONDS)
        if self._refresher is not None:
            # Let a refresh in flight finish: cancelling a query mid-way races pool.close().
            self._stopping.set()
            try:
                await asyncio.wait_for(self._refresher, REFRESH_STOP_SECONDS)
            except TimeoutError:
                log.warning("rating refresh did not stop within %.0fs", REFRESH_STOP_SECONDS)
        if self._db is not None:
            await self._db.close()

    async def check_ready(self) -> str | None:
        if self._db is None:
            return "database pool not open"
        return await self._db.ping()

    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        pb_grpc.add_MarketplaceServiceServicer_to_server(MarketplaceServicer(self), server)
        return [pb.DESCRIPTOR.services_by_name["MarketplaceService"].full_name]
