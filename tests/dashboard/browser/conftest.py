"""Fixtures of the browser tests: one `foredeck serve` with real runs per session, one headless
Debian Chromium driven by Playwright, a fresh page per test, and each page's screenshot kept.

Without `/usr/bin/chromium` the tests skip with the reason, except when `BROWSER_TESTS_REQUIRED`
is set (`.ci/run` sets it after installing Chromium): then they fail, so CI never skips them.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.child import ROOT
from tests.dashboard.browser.harness import Jobs, Server

CHROMIUM = Path("/usr/bin/chromium")
Shoot = Callable[[Page, str], Path]
SCREENSHOTS = ROOT / ".foredeck" / "test-artifacts" / "screenshots"
"""Where CI picks the screenshots up (gitignored); each is also kept under pytest's tmp dir."""


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found; .ci/run installs it (apt-get install chromium)"
    if os.environ.get("BROWSER_TESTS_REQUIRED"):
        pytest.fail(f"browser tests required but {reason}")
    print(f"\nskipping the browser tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _need_chromium()
    srv = Server(workdir=tmp_path_factory.mktemp("browser-serve"))
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
    assert srv.leftovers() == [], "processes of the server left running"


@pytest.fixture(scope="package")
def runs(server: Server) -> Jobs:
    """The finished runs every page shows, made once per session."""
    return server.fill()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Package scope, not session: Playwright's sync API keeps an event loop running in the main
    # thread while it is open, and every later test that runs a loop of its own would fail.
    _need_chromium()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A fresh browser context (no cookies or storage shared between tests) on the server."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(scope="package")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def shoot(screenshot_dir: Path, request: pytest.FixtureRequest) -> Shoot:
    """`shoot(page, name)`: a full-page screenshot under pytest's tmp dir, copied to
    `.foredeck/test-artifacts/screenshots/` for CI; the path is printed."""

    def take(tab: Page, name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
        path = screenshot_dir / f"{safe}.png"
        # An SVG document (the badge) never settles for a full-page capture: take the viewport.
        svg = tab.evaluate("document.documentElement.tagName.toLowerCase() === 'svg'")
        tab.screenshot(path=str(path), full_page=not svg)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        kept = SCREENSHOTS / path.name
        shutil.copyfile(path, kept)
        print(f"screenshot of {request.node.name}: {kept}")
        return kept

    return take
