"""The audit log through gRPC on a real PostgreSQL: one row per committed change, with
who, from where and in which trace; none for a change that rolled back; admins only."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import json_format

from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.common.origin import CLIENT_ADDRESS_KEY
from wasmgrid.common.testing import expect_rpc_error
from wasmgrid.marketplace.records import AuditAction, AuditTarget, NewAuditEvent, Origin
from wasmgrid.marketplace.store import audit as audit_store
from wasmgrid.marketplace.tokens import new_secret

from .conftest import Market, MarketFactory, auth

Metadata = tuple[tuple[str, str | bytes], ...]


class Caller:
    """A caller's metadata: its token, a trace of its own and, like the gateway sends
    it, the address of the HTTP client it acts for."""

    def __init__(self, secret: str, address: str = "") -> None:
        self.secret = secret
        self.address = address
        self.trace_id = secrets.token_hex(16)

    def metadata(self) -> Metadata:
        md: list[tuple[str, str | bytes]] = [
            *auth(self.secret),
            ("traceparent", f"00-{self.trace_id}-{secrets.token_hex(8)}-01"),
        ]
        if self.address:
            md.append((CLIENT_ADDRESS_KEY, self.address))
        return tuple(md)


async def events(market: Market, **filters: Any) -> list[pb.AuditEvent]:
    """Every audit event matching `filters`, newest first (one page)."""
    resp = await market.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(page=common_pb2.PageRequest(limit=1000), **filters),
        metadata=auth(market.admin),
    )
    return list(resp.events)


async def publish(market: Market, caller: Caller, name: str, version: str, data: bytes) -> None:
    md = pb.PublishMetadata(name=name, version=version, license="MIT", category="utilities")

    async def stream() -> Any:
        yield pb.PublishRequest(metadata=md)
        yield pb.PublishRequest(chunk=data)

    await market.stub.Publish(stream(), metadata=caller.metadata())


async def connect(market: Market) -> asyncpg.Connection:
    return await asyncpg.connect(
        market.database_url, server_settings={"search_path": "marketplace"}
    )


def detail(event: pb.AuditEvent) -> dict[str, Any]:
    return json_format.MessageToDict(event.detail)


async def test_each_change_is_one_event_with_its_actor_address_and_trace(
    market: Market, hello_wasm: bytes
) -> None:
    (boot,) = await events(market)
    assert (boot.action, boot.actor, boot.subject) == (pb.AUDIT_ACTION_USER_CREATE, "", "admin")
    assert detail(boot)["bootstrap"] is True

    admin = Caller(market.admin, "203.0.113.7")
    made = await market.stub.CreateUser(
        pb.CreateUserRequest(username="Ann_A"), metadata=admin.metadata()
    )
    ann = Caller(made.secret, "2001:db8::5")
    await market.stub.CreateUser(pb.CreateUserRequest(username="bob"))
    token = await market.stub.CreateToken(
        pb.CreateTokenRequest(name="ci", scopes=[pb.SCOPE_PUBLISH], ttl_seconds=3600),
        metadata=ann.metadata(),
    )
    await publish(market, ann, "ann-a/calc", "1.0.0", hello_wasm)
    await market.stub.Yank(
        pb.YankRequest(name="ann-a/calc", version="1.0.0", reason="bad build"),
        metadata=ann.metadata(),
    )
    await market.stub.Unyank(
        pb.UnyankRequest(name="ann-a/calc", version="1.0.0"), metadata=ann.metadata()
    )
    await market.stub.AddOwner(
        pb.AddOwnerRequest(namespace="ann-a", username="bob"), metadata=ann.metadata()
    )
    await market.stub.RateModule(
        pb.RateModuleRequest(name="ann-a/calc", stars=4), metadata=auth(market.admin)
    )
    await market.stub.RemoveOwner(
        pb.RemoveOwnerRequest(namespace="ann-a", username="bob"), metadata=ann.metadata()
    )
    await market.stub.SetNamespaceLimits(
        pb.SetNamespaceLimitsRequest(namespace="ann-a", max_module_bytes=1 << 20),
        metadata=admin.metadata(),
    )
    await market.stub.RevokeToken(
        pb.RevokeTokenRequest(token_id=token.token.id), metadata=ann.metadata()
    )
    # Changes of nothing are not events: a second revoke, adding an owner again.
    await market.stub.RevokeToken(
        pb.RevokeTokenRequest(token_id=token.token.id), metadata=ann.metadata()
    )
    await market.stub.AddOwner(
        pb.AddOwnerRequest(namespace="ann-a", username="ann_a"), metadata=ann.metadata()
    )

    got = list(reversed(await events(market)))[1:]  # oldest first, the bootstrap left out
    A = pb.AuditAction
    assert [(A.Name(e.action), e.actor) for e in got] == [
        ("AUDIT_ACTION_USER_CREATE", "admin"),
        ("AUDIT_ACTION_USER_CREATE", ""),  # open sign-up: no user acted
        ("AUDIT_ACTION_TOKEN_CREATE", "Ann_A"),
        ("AUDIT_ACTION_PUBLISH", "Ann_A"),
        ("AUDIT_ACTION_YANK", "Ann_A"),
        ("AUDIT_ACTION_UNYANK", "Ann_A"),
        ("AUDIT_ACTION_OWNER_ADD", "Ann_A"),
        ("AUDIT_ACTION_RATE", "admin"),
        ("AUDIT_ACTION_OWNER_REMOVE", "Ann_A"),
        ("AUDIT_ACTION_LIMITS_SET", "admin"),
        ("AUDIT_ACTION_TOKEN_REVOKE", "Ann_A"),
    ]
    user_ann, _, created, published, yank, unyank, add, rate, remove, caps, revoke = got
    # None: a call made without a traceparent or client address of its own.
    callers = [admin, None, ann, ann, ann, ann, ann, None, ann, admin, ann]
    for event, caller in zip(got, callers, strict=True):
        assert event.peer_address == "127.0.0.1"
        if caller is None:
            assert len(event.trace_id) == 32  # the trace the marketplace started
            # Without the gateway's word for it, the client is the gRPC peer.
            assert event.client_address == "127.0.0.1"
        else:
            assert event.trace_id == caller.trace_id
            assert event.client_address == caller.address
    assert len({e.id for e in got}) == len(got)

    assert (user_ann.subject, user_ann.namespace, user_ann.token_id) == (
        "Ann_A",
        "ann-a",
        made.token.id,
    )
    assert detail(user_ann) == {"role": "publisher", "scopes": ["publish", "rate", "yank"]}
    assert (created.subject, created.token_id) == ("Ann_A", token.token.id)
    assert detail(created)["scopes"] == ["publish"]
    assert detail(created)["name"] == "ci"
    # The module as displayed: the namespace as its owner spelled it at sign-up.
    assert (published.namespace, published.module, published.version) == (
        "ann-a",
        "Ann_A/calc",
        "1.0.0",
    )
    assert detail(published)["digest"] == hashlib.sha256(hello_wasm).hexdigest()
    assert detail(published)["namespace_claimed"] is False  # Ann's own, made at sign-up
    assert detail(yank) == {"reason": "bad build"}
    assert (unyank.module, unyank.version, detail(unyank)) == ("Ann_A/calc", "1.0.0", {})
    assert (add.namespace, add.subject) == ("ann-a", "bob")
    assert (remove.namespace, remove.subject) == ("ann-a", "bob")
    # Rated as "ann-a/calc": logged as displayed, like the publish.
    assert (rate.module, detail(rate)) == ("Ann_A/calc", {"stars": 4.0})
    assert detail(caps) == {
        "max_module_bytes": {"before": 0.0, "after": float(1 << 20)},
        "max_assets_bytes": {"before": 0.0, "after": 0.0},
    }
    assert (revoke.token_id, revoke.subject) == (token.token.id, "Ann_A")


async def test_a_publish_that_rolls_back_leaves_no_event(
    market_factory: MarketFactory, hello_wasm: bytes
) -> None:
    market = await market_factory(new_secret(), max_versions_per_module=1)
    carl = Caller(await market.user("carl"))
    # Claims namespace "tools" in the transaction that stores the version.
    await publish(market, carl, "tools/one", "1.0.0", hello_wasm)
    # Refused inside the transaction (the version limit), after the namespace lock:
    # the transaction rolls back, and with it anything it wrote.
    await expect_rpc_error(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        publish(market, carl, "tools/one", "2.0.0", hello_wasm),
        "limit is 1",
    )
    # Refused before the transaction: bad bytes.
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        publish(market, carl, "tools/two", "1.0.0", b"\0asm not really"),
    )
    published = await events(market, action=pb.AUDIT_ACTION_PUBLISH)
    assert [(e.module, e.version) for e in published] == [("tools/one", "1.0.0")]
    assert detail(published[0])["namespace_claimed"] is True

    # The mechanism itself: a row written in a transaction that then fails is gone.
    conn = await asyncpg.connect(
        market.database_url, server_settings={"search_path": "marketplace"}
    )
    try:
        before = await conn.fetchval("SELECT count(*) FROM audit_log")
        event = NewAuditEvent(
            AuditAction.YANK, None, "", AuditTarget("tools"), {}, Origin("", "", "")
        )

        async def failing_change() -> None:
            async with conn.transaction():
                await audit_store.record(conn, event)
                raise RuntimeError("the change failed after its event was written")

        with pytest.raises(RuntimeError):
            await failing_change()
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == before
    finally:
        await conn.close()


async def test_the_log_is_append_only_in_the_database(market: Market) -> None:
    conn = await asyncpg.connect(
        market.database_url, server_settings={"search_path": "marketplace"}
    )
    try:
        for statement in (
            "UPDATE audit_log SET actor_name = 'someone else'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1

        # The operator's pruning says so in its transaction; updates stay refused.
        async def prune(statement: str) -> str:
            async with conn.transaction():
                await conn.execute("SET LOCAL wasmgrid.audit_prune = on")
                result: str = await conn.execute(statement)
                return result

        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only: UPDATE"):
            await prune("UPDATE audit_log SET actor_name = 'someone else'")
        assert await prune("DELETE FROM audit_log WHERE at < now() - interval '1 day'") == (
            "DELETE 0"
        )
        # The setting ends with its transaction.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log")
        assert await prune("DELETE FROM audit_log WHERE at <= now()") == "DELETE 1"
    finally:
        await conn.close()


async def test_only_admins_read_the_log(market: Market) -> None:
    dora = await market.user("dora")
    request = pb.ListAuditEventsRequest()
    await expect_rpc_error(
        grpc.StatusCode.UNAUTHENTICATED, market.stub.ListAuditEvents(request), "API token"
    )
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.stub.ListAuditEvents(request, metadata=auth(dora)),
        "only an admin",
    )
    # An admin's token without the admin scope is not enough either.
    narrow = await market.stub.CreateToken(
        pb.CreateTokenRequest(scopes=[pb.SCOPE_RATE]), metadata=auth(market.admin)
    )
    await expect_rpc_error(
        grpc.StatusCode.PERMISSION_DENIED,
        market.stub.ListAuditEvents(request, metadata=auth(narrow.secret)),
        "only an admin",
    )


async def test_filters_and_pages_walk_every_event_once(market: Market, hello_wasm: bytes) -> None:
    eve = Caller(await market.user("eve"))
    fay = Caller(await market.user("fay"))
    for i in range(5):
        await publish(market, eve, "eve/m", f"1.0.{i}", hello_wasm)
        await publish(market, fay, "fay/m", f"1.0.{i}", hello_wasm)
    everything = await events(market)
    assert len(everything) == 1 + 2 + 10
    stamps = [(e.at.ToDatetime(), e.id) for e in everything]
    assert stamps == sorted(stamps, reverse=True)

    walked: list[int] = []
    cursor = ""
    while True:
        resp = await market.stub.ListAuditEvents(
            pb.ListAuditEventsRequest(page=common_pb2.PageRequest(limit=4, cursor=cursor)),
            metadata=auth(market.admin),
        )
        assert len(resp.events) <= 4
        walked += [e.id for e in resp.events]
        cursor = resp.page.next_cursor
        if not cursor:
            break
    assert walked == [e.id for e in everything]

    eves = await events(market, namespace="EVE")
    assert [e.version for e in eves] == [f"1.0.{i}" for i in reversed(range(5))] + [""]
    by_fay = await events(market, actor="fay", action=pb.AUDIT_ACTION_PUBLISH)
    assert {(e.actor, e.module) for e in by_fay} == {("fay", "fay/m")}
    assert len(by_fay) == 5

    middle = everything[5].at
    since = await events(market, since=middle)
    until = await events(market, until=middle)
    assert {e.id for e in since} | {e.id for e in until} == {e.id for e in everything}
    assert not {e.id for e in since} & {e.id for e in until}
    future = datetime.now(UTC) + timedelta(days=1)
    later = pb.ListAuditEventsRequest()
    later.since.FromDatetime(future)
    assert not (await market.stub.ListAuditEvents(later, metadata=auth(market.admin))).events

    first = await market.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(page=common_pb2.PageRequest(limit=2)),
        metadata=auth(market.admin),
    )
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.ListAuditEvents(
            pb.ListAuditEventsRequest(
                namespace="eve", page=common_pb2.PageRequest(cursor=first.page.next_cursor)
            ),
            metadata=auth(market.admin),
        ),
        "different query",
    )


async def test_bad_filters_are_refused_naming_them(market: Market) -> None:
    async def listing(**fields: Any) -> Any:
        return await market.stub.ListAuditEvents(
            pb.ListAuditEventsRequest(**fields), metadata=auth(market.admin)
        )

    await expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, listing(namespace="x"), "namespace")
    await expect_rpc_error(grpc.StatusCode.NOT_FOUND, listing(actor="nobody"), "actor 'nobody'")
    await expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, listing(action=99), "action")
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        listing(page=common_pb2.PageRequest(limit=1001)),
        "page.limit 1001 is outside 1..1000",
    )
    window = pb.ListAuditEventsRequest()
    window.since.FromDatetime(datetime(2026, 2, 1, tzinfo=UTC))
    window.until.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC))
    await expect_rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        market.stub.ListAuditEvents(window, metadata=auth(market.admin)),
        "is not before until",
    )


async def test_no_token_secret_or_hash_reaches_the_log(market: Market, hello_wasm: bytes) -> None:
    gil = await market.user("gil")
    made = await market.stub.CreateToken(
        pb.CreateTokenRequest(name="deploy", scopes=[pb.SCOPE_PUBLISH, pb.SCOPE_YANK]),
        metadata=auth(gil),
    )
    await publish(market, Caller(made.secret), "gil/m", "1.0.0", hello_wasm)
    await market.stub.RevokeToken(pb.RevokeTokenRequest(token_id=made.token.id), metadata=auth(gil))
    conn = await asyncpg.connect(
        market.database_url, server_settings={"search_path": "marketplace"}
    )
    try:
        text = "\n".join(await conn.fetchval("SELECT array_agg(a::text) FROM audit_log a"))
        hashes = await conn.fetch("SELECT token_hash, prefix FROM tokens")
    finally:
        await conn.close()
    assert "gil/m" in text  # the rows are there
    for secret in (market.admin, gil, made.secret):
        assert secret not in text
        assert secret.removeprefix("wgt_")[:8] not in text  # not even its display prefix
        assert hashlib.sha256(secret.encode()).hexdigest() not in text
    for row in hashes:
        assert row["token_hash"].hex() not in text
        assert row["prefix"] not in text


async def test_the_bootstrap_admin_is_audited_once_and_a_new_bootstrap_token_again(
    market_factory: MarketFactory,
) -> None:
    secret = new_secret()
    first = await market_factory(secret)
    await market_factory.stop(first)
    again = await market_factory(secret)  # a restart (or a second replica): nothing new
    (created,) = await events(again)
    assert (created.action, created.actor, created.subject) == (
        pb.AUDIT_ACTION_USER_CREATE,
        "",
        "admin",
    )
    assert detail(created)["bootstrap"] is True
    await market_factory.stop(again)
    rotated = await market_factory(new_secret())  # the operator set a new token
    latest, _ = await events(rotated)
    assert (latest.action, latest.actor, latest.subject) == (
        pb.AUDIT_ACTION_TOKEN_CREATE,
        "",
        "admin",
    )
    assert detail(latest)["bootstrap"] is True
    assert detail(latest)["name"] == "bootstrap"
