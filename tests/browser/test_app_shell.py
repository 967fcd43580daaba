"""The app shell in a real chromium against the demo (`make demo`): each role lands on its own
page, the menu offers exactly the pages the role may open (each opens), errors are pages in
the same look, and an operator finds a customer and calls them from the search."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from contact_center.config import load_settings
from contact_center.demo import demo_running
from contact_center.store.models import Call, Customer, User
from contact_center.web.shell import LANDING, NAV
from tests.browser.conftest import sign_in_browser
from tests.conftest import wait_for

pytestmark = pytest.mark.browser

LANDING_PATHS = {role: next(i.path for i in NAV if i.route == r) for role, r in LANDING.items()}
ROLES = {"anna": "operator", "sue": "supervisor", "quinn": "qa", "admin": "admin"}


async def test_shell_by_role_errors_and_customer_search(tmp_path: Path, chromium: Any) -> None:

    base = load_settings(environ={"CC_GENERAL_DATA_DIR": str(tmp_path / "d"), "CC_WEB_PORT": "0"})
    base = replace(base, recording=replace(base.recording, workers=1))
    async with demo_running(base, robot=False, time_scale=0.2) as demo:
        browser = chromium
        try:
            url, creds = demo.base_url, demo.creds
            menus: dict[str, list[str]] = {}
            for login, role in ROLES.items():
                page = await sign_in_browser(browser, url, login, creds[login])
                # "/" lands where the role works
                assert page.url == url + LANDING_PATHS[role], (role, page.url)
                # the header names the person, not the login alone, and the role
                who = page.locator("#who")
                await expect(who).to_contain_text(role.upper() if role == "qa" else role.title())
                links = page.locator("nav.menu a")
                paths = [
                    await links.nth(n).get_attribute("href") or ""
                    for n in range(await links.count())
                ]
                menus[role] = paths
                # the page we landed on is marked as the current one
                await expect(page.locator('nav.menu a[aria-current="page"]')).to_have_attribute(
                    "href", LANDING_PATHS[role]
                )
                # every menu entry opens for this role (no 403 or error page behind a link)
                for path in paths:
                    response = await page.goto(url + path)
                    assert response is not None and response.status == 200, (role, path)
                    assert await page.locator("#error-page").count() == 0, (role, path)
                # an unknown page is a page in the same look, with the menu and a way back
                response = await page.goto(url + "/no-such-page")
                assert response is not None and response.status == 404
                await expect(page.locator("#error-page h1")).to_have_text("Page not found")
                await expect(page.locator("nav.menu")).to_be_visible()
                await page.click("#error-home")
                await page.wait_for_url(url + LANDING_PATHS[role])
                await page.context.close()
            # the supervisor's wallboard counts the callbacks waiting (the demo seeds three)
            sue = await sign_in_browser(browser, url, "sue", creds["sue"])
            await expect(sue.locator("#wb-callbacks-waiting")).to_have_text(
                re.compile(r"^[1-9]\d*$")
            )
            await sue.context.close()
            # each role's menu is its own: operators have no wallboard or admin pages
            assert "/console" in menus["operator"] and "/customers" in menus["operator"]
            assert "/wallboard" not in menus["operator"] and "/admin" not in menus["operator"]
            assert "/wallboard" in menus["supervisor"] and "/admin" not in menus["supervisor"]
            assert "/qa/forms" in menus["qa"] and "/console" not in menus["qa"]
            assert set(menus["admin"]) >= {"/admin", "/admin/webhooks", "/wallboard"}

            anna = await sign_in_browser(browser, url, "anna", creds["anna"])
            # a page the role may not open says who may, in the same look
            response = await anna.goto(url + "/admin")
            assert response is not None and response.status == 403
            await expect(anna.locator("#error-page .reason")).to_have_text(
                "This page is for administrators."
            )
            # API clients still get the plain reason
            api = await anna.request.get(url + "/admin", headers={"Accept": "application/json"})
            assert api.status == 403 and "may not do this" in await api.text()

            # customer search: a seeded customer anna has served, by part of the name in
            # lower case
            async with demo.service.core.sessions() as db:  # type: ignore[union-attr]
                anna_interface = (
                    await db.scalars(select(User.interface).where(User.login == "anna"))
                ).one()
                served = select(Call.customer_id).where(Call.operator_interface == anna_interface)
                customer = (
                    await db.scalars(
                        select(Customer)
                        .where(Customer.account_number.is_not(None), Customer.id.in_(served))
                        .limit(1)
                    )
                ).one()
                number = customer.phones[0].e164
            word = customer.name.split()[-1].lower()
            await anna.click('nav.menu a[href="/customers"]')
            await anna.fill('input[name="q"]', word)
            await anna.press('input[name="q"]', "Enter")
            row = anna.locator(f'li.customer[data-customer-id="{customer.id}"]')
            await expect(row.locator(".customer-name")).to_have_text(customer.name)
            # by the account number: that customer alone
            await anna.fill('input[name="q"]', customer.account_number or "")
            await anna.press('input[name="q"]', "Enter")
            await expect(anna.locator("li.customer")).to_have_count(1)
            # Call: the operator's phone is rung first (an Originate tagged outbound)
            originated: list[str] = []
            demo.pbx.subscribe(
                lambda e: (
                    originated.append(dict(e.headers).get("Uniqueid", ""))
                    if e.name == "Newchannel"
                    else None
                )
            )
            await row.locator(f'form:has(input[value="{number}"]) button').click()
            await expect(anna.locator("#flash")).to_contain_text(f"Calling {customer.name}")
            await wait_for(lambda: any(u.startswith("cc-out-") for u in originated), timeout=10)

            # the name links to the customer's page (one she has served: an operator
            # sees the customers of her own calls only)
            await row.locator(".customer-name").click()
            await anna.wait_for_url(f"**/customers/{customer.id}")
            await expect(anna.locator("h1")).to_contain_text(customer.name)
            await expect(anna.locator('nav.menu a[aria-current="page"]')).to_have_attribute(
                "href", "/customers"
            )

            # QA builds a scoring form with the builder (no JSON), next to the demo's form
            quinn = await sign_in_browser(browser, url, "quinn", creds["quinn"])
            await quinn.click('nav.menu a[href="/qa/forms"]')
            await expect(quinn.locator('#qa-forms li[data-form="Call handling"]')).to_be_visible()
            await quinn.fill('input[name="name"]', "Complaints")
            await quinn.fill('input[name="s1.title"]', "Listening")
            await quinn.fill('input[name="s1.q1.text"]', "Let the customer finish")
            await quinn.click(".add-criterion")  # a fourth row, numbered by the builder
            await quinn.fill('input[name="s1.q4.text"]', "Apologised once")
            await quinn.select_option('select[name="s1.q4.max"]', "3")
            await quinn.click("#add-section")
            await quinn.fill('input[name="s2.title"]', "Compliance")
            await quinn.fill('input[name="s2.q1.text"]', "No card data read aloud")
            await quinn.check('input[name="s2.q1.auto_fail"]')
            await quinn.click("#qa-create-form")
            made = quinn.locator('#qa-forms li[data-form="Complaints"]')
            await expect(made).to_contain_text("Let the customer finish")
            await expect(made).to_contain_text("Apologised once 0–3")
            await expect(made.locator("ol > li")).to_have_count(2)
            await expect(made).to_contain_text("auto-fail")
        finally:
            await browser.close()
