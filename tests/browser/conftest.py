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
import pytest_asyncio
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
from tests.e2e.conftest import Server, StartServer, serving

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


# One Chromium per test process: launching it (and Playwright's driver) cost a second a test.
# Playwright's objects belong to the event loop that made them, so the browser tests run on
# the session's loop (SHARED_LOOP), and so do the servers they start. Each test still gets
# contexts of its own (own storage, own guard), closed when it ends.
SHARED_LOOP = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
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


@pytest_asyncio.fixture(loop_scope="session")
async def browser(chromium: Browser) -> AsyncIterator[Browser]:
    """The process's Chromium, with every context the test opened closed at its end."""
    assert chromium.contexts == [], "a previous test left a context open"
    try:
        yield chromium
    finally:
        for context in chromium.contexts:
            await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """The e2e `start_server`, on the session's loop with the browser."""
    async with serving(tmp_path) as start:
        yield start


@pytest_asyncio.fixture(loop_scope="session")
async def server(start_server: StartServer) -> Server:
    """One server with the default e2e settings, on the session's loop."""
    return await start_server()


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
