"""Routes file parsing, validation messages, matching precedence and reload."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from wasmgrid.common.testing import poll_until
from wasmgrid.gateway.routes import (
    ModuleRef,
    RouteError,
    RouteStore,
    ScratchConfig,
    format_args,
    load_route_store,
    parse_duration,
    parse_routes,
    parse_size,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "routes.example.yaml"

BASIC = """
routes:
  - name: exact
    path: /hello
    module: examples/hello@^1
  - name: param
    path: /users/{id}/profile
    methods: [GET]
    module: examples/hello
    args: ["--user", "{id}"]
  - name: prefix
    path: /static/*
    module: examples/hello
  - name: host-exact
    host: api.example.com
    path: /hello
    module: examples/hello@1.0.0
  - name: host-wild
    host: "*.example.com"
    path: /hello
    module: examples/hello
  - name: fn
    path: /add
    methods: [POST]
    mode: function
    function: add
    module: examples/mathfn
    limits: {timeout: 500ms, memory: 16MiB, fuel: 1000000, max_output: 64KiB}
    middleware:
      - auth: {scopes: [publish]}
      - rate_limit: {algorithm: sliding_window, limit: 10, window: 1s, key: token}
      - cache: {ttl: 30s, vary: [Accept]}
      - timeout: 2s
      - body_limit: 1KiB
      - cors: {allow_origins: ["https://app.example.com"], allow_methods: [POST]}
"""


def test_example_file_is_valid() -> None:
    table = parse_routes(EXAMPLE.read_text())
    assert len(table) >= 3


def test_match_exact_param_prefix() -> None:
    table = parse_routes(BASIC)
    m = table.match("other.org", "GET", "/hello").match
    assert m is not None
    assert m.route.name == "exact"
    assert m.route.module == ModuleRef("examples", "hello", "^1")
    m = table.match("x", "GET", "/users/42/profile").match
    assert m is not None
    assert m.route.name == "param"
    assert m.params == {"id": "42"}
    assert format_args(m.route.args, m.params) == ["--user", "42"]
    m = table.match("x", "GET", "/static/css/site.css").match
    assert m is not None
    assert m.route.name == "prefix"
    assert (m.path_info, m.script_name) == ("/css/site.css", "/static")
    m = table.match("x", "GET", "/static").match
    assert m is not None
    assert m.route.name == "prefix"
    assert m.path_info == ""
    assert table.match("x", "GET", "/nothing").match is None


def test_host_precedence_and_port_stripping() -> None:
    table = parse_routes(BASIC)
    for host, name in [
        ("api.example.com:8080", "host-exact"),
        ("API.example.com", "host-exact"),
        ("web.example.com", "host-wild"),
        ("a.b.example.com", "host-wild"),
        ("example.com", "exact"),
        ("localhost:8080", "exact"),
    ]:
        m = table.match(host, "GET", "/hello").match
        assert m is not None, host
        assert m.route.name == name, host


def test_method_mismatch_reports_allowed_methods() -> None:
    table = parse_routes(BASIC)
    result = table.match("x", "DELETE", "/users/1/profile")
    assert result.match is None
    assert result.allowed == {"GET", "HEAD"}


def test_literal_beats_param_beats_prefix() -> None:
    table = parse_routes(
        """
routes:
  - {name: tail, path: /a/*, module: n/m}
  - {name: param, path: "/a/{x}", module: n/m}
  - {name: literal, path: /a/b, module: n/m}
"""
    )
    assert table.match("h", "GET", "/a/b").match.route.name == "literal"  # type: ignore[union-attr]
    assert table.match("h", "GET", "/a/c").match.route.name == "param"  # type: ignore[union-attr]
    assert table.match("h", "GET", "/a/c/d").match.route.name == "tail"  # type: ignore[union-attr]


def test_middleware_parsed() -> None:
    route = parse_routes(BASIC).by_name["fn"]
    mw = route.middleware
    assert mw.auth is not None
    assert mw.auth.scopes == ("publish",)
    assert mw.rate_limit is not None
    assert mw.rate_limit.algorithm == "sliding_window"
    assert mw.rate_limit.key == "token"
    assert mw.rate_limit.limit == 10
    assert mw.cache is not None
    assert mw.cache.ttl_seconds == 30
    assert mw.cache.vary == ("accept",)
    assert mw.timeout_seconds == 2
    assert mw.body_limit_bytes == 1024
    assert mw.cors is not None
    assert mw.cors.origin_allowed("https://app.example.com")
    assert route.limits.timeout_seconds == 0.5
    assert route.limits.memory_bytes == 16 * 1024**2
    doc = route.describe()
    assert doc["module"] == "examples/mathfn@latest"
    assert len(doc["middleware"]) == 6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("routes: [{name: a, path: hello, module: n/m}]", "route 'a'.path"),
        ("routes: [{name: a, path: /v1/run/x, module: n/m}]", "reserved"),
        ("routes: [{name: a, path: '/a/{x}/{x}', module: n/m}]", "appears twice"),
        ("routes: [{name: a, path: '/a/*/b', module: n/m}]", "segment 2"),
        ("routes: [{name: a, path: '/a/.*', module: n/m}]", "segment 2"),
        ("routes: [{name: a, path: /a, module: nm}]", "route 'a'.module"),
        ("routes: [{name: a, path: /a}]", "route 'a'.module: required"),
        ("routes: [{name: A!, path: /a, module: n/m}]", "routes[0].name"),
        ("routes: [{name: a, path: /a, module: n/m, methods: [FETCH]}]", "'FETCH'"),
        ("routes: [{name: a, path: /a, module: n/m, mode: magic}]", "route 'a'.mode"),
        ("routes: [{name: a, path: /a, module: n/m, mode: function}]", "route 'a'.function"),
        ("routes: [{name: a, path: /a, module: n/m, color: red}]", "unknown field 'color'"),
        ("routes: [{name: a, path: /a, module: n/m, host: 'a..b'}]", "route 'a'.host"),
        ("routes: [{name: a, path: /a, module: n/m, args: ['{nope}']}]", "args[0]"),
        (
            "routes: [{name: a, path: /a, module: n/m, middleware: [{rate_limit: {limit: 0}}]}]",
            "middleware[0].rate_limit.limit",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, middleware: [{rate_limit: {limit: 1,"
            " key: user}}]}]",
            "rate_limit.key",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, middleware: [{cache: {vary: [a]}}]}]",
            "cache.ttl: required",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, middleware: [{timeout: soon}]}]",
            "middleware[0].timeout",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, middleware: [{body_limit: -1}]}]",
            "middleware[0].body_limit",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, middleware: [{gzip: {}}]}]",
            "unknown middleware",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, middleware: [{cors: {allow_origins: ['*'],"
            " allow_credentials: true}}]}]",
            "allow_credentials",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m}, {name: a, path: /b, module: n/m}]",
            "already used",
        ),
        (
            "routes: [{name: a, path: '/x/{p}', module: n/m}, {name: b, path: '/x/{q}',"
            " module: n/m}]",
            "overlaps route 'a'",
        ),
        ("routes: [{name: a, path: /a, module: n/m, args: ['x', 1]}]", "args[1]: 1 must be"),
        ("routes: [{name: a, path: /a, module: n/m, methods: []}]", "at least one HTTP method"),
        (
            "routes: [{name: a, path: /a, module: n/m, limits: {timeout: 2s, fuel: 1.5}}]",
            "route 'a'.limits.fuel: 1.5 must be an integer in 1..",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, middleware: [{timeout: 1s},"
            " {timeout: 2s}]}]",
            "route 'a'.middleware[1]: timeout appears twice",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, middleware: [{timeout: }]}]",
            "route 'a'.middleware[0].timeout: None is not a duration",
        ),
        ("routes: [{name: a, path: /a, module: n/m, limits: 5}]", "route 'a'.limits: must be"),
        (
            "routes: [{name: a, path: /a, module: n/m, scratch: {path: tmp}}]",
            "route 'a'.scratch.path: 'tmp' must be an absolute path",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, scratch: {max_files: 0}}]",
            "route 'a'.scratch.max_files: 0 must be an integer in 1..",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, mode: function, function: f, scratch: }]",
            "route 'a'.scratch: only allowed with mode: command",
        ),
        (
            "routes: [{name: a, path: /a, module: n/m, args: ['{asset}']}]",
            "route 'a'.args[0]: {asset} is not a parameter of the path",
        ),
        ("routes: [{name: a, module: n/m}]", "route 'a'.path: required"),
        ("routes: [null]", "routes[0]: must be a mapping"),
        ("routes: {a: 1}", "must be a list"),
        ("other: 1", "top level"),
        ("routes: [", "not valid YAML"),
    ],
)
def test_validation_errors_name_route_and_field(text: str, message: str) -> None:
    with pytest.raises(RouteError, match=message.replace("[", r"\[").replace(".", r"\.")):
        parse_routes(text)


def test_scratch_and_the_assets_argument_are_route_fields() -> None:
    route = parse_routes(
        "routes: [{name: a, path: /a, module: n/m, args: ['{assets}/x'],"
        " scratch: {path: /work, max_size: 1MiB, max_files: 5}}]"
    ).by_name["a"]
    assert route.args == ("{assets}/x",)
    assert route.scratch == ScratchConfig("/work", 1 << 20, 5)
    bare = parse_routes("routes: [{name: a, path: /a, module: n/m, scratch: }]").by_name["a"]
    assert bare.scratch == ScratchConfig()
    assert bare.describe()["scratch"] == {}


def test_a_middleware_left_empty_keeps_its_meaning() -> None:
    route = parse_routes(
        "routes: [{name: a, path: /a, module: n/m, limits: , middleware: [{auth: }]}]"
    ).by_name["a"]
    # A bare `- auth:` still demands a valid token (with no particular scope).
    assert route.middleware.auth is not None
    assert route.middleware.auth.scopes == ()
    assert route.limits.timeout_seconds is None
    assert route.middleware.rate_limit is None


def test_an_error_names_the_first_problem_in_file_order() -> None:
    text = """
routes:
  - {name: ok, path: /ok, module: n/m}
  - {name: second, path: /b, module: n/m, limits: {memory: lots}}
  - {name: third, path: nope, module: n/m}
"""
    with pytest.raises(RouteError) as exc:
        parse_routes(text)
    assert str(exc.value) == (
        "route 'second'.limits.memory: 'lots' is not a size like 64KiB, 1MiB, 100KB"
    )


def test_durations_and_sizes() -> None:
    assert parse_duration("250ms", "x") == 0.25
    assert parse_duration("2m", "x") == 120
    assert parse_duration(3, "x") == 3
    assert parse_size("2KiB", "x") == 2048
    assert parse_size("1MB", "x") == 1_000_000
    with pytest.raises(RouteError, match="x: 0"):
        parse_duration(0, "x")
    with pytest.raises(RouteError, match="x: True"):
        parse_size(True, "x")


def test_module_ref_parse() -> None:
    assert ModuleRef.parse("a/b") == ModuleRef("a", "b", "latest")
    assert str(ModuleRef.parse("a/b@>=1, <2")) == "a/b@>=1, <2"
    with pytest.raises(ValueError, match="namespace/name"):
        ModuleRef.parse("a/b/c")
    with pytest.raises(ValueError, match="requirement"):
        ModuleRef.parse("a/b@$(rm)")


async def test_reload_on_change_keeps_old_routes_when_invalid(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("routes: [{name: one, path: /one, module: n/m}]")
    store = load_route_store(str(path))
    assert list(store.table.by_name) == ["one"]
    watcher = asyncio.create_task(store.watch(0.02))
    try:
        path.write_text("routes: [{name: two, path: /two, module: n/m}]\n")

        async def reloaded() -> bool:
            return "two" in store.table.by_name

        await poll_until(reloaded, "the changed routes file to be loaded", 5)
        path.write_text("routes: [{name: bad, path: nope, module: n/m}]\n# changed\n")

        async def refused() -> str | None:
            return store.last_error

        error = await poll_until(refused, "the invalid routes file to be noticed", 5)
        assert list(store.table.by_name) == ["two"]
        assert "route 'bad'.path" in error
    finally:
        watcher.cancel()


def test_invalid_file_at_startup_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("routes: [{name: x, path: /v1/x, module: n/m}]")
    with pytest.raises(RouteError, match="reserved"):
        load_route_store(str(path))
    assert RouteStore(None).reload() is False
