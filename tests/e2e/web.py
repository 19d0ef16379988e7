"""Driving the gateway's pages in Debian's Chromium through Playwright, and screenshots.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (apt package
``chromium``; ``.ci/run`` installs it) with the flags this machine needs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Page, ViewportSize

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)

REPO = Path(__file__).resolve().parents[2]
#: Every run's screenshots: test artifacts, git-ignored.
ARTIFACTS = REPO / "tests" / "e2e" / "artifacts" / "screenshots"
#: The committed copies the README shows, rewritten by `make screenshots`.
COMMITTED = REPO / "docs" / "screenshots"
UPDATE_ENV = "WASMGRID_UPDATE_SCREENSHOTS"


def screenshot(page: Page, name: str, *, phone: bool = False) -> Path:
    """Save a full-page PNG of `page` as ``<name>.png`` (at a phone's width when asked).

    Always under the artifacts folder; also into ``docs/screenshots/`` when
    ``WASMGRID_UPDATE_SCREENSHOTS=1`` (what `make screenshots` sets).
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    if phone:
        page.set_viewport_size(PHONE)
    try:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    finally:
        if phone and size is not None:
            page.set_viewport_size(size)
    if os.environ.get(UPDATE_ENV) == "1":
        COMMITTED.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, COMMITTED / path.name)
    return path
