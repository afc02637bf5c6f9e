"""Browser fixtures: headless Chromium from Debian's packages, driven by Playwright.

Chromium is launched on the system binary (never a downloaded one) with the switches that
keep it from calling home, and a fresh profile. Every page a test opens goes through an
`OriginGuard`: a request to any origin but the server's is aborted and recorded, and the
test asserts that none was made. A host resolver rule also sends every name but 127.0.0.1
nowhere, as on a machine without internet. Without Chromium the tests skip, except under
CI=true, where they fail. Screenshots go to artifacts/ (git ignores it).
"""

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    Route,
    WebSocket,
    async_playwright,
    expect,
)

from tests.conftest import unavailable
from tests.e2e.conftest import Server, server, start_server

__all__ = ["server", "start_server"]  # the e2e fixtures, for the browser tests

CHROMIUM = os.environ.get("COMMPULSE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[2] / "artifacts"
SWITCHES = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
UI_TIMEOUT = 10_000  # ms for the page to show something
expect.set_options(timeout=UI_TIMEOUT)


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    """Headless Chromium (Debian's); skipped when missing, a failure under CI=true."""
    if not os.access(CHROMIUM, os.X_OK):
        unavailable("chromium", FileNotFoundError(CHROMIUM))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=SWITCHES
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class OriginGuard:
    """Lets requests to `origin` through and aborts (and records) every other one."""

    origin: str
    foreign: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        return f"{scheme}://{parts.netloc}" == self.origin

    async def route(self, route: Route, request: Request) -> None:
        self.seen.append(request.url)
        if self.allowed(request.url):
            await route.continue_()
        else:
            self.foreign.append(request.url)
            await route.abort("blockedbyclient")

    def websocket(self, socket: WebSocket) -> None:
        self.seen.append(socket.url)
        if not self.allowed(socket.url):
            self.foreign.append(socket.url)

    def check(self) -> None:
        assert self.seen, "the page made no request at all"
        assert self.foreign == [], f"requests left the server's origin: {self.foreign}"


@dataclass
class Tab:
    page: Page
    context: BrowserContext
    guard: OriginGuard

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


async def open_tab(browser: Browser, server: Server, path: str = "/") -> Tab:
    """A new browser context (own sessionStorage) on `path` of `server`, behind a guard."""
    origin = f"http://127.0.0.1:{server.port}"
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT)
    guard = OriginGuard(origin)
    await context.route("**/*", guard.route)
    page = await context.new_page()
    page.on("websocket", guard.websocket)
    page.on(
        "console",
        lambda message: (
            guard.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: guard.console_errors.append(str(error)))
    await page.goto(origin + path)
    return Tab(page, context, guard)
