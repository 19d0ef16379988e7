"""User administration over HTTP through a real gateway and marketplace: admins list
users and change roles, the registry keeps its admin, and a demoted user's token loses
the route scopes its new role lacks."""

from __future__ import annotations

import secrets
from typing import Any

from .conftest import Infra, RunningGateway, StartGateway, bearer, read_problem

PUBLISH_ROUTE = """
routes:
  - name: guarded
    path: /guarded
    methods: [POST]
    module: examples/hello
    middleware:
      - auth: {scopes: [publish]}
"""


async def sign_up(gw: RunningGateway) -> tuple[str, str]:
    username = "usr" + secrets.token_hex(4)
    async with gw.http.post(gw.url("/v1/users"), json={"username": username}) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    return username, created["secret"]


async def put_role(
    gw: RunningGateway, token: str, username: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with gw.http.put(
        gw.url(f"/v1/users/{username}/role"), json=body, headers=bearer(token)
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_an_admin_demotes_a_publisher_and_its_token_loses_the_routes_publish_scope(
    start_gateway: StartGateway, infra: Infra
) -> None:
    # No token cache: the route sees the role the moment it changes.
    gw = await start_gateway(PUBLISH_ROUTE, token_cache_ttl_seconds=0)
    user, secret = await sign_up(gw)
    async with gw.http.post(gw.url("/guarded"), data=b"hi", headers=bearer(secret)) as resp:
        assert resp.status == 200, await resp.text()

    status, changed = await put_role(gw, infra.admin, user, {"role": "user"})
    assert status == 200, changed
    assert changed["user"]["role"] == "ROLE_USER"
    assert changed["previous_role"] == "ROLE_PUBLISHER"
    assert changed["secret"] == ""
    assert "token" not in changed

    async with gw.http.get(gw.url("/v1/whoami"), headers=bearer(secret)) as resp:
        me = await resp.json()
        assert resp.status == 200, me
    assert sorted(me["token"]["scopes"]) == ["SCOPE_PUBLISH", "SCOPE_RATE", "SCOPE_YANK"]
    assert me["effective_scopes"] == ["SCOPE_RATE"]
    async with gw.http.post(gw.url("/guarded"), data=b"hi", headers=bearer(secret)) as resp:
        problem = await read_problem(resp, 403)
    assert "token lacks scope 'publish' required by route 'guarded'" in problem["detail"]

    async with gw.http.get(
        gw.url("/v1/audit"), params={"action": "role_change"}, headers=bearer(infra.admin)
    ) as resp:
        doc = await resp.json()
        assert resp.status == 200, doc
    mine = [e for e in doc["events"] if e["subject"] == user]
    assert [(e["actor"], e["detail"]) for e in mine] == [
        ("admin", {"before": "publisher", "after": "user"})
    ]
    assert mine[0]["client_address"] == "127.0.0.1"


async def test_a_promotion_can_issue_a_token_with_the_new_roles_scopes(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway()
    user, _ = await sign_up(gw)
    status, changed = await put_role(gw, infra.admin, user, {"role": "admin", "issue_token": True})
    assert status == 200, changed
    assert sorted(changed["token"]["scopes"]) == [
        "SCOPE_ADMIN",
        "SCOPE_PUBLISH",
        "SCOPE_RATE",
        "SCOPE_YANK",
    ]
    async with gw.http.get(
        gw.url("/v1/users"), params={"role": "admin"}, headers=bearer(changed["secret"])
    ) as resp:
        doc = await resp.json()
        assert resp.status == 200, doc
    assert user in [u["username"] for u in doc["users"]]
    assert {u["role"] for u in doc["users"]} == {"ROLE_ADMIN"}
    # Put back, so the shared registry has its one bootstrap admin again.
    status, _ = await put_role(gw, infra.admin, user, {"role": "publisher"})
    assert status == 200


async def test_users_are_listed_a_page_at_a_time_for_admins_only(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway()
    _, secret = await sign_up(gw)
    names: list[str] = []
    cursor = ""
    for _ in range(1000):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        async with gw.http.get(
            gw.url("/v1/users"), params=params, headers=bearer(infra.admin)
        ) as resp:
            doc = await resp.json()
            assert resp.status == 200, doc
        assert len(doc["users"]) <= 2
        names += [u["username"] for u in doc["users"]]
        cursor = doc.get("page", {}).get("next_cursor", "")
        if not cursor:
            break
    assert len(names) == len(set(names)) >= 2
    assert "admin" in names

    async with gw.http.get(gw.url("/v1/users"), headers=bearer(secret)) as resp:
        problem = await read_problem(resp, 403)
    assert problem["detail"] == "only an admin may list users"
    async with gw.http.get(gw.url("/v1/users")) as resp:
        await read_problem(resp, 401)
    async with gw.http.get(
        gw.url("/v1/users"), params={"role": "root"}, headers=bearer(infra.admin)
    ) as resp:
        problem = await read_problem(resp, 400)
    assert "root" in problem["detail"]


async def test_role_changes_that_would_lose_the_admin_or_break_a_rule_are_refused(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway()
    user, secret = await sign_up(gw)
    status, problem = await put_role(gw, infra.admin, "admin", {"role": "publisher"})
    assert status == 409, problem
    assert "'admin' is the bootstrap admin" in problem["detail"]

    status, problem = await put_role(gw, secret, user, {"role": "admin"})
    assert status == 403, problem
    assert problem["detail"] == "only an admin may change roles"

    status, problem = await put_role(gw, infra.admin, "nobody-" + user, {"role": "user"})
    assert status == 404, problem

    for body, fragment in (
        ({}, "role: required"),
        ({"role": "root"}, "root"),
        ({"role": "user", "issue_token": "yes"}, "issue_token: must be bool"),
        ({"role": "user", "extra": 1}, "extra"),
    ):
        status, problem = await put_role(gw, infra.admin, user, body)
        assert status == 400, (body, problem)
        assert fragment in problem["detail"], (body, problem)

    async with gw.http.put(
        gw.url("/v1/users/-bad-/role"), json={"role": "user"}, headers=bearer(infra.admin)
    ) as resp:
        await read_problem(resp, 400)
