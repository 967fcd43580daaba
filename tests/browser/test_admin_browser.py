"""An administrator in a real chromium: creates and edits a user, makes an API token and adds
a pause reason through the pages, and finds each in the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import expect

from contact_center.bus import MemoryBus
from tests.browser.conftest import sign_in_browser
from tests.integration.web_support import PASSWORD, add_user, database, web_server

pytestmark = pytest.mark.browser


@pytest.fixture
async def site(sqlite_url: str) -> AsyncIterator[tuple[str, Any]]:
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "root", "admin")
        async with web_server(sessions, MemoryBus()) as server:
            yield str(server.make_url("")).rstrip("/"), sessions


async def test_admin_creates_a_user_a_token_and_a_pause_reason(
    site: tuple[str, Any], chromium: Any
) -> None:
    base, _ = site
    page = await sign_in_browser(chromium, base, "root", PASSWORD)
    await expect(page.locator("h1")).to_have_text("Administration")

    await page.click("#new-user")
    await page.fill("#login", "bob")
    await page.fill("#display_name", "Bob Stone")
    await page.select_option("#role", "operator")
    await page.fill("#interface", "PJSIP/102")
    await page.fill("#queues", "support:0, sales:2")
    await page.fill("#skills", "billing:3")
    await page.fill("#password", "a-long-password")
    await page.click("#save-user")
    await expect(page.locator("#flash")).to_have_text("User bob created.")
    row = page.locator("#users tr", has_text="Bob Stone")
    await expect(row).to_contain_text("sales, support")
    await expect(row).to_contain_text("PJSIP/102")

    # edit: a supervisor now, not allowed to sign in
    await row.locator("a", has_text="Bob Stone").click()
    await expect(page.locator("#queues")).to_have_value("support:0, sales:2")
    await page.select_option("#role", "supervisor")
    await page.uncheck("#active")
    await page.click("#save-user")
    await expect(page.locator("#flash")).to_have_text("User bob saved.")
    await expect(row).to_contain_text("Supervisor")
    await expect(row).to_contain_text("disabled")

    # a mistake is named and the form keeps what was typed
    await page.click("#new-user")
    await page.fill("#login", "carol")
    await page.fill("#skills", "billing:9")
    await page.fill("#password", "a-long-password")
    await page.click("#save-user")
    await expect(page.locator("#form-error")).to_contain_text("billing:9")
    await expect(page.locator("#login")).to_have_value("carol")

    await page.click('nav.submenu a:text-is("API tokens")')
    await page.fill("#token-name", "crm")
    await page.check('input[name="scopes"][value="customers:read"]')
    await page.check('input[name="scopes"][value="calls:read"]')
    await page.click("#make-token")
    token = await page.locator("#token-value").inner_text()
    assert token.startswith("cct_")
    await expect(page.locator("#tokens")).to_contain_text("customers:read, calls:read")
    await page.goto(base + "/admin/tokens")  # shown once: not on the page again
    await expect(page.locator("#tokens")).to_contain_text("crm")
    assert token not in await page.content()

    await page.click('nav.submenu a:text-is("Pause reasons and dispositions")')
    await page.fill("#new-pause_reason", "coaching")
    await page.click("#add-pause_reason button")
    await expect(page.locator("#flash")).to_have_text("coaching added.")
    await expect(page.locator("#list-pause_reason")).to_contain_text("coaching")

    await page.click('nav.submenu a:text-is("Audit log")')
    rows = page.locator("#audit tbody tr")
    await expect(rows).to_have_count(4)
    await expect(rows.nth(0)).to_contain_text("pause_reason.add")
    await expect(rows.nth(1)).to_contain_text("token.create")
    await expect(rows.nth(2)).to_contain_text("user.update")
    await expect(rows.nth(2)).to_contain_text('"role": "supervisor"')
    await expect(rows.nth(3)).to_contain_text("user.create")
    await expect(rows.nth(3)).to_contain_text("user bob")
    await expect(rows.nth(3)).to_contain_text("root")
    await page.context.close()
