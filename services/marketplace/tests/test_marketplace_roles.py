"""Roles through gRPC on a real PostgreSQL: admins list users and change roles; a
token acts within its user's current role; the registry always keeps an admin, even
when two admins demote each other at the same moment."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import grpc
from google.protobuf import json_format

from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.common.testing import expect_rpc_error
from wasmgrid.marketplace.tokens import new_secret

from .conftest import Market, MarketFactory, auth

ALL_SCOPES = [pb.SCOPE_PUBLISH, pb.SCOPE_YANK, pb.SCOPE_RATE, pb.SCOPE_ADMIN]


async def whoami(market: Market, secret: str) -> pb.WhoAmIResponse:
    resp: pb.WhoAmIResponse = await market.stub.WhoAmI(pb.WhoAmIRequest(), metadata=auth(secret))
    return resp


async def set_role(
    market: Market, caller: str, username: str, role: int, issue_token: bool = False
) -> pb.SetUserRoleResponse:
    resp: pb.SetUserRoleResponse = await market.stub.SetUserRole(
        pb.SetUserRoleRequest(username=username, role=role, issue_token=issue_token),  # type: ignore[arg-type]
        metadata=auth(caller),
    )
    return resp


async def role_events(market: Market) -> list[pb.AuditEvent]:
    resp = await market.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(
            action=pb.AUDIT_ACTION_ROLE_CHANGE, page=common_pb2.PageRequest(limit=1000)
        ),
        metadata=auth(market.admin),
    )
    return list(resp.events)


async def admins(market: Market) -> list[str]:
    resp = await market.stub.ListUsers(
        pb.ListUsersRequest(role=pb.ROLE_ADMIN), metadata=auth(market.admin)
    )
    return [u.username for u in resp.users]


def detail(event: pb.AuditEvent) -> dict[str, Any]:
    return json_format.MessageToDict(event.detail)


async def test_a_promoted_user_gets_the_new_roles_power_through_the_token_issued_with_it(
    market: Market, hello_wasm: bytes
) -> None:
    old = await market.user("Bob_B")
    resp = await set_role(market, market.admin, "bob-b", pb.ROLE_ADMIN, issue_token=True)
    assert (resp.user.username, resp.user.role) == ("Bob_B", pb.ROLE_ADMIN)
    assert resp.previous_role == pb.ROLE_PUBLISHER
    assert sorted(resp.token.scopes) == ALL_SCOPES
    assert resp.token.name == "role-admin"
    assert resp.secret.startswith("wgt_")

    fresh = await whoami(market, resp.secret)
    assert sorted(fresh.effective_scopes) == ALL_SCOPES
    # The old token keeps the scopes it was created with: promotion widens no token.
    stale = await whoami(market, old)
    assert stale.user.role == pb.ROLE_ADMIN
    assert sorted(stale.effective_scopes) == [pb.SCOPE_PUBLISH, pb.SCOPE_YANK, pb.SCOPE_RATE]
    assert (await market.stub.ListUsers(pb.ListUsersRequest(), metadata=auth(resp.secret))).users

    (event,) = await role_events(market)
    assert (event.actor, event.subject) == ("admin", "Bob_B")
    assert detail(event) == {
        "before": "publisher",
        "after": "admin",
        "token_id": resp.token.id,
    }
    tokens = await market.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(action=pb.AUDIT_ACTION_TOKEN_CREATE),
        metadata=auth(market.admin),
    )
    issued = [e for e in tokens.events if e.token_id == resp.token.id]
    assert [(e.actor, e.subject) for e in issued] == [("admin", "Bob_B")]


async def test_a_demoted_users_tokens_lose_the_scopes_of_the_old_role_at_once(
    market: Market, hello_wasm: bytes
) -> None:
    secret = await market.user("alice")
    await market.publish(secret, "alice/first", "1.0.0", hello_wasm)

    resp = await set_role(market, market.admin, "alice", pb.ROLE_USER)
    assert (resp.previous_role, resp.user.role) == (pb.ROLE_PUBLISHER, pb.ROLE_USER)
    assert not resp.secret
    assert not resp.HasField("token")

    me = await whoami(market, secret)
    assert sorted(me.token.scopes) == [pb.SCOPE_PUBLISH, pb.SCOPE_YANK, pb.SCOPE_RATE]
    assert list(me.effective_scopes) == [pb.SCOPE_RATE]
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.publish(secret, "alice/first", "1.0.1", hello_wasm),
        "publish",
    )
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.stub.Yank(
            pb.YankRequest(name="alice/first", version="1.0.0", reason="x"),
            metadata=auth(secret),
        ),
        "yank",
    )
    # Promoted back, the same token publishes again: the role is the gate.
    await set_role(market, market.admin, "alice", pb.ROLE_PUBLISHER)
    await market.publish(secret, "alice/first", "1.0.1", hello_wasm)


async def test_a_demoted_admins_admin_token_can_no_longer_act_as_an_admin(
    market: Market,
) -> None:
    carol = await market.user("carol", pb.ROLE_ADMIN)
    await market.user("dave")
    await set_role(market, carol, "dave", pb.ROLE_USER)
    await set_role(market, market.admin, "carol", pb.ROLE_PUBLISHER)
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        set_role(market, carol, "dave", pb.ROLE_PUBLISHER),
        "only an admin may change roles",
    )
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.stub.ListUsers(pb.ListUsersRequest(), metadata=auth(carol)),
        "only an admin may list users",
    )


async def test_role_changes_are_refused_clearly_and_the_same_role_is_no_event(
    market: Market,
) -> None:
    publisher = await market.user("erin")
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        set_role(market, publisher, "erin", pb.ROLE_ADMIN),
        "only an admin may change roles",
    )
    await expect_rpc_error(
        grpc.StatusCode.UNAUTHENTICATED,
        market.stub.SetUserRole(pb.SetUserRoleRequest(username="erin", role=pb.ROLE_USER)),
    )
    await expect_rpc_error(
        grpc.StatusCode.NOT_FOUND,
        set_role(market, market.admin, "nobody-here", pb.ROLE_USER),
        "'nobody-here' not found",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        set_role(market, market.admin, "erin", pb.ROLE_UNSPECIFIED),
        "role: 0",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        set_role(market, market.admin, "erin", 9),
        "role: 9",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        set_role(market, market.admin, "-erin", pb.ROLE_USER),
        "username",
    )
    same = await set_role(market, market.admin, "erin", pb.ROLE_PUBLISHER)
    assert same.previous_role == same.user.role == pb.ROLE_PUBLISHER
    assert await role_events(market) == []


async def test_the_bootstrap_admin_stays_an_admin(market: Market) -> None:
    await market.user("frank", pb.ROLE_ADMIN)
    await expect_rpc_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        set_role(market, market.admin, "Admin", pb.ROLE_PUBLISHER),
        "'Admin' is the bootstrap admin",
        "WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN",
    )
    assert await admins(market) == ["admin", "frank"]


async def test_the_last_admin_cannot_be_demoted(market_factory: MarketFactory) -> None:
    booted = await market_factory(new_secret())
    grace = await booted.user("grace", pb.ROLE_ADMIN)
    # A replica configured without a bootstrap admin protects no name: only the count.
    plain = await market_factory("")
    plain.admin = grace
    await set_role(plain, grace, "admin", pb.ROLE_PUBLISHER)
    await expect_rpc_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        set_role(plain, grace, "grace", pb.ROLE_USER),
        "'grace' is the only admin",
    )
    assert await admins(plain) == ["grace"]


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    market_factory: MarketFactory,
) -> None:
    booted = await market_factory(new_secret())
    heidi = await booted.user("heidi", pb.ROLE_ADMIN)
    ivan = await booted.user("ivan", pb.ROLE_ADMIN)
    plain = await market_factory("")
    plain.admin = heidi
    await set_role(plain, heidi, "admin", pb.ROLE_USER)

    # Hold every admin row so both demotions start, read and wait together; released,
    # they race for the same rows. The watcher polls outside that transaction (inside
    # one, pg_stat_activity would show the same snapshot each time).
    conn = await asyncpg.connect(plain.database_url, server_settings={"search_path": "marketplace"})
    watcher = await asyncpg.connect(plain.database_url)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT id FROM users WHERE role = 'admin' FOR UPDATE")
        calls = [
            asyncio.ensure_future(set_role(plain, heidi, "ivan", pb.ROLE_PUBLISHER)),
            asyncio.ensure_future(set_role(plain, ivan, "heidi", pb.ROLE_PUBLISHER)),
        ]
        deadline = time.monotonic() + 10
        while await _waiting_on_locks(watcher) < 2:
            assert time.monotonic() < deadline, "the two demotions never waited on the lock"
            await asyncio.sleep(0.02)
        await tx.rollback()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await watcher.close()
        await conn.close()

    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(refused) == 1, outcomes
    assert refused[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is the only admin" in (refused[0].details() or "")
    conn = await asyncpg.connect(plain.database_url, server_settings={"search_path": "marketplace"})
    try:
        rows = await conn.fetch("SELECT username FROM users WHERE role = 'admin'")
    finally:
        await conn.close()
    survivor = [r["username"] for r in rows]
    assert survivor in (["heidi"], ["ivan"])


async def test_admins_list_users_a_page_at_a_time_with_a_role_filter(market: Market) -> None:
    for name in ("Kim", "liam", "mo-x", "nia"):
        await market.user(name)
    await market.user("oz", pb.ROLE_USER)
    seen: list[str] = []
    cursor = ""
    while True:
        resp = await market.stub.ListUsers(
            pb.ListUsersRequest(page=common_pb2.PageRequest(limit=2, cursor=cursor)),
            metadata=auth(market.admin),
        )
        assert len(resp.users) <= 2
        seen += [u.username for u in resp.users]
        cursor = resp.page.next_cursor
        if not cursor:
            break
    assert seen == ["admin", "Kim", "liam", "mo-x", "nia", "oz"]

    users = await market.stub.ListUsers(
        pb.ListUsersRequest(role=pb.ROLE_USER), metadata=auth(market.admin)
    )
    assert [(u.username, u.role) for u in users.users] == [("oz", pb.ROLE_USER)]

    first = await market.stub.ListUsers(
        pb.ListUsersRequest(page=common_pb2.PageRequest(limit=1)), metadata=auth(market.admin)
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.ListUsers(
            pb.ListUsersRequest(
                role=pb.ROLE_USER, page=common_pb2.PageRequest(cursor=first.page.next_cursor)
            ),
            metadata=auth(market.admin),
        ),
        "issued for a different query",
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.ListUsers(
            pb.ListUsersRequest(page=common_pb2.PageRequest(limit=1001)),
            metadata=auth(market.admin),
        ),
        "page.limit 1001 is outside 1..1000",
    )


async def _waiting_on_locks(conn: asyncpg.Connection) -> int:
    """Other sessions of this database waiting for a row lock."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    return count
