"""The web pages over HTTP: content, escaping, security headers, errors as HTML, assets,
reserved paths and metrics. The browser itself drives them in tests/e2e/test_web_pages.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from markupsafe import escape
from prometheus_client import REGISTRY

from wasmgrid.gateway.routes import RouteError, parse_routes
from wasmgrid.gateway.web.charts import (
    Change,
    bar_chart,
    count_max,
    line_chart,
    nice_max,
    timeline,
    waterfall,
)
from wasmgrid.gateway.web.market import safe_link, usage
from wasmgrid.gateway.web.render import ASSETS, CONTENT_SECURITY_POLICY

from .conftest import RunningGateway, StartGateway, bearer

HTML = "text/html"
SCRIPT = "<script>alert('pwned')</script>"


async def _page(gw: RunningGateway, path: str, status: int = 200) -> str:
    async with gw.http.get(gw.url(path)) as resp:
        body: str = await resp.text()
        assert resp.status == status, body[:2000]
        assert resp.content_type == HTML
        assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        return body


def _no_inline_script_or_style(body: str) -> None:
    """What the CSP would block must not be in the page at all."""
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body) is None
    assert re.search(r"\sstyle\s*=", body) is None
    assert re.search(r"\son[a-z]+\s*=", body) is None
    assert "<style" not in body


async def test_a_description_holding_a_script_is_shown_as_text_everywhere(
    start_gateway: StartGateway, infra: Any
) -> None:
    gw = await start_gateway()
    async with gw.http.put(
        gw.url("/v1/modules/xss/evil/1.0.0"),
        params={"description": SCRIPT, "license": "MIT", "category": "utilities", "tag": "xss"},
        data=infra.modules["hello"],
        headers={**bearer(infra.admin), "Content-Type": "application/wasm"},
    ) as resp:
        assert resp.status == 201, await resp.text()
    for path in ("/?q=evil", "/modules/xss/evil", f"/?q={SCRIPT}"):
        body = await _page(gw, path)
        assert SCRIPT not in body
        _no_inline_script_or_style(body)
    listing = await _page(gw, "/?q=evil")
    assert str(escape(SCRIPT)) in listing
    module = await _page(gw, "/modules/xss/evil")
    assert str(escape(SCRIPT)) in module


async def test_the_marketplace_searches_filters_and_pages_from_its_address(
    start_gateway: StartGateway, infra: Any
) -> None:
    gw = await start_gateway()
    body = await _page(gw, "/?q=hello")
    assert 'href="/modules/examples/hello"' in body
    assert 'value="hello"' in body  # the search box keeps the query
    utilities = await _page(gw, "/?category=utilities&sort=downloads")
    assert '<option value="utilities" selected>' in utilities
    assert '<option value="downloads" selected>' in utilities
    assert "examples/hello" in utilities
    async with gw.http.get(gw.url("/?q=hello&category=&tag=&sort="), allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/?q=hello"  # what the form sends, made short
    empty = await _page(gw, "/?category=database")
    assert "No module matches" in empty
    first = await _page(gw, "/?sort=newest")
    assert "testmods/" in first
    bad = await _page(gw, "/?sort=loudest", status=400)
    assert "sort &#39;loudest&#39; is not one of relevance, downloads, rating, newest" in bad
    unknown = await _page(gw, "/?category=nonsense", status=400)
    assert "nonsense" in unknown
    assert "is not one of" in unknown


async def test_a_module_page_shows_versions_report_usage_and_marks_yanked_ones(
    start_gateway: StartGateway, infra: Any
) -> None:
    gw = await start_gateway()
    for version in ("1.0.0", "1.1.0"):
        await infra.publish("pages/shown", version, infra.modules["hello"])
    async with gw.http.post(
        gw.url("/v1/modules/pages/shown/versions/1.1.0/yank"),
        json={"reason": "broken build"},
        headers=bearer(infra.admin),
    ) as resp:
        assert resp.status == 200, await resp.text()
    body = await _page(gw, "/modules/pages/shown")
    _no_inline_script_or_style(body)
    assert '<tr class="yanked">' in body
    assert 'title="broken build">yanked</span>' in body
    assert "1.0.0" in body
    assert "1.1.0" in body
    digest = __import__("hashlib").sha256(infra.modules["hello"]).hexdigest()
    assert f"sha256:{digest}" in body
    assert "wasi_snapshot_preview1" in body  # imports of the report
    base = gw.base
    assert str(escape(f"curl -s -X POST --data 'hello' {base}/v1/run/pages/shown@1.0.0")) in body
    assert 'data-path="/v1/run/pages/shown@1.0.0"' in body
    yanked = await _page(gw, "/modules/pages/shown?version=1.1.0")
    assert "Version 1.1.0 is yanked: broken build." in yanked
    reactor = await _page(gw, "/modules/examples/mathfn")
    assert 'data-mode="function"' in reactor
    assert "<option>fib</option>" in reactor
    assert f"{base}/v1/call/examples/mathfn@1.0.0/fib" in reactor
    missing = await _page(gw, "/modules/nobody/nothing", status=404)
    assert "nobody/nothing" in missing


async def test_publish_form_never_names_its_token_field_and_needs_the_api(
    start_gateway: StartGateway,
) -> None:
    gw = await start_gateway()
    body = await _page(gw, "/publish")
    _no_inline_script_or_style(body)
    token = re.search(r"<input id=\"pub-token\"[^>]*>", body)
    assert token is not None
    assert ' name="' not in token.group(0)
    assert 'type="password"' in token.group(0)
    assert re.search(r"<input[^>]*\sname=", body) is None  # nothing a native submit would send
    # Cross-site: the pages take GET only, and the API grants no CORS for a browser PUT.
    async with gw.http.post(gw.url("/publish"), data={"token": "x"}) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET,HEAD"
    async with gw.http.head(gw.url("/publish")) as resp:
        assert resp.status == 200
    async with gw.http.options(
        gw.url("/v1/modules/a/b/1.0.0"),
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization",
        },
    ) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers
    async with gw.http.put(
        gw.url("/v1/modules/a/b/1.0.0"),
        data=b"\0asm",
        headers={"Content-Type": "application/wasm", "Origin": "https://evil.example"},
    ) as resp:
        assert resp.status == 401  # no bearer token, no publish: nothing ambient to ride on


async def test_status_and_trace_pages_say_what_is_missing(start_gateway: StartGateway) -> None:
    gw = await start_gateway()  # no monitor configured
    body = await _page(gw, "/status")
    assert "no monitor configured (WASMGRID_GATEWAY_MONITOR_ADDR is empty)" in body
    wide = await _page(gw, "/status?window=1h")
    assert '<a href="/status?window=1h" aria-current="page">1h</a>' in wide
    bad_window = await _page(gw, "/status?window=2d", status=400)
    assert "window &#39;2d&#39; is not one of 5m, 15m, 30m, 1h" in bad_window
    bad = await _page(gw, "/traces/xyz", status=400)
    assert "trace id &#39;xyz&#39; is not 32 hex digits" in bad
    none = await _page(gw, "/traces/" + "a" * 32, status=503)
    assert "WASMGRID_GATEWAY_MONITOR_ADDR is empty" in none


async def test_assets_are_versioned_cached_and_revalidated(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    css = ASSETS["app.css"]
    async with gw.http.get(gw.url(f"/assets/app.css?v={css.version}")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/css; charset=utf-8"
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert await resp.read() == css.body
        etag = resp.headers["ETag"]
    async with gw.http.get(gw.url("/assets/app.css"), headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
        assert resp.headers["Cache-Control"] == "no-cache"
    await _page(gw, "/assets/nothing.js", status=404)


def _count(route: str) -> float:
    value = REGISTRY.get_sample_value(
        "wasmgrid_gateway_http_requests_total",
        {"route": route, "method": "GET", "status_class": "2xx", "fault": "none"},
    )
    return value or 0.0


async def test_pages_are_counted_under_bounded_route_labels(start_gateway: StartGateway) -> None:
    gw = await start_gateway()
    before = _count("page_module"), _count("page_marketplace")
    await _page(gw, "/modules/examples/hello")
    await _page(gw, "/?q=anything-at-all")
    assert (_count("page_module"), _count("page_marketplace")) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize(
    "path", ["/", "/status", "/publish/", "/modules/a/b", "/traces/x", "/assets/a.css"]
)
def test_the_routes_file_cannot_shadow_a_page(path: str) -> None:
    with pytest.raises(RouteError, match="reserved"):
        parse_routes(f"routes: [{{name: a, path: '{path}', module: n/m}}]")


def test_paths_beside_the_pages_stay_free_for_routes() -> None:
    table = parse_routes(
        "routes: [{name: a, path: /statusboard, module: n/m}, {name: b, path: /publishing/*,"
        " module: n/m}]"
    )
    assert len(table) == 2


# ------------------------------------------------------------------ the pure parts


def test_links_other_than_http_are_not_rendered() -> None:
    assert safe_link("https://example.com/x") == "https://example.com/x"
    assert safe_link("javascript:alert(1)") is None
    assert safe_link(" JavaScript:alert(1)") is None
    assert safe_link("data:text/html,<b>") is None
    assert safe_link("") is None


def test_usage_fills_in_the_address_module_and_version() -> None:
    command = usage("http://h:1", "ns/m", "2.0.0", "command", "")
    assert command["curl"] == "curl -s -X POST --data 'hello' http://h:1/v1/run/ns/m@2.0.0"
    cli = "echo -n hello | WASMGRID_URL=http://h:1 wasmgrid run ns/m@2.0.0 --input -"
    assert command["cli"] == cli
    assert "wg.run('ns/m@2.0.0', b'hello')" in command["python"]
    reactor = usage("http://h:1", "ns/m", "2.0.0", "reactor", "add")
    assert reactor["cli"] == "WASMGRID_URL=http://h:1 wasmgrid call ns/m@2.0.0 add 1 2"
    assert reactor["curl"].endswith("http://h:1/v1/call/ns/m@2.0.0/add")


def test_scales_ticks_and_lines() -> None:
    assert [nice_max(v) for v in (0, 0.3, 1, 1.1, 7, 23, 240)] == [1, 0.5, 1, 2, 10, 25, 250]
    assert [count_max(v) for v in (0, 3, 5, 9, 23, 100, 999)] == [4, 4, 8, 20, 40, 100, 1000]
    chart = line_chart("Rate", "/s", [("2xx", [(0, 0.0), (50, 5.0), (100, 10.0)])], 0, 100)
    (line,) = chart.lines
    assert line.points == "56.0,176.0 344.0,92.0 632.0,8.0"
    assert line.last == "10 /s"
    assert [t.label for t in chart.y_ticks] == ["0 /s", "2.5 /s", "5 /s", "7.5 /s", "10 /s"]
    assert line_chart("Rate", "/s", [("2xx", [])], 0, 100).empty
    two = [("4xx", [(0.0, 1.0)]), ("5xx", [(0.0, 1.0)])]
    pinned = line_chart("Rate", "/s", two, 0, 100, {"5xx": 4})
    assert [ln.css for ln in pinned.lines] == ["series-0", "series-4"]


def test_download_bars_stack_and_summarise() -> None:
    chart = bar_chart(
        [("2026-12-01", (3, 1)), ("2026-12-02", (0, 0))], ("downloads", "fetches"), "Downloads"
    )
    first, second = chart.bars
    assert first.total == 4
    assert second.total == 0
    assert [s[3] for s in first.segments] == [3, 1]
    assert chart.summary == (
        "Downloads per day from 2026-12-01 to 2026-12-02: downloads 3, fetches 1."
    )


def test_health_timeline_from_changes() -> None:
    changes = [Change(40, "serving", "unreachable"), Change(10, "unknown", "serving")]
    segments = timeline(changes, "unreachable", 40, 0, 100)
    assert [(s.status, s.x, s.width) for s in segments] == [
        ("unknown", 0, 100),
        ("serving", 100, 300),
        ("unreachable", 400, 600),
    ]
    quiet = timeline([], "serving", 50, 0, 100)
    assert [(s.status, s.x, s.width) for s in quiet] == [("unknown", 0, 500), ("serving", 500, 500)]


def test_waterfall_orders_children_under_parents() -> None:
    rows, total = waterfall(
        [("c", "a", 1.0, 0.5), ("a", "", 0.0, 2.0), ("b", "a", 0.2, 0.1), ("x", "gone", 1.5, 0.5)]
    )
    assert total == 2.0
    assert [(r.index, r.depth) for r in rows] == [(1, 0), (2, 1), (0, 1), (3, 0)]
    assert rows[0].x == 0
    assert rows[0].width == 1000
    assert rows[2].x == 500
    assert rows[2].width == 250
