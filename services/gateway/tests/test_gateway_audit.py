"""GET /v1/audit through a real gateway and marketplace: the changes HTTP clients make are
recorded with the client's address and the trace id the gateway answered with."""

from __future__ import annotations

import secrets
from typing import Any

from .conftest import Infra, RunningGateway, StartGateway, bearer, read_problem


async def audit(gw: RunningGateway, infra: Infra, **query: str) -> list[dict[str, Any]]:
    async with gw.http.get(gw.url("/v1/audit"), params=query, headers=bearer(infra.admin)) as resp:
        doc = await resp.json()
        assert resp.status == 200, doc
    events: list[dict[str, Any]] = doc["events"]
    return events


async def sign_up(gw: RunningGateway, headers: dict[str, str] | None = None) -> tuple[str, str]:
    username = "aud" + secrets.token_hex(4)
    async with gw.http.post(
        gw.url("/v1/users"), json={"username": username}, headers=headers
    ) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    return username, created["secret"]


async def test_changes_over_http_are_audited_with_the_client_address_and_trace_id(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway(trust_forwarded_for=True)
    proxy = {"X-Forwarded-For": "198.51.100.23, 10.0.0.9"}
    user, secret = await sign_up(gw, proxy)
    async with gw.http.put(
        gw.url(f"/v1/modules/{user}/echo/1.0.0?license=MIT&category=utilities"),
        data=infra.modules["hello"],
        headers={**bearer(secret), **proxy, "Content-Type": "application/wasm"},
    ) as resp:
        assert resp.status == 201, await resp.text()
        publish_trace = resp.headers["X-Trace-Id"]
    async with gw.http.post(
        gw.url(f"/v1/modules/{user}/echo/versions/1.0.0/yank"),
        json={"reason": "leaks memory"},
        headers={**bearer(secret), **proxy},
    ) as resp:
        assert resp.status == 200, await resp.text()
        yank_trace = resp.headers["X-Trace-Id"]

    events = await audit(gw, infra, namespace=user)
    assert [(e["action"], e["actor"]) for e in events] == [
        ("AUDIT_ACTION_YANK", user),
        ("AUDIT_ACTION_PUBLISH", user),
        ("AUDIT_ACTION_USER_CREATE", ""),
    ]
    yank, published, created = events
    for event in events:
        # The first X-Forwarded-For hop: this gateway trusts its proxy.
        assert event["client_address"] == "198.51.100.23"
        assert event["peer_address"] == "127.0.0.1"
    assert published["trace_id"] == publish_trace
    assert yank["trace_id"] == yank_trace
    assert (published["module"], published["version"]) == (f"{user}/echo", "1.0.0")
    assert yank["detail"] == {"reason": "leaks memory"}
    assert created["subject"] == user
    assert int(published["id"]) > int(created["id"])

    # A gateway that does not trust its proxy records its TCP peer, whatever the header says.
    plain = await start_gateway()
    async with plain.http.post(
        plain.url("/v1/tokens"),
        json={"name": "ci", "scopes": ["publish"]},
        headers={**bearer(secret), **proxy},
    ) as resp:
        token = await resp.json()
        assert resp.status == 201, token
    (made,) = await audit(plain, infra, actor=user, action="token_create")
    assert made["token_id"] == token["token"]["id"]
    assert made["client_address"] == "127.0.0.1"
    assert made["detail"]["scopes"] == ["publish"]
    assert token["secret"] not in str(made)


async def test_only_an_admin_token_reads_the_audit_log(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway()
    async with gw.http.get(gw.url("/v1/audit")) as resp:
        await read_problem(resp, 401)
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    _, secret = await sign_up(gw)
    async with gw.http.get(gw.url("/v1/audit"), headers=bearer(secret)) as resp:
        problem = await read_problem(resp, 403)
        assert "only an admin" in problem["detail"]


async def test_audit_filters_are_checked_and_pages_follow_the_cursor(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway()
    user, secret = await sign_up(gw)
    for name in ("a", "b", "c"):
        async with gw.http.post(
            gw.url("/v1/tokens"), json={"name": name, "scopes": ["rate"]}, headers=bearer(secret)
        ) as resp:
            assert resp.status == 201
    everything = await audit(gw, infra, actor=user)
    assert [e["detail"]["name"] for e in everything] == ["c", "b", "a"]

    walked: list[str] = []
    query = {"actor": user, "limit": "2"}
    while True:
        async with gw.http.get(
            gw.url("/v1/audit"), params=query, headers=bearer(infra.admin)
        ) as resp:
            doc = await resp.json()
        walked += [e["id"] for e in doc["events"]]
        if not doc["page"]["next_cursor"]:
            break
        query["cursor"] = doc["page"]["next_cursor"]
    assert walked == [e["id"] for e in everything]

    oldest = everything[-1]["at"]
    assert [e["detail"]["name"] for e in await audit(gw, infra, actor=user, until=oldest)] == []
    since = await audit(gw, infra, actor=user, since=oldest)
    assert [e["detail"]["name"] for e in since] == ["c", "b", "a"]

    for query, named in (
        ({"since": "yesterday"}, "since"),
        ({"namespace": "-not-a-name"}, "namespace"),
        ({"actor": "x"}, "actor"),
        ({"action": "delete"}, "action"),
        ({"limit": "1001"}, "1000"),
    ):
        async with gw.http.get(
            gw.url("/v1/audit"), params=query, headers=bearer(infra.admin)
        ) as resp:
            problem = await read_problem(resp, 400)
            assert named in problem["detail"]
    async with gw.http.get(
        gw.url("/v1/audit"), params={"actor": "nobody-here"}, headers=bearer(infra.admin)
    ) as resp:
        await read_problem(resp, 404)


async def test_the_openapi_document_states_the_audit_contract(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    async with gw.http.get(gw.url("/openapi.json")) as resp:
        doc = await resp.json()
    op = doc["paths"]["/v1/audit"]["get"]
    assert op["security"] == [{"bearer": []}]
    assert {"200", "400", "401", "403", "404"} <= set(op["responses"])
    params = {p["name"]: p["schema"] for p in op["parameters"]}
    assert set(params) == {"namespace", "actor", "action", "since", "until", "limit", "cursor"}
    assert params["action"]["enum"] == [
        "publish",
        "yank",
        "unyank",
        "token_create",
        "token_revoke",
        "user_create",
        "owner_add",
        "owner_remove",
        "limits_set",
        "rate",
        "role_change",
    ]
    assert params["since"]["format"] == "date-time"
    assert params["limit"] == {"type": "integer", "minimum": 0, "maximum": 1000}
    assert (
        params["namespace"]["pattern"]
        == doc["paths"]["/v1/modules/{ns}/{name}"]["get"]["parameters"][0]["schema"]["pattern"]
    )
