"""Invoking modules through the gateway against real runtime, marketplace and cache."""

from __future__ import annotations

from typing import Any

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.common.testing import Poll

from .conftest import Infra, StartGateway


async def test_run_hello_uppercases_body_and_passes_cgi_env(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    async with gw.http.post(
        gw.url("/v1/run/examples/hello/some/path?env=1&x=a%26b+c"),
        data=b"hello gateway",
        headers={"X-Custom": "abc", "Content-Type": "text/plain"},
    ) as resp:
        body = await resp.text()
        assert resp.status == 200, body
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert resp.headers["X-Wasmgrid-Module"] == "examples/hello@1.0.0"
    lines = body.splitlines()
    assert lines[0] == "HELLO GATEWAY"
    env = dict(line.split("=", 1) for line in lines[1:])
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/some/path"
    assert env["SCRIPT_NAME"] == "/v1/run/examples/hello"
    assert env["QUERY_STRING"] == "env=1&x=a%26b+c"  # as sent: still encoded
    assert env["CONTENT_LENGTH"] == "13"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["HTTP_X_CUSTOM"] == "abc"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"


async def test_bodies_reach_the_module_whole_whether_buffered_streamed_or_chunked(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    url = gw.url("/v1/run/examples/hello")
    big = bytes(range(32, 127)) * 7000  # ~650 KB: arrives over many reads
    small = b"tiny"

    async def chunked() -> Any:
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    for data in (small, big, chunked()):
        async with gw.http.post(url, data=data) as resp:
            body = await resp.read()
            assert resp.status == 200, body[:200]
            assert body == (small if data is small else big).upper()


async def test_run_with_version_requirement(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    for ref in ("examples/hello@1.0.0", "examples/hello@%5E1", "examples/hello@latest"):
        async with gw.http.get(gw.url(f"/v1/run/{ref}")) as resp:
            assert resp.status == 200, await resp.text()
    async with gw.http.get(gw.url("/v1/run/examples/hello@2")) as resp:
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"


async def test_call_function_with_json_args(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    async with gw.http.post(gw.url("/v1/call/examples/mathfn/add"), json={"args": [2, 40]}) as resp:
        doc = await resp.json()
        assert resp.status == 200, doc
    assert doc["results"] == [42]
    assert doc["types"] == ["i32"]
    async with gw.http.post(
        gw.url("/v1/call/examples/mathfn/divmod"), json={"args": [17, 5]}
    ) as resp:
        assert (await resp.json())["results"] == [3, 2]
    async with gw.http.post(
        gw.url("/v1/call/examples/mathfn/hypot"), json={"args": [3, {"f64": 4}]}
    ) as resp:
        assert (await resp.json())["results"] == [5.0]
    async with gw.http.post(gw.url("/v1/call/examples/mathfn/fib"), json={"args": [10]}) as resp:
        assert (await resp.json())["results"] == [55]


async def test_call_argument_errors_name_the_argument(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    cases = [
        ("add", {"args": [1]}, 400, "takes 2 argument(s) (i32, i32)"),
        ("add", {"args": [1, 2.5]}, 400, "args[1]"),
        ("add", {"args": [1, 2**40]}, 400, "outside the i32 range"),
        ("add", {"args": [1, "x"]}, 400, "args[1]"),
        ("add", {"args": [1, {"f64": 1}]}, 400, "expects i32, got f64"),
        ("nope", {"args": []}, 404, "no callable export named 'nope'"),
        ("add", {"argz": []}, 400, "request body: unknown field 'argz'; the fields are args"),
    ]
    for function, body, status, text in cases:
        async with gw.http.post(gw.url(f"/v1/call/examples/mathfn/{function}"), json=body) as r:
            problem = await r.json(content_type=None)
            assert r.status == status, problem
            assert text in problem["detail"], problem


async def test_reactor_via_run_and_command_via_call(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    async with gw.http.get(gw.url("/v1/run/examples/mathfn")) as resp:
        problem = await resp.json(content_type=None)
        assert resp.status == 400
        assert "reactor" in problem["detail"]


async def test_cgi_status_and_headers_from_module(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    async with gw.http.get(gw.url("/v1/run/testmods/teapot")) as resp:
        assert resp.status == 418
        assert resp.headers["X-Tea"] == "green"
        assert await resp.read() == b"short and stout"


async def test_local_redirect_and_redirect_loop(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    async with gw.http.get(gw.url("/v1/run/testmods/redirect")) as resp:
        assert resp.status == 200
        assert resp.headers["X-Wasmgrid-Module"] == "examples/hello@1.0.0"
    async with gw.http.get(gw.url("/v1/run/testmods/loop")) as resp:
        problem = await resp.json(content_type=None)
        assert resp.status == 500
        assert "more than 3 times" in problem["detail"]
        assert problem["type"].endswith("/guest-redirect")
        assert problem["fault"] == "guest"


async def test_failing_module_is_a_guest_500_with_stderr_excerpt(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway(stderr_excerpt_bytes=10)
    async with gw.http.get(gw.url("/v1/run/testmods/fail")) as resp:
        problem = await resp.json(content_type=None)
    assert resp.status == 500
    assert problem["type"] == "https://wasmgrid.dev/problems/guest-exit"
    assert problem["fault"] == "guest"
    assert problem["outcome"] == "exit"
    assert problem["detail"] == "module testmods/fail@1.0.0 exited with code 3"
    assert problem["exit_code"] == 3
    assert problem["stderr"] == "…ing broke"
    # Counted as the guest's fault, never the platform's, and per module.
    async with gw.http.get(gw.url("/metrics")) as resp:
        lines = (await resp.text()).splitlines()
    assert any(
        ln.startswith("wasmgrid_gateway_http_requests_total{")
        and 'status_class="5xx"' in ln
        and 'fault="guest"' in ln
        for ln in lines
    ), lines
    assert any(
        ln.startswith('wasmgrid_gateway_module_calls_total{module="testmods/fail",outcome="exit"}')
        for ln in lines
    )


async def test_invalid_cgi_output_is_a_guest_500(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    async with gw.http.get(gw.url("/v1/run/testmods/badcgi")) as resp:
        problem = await resp.json(content_type=None)
    assert resp.status == 500
    assert "invalid CGI response" in problem["detail"]
    assert problem["type"].endswith("/guest-invalid-response")
    assert problem["fault"] == "guest"
    assert "Status" in problem["detail"]


async def test_module_time_limit_is_a_guest_500(start_gateway: StartGateway) -> None:
    routes = """
routes:
  - name: spin
    path: /spin
    module: testmods/spin
    limits: {timeout: 200ms}
"""
    gw = await start_gateway(routes)
    async with gw.http.get(gw.url("/spin")) as resp:
        problem = await resp.json(content_type=None)
    assert resp.status == 500, problem
    assert "200 ms time limit" in problem["detail"]
    assert problem["type"].endswith("/guest-timeout")
    assert problem["fault"] == "guest"


async def test_run_passes_a_search_string_query_as_argv(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    for query, argv in [
        ("?input.txt+two%20words+d%2Be", ["input.txt", "two words", "d+e"]),
        ("?k=v&x=a+b", ["k=v", "x=a b"]),  # a form: its pairs, decoded
        ("", []),
    ]:
        async with gw.http.get(gw.url(f"/v1/run/testmods/argv{query}")) as resp:
            text = await resp.text()
            assert resp.status == 200, text
        # argv[0] names the module; with no arguments the runtime leaves argv empty.
        assert text.splitlines() == (["testmods/argv@1.0.0", *argv] if argv else [])
    routes = """
routes:
  - name: fixed
    path: /fixed
    module: testmods/argv
    args: ["--from-route"]
"""
    gw = await start_gateway(routes)
    async with gw.http.get(gw.url("/fixed?ignored+words")) as resp:
        text = await resp.text()
    assert text.splitlines() == ["testmods/argv@1.0.0", "--from-route"]


async def test_run_refuses_a_form_query_with_more_pairs_than_argv_may_hold(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    query = "&".join(f"k{i}=v" for i in range(300))
    async with gw.http.get(gw.url(f"/v1/run/testmods/argv?{query}")) as resp:
        problem = await resp.json()
        assert resp.status == 400, problem
    assert problem["detail"].endswith("args has 300 entries; the limit is 256")


async def test_custom_routes_params_prefix_and_host(start_gateway: StartGateway) -> None:
    routes = """
routes:
  - name: greet
    path: /greet/{who}/*
    methods: [POST]
    module: examples/hello@^1
  - name: api-host
    host: "*.example.com"
    path: /greet/{who}/*
    methods: [POST]
    module: examples/hello@1.0.0
"""
    gw = await start_gateway(routes)
    async with gw.http.post(gw.url("/greet/bob/a/b?env=1"), data=b"x") as resp:
        text = await resp.text()
        assert resp.status == 200, text
    env = dict(line.split("=", 1) for line in text.splitlines()[1:])
    assert env["PATH_INFO"] == "/a/b"
    assert env["SCRIPT_NAME"] == "/greet/bob"
    async with gw.http.post(
        gw.url("/greet/bob/c?env=1"), data=b"x", headers={"Host": "api.example.com"}
    ) as resp:
        assert resp.status == 200
    async with gw.http.get(gw.url("/greet/bob/c")) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"
    async with gw.http.get(gw.url("/v1/routes")) as resp:
        listed = await resp.json()
    assert {r["name"] for r in listed["routes"]} == {"greet", "api-host"}


async def test_response_cache_miss_then_hit(start_gateway: StartGateway, infra: Infra) -> None:
    routes = """
routes:
  - name: cached
    path: /cached
    module: examples/hello
    middleware:
      - cache: {ttl: 30s, vary: [Accept-Language]}
"""
    gw = await start_gateway(routes, near_cache_entries=0)
    seen = []
    for body, lang in [(b"one", "en"), (b"one", "en"), (b"two", "en"), (b"one", "fr")]:
        async with gw.http.post(
            gw.url("/cached"), data=body, headers={"Accept-Language": lang}
        ) as resp:
            assert resp.status == 200
            seen.append((resp.headers["X-Cache"], await resp.read()))
    assert seen == [
        ("MISS", b"ONE"),
        ("HIT", b"ONE"),
        ("MISS", b"TWO"),
        ("MISS", b"ONE"),
    ]
    before = await infra.runtime.invocations()
    async with gw.http.post(gw.url("/cached"), data=b"two", headers={"Accept-Language": "en"}) as r:
        assert r.headers["X-Cache"] == "HIT"
    assert await infra.runtime.invocations() == before
    async with gw.http.get(gw.url("/v1/cache/namespaces/gateway-responses/stats")) as resp:
        stats = await resp.json()
    assert int(stats["stats"]["hits"]) >= 2


async def test_failed_responses_are_not_cached(start_gateway: StartGateway) -> None:
    routes = """
routes:
  - name: teapot
    path: /teapot
    module: testmods/teapot
    middleware:
      - cache: {ttl: 30s}
"""
    gw = await start_gateway(routes)
    for _ in range(2):
        async with gw.http.get(gw.url("/teapot")) as resp:
            assert resp.status == 418
            assert resp.headers["X-Cache"] == "MISS"


async def test_traceparent_is_accepted(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with gw.http.get(
        gw.url("/v1/run/examples/hello"),
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    ) as resp:
        assert resp.status == 200
        assert resp.headers["X-Trace-Id"] == trace_id


async def test_publish_is_visible_within_resolve_ttl(
    start_gateway: StartGateway, infra: Infra, poll: Poll
) -> None:
    gw = await start_gateway(resolve_cache_ttl_seconds=0.3)
    await infra.publish("testmods/moving", "1.0.0", infra.modules["hello"])
    async with gw.http.get(gw.url("/v1/run/testmods/moving")) as resp:
        assert resp.status == 200
    await infra.publish("testmods/moving", "1.1.0", infra.modules["teapot"])

    async def switched() -> bool:
        async with gw.http.get(gw.url("/v1/run/testmods/moving")) as resp:
            return bool(resp.status == 418)

    await poll(switched, "the new version to be resolved", 5)


async def test_a_reloaded_route_table_answers_for_paths_the_old_one_matched(
    start_gateway: StartGateway,
) -> None:
    from wasmgrid.gateway.routes import parse_routes

    gw = await start_gateway(
        "routes:\n  - {name: r, path: /r, methods: [POST], module: examples/hello}\n"
        "  - {name: p, path: '/p/{x}', module: examples/hello}\n"
    )
    store = gw.gateway.routes
    for host in ("a", "b", "c", "d", "e", "f"):  # client-chosen hosts, each matched
        async with gw.http.post(gw.url("/r"), data=b"x", headers={"Host": host}) as resp:
            assert resp.status == 200
    async with gw.http.post(gw.url("/p/1"), data=b"x") as resp:
        assert resp.status == 200
    # A reload is a new table: what the old one remembered cannot answer for it.
    store.table = parse_routes(
        "routes:\n  - {name: r, path: /r, methods: [GET], module: examples/hello}\n"
    )
    async with gw.http.post(gw.url("/r"), data=b"x", headers={"Host": "f"}) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, HEAD"


async def test_a_module_still_compiling_answers_503_with_retry_after_then_runs(
    start_gateway: Any, infra: Any, poll: Any
) -> None:
    from wasmgrid.runtime.testing import slow_module

    await infra.publish("testmods/slow-compile", "1.0.0", slow_module())
    # The call's deadline (0.5 s) is shorter than the compile (~1.5 s here).
    gw = await start_gateway(invoke_timeout_seconds=0.5)
    url = gw.url("/v1/run/testmods/slow-compile")
    async with gw.http.post(url) as resp:
        problem = await resp.json(content_type=None)
        assert resp.status == 503, problem
        assert resp.content_type == "application/problem+json"
        assert int(resp.headers["Retry-After"]) >= 1
    assert problem["detail"] == f"compiling, {problem['compiling_seconds']:.0f} s so far"

    async def runs() -> bool:
        async with gw.http.post(url) as resp:
            return bool(resp.status == 200)

    # The compile went on without the caller; the replica was not ejected meanwhile.
    await poll(runs, "the compiled module to run", 60)
    assert infra.runtime.service.loader.compiles >= 1


async def test_a_published_program_using_exception_handling_runs(
    start_gateway: Any, infra: Any
) -> None:
    from pathlib import Path

    import wasmtime

    wat = Path(__file__).resolve().parents[2] / "runtime/tests/wat/wasm3/exceptions.wat"
    await infra.publish("testmods/exceptions", "1.0.0", bytes(wasmtime.wat2wasm(wat.read_text())))
    gw = await start_gateway()
    async with gw.http.post(gw.url("/v1/run/testmods/exceptions")) as resp:
        body = await resp.read()
        assert resp.status == 200, body
    assert body == b"42\n"  # thrown two frames down, caught by try_table


async def test_a_c_program_that_throws_and_catches_runs_through_run(
    start_gateway: Any, infra: Any
) -> None:
    from pathlib import Path

    # examples/calc: C whose setjmp/longjmp are WebAssembly try_table/throw (exnref).
    calc = Path(__file__).resolve().parents[3] / "examples/modules/calc/calc.wasm"
    await infra.publish("testmods/calc", "1.0.0", calc.read_bytes())
    version = await infra.market_stub.GetVersion(
        mp.GetVersionRequest(name="testmods/calc", version="1.0.0")
    )
    assert "exceptions" in version.version.validation.features
    gw = await start_gateway()
    url = gw.url("/v1/run/testmods/calc")
    async with gw.http.post(url, data=b"(1 + 2) * -3") as resp:
        assert (resp.status, await resp.read()) == (200, b"-9\n")
    # Thrown from three calls deep, caught in main: a 400 naming the column.
    async with gw.http.post(url, data=b"7 / (3 - 3)") as resp:
        assert (resp.status, await resp.read()) == (400, b"division by zero at column 3\n")
    async with gw.http.post(url, data=b"((1)") as resp:
        assert (resp.status, await resp.read()) == (400, b"expected ')' at column 5\n")
