"""A real headless chromium (Debian's), driven by playwright: one per test session.

Chromium starts once per session (per xdist worker) as a playwright browser server
(``playwright launch-server``); each test connects to it (the ``chromium`` fixture) and gets
fresh browser contexts — its own cookies and storage — which are closed when the test ends.
Starting a browser per test cost seconds each; a context costs milliseconds.

Signing in goes through the real form, written once here: :func:`sign_in_page` (and its
older names :func:`sign_in_browser` and :func:`signed_in_page`).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.web_support import PASSWORD

CHROMIUM = os.environ.get("CC_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # the QA player and the demo walk play audio without a click
    "--autoplay-policy=no-user-gesture-required",
]
SERVER_START_TIMEOUT = 60.0


def require_chromium() -> None:
    """Skip locally without chromium; in CI (CC_REQUIRE_SERVICES=1) that is a failure."""
    if HAVE_CHROMIUM:
        return
    message = f"no chromium at {CHROMIUM} (make sysdeps installs it)"
    if os.environ.get("CC_REQUIRE_SERVICES", "") in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def _read_endpoint(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The ``ws://`` endpoint the browser server prints once it is listening."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break  # the server exited
            seen += chunk
            for line in seen.decode(errors="replace").splitlines():
                if line.startswith("ws://"):
                    return line.strip()
    raise RuntimeError(f"the chromium server printed no endpoint: {seen.decode(errors='replace')}")


@pytest.fixture(scope="session")
def chromium_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One chromium for the session: a playwright browser server; yields its endpoint."""
    require_chromium()
    folder: Path = tmp_path_factory.mktemp("chromium")
    config = folder / "launch.json"
    config.write_text(
        json.dumps({"executablePath": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS})
    )
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "playwright",
            "launch-server",
            "--browser=chromium",
            f"--config={config}",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,  # its own process group: chromium's children end with it
    )
    try:
        yield _read_endpoint(proc, SERVER_START_TIMEOUT)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


class SharedChromium:
    """The session's chromium as one test sees it: ``new_context``/``new_page`` as on a
    playwright ``Browser``; ``close()`` closes this test's contexts (the browser stays)."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.contexts: list[Any] = []

    async def new_context(self, **options: Any) -> Any:
        context = await self.browser.new_context(**options)
        self.contexts.append(context)
        return context

    async def new_page(self, **options: Any) -> Any:
        """A page in a context of its own (as ``Browser.new_page``)."""
        context = await self.new_context(**options)
        return await context.new_page()

    async def close(self) -> None:
        contexts, self.contexts = self.contexts, []
        for context in contexts:
            try:
                await context.close()
            except Exception:  # already closed with the test's own close, or disconnected
                pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.browser, name)


@pytest.fixture
async def chromium(chromium_server: str) -> AsyncIterator[SharedChromium]:
    """The session's chromium, connected for this test; its contexts close after the test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.connect(chromium_server)
        shared = SharedChromium(browser)
        try:
            yield shared
        finally:
            await shared.close()
            await browser.close()  # disconnects; the server closes anything left of ours


async def sign_in_page(
    browser: Any,
    base: str,
    login: str,
    password: str = PASSWORD,
    *,
    path: str = "/",
    **context_options: Any,
) -> Any:
    """A page in a new context, signed in through the real form: it opens ``path`` (sent to
    the sign-in form first) and stays where the sign-in leads; a refused sign-in fails with
    the form's message. ``context_options`` go to ``new_context`` (e.g. ``locale="ru-RU"``)."""
    context = await browser.new_context(**context_options)
    page = await context.new_page()
    await page.goto(base + path)
    await page.fill('input[name="login"]', login)
    await page.fill('input[name="password"]', password)
    async with page.expect_navigation():
        await page.click('form.login button[type="submit"]')
    if page.url.split("?", 1)[0].endswith("/login"):
        error = page.locator("form.login .error")
        said = await error.inner_text() if await error.count() else "(no message)"
        raise AssertionError(f"signing in as {login} failed: {said}")
    return page


async def sign_in_browser(browser: Any, base: str, login: str, password: str = PASSWORD) -> Any:
    """A new context signed in at ``/``: lands on the role's page."""
    return await sign_in_page(browser, base, login, password)


async def signed_in_page(chromium: Any, url: str, login: str, password: str = PASSWORD) -> Any:
    """A new context signed in on the console, its pop socket connected."""
    page = await sign_in_page(chromium, url, login, password, path="/console")
    await page.wait_for_selector('#link[data-status="open"]')
    return page
