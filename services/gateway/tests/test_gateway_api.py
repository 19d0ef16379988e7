"""The REST facade end to end, problem+json for every error class, and the OpenAPI walk."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp

from wasmgrid.common.testing import Poll
from wasmgrid.gateway.app import CUSTOM_ROUTES
from wasmgrid.gateway.web import PAGES

from .conftest import PROBLEM, Infra, StartGateway, bearer, read_problem

PAGE_PATHS = {p.path for p in PAGES}


async def test_publish_search_run_rate_yank_through_http(
    start_gateway: StartGateway, infra: Infra, poll: Poll
) -> None:
    gw = await start_gateway(resolve_cache_ttl_seconds=0.2)
    http, url = gw.http, gw.url
    async with http.post(url("/v1/users"), json={"username": "carol"}) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    carol = created["secret"]
    async with http.post(url("/v1/users"), json={"username": "dave", "role": "user"}) as resp:
        dave = (await resp.json())["secret"]
    async with http.get(url("/v1/whoami"), headers=bearer(carol)) as resp:
        me = await resp.json()
        assert me["user"]["username"] == "carol"

    # Raw upload with metadata in the query.
    async with http.put(
        url(
            "/v1/modules/carol/echo/1.0.0?description=Echo+upper&license=MIT"
            "&category=utilities&tag=echo&tags=text"
        ),
        data=infra.modules["hello"],
        headers={**bearer(carol), "Content-Type": "application/wasm"},
    ) as resp:
        published = await resp.json()
        assert resp.status == 201, published
    assert published["version"]["version"] == "1.0.0"
    assert published["version"]["tags"] == ["echo", "text"]

    # Multipart upload (metadata JSON + module), streamed with chunked encoding.
    form = aiohttp.FormData()
    form.add_field(
        "metadata",
        json.dumps({"description": "Echo upper v1.1", "license": "MIT", "category": "utilities"}),
        content_type="application/json",
    )
    form.add_field(
        "module", infra.modules["hello"], filename="echo.wasm", content_type="application/wasm"
    )
    async with http.put(
        url("/v1/modules/carol/echo/1.1.0"), data=form, headers=bearer(carol)
    ) as resp:
        assert resp.status == 201, await resp.text()

    async with http.get(url("/v1/modules?q=echo&sort=relevance")) as resp:
        found = await resp.json()
    assert "carol/echo" in [m["name"] for m in found["modules"]]
    async with http.get(url("/v1/modules/carol/echo")) as resp:
        assert (await resp.json())["module"]["latest_version"] == "1.1.0"
    async with http.get(url("/v1/modules/carol/echo/versions")) as resp:
        versions = [v["version"] for v in (await resp.json())["versions"]]
    assert versions == ["1.1.0", "1.0.0"]
    async with http.get(url("/v1/modules/carol/echo/versions/1.0.0")) as resp:
        assert (await resp.json())["version"]["validation"]["valid"] is True
    async with http.get(url("/v1/modules/carol/echo/versions/1.0.0/download")) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/wasm"
        assert await resp.read() == infra.modules["hello"]
        assert resp.headers["ETag"].startswith('"sha256:')

    async with http.post(url("/v1/run/carol/echo"), data=b"run me") as resp:
        assert resp.status == 200
        assert await resp.read() == b"RUN ME"

    async with http.put(
        url("/v1/modules/carol/echo/rating"),
        json={"stars": 4, "review": "nice"},
        headers=bearer(dave),
    ) as resp:
        rated = await resp.json()
        assert resp.status == 200, rated
    assert rated["summary"]["count"] == "1" or rated["summary"]["count"] == 1
    async with http.get(url("/v1/modules/carol/echo/ratings")) as resp:
        assert (await resp.json())["ratings"][0]["username"] == "dave"
    async with http.get(url("/v1/modules/carol/echo/stats?days=7")) as resp:
        stats = await resp.json()
        assert resp.status == 200
        assert int(stats["days"]) == 7

    # Yank 1.1.0: after the resolve-cache TTL, latest resolves to 1.0.0 again.
    async with http.post(
        url("/v1/modules/carol/echo/versions/1.1.0/yank"),
        json={"reason": "broken build"},
        headers=bearer(carol),
    ) as resp:
        assert (await resp.json())["version"]["yanked"] is True

    async def resolves_to(version: str) -> bool:
        async with http.post(url("/v1/run/carol/echo"), data=b"x") as resp:
            return bool(resp.headers.get("X-Wasmgrid-Module") == f"carol/echo@{version}")

    await poll(lambda: resolves_to("1.0.0"), "yanked 1.1.0 to stop resolving", 5)
    async with http.delete(
        url("/v1/modules/carol/echo/versions/1.1.0/yank"), headers=bearer(carol)
    ) as resp:
        assert (await resp.json())["version"]["yanked"] is False
    await poll(lambda: resolves_to("1.1.0"), "unyanked 1.1.0 to resolve again", 5)

    # Tokens: create, list, revoke.
    async with http.post(
        url("/v1/tokens"), json={"name": "ci", "scopes": ["publish"]}, headers=bearer(carol)
    ) as resp:
        token = await resp.json()
        assert resp.status == 201, token
    async with http.get(url("/v1/tokens"), headers=bearer(carol)) as resp:
        assert token["token"]["id"] in [t["id"] for t in (await resp.json())["tokens"]]
    async with http.delete(url(f"/v1/tokens/{token['token']['id']}"), headers=bearer(carol)) as r:
        assert r.status == 200
    async with http.get(url("/v1/whoami"), headers=bearer(token["secret"])) as resp:
        await read_problem(resp, 401)


async def test_problem_json_for_every_error_class(
    start_gateway: StartGateway, infra: Infra
) -> None:
    routes = """
routes:
  - name: guarded
    path: /guarded
    module: examples/hello
    middleware:
      - auth: {scopes: [publish]}
  - name: limited
    path: /limited
    module: examples/hello
    middleware:
      - rate_limit: {algorithm: token_bucket, limit: 1, window: 60s, key: ip}
  - name: small
    path: /small
    module: examples/hello
    middleware:
      - body_limit: 16
  - name: slow
    path: /slow
    module: testmods/spin
    middleware:
      - timeout: 300ms
"""
    gw = await start_gateway(routes, max_body_bytes=64 * 1024)
    http, url = gw.http, gw.url
    async with http.post(url("/v1/users"), json={"username": "erin", "role": "user"}) as resp:
        erin = (await resp.json())["secret"]

    # 400: bad input names the field.
    async with http.get(url("/v1/run/examples/he$llo")) as resp:
        assert "module path segment" in (await read_problem(resp, 400))["detail"]
    async with http.put(
        url("/v1/modules/examples/hello/rating"), json={"stars": 9}, headers=bearer(erin)
    ) as resp:
        assert "stars" in (await read_problem(resp, 400))["detail"]
    async with http.get(url("/v1/modules?limit=abc")) as resp:
        assert "limit" in (await read_problem(resp, 400))["detail"]
    # 401: no token where one is needed, and a bad token.
    async with http.get(url("/v1/whoami")) as resp:
        await read_problem(resp, 401)
    async with http.get(url("/guarded")) as resp:
        await read_problem(resp, 401)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    async with http.get(url("/guarded"), headers=bearer("wgt_" + "0" * 32)) as resp:
        await read_problem(resp, 401)
    # A publish is authenticated before its body is read: with a bad token, a multipart
    # whose first part is not the metadata is a 401, not that body's 400.
    form = aiohttp.FormData()
    form.add_field("module", b"\0asm\x01\0\0\0", filename="m.wasm")
    async with http.put(
        url("/v1/modules/examples/hello/9.9.9"), data=form, headers=bearer("wgt_" + "0" * 32)
    ) as resp:
        await read_problem(resp, 401)
    # 403: a valid token without the scope / not an owner.
    async with http.get(url("/guarded"), headers=bearer(erin)) as resp:
        assert "publish" in (await read_problem(resp, 403))["detail"]
    async with http.post(
        url("/v1/modules/examples/hello/versions/1.0.0/yank"),
        json={"reason": "x"},
        headers=bearer(erin),
    ) as resp:
        await read_problem(resp, 403)
    # 404: unknown module, unknown path.
    async with http.get(url("/v1/modules/nobody/nothing")) as resp:
        await read_problem(resp, 404)
    async with http.get(url("/no/such/route")) as resp:
        await read_problem(resp, 404)
    # 405 with Allow.
    async with http.delete(url("/v1/whoami")) as resp:
        await read_problem(resp, 405)
        assert resp.headers["Allow"] == "GET"
    # 409: a version that already exists.
    async with http.put(
        url("/v1/modules/examples/hello/1.0.0?license=MIT&category=utilities"),
        data=infra.modules["hello"],
        headers={**bearer(infra.admin), "Content-Type": "application/wasm"},
    ) as r:
        await read_problem(r, 409)
    # 413: declared and streamed (chunked) bodies over the route's limit.
    async with http.post(url("/small"), data=b"x" * 17) as resp:
        assert "16-byte limit" in (await read_problem(resp, 413))["detail"]

    async def chunked() -> Any:
        for _ in range(4):
            yield b"y" * 10

    async with http.post(url("/small"), data=chunked()) as resp:
        assert "streamed" in (await read_problem(resp, 413))["detail"]
    async with http.post(url("/v1/run/examples/hello"), data=b"z" * (64 * 1024 + 1)) as resp:
        await read_problem(resp, 413)
    # 415: publish with an unknown content type.
    async with http.put(
        url("/v1/modules/examples/hello/9.9.9"),
        data=b"{}",
        headers={**bearer(infra.admin), "Content-Type": "text/plain"},
    ) as resp:
        await read_problem(resp, 415)
    # 429 with Retry-After and RateLimit-* headers.
    async with http.get(url("/limited")) as resp:
        assert resp.status == 200
        assert resp.headers["RateLimit-Limit"] == "1"
        assert resp.headers["RateLimit-Remaining"] == "0"
    async with http.get(url("/limited")) as resp:
        doc = await read_problem(resp, 429)
        assert "rate limit of 1 requests per 60s" in doc["detail"]
        assert int(resp.headers["Retry-After"]) >= 1
        assert resp.headers["RateLimit-Remaining"] == "0"
    # 500 of a guest-* type: the module failed (here: past the route's timeout).
    async with http.get(url("/v1/run/testmods/fail")) as resp:
        assert (await read_problem(resp, 500))["fault"] == "guest"
    async with http.get(url("/slow")) as resp:
        assert (await read_problem(resp, 500))["type"].endswith("/guest-timeout")


async def test_openapi_documents_exactly_what_is_served(start_gateway: StartGateway) -> None:
    routes = """
routes:
  - name: files
    path: /files/{bucket}/*
    methods: [GET]
    module: examples/hello
"""
    gw = await start_gateway(routes)
    async with gw.http.get(gw.url("/openapi.json")) as resp:
        doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    served: set[tuple[str, str]] = set()
    any_methods = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
    for route in gw.app.router.routes():
        if route.resource is gw.app[CUSTOM_ROUTES]:
            continue  # the catch-all behind which the routes file's routes are matched
        info = route.get_info()
        path = info.get("path") or info.get("formatter")
        assert path is not None
        if path in PAGE_PATHS:
            continue  # HTML pages for people, not operations of the HTTP API
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)
        methods = any_methods if route.method == "*" else {route.method}
        for method in methods:
            if method == "HEAD" and route.method != "*":
                continue  # aiohttp's automatic HEAD for GET routes
            served.add((method, path))
    fixed = {d for d in documented if not d[1].startswith("/files")}
    served_non_head = {s for s in served if s[0] != "HEAD" or s in fixed}
    assert fixed == served_non_head
    assert ("GET", "/files/{bucket}/{path}") in documented
    # Every documented operation has a problem response and a unique operationId.
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    # Walk the router: each documented fixed path resolves to a handler (not 404).
    for method, path in sorted(fixed):
        concrete = re.sub(r"\{(\w+)\}", "x", path)
        if method != "GET" or "download" in path or "/v1/run" in path:
            continue
        async with gw.http.get(gw.url(concrete)) as resp:
            assert resp.status != 405, (method, path)
            if resp.status == 404:
                body = await resp.json(content_type=None)
                assert "no route matches" not in body["detail"], (method, path)


async def test_metrics_have_bounded_labels(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    for path in ("/v1/run/examples/hello", "/v1/run/examples/hello/a/b/c", "/nope/1", "/nope/2"):
        async with gw.http.get(gw.url(path)) as resp:
            await resp.read()
    async with gw.http.get(gw.url("/metrics")) as resp:
        text = await resp.text()
    lines = [
        ln for ln in text.splitlines() if ln.startswith("wasmgrid_gateway_http_requests_total{")
    ]
    assert any('route="run"' in ln and 'status_class="2xx"' in ln for ln in lines)
    assert any('route="run_path"' in ln for ln in lines)
    assert any(
        'route="unmatched"' in ln and 'status_class="4xx"' in ln and 'fault="client"' in ln
        for ln in lines
    )
    assert not any("examples" in ln or "/nope" in ln for ln in lines)
    assert "wasmgrid_gateway_upstream_seconds_bucket" in text
    assert "wasmgrid_gateway_http_request_seconds_bucket" in text


async def test_monitor_facade_health_alerts_traces(
    start_gateway: StartGateway, infra: Infra, database_url: str, poll: Poll
) -> None:
    from wasmgrid.common.server import ServiceRunner
    from wasmgrid.monitor.service import MonitorService
    from wasmgrid.monitor.settings import MonitorSettings

    values: dict[str, Any] = {
        "WASMGRID_MONITOR_DATABASE_URL": database_url,
        "grpc_port": 0,
        "metrics_port": 0,
        "targets": f"runtime={infra.runtime.runner.address}",
        "health_interval_seconds": 0.2,
        "rules_file": None,
        "readiness_interval_seconds": 0.5,
        "log_json": False,
    }
    settings = MonitorSettings(**values)
    monitor = ServiceRunner(MonitorService(settings), settings, serve_metrics=False)
    await monitor.start()
    try:
        gw = await start_gateway(monitor_addr=monitor.address)

        async def runtime_serving() -> bool:
            async with gw.http.get(gw.url("/v1/health")) as resp:
                doc = await resp.json()
                assert resp.status == 200, doc
            return any(
                s["service"] == "runtime" and s["status"] == "SERVING_STATUS_SERVING"
                for s in doc["services"]
            )

        await poll(runtime_serving, "the monitor to see the runtime serving", 10)
        async with gw.http.get(gw.url("/v1/health")) as resp:
            doc = await resp.json()
        assert doc["gateway"]["runtime"]["policy"] == "consistent_hash"
        async with gw.http.get(gw.url("/v1/alerts?state=firing")) as resp:
            assert resp.status == 200
            assert "alerts" in await resp.json()
        async with gw.http.get(gw.url("/v1/alerts?state=boiling")) as resp:
            assert "state" in (await read_problem(resp, 400))["detail"]
        async with gw.http.get(gw.url("/v1/traces/" + "ab" * 16)) as resp:
            await read_problem(resp, 404)
        async with gw.http.get(gw.url("/v1/traces/not-a-trace")) as resp:
            assert "trace_id" in (await read_problem(resp, 400))["detail"]
    finally:
        await monitor.stop(0.5)


async def test_json_bodies_arrive_in_pieces_and_are_capped(start_gateway: StartGateway) -> None:
    gw = await start_gateway()

    async def pieces() -> Any:
        for part in (b'{"username"', b': "frank", ', b'"role": "user"}'):
            yield part
            await asyncio.sleep(0.02)

    async with gw.http.post(gw.url("/v1/users"), data=pieces()) as resp:
        assert resp.status == 201, await resp.text()

    async def huge() -> Any:
        for _ in range(20):
            yield b" " * 8192

    async with gw.http.post(gw.url("/v1/users"), data=huge()) as resp:
        assert "65536 bytes" in (await read_problem(resp, 413))["detail"]


async def test_an_unknown_field_in_any_json_body_is_refused_naming_it(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway()
    admin = bearer(infra.admin)
    module = "/v1/modules/examples/hello"
    cases = [
        ("POST", "/v1/users", {"username": "gina", "email": "g@example.com"}, "email"),
        ("POST", "/v1/tokens", {"name": "ci", "scope": ["publish"]}, "scope"),
        ("POST", f"{module}/versions/1.0.0/yank", {"reason": "x", "why": "y"}, "why"),
        ("PUT", f"{module}/rating", {"stars": 5, "comment": "nice"}, "comment"),
        ("POST", "/v1/call/examples/mathfn/fib", {"args": [1], "arg": 2}, "arg"),
    ]
    for method, path, body, field in cases:
        async with gw.http.request(method, gw.url(path), json=body, headers=admin) as resp:
            detail = (await read_problem(resp, 400))["detail"]
        assert detail.startswith(f"request body: unknown field {field!r}; the fields are "), detail
    # Nothing was created or changed by the refused requests.
    async with gw.http.get(gw.url(f"{module}/versions/1.0.0")) as resp:
        assert (await resp.json())["version"]["yanked"] is False
    form = aiohttp.FormData()
    form.add_field(
        "metadata",
        json.dumps({"license": "MIT", "licence": "MIT"}),
        content_type="application/json",
    )
    form.add_field(
        "module", infra.modules["hello"], filename="m.wasm", content_type="application/wasm"
    )
    async with gw.http.put(gw.url(f"{module}/7.0.0"), data=form, headers=admin) as resp:
        detail = (await read_problem(resp, 400))["detail"]
    assert detail.startswith("metadata part: unknown field 'licence'; the fields are "), detail


async def test_openapi_lists_the_fields_each_json_body_may_carry(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    async with gw.http.get(gw.url("/openapi.json")) as resp:
        doc = await resp.json()
    body = doc["paths"]["/v1/users"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["additionalProperties"] is False
    assert sorted(body["schema"]["properties"]) == ["role", "token_name", "username"]


async def test_undeclared_methods_booleans_and_missing_credentials_are_refused_as_documented(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway()
    async with gw.http.request("TRACE", gw.url("/v1/run/examples/hello")) as resp:
        doc = await read_problem(resp, 405)
        assert resp.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
        assert "TRACE" in doc["detail"]
    headers = bearer(infra.admin)
    async with gw.http.get(gw.url("/v1/tokens?include_inactive=yes"), headers=headers) as resp:
        doc = await read_problem(resp, 400)
        assert doc["detail"] == "query parameter include_inactive: 'yes' is not true or false"
    async with gw.http.get(gw.url("/v1/tokens?include_inactive=false"), headers=headers) as resp:
        assert resp.status == 200
    # No credentials: 401 before the body is read (here it is not even JSON).
    async with gw.http.post(gw.url("/v1/tokens"), data=b"{") as resp:
        await read_problem(resp, 401)
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    async with gw.http.put(gw.url("/v1/modules/ab/cd/1.0.0"), data=b"\x00asm") as resp:
        await read_problem(resp, 401)


async def test_an_integer_or_choice_query_parameter_that_is_empty_or_not_ascii_is_a_400(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    refused = {
        # An empty value is not "absent": the document says integer (schemathesis ST201).
        "/v1/modules?limit=": "query parameter limit: '' is not an integer",
        "/v1/modules/examples/hello/stats?days=": "query parameter days: '' is not an integer",
        # str.isdigit() takes these; int() does not (they were 500s).
        "/v1/modules?limit=%C2%B2": "query parameter limit: '²' is not an integer",
        "/v1/modules?limit=--1": "query parameter limit: '--1' is not an integer",
        # int() takes Arabic-Indic digits; the document's integer is ASCII.
        "/v1/modules?limit=%D9%A1": "query parameter limit: '١' is not an integer",
        "/v1/modules?kind=": "query parameter kind: '' is not one of command, reactor, component",
    }
    for path, detail in refused.items():
        async with gw.http.get(gw.url(path)) as resp:
            doc = await read_problem(resp, 400)
            assert doc["detail"] == detail, path
    async with gw.http.get(gw.url("/v1/modules?limit=1&kind=command")) as resp:
        assert resp.status == 200


async def test_the_documented_page_limits_and_cursor_length_are_the_services_own(
    start_gateway: StartGateway,
) -> None:
    """The versions list serves pages up to 1000 (the document said 100: a schema-invalid
    limit the server accepted); a cursor is at most 1024 characters."""
    gw = await start_gateway()
    doc = await (await gw.http.get(gw.url("/openapi.json"))).json()
    params = {
        p["name"]: p["schema"]
        for p in doc["paths"]["/v1/modules/{ns}/{name}/versions"]["get"]["parameters"]
    }
    assert params["limit"]["maximum"] == 1000
    assert params["cursor"]["maxLength"] == 1024
    versions = gw.url("/v1/modules/testmods/fail/versions")
    async with gw.http.get(versions, params={"limit": "1000"}) as resp:
        assert resp.status == 200
    async with gw.http.get(versions, params={"limit": "1001"}) as resp:
        await read_problem(resp, 400)
    # Percent-encoded 4-byte characters: a 12,300-byte query, past aiohttp's default
    # 8190-byte request line (schemathesis: its text/plain 400, ST105).
    for cursor in ("a" * 1025, "\U0001f600" * 1025):
        async with gw.http.get(versions, params={"cursor": cursor}) as resp:
            problem = await read_problem(resp, 400)
            assert problem["detail"] == "page.cursor is 1025 characters, at most 1024"


async def test_search_filters_have_the_documented_lengths_counted_as_sent(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    doc = await (await gw.http.get(gw.url("/openapi.json"))).json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/v1/modules"]["get"]["parameters"]}
    lengths = {name: params[name]["maxLength"] for name in ("q", "tag", "owner", "namespace")}
    assert lengths == {"q": 200, "tag": 32, "owner": 39, "namespace": 39}
    refused = {
        "q": ("x" * 201, "query is 201 characters, at most 200"),
        # 33 as sent, 1 once stripped: the document's maxLength counts 33.
        "tag": (" " * 32 + "x", "tag is 33 characters, at most 32"),
        "owner": ("x" * 40, "owner is 40 characters, at most 39"),
        "namespace": ("x" * 40, "namespace is 40 characters, at most 39"),
    }
    for name, (value, detail) in refused.items():
        async with gw.http.get(gw.url("/v1/modules"), params={name: value}) as resp:
            problem = await read_problem(resp, 400)
            assert problem["detail"] == detail
    # A NUL in a filter reached PostgreSQL (502); the document now refuses it too.
    for name in ("tag", "owner", "namespace"):
        assert not re.search(params[name]["pattern"], "a\x00b")
        async with gw.http.get(gw.url("/v1/modules"), params={name: "a\x00b"}) as resp:
            problem = await read_problem(resp, 400)
            assert problem["detail"] == f"{name} must not contain NUL characters"
    async with gw.http.get(gw.url("/v1/modules"), params={"q": "hello\x00"}) as resp:
        assert resp.status == 200  # free text: only its words are searched


async def test_registry_names_take_capitals_as_documented_and_run_takes_lowercase_only(
    start_gateway: StartGateway,
) -> None:
    """schemathesis (ST201): /v1/namespaces/NUL/limits answered 200 though the document's
    namespace pattern was lowercase; the registry folds case, /v1/run does not."""
    gw = await start_gateway()
    doc = await (await gw.http.get(gw.url("/openapi.json"))).json()

    def ns_pattern(path: str, method: str) -> str:
        params = doc["paths"][path][method]["parameters"]
        return str(next(p["schema"]["pattern"] for p in params if p["name"] == "ns"))

    assert re.search(ns_pattern("/v1/namespaces/{ns}/limits", "get"), "NUL")
    async with gw.http.get(gw.url("/v1/namespaces/NUL/limits")) as resp:
        assert (await resp.json())["namespace"] == "NUL"
    async with gw.http.get(gw.url("/v1/modules/Examples/Hello")) as resp:
        assert (await resp.json())["module"]["name"] == "examples/hello"
    assert not re.search(ns_pattern("/v1/run/{ns}/{module}", "post"), "Examples")
    async with gw.http.post(gw.url("/v1/run/Examples/hello"), data=b"x") as resp:
        await read_problem(resp, 400)


async def test_text_the_document_refuses_is_refused_by_the_server_too(
    start_gateway: StartGateway, infra: Infra
) -> None:
    """Schemathesis found a blank reason refused though the schema allowed it, and a NUL
    in a token name failing in the database (502); the document now states both rules."""
    gw = await start_gateway()
    headers = bearer(infra.admin)
    doc = await (await gw.http.get(gw.url("/openapi.json"))).json()
    yank = doc["paths"]["/v1/modules/{ns}/{name}/versions/{version}/yank"]["post"]
    reason = yank["requestBody"]["content"]["application/json"]["schema"]["properties"]["reason"]
    refused = {
        "\u00a0": "reason is required: 1..500 characters, not all whitespace",
        "a\x00b": "reason must not contain NUL characters",
        # 501 characters as sent, 1 once stripped: the document's maxLength counts 501.
        " " * 250 + "x" + " " * 250: "reason is 501 characters, at most 500",
    }
    for text, detail in refused.items():
        assert not re.search(reason["pattern"], text) or len(text) > reason["maxLength"]
        async with gw.http.post(
            gw.url("/v1/modules/testmods/fail/versions/1.0.0/yank"),
            json={"reason": text},
            headers=headers,
        ) as resp:
            problem = await read_problem(resp, 400)
            assert problem["detail"] == detail
    assert re.search(reason["pattern"], " broken build ")
    tokens = doc["paths"]["/v1/tokens"]["post"]["requestBody"]["content"]["application/json"]
    assert not re.search(tokens["schema"]["properties"]["name"]["pattern"], "a\x00")
    async with gw.http.post(
        gw.url("/v1/tokens"), json={"name": "a\x00", "scopes": ["rate"]}, headers=headers
    ) as resp:
        problem = await read_problem(resp, 400)
        assert problem["detail"] == "name must not contain NUL characters"


async def test_a_namespace_cap_past_any_ceiling_is_a_400_not_a_500(
    start_gateway: StartGateway, infra: Infra
) -> None:
    """schemathesis (ST101): a cap above 2**64 failed to fit the request message (500)."""
    gw = await start_gateway()
    for body, field in (
        ({"max_module_bytes": 7147780536, "max_assets_bytes": 73188186560386244608}, "assets"),
        ({"max_module_bytes": (16 << 30) + 1}, "module"),
    ):
        async with gw.http.put(
            gw.url("/v1/namespaces/capped/limits"), json=body, headers=bearer(infra.admin)
        ) as resp:
            problem = await read_problem(resp, 400)
        assert problem["detail"].startswith(f"max_{field}_bytes: "), problem
        assert problem["detail"].endswith("is above 17179869184, the largest size ceiling")


async def test_a_path_holding_a_newline_is_answered_with_a_problem(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    for path in ("/nope%0Ax", "/v1/modules/ab/cd/1%0A"):
        async with gw.http.put(gw.url(path), data=b"") as resp:
            assert resp.content_type == PROBLEM, (path, await resp.text())
    # /v1/run's PATH_INFO takes it too: the module answers.
    async with gw.http.post(gw.url("/v1/run/examples/hello/a%0Ab"), data=b"ok") as resp:
        assert resp.status == 200
        assert await resp.read() == b"OK"
