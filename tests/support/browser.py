"""Real-browser fixtures: Debian's Chromium driven by Playwright against a real daphne.

    def test_something(web, alice, bob):
        server = web.server()                       # a daphne (tests.support.server) for this test
        a = web.log_in(server, alice)               # own browser context, logged in through the form
        a.wait_for_state("connected")
        a.page.goto(f"{server.http_url}/conversations/1/")
        server = web.restart(server)                # kill -9, then the same port again

Each `BrowserUser` records its page's console lines, the WebSockets it opened and its token requests.
Waiting is bounded polling that lets Playwright process the browser's events (no blind sleeps).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connections

from tests.support import server as server_module
from tests.support.cast import PASSWORD

CHROMIUM = Path(os.environ.get("DEDWEN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT = 10.0  # seconds: the default bound for a page to show something
VIEWPORT = {"width": 1100, "height": 720}

LOG_SENDING = "[Messaging] Sending authentication token to server"
LOG_AUTHENTICATED = "[Messaging] WebSocket authenticated successfully"


def closed_log(code: int) -> str:
    """Return the console line the client writes when its socket closes with `code`."""
    return f"[Messaging] WebSocket closed (code {code})"


def off_loop(function: Callable, /, *args, **kwargs):
    """Run ORM or service code in a worker thread and return its result.

    The test thread hosts Playwright's event loop, so code that publishes live events (async_to_sync)
    must run elsewhere.
    """

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


@dataclass
class BrowserUser:
    """A person in their own browser context: the page, its console, its sockets, its token requests."""

    name: str
    context: object
    page: object
    base_url: str
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    token_requests: list[str] = field(default_factory=list)

    def wait_until(self, condition: Callable[[], bool], *, timeout: float = TIMEOUT, what: str = "condition") -> None:
        """Poll `condition` (letting the browser's events in) until it holds; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {what} not reached within {timeout}s; console: {self.console[-15:]}")
            self.page.wait_for_timeout(50)

    def logged(self, line: str) -> int:
        """Return how many times the page's console printed exactly `line`."""
        return self.console.count(line)

    def wait_for_log(self, line: str, *, count: int = 1, timeout: float = TIMEOUT) -> None:
        self.wait_until(lambda: self.logged(line) >= count, timeout=timeout, what=f"{count}x {line!r}")

    def state(self) -> str | None:
        return self.page.get_attribute("#connection-state", "data-state")

    def wait_for_state(self, state: str, *, timeout: float = TIMEOUT) -> None:
        self.page.wait_for_selector(f"#connection-state[data-state='{state}']", timeout=timeout * 1000)

    def stored_token(self) -> str | None:
        return self.page.evaluate("() => localStorage.getItem('dedwen_auth_token')")

    def open(self, path: str) -> None:
        """Go to a path of the app and wait until its socket is authenticated."""
        before = self.logged(LOG_AUTHENTICATED)
        self.page.goto(f"{self.base_url}{path}")
        self.wait_for_log(LOG_AUTHENTICATED, count=before + 1)


class Web:
    """Start servers and open logged-in browsers for one test."""

    def __init__(self, browser, daphne_server, monkeypatch) -> None:
        self._browser = browser
        self._daphne_server = daphne_server
        self._monkeypatch = monkeypatch
        self._contexts: list = []

    def server(self, **env: str | None):
        """Start a daphne for this test (see tests.support.server)."""
        return self._daphne_server(DJANGO_ALLOW_ASYNC_UNSAFE=None, **env)

    def restart(self, server, **env: str | None):
        """Kill the server (SIGKILL: no goodbye to its sockets) and start a new one on the same port."""
        server.process.kill()
        server.stop()
        return self.start_on_port(server.port, **env)

    def start_on_port(self, port: int, **env: str | None):
        """Start a daphne on a given port (one that was just freed)."""
        with self._monkeypatch.context() as patch:
            patch.setattr(server_module, "free_port", lambda: port)
            return self.server(**env)

    def browser_user(self, server, name: str) -> BrowserUser:
        """Open a fresh browser context (own cookies and localStorage) on a blank page."""
        context = self._browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT * 1000)
        self._contexts.append(context)
        page = context.new_page()
        person = BrowserUser(name=name, context=context, page=page, base_url=server.http_url)
        page.on("console", lambda message: person.console.append(message.text))
        page.on("pageerror", lambda error: person.page_errors.append(str(error)))
        page.on("websocket", lambda socket: person.sockets.append(socket.url))
        page.on("request", lambda request: person.token_requests.append(request.method) if request.url.endswith("/api/auth/token/") else None)
        return person

    def log_in(self, server, user, *, password: str = PASSWORD, wait: bool = True) -> BrowserUser:
        """Log a user in through the login form; with `wait`, until the inbox's socket is authenticated."""
        person = self.browser_user(server, user.get_username())
        page = person.page
        page.goto(f"{server.http_url}/accounts/login/")
        page.get_by_label("Username").fill(user.get_username())
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{server.http_url}/")
        if wait:
            person.wait_for_log(LOG_AUTHENTICATED)
        return person

    def close(self) -> None:
        for context in self._contexts:
            context.close()


@pytest.fixture(scope="module")
def chromium():
    """Launch headless Chromium (Debian's package) once per test module."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: bin/install-browser installs Debian's Chromium"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI's bin/test installs it first: a missing browser is a broken run
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs its event loop under the test, which Django's ORM guard would take for
    # async code; the test's own ORM calls are plain sync code (Django documents this switch for that).
    # The servers the tests start do not inherit it (see Web.server).
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def web(chromium, daphne_server, monkeypatch):
    """Return a Web helper: servers for this test, and logged-in browser contexts on them."""
    helper = Web(chromium, daphne_server, monkeypatch)
    yield helper
    helper.close()


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    """Where screenshots go: $DEDWEN_SCREENSHOT_DIR (e.g. docs/screenshots) or the test's tmp dir."""
    configured = os.environ.get("DEDWEN_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path
