"""A real headless chromium (Debian's), driven by playwright."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
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
]


def require_chromium() -> None:
    """Skip locally without chromium; in CI (CC_REQUIRE_SERVICES=1) that is a failure."""
    if HAVE_CHROMIUM:
        return
    message = f"no chromium at {CHROMIUM} (make sysdeps installs it)"
    if os.environ.get("CC_REQUIRE_SERVICES", "") in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in_page(chromium: Any, url: str, login: str, password: str = PASSWORD) -> Any:
    """A new browser context signed in through the real sign-in form, console connected."""
    context = await chromium.new_context()
    page = await context.new_page()
    await page.goto(url + "/console")  # redirected to the sign-in form
    await page.fill('input[name="login"]', login)
    await page.fill('input[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_selector('#link[data-status="open"]')
    return page


async def sign_in_browser(browser: Any, base: str, login: str, password: str) -> Any:
    """A new context signed in through the real form at ``/``; lands on the role's page."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(base + "/")
    await page.fill('input[name="login"]', login)
    await page.fill('input[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_load_state("load")
    return page
