"""The gateway's pages in a real browser (Debian's Chromium through Playwright) against a
whole dev stack of their own: search, open a module, run it from the try-it form, publish
from the form, open a trace, and watch a stopped service turn red on /status.

The stack is this module's alone (the last test stops one of its services), and it is
seeded with a few modules so the screenshots show a registry rather than an empty page.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect, sync_playwright

from wasmgrid.common.testing import wait_until

from .conftest import DevStackProcess, start_dev_stack, stop_dev_stack
from .web import CHROMIUM, CHROMIUM_ARGS, DESKTOP, UPDATE_ENV, screenshot

REPO = Path(__file__).resolve().parents[2]
HELLO = (REPO / "examples/modules/hello/hello.wasm").read_bytes()
MATHFN = (REPO / "examples/modules/mathfn/mathfn.wasm").read_bytes()
FILES = (REPO / "examples/modules/files/files.wasm").read_bytes()
WORDS = b"alpha\nbeta\n\n"
SCRIPT = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"

#: Modules published next to the examples (name, description, category, tags, wasm).
SEED = (
    (
        "imaging/thumbnail",
        "Resizes PNG and JPEG images into thumbnails.",
        "image-processing",
        ("image", "resize"),
        HELLO,
    ),
    (
        "imaging/palette",
        "Extracts the dominant colours of an image.",
        "image-processing",
        ("image", "color"),
        HELLO,
    ),
    (
        "crypto/sha-tools",
        "SHA-256 and BLAKE3 digests over the request body.",
        "crypto-security",
        ("hash", "digest"),
        HELLO,
    ),
    (
        "numeric/stats",
        "Mean, variance and percentiles as exported functions.",
        "mathematics",
        ("math", "statistics"),
        MATHFN,
    ),
)


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStackProcess]:
    """A dev stack for the browser tests only."""
    data_dir = Path(tempfile.mkdtemp(prefix="wasmgrid-web-"))
    running = start_dev_stack(data_dir)
    try:
        yield running
    finally:
        stop_dev_stack(running)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def base(stack: DevStackProcess) -> str:
    return f"http://127.0.0.1:{stack.ports.gateway_http}"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does this)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def seeded(stack: DevStackProcess, base: str, playwright: Playwright) -> str:
    """Publish the seed modules with the admin token, download and rate some; the token."""
    admin = (stack.data_dir / "admin-token").read_text().strip()
    api = playwright.request.new_context(
        base_url=base, extra_http_headers={"Authorization": f"Bearer {admin}"}
    )
    try:
        for name, description, category, tags, wasm in SEED:
            query = urlencode(
                [
                    ("description", description),
                    ("license", "MIT"),
                    ("category", category),
                    *(("tag", t) for t in tags),
                ]
            )
            resp = api.put(
                f"/v1/modules/{name}/1.0.0?{query}",
                data=wasm,
                headers={"Content-Type": "application/wasm"},
            )
            assert resp.status == 201, resp.text()
        for name, times in (("imaging/thumbnail", 5), ("examples/hello", 3), ("numeric/stats", 2)):
            for _ in range(times):
                resp = api.get(f"/v1/modules/{name}/versions/1.0.0/download")
                assert resp.status == 200, resp.text()
        for rater, ratings in (
            (
                "rita",
                (
                    ("examples/hello", 5, "The shortest way to see WAGI work."),
                    ("imaging/thumbnail", 4, ""),
                ),
            ),
            ("rob", (("examples/hello", 4, "Handy to check a new gateway."),)),
        ):
            user = api.post("/v1/users", data={"username": rater, "role": "user"})
            assert user.status == 201, user.text()
            auth = {"Authorization": f"Bearer {user.json()['secret']}"}
            for name, stars, review in ratings:
                resp = api.put(
                    f"/v1/modules/{name}/rating",
                    data={"stars": stars, "review": review},
                    headers=auth,
                )
                assert resp.status == 200, resp.text()
    finally:
        api.dispose()
    return admin


@pytest.fixture
def page(browser: Browser, seeded: str, base: str) -> Iterator[Page]:
    """A desktop-sized page on the stack; fails the test on any CSP violation or JS error."""
    context = browser.new_context(base_url=base, viewport=DESKTOP)
    tab = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(message.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda err: problems.append(f"script error: {err}"))
    try:
        yield tab
        assert problems == []
    finally:
        context.close()


def reload_until(
    page: Page, url: str, ready: Callable[[], bool], what: str, timeout: float = 30
) -> None:
    """Open `url` again until `ready()`; the failure names what never showed."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if ready():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} at {url}")
        page.wait_for_timeout(500)


def test_search_filter_and_open_a_module(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")  # keyboard users first
    page.get_by_label("Search").fill("image")
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(r"/\?q=image$"))
    results = page.locator("ol.results > li")
    expect(results).to_have_count(2)
    expect(results.first).to_contain_text("imaging/")

    page.goto("/?category=crypto-security")  # the address is the search: shareable
    expect(page.get_by_label("Category")).to_have_value("crypto-security")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("crypto/sha-tools")

    page.goto("/")
    page.get_by_label("Sort by").select_option("downloads")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"sort=downloads"))
    expect(results.first).to_contain_text("imaging/thumbnail")
    screenshot(page, "marketplace")
    screenshot(page, "marketplace-phone", phone=True)

    results.first.get_by_role("link", name="imaging/thumbnail").click()
    expect(page).to_have_url(re.compile(r"/modules/imaging/thumbnail$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("imaging/thumbnail")
    expect(page.locator("code.digest")).to_contain_text("sha256:")
    expect(page.locator("table.versions")).to_contain_text("1.0.0")
    expect(page.locator("svg.plot g.bar")).to_have_count(30)  # 30 days of downloads


def test_try_it_runs_a_command_and_a_function_and_opens_the_trace(page: Page) -> None:
    page.goto("/modules/examples/hello")
    page.get_by_label("Request body").fill("hello from the browser")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#try-outcome")).to_have_text("ok")
    expect(page.locator("#try-output")).to_have_text("HELLO FROM THE BROWSER")
    expect(page.locator("#try-time")).to_contain_text("ms round trip")
    expect(page.locator("#try-status")).to_have_text("200 OK")
    screenshot(page, "module")

    page.goto("/modules/examples/mathfn")
    page.get_by_label("Function").select_option("fib")
    page.get_by_label("Arguments").fill("10")
    page.get_by_role("button", name="Call").click()
    expect(page.locator("#try-output")).to_contain_text("results: [55]")
    expect(page.locator("#try-time")).to_contain_text("µs in the guest")
    page.get_by_label("Arguments").fill("1, 2")
    page.get_by_role("button", name="Call").click()
    expect(page.locator("#try-outcome")).to_have_text("Invalid argument")
    expect(page.locator("#try-output")).to_contain_text("fib takes 1 argument(s)")

    page.get_by_label("Arguments").fill("20")
    page.get_by_role("button", name="Call").click()
    expect(page.locator("#try-output")).to_contain_text("results: [6765]")
    link = page.locator("#try-trace a")
    expect(link).to_have_attribute("href", re.compile(r"^/traces/[0-9a-f]{32}$"))
    href = link.get_attribute("href")
    assert href is not None
    waterfall = page.locator("ol.waterfall > li")
    # Spans reach the monitor after the exporters' batch delay: reload until both sides are in.
    both = page.locator("dl.facts").filter(has_text="wasmgrid-gateway")
    both = both.filter(has_text="wasmgrid-runtime")
    reload_until(
        page,
        href,
        lambda: both.count() > 0,
        "the gateway's and the runtime's spans",
    )
    expect(waterfall.first).to_contain_text("gateway")
    assert waterfall.count() >= 2
    waterfall.first.locator("summary").click()  # the span's attributes unfold
    expect(waterfall.first.locator("dl.attrs")).to_contain_text("http.route")
    screenshot(page, "trace")


def test_publish_from_the_form_shows_the_report_and_escapes_the_description(
    page: Page, base: str
) -> None:
    user = page.request.post(f"{base}/v1/users", data={"username": "webauthor"})
    assert user.status == 201, user.text()
    token = user.json()["secret"]
    sent: list[tuple[str, str, str]] = []
    page.on(
        "request",
        lambda r: sent.append((r.method, r.url, r.headers.get("authorization", ""))),
    )
    page.goto("/publish")
    page.get_by_label("API token").fill(token)
    page.get_by_label("WebAssembly file").set_input_files(
        {"name": "upper.wasm", "mimeType": "application/wasm", "buffer": HELLO}
    )
    page.get_by_label("Name").fill("webauthor/upper")
    page.get_by_label("Version").fill("1.0.0")
    page.get_by_label("Description").fill("Uppercases text. " + SCRIPT)
    page.get_by_label("License").fill("MIT")
    page.get_by_label("Category").select_option("utilities")
    page.get_by_label("Tags").fill("text, upper")
    page.get_by_role("button", name="Publish").click()
    result = page.locator("#pub-result")
    expect(result).to_contain_text("Published webauthor/upper@1.0.0")
    expect(result).to_contain_text("sha256:")
    expect(page.locator("#pub-progress")).to_have_attribute("value", "100")
    screenshot(page, "publish")

    # The token went only in the Authorization header of the one PUT: never in a URL.
    puts = [(url, auth) for method, url, auth in sent if method == "PUT"]
    assert puts == [(f"{base}/v1/modules/webauthor/upper/1.0.0", f"Bearer {token}")]
    assert all(token not in url for _, url, _ in sent)
    assert token not in page.content().replace(f'value="{token}"', "")

    result.get_by_role("link", name="webauthor/upper@1.0.0").click()
    expect(page.locator("p.lead")).to_have_text("Uppercases text. " + SCRIPT)  # shown as text
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src=x]").count() == 0

    # Refusals come back as the problem's detail.
    page.goto("/publish")
    page.get_by_label("API token").fill("wgt_not-a-real-token")
    page.get_by_label("WebAssembly file").set_input_files(
        {"name": "upper.wasm", "mimeType": "application/wasm", "buffer": HELLO}
    )
    page.get_by_label("Name").fill("webauthor/upper")
    page.get_by_label("Version").fill("1.0.1")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#pub-result")).to_contain_text("401")


def test_publish_with_assets_from_the_form_lists_them_and_a_call_reads_them(
    page: Page, base: str
) -> None:
    user = page.request.post(f"{base}/v1/users", data={"username": "webassets"})
    assert user.status == 201, user.text()
    token = user.json()["secret"]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("data/words.txt")
        info.size = len(WORDS)
        tar.addfile(info, io.BytesIO(WORDS))
    page.goto("/publish")
    page.get_by_label("API token").fill(token)
    page.get_by_label("WebAssembly file").set_input_files(
        {"name": "files.wasm", "mimeType": "application/wasm", "buffer": FILES}
    )
    page.get_by_label("read-only files for every call").set_input_files(
        {"name": "words.tar.gz", "mimeType": "application/gzip", "buffer": archive.getvalue()}
    )
    page.get_by_label("Assets path").fill("/share")
    page.get_by_label("Name").fill("webassets/files")
    page.get_by_label("Version").fill("1.0.0")
    page.get_by_label("License").fill("MIT")
    page.get_by_label("Category").select_option("utilities")
    page.get_by_role("button", name="Publish").click()
    result = page.locator("#pub-result")
    expect(result).to_contain_text("Published webassets/files@1.0.0")
    expect(result).to_contain_text("1 files (12 B) at /share")

    result.get_by_role("link", name="webassets/files@1.0.0").click()
    assets = page.locator("dl[aria-labelledby=assets-heading]")
    expect(assets).to_contain_text("/share")
    expect(assets).to_contain_text("1 (12 B)")
    expect(assets).to_contain_text("sha256:")
    ran = page.request.post(f"{base}/v1/run/webassets/files/share/data/words.txt")
    assert (ran.status, ran.body()) == (200, WORDS)


def _traffic(page: Page, seconds: float) -> None:
    """Steady invocations (and some 404s) for a while, so the committed screenshot of the
    status page shows charts with a history; only when regenerating the screenshots."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(4):
            page.request.post("/v1/run/examples/hello", data="hello")
        page.request.post("/v1/call/examples/mathfn/fib", data={"args": [15]})
        page.request.get("/v1/modules/examples/missing")
        page.wait_for_timeout(400)  # pacing the load, not waiting for a condition


def _pid(stack: DevStackProcess, service: str) -> int:
    children: dict[str, Any] = json.loads((stack.data_dir / "dev.json").read_text())["children"]
    return int(children[service])


@pytest.mark.timeout(300)  # `make screenshots` adds 150 s of traffic first
def test_status_shows_the_fleet_charts_and_a_stopped_service_turning_red(
    page: Page, stack: DevStackProcess
) -> None:
    if os.environ.get(UPDATE_ENV) == "1":
        _traffic(page, 150)
    page.goto("/status")
    services = page.locator("li.service")
    expect(services).to_have_count(5)
    for name in ("cache", "gateway", "marketplace", "monitor", "runtime"):
        expect(page.locator(f'li.service[data-service="{name}"]')).to_have_class(
            re.compile(r"\bstatus-up\b")
        )
    expect(page.locator("p.overall")).to_contain_text("Serving")
    # The monitor scrapes every 5 s; a rate needs two scrapes of the traffic above.
    reload_until(
        page,
        "/status?window=5m",  # the stack is young: its traffic fills a short window
        lambda: page.locator("figure.chart polyline.line").count() >= 2,
        "request rate and latency lines",
        timeout=45,
    )
    expect(page.locator("table.traces a").first).to_have_attribute(
        "href", re.compile(r"^/traces/[0-9a-f]{32}$")
    )
    # A chart with a line: the page swaps in fresh charts every 10 s, so hover again
    # until a readout shows the values under the pointer.
    chart = page.locator("svg.plot:has(polyline.line)").first

    def read_out() -> str | None:
        chart.hover()
        texts = page.locator("p.readout").all_inner_texts()
        return next((t for t in texts if "UTC:" in t), None)

    wait_until(read_out, "a chart readout under the pointer", timeout=20)
    screenshot(page, "status")

    os.kill(_pid(stack, "cache"), signal.SIGTERM)
    cache = page.locator('li.service[data-service="cache"]')
    # No reload: the page refreshes itself every 10 s.
    expect(cache).to_have_class(re.compile(r"\bstatus-down\b"), timeout=40_000)
    expect(cache).to_contain_text("Unreachable")
    expect(page.locator("p.overall")).to_contain_text("Not serving")
    screenshot(page, "status-cache-down")
