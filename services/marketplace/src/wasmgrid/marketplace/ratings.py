"""Rating modules: one rating per user and module, exact summaries, and the search sort
keys kept within an interval of them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import asyncpg

from wasmgrid.common.errors import InvalidArgument, NotFound, PermissionDenied
from wasmgrid.common.paging import (
    cursor_binding,
    decode_cursor,
    encode_cursor,
    page_limit,
    split_page,
)
from wasmgrid.marketplace import audit, names
from wasmgrid.marketplace.records import (
    DEFAULT_PAGE,
    MAX_PAGE,
    AuditAction,
    AuditTarget,
    Origin,
    Page,
    Principal,
    Rating,
    RatingSummary,
)
from wasmgrid.marketplace.store import audit as audit_log
from wasmgrid.marketplace.store import modules
from wasmgrid.marketplace.store import ratings as store
from wasmgrid.marketplace.store.database import Database
from wasmgrid.marketplace.tokens import Scope

log = logging.getLogger(__name__)

MAX_REVIEW = 2000


class Ratings:
    """RateModule, ListRatings and the refresh of search's rating sort keys."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def rate(
        self, who: Principal, origin: Origin, name: str, stars: int, review: str
    ) -> tuple[Rating, RatingSummary]:
        """Rate a module 1..5 stars with an optional review (replacing the caller's
        earlier rating); owners cannot rate their own modules."""
        who.require(Scope.RATE)
        mod = names.parse_module_name(name)
        if not 1 <= stars <= 5:
            raise InvalidArgument(f"stars {stars} must be 1..5")
        if len(review) > MAX_REVIEW:
            raise InvalidArgument(f"review is {len(review)} characters, at most {MAX_REVIEW}")
        if "\x00" in review:
            raise InvalidArgument("review must not contain NUL characters")
        async with self.db.transaction() as tx:
            rated = await store.rate(
                tx, mod.full_norm, who.user_id, who.username, stars, review.strip()
            )
            if rated is store.Refusal.MODULE_NOT_FOUND:
                raise NotFound(f"module {mod.display!r} not found")
            if rated is store.Refusal.OWN_MODULE:
                raise PermissionDenied(f"you own {mod.display!r}; owners cannot rate their modules")
            # The module as displayed everywhere else in the log, not as this call typed it.
            shown = await modules.display_name(tx, mod.full_norm) or mod.display
            target = AuditTarget(namespace=mod.namespace_norm, module=shown)
            event = audit.event(AuditAction.RATE, who, origin, target, stars=stars)
            await audit_log.record(tx, event)
        audit.committed(event)
        return rated

    async def list(self, name: str, limit: int, cursor: str) -> tuple[Page[Rating], RatingSummary]:
        """A module's ratings, latest first, a page at a time, and its summary."""
        mod = names.parse_module_name(name)
        limit = page_limit(limit, default=DEFAULT_PAGE, maximum=MAX_PAGE)
        bind = cursor_binding("ratings", mod.full_norm)
        after = decode_cursor(cursor, bind, 2)
        module_id = await modules.module_id(self.db.pool, mod.full_norm)
        if module_id is None:
            raise NotFound(f"module {mod.display!r} not found")
        try:
            keyset = (
                None if after is None else (datetime.fromisoformat(str(after[0])), int(after[1]))
            )
        except (TypeError, ValueError):
            raise InvalidArgument("page.cursor is not a cursor issued by this service") from None
        found = await store.page(self.db.pool, module_id, limit + 1, keyset)
        items, more = split_page(found, limit)
        last = items[-1] if more else None
        next_cursor = (
            encode_cursor(bind, [last.updated_at.isoformat(), last.user_id]) if last else ""
        )
        return Page(items, next_cursor), await store.summary(self.db.pool, module_id)

    async def keep_sort_keys_fresh(self, interval: float, stopping: asyncio.Event) -> None:
        """Until `stopping` is set, refresh search's rating sort keys every `interval`
        seconds from the exact shard sums; a failed refresh is retried next time."""
        # A rating's updated_at is its statement start; it commits shortly after. Rescanning
        # a margin behind the last pass covers ratings that committed late.
        margin = timedelta(seconds=max(60.0, 2 * interval))
        last = datetime.now(UTC) - margin
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)
            if stopping.is_set():
                return
            started = datetime.now(UTC)
            try:
                await store.refresh_sort_keys(self.db.pool, last - margin)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("rating refresh failed, will retry: %r", exc)
                continue
            last = started
