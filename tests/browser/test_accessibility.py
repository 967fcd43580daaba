"""axe-core (npm) on every page each role can reach, in a real chromium against the demo:
no serious or critical violation anywhere (WCAG 2 A/AA rules)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from contact_center.config import load_settings
from contact_center.demo import demo_running
from contact_center.store.models import Customer
from tests.browser.conftest import sign_in_browser
from tests.conftest import wait_for

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
ROLES = ("anna", "sue", "quinn", "admin")
SERIOUS = {"serious", "critical"}
DONE_ROW = '#qa-results tr[data-recording]:has(td:text-is("done"))'


def require_axe() -> str:
    if AXE.exists():
        return AXE.read_text()
    pytest.fail(f"axe-core is not installed at {AXE} (make test runs npm ci)")


async def violations(page: Any, axe: str) -> list[str]:
    await page.evaluate(axe)  # evaluate is not subject to the page's CSP
    result = await page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: "tag",
                values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
        }"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {json.dumps(v['nodes'])}"
        for v in result
        if v["impact"] in SERIOUS
    ]


async def test_every_page_of_every_role_has_no_serious_violation(
    tmp_path: Path, chromium: Any
) -> None:
    axe = require_axe()

    base = load_settings(environ={"CC_GENERAL_DATA_DIR": str(tmp_path / "d"), "CC_WEB_PORT": "0"})
    base = replace(base, recording=replace(base.recording, workers=1))
    async with demo_running(base, robot=False, time_scale=0.2) as demo:
        browser = chromium
        try:
            url, creds = demo.base_url, demo.creds
            async with demo.service.core.sessions() as db:  # type: ignore[union-attr]
                customer = (await db.scalars(select(Customer).limit(1))).one()
            found: dict[str, list[str]] = {}
            checked: list[str] = []
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(url + "/login")
            found["/login (anonymous)"] = await violations(page, axe)
            await context.close()
            for login in ROLES:
                page = await sign_in_browser(browser, url, login, creds[login])
                context = page.context
                links = page.locator("nav.menu a")
                paths = [
                    await links.nth(n).get_attribute("href") or ""
                    for n in range(await links.count())
                ]
                extra = ["/no-such-page", f"/customers/{customer.id}/history", "/customers?q=a"]
                # the administration's own pages (its sub-menu, not the main one)
                extra += ["/admin/users/new", "/admin/users/1", "/admin/queues", "/admin/lists"]
                extra += ["/admin/tokens", "/admin/audit", "/admin/tariffs", "/admin/ivr"]
                extra += [f"/customers/{customer.id}", f"/customers/{customer.id}?topic=calls"]
                extra += ["/wallboard/operators/anna", "/reports?start=2026-01-01&end=2026-01-02"]
                for path in [*paths, *extra]:
                    response = await page.goto(url + path)
                    assert response is not None
                    await page.wait_for_load_state("load")
                    key = f"{path} ({login})"
                    if response.status in (200, 404):
                        found[key] = await violations(page, axe)
                        checked.append(key)
                await context.close()
            # the console with a pop ringing and answered, the call's detail, its recording
            anna = await sign_in_browser(browser, url, "anna", creds["anna"])
            await anna.click("#set-available")
            await expect(anna.locator("#command-result")).to_contain_text("Done", timeout=10_000)
            call = await demo.pbx.place_call(
                "4951110004", demo.numbers[0], "Ivan Petrov", talk=None
            )
            await anna.locator(f'#call-control[data-call-id="{call.linkedid}"]').wait_for(
                timeout=15_000
            )
            found["/console ringing (anna)"] = await violations(anna, axe)
            await anna.click("#demo-answer")
            await anna.locator('#call-control[data-stage="answered"]').wait_for(timeout=10_000)
            found["/console answered (anna)"] = await violations(anna, axe)
            await asyncio.sleep(1.0)  # a second of recorded audio
            await demo.pbx.hangup(call.phone)
            sue = await sign_in_browser(browser, url, "sue", creds["sue"])
            await sue.goto(f"{url}/calls/pbx1/{call.linkedid}")
            found["/calls/… (sue)"] = await violations(sue, axe)
            quinn = await sign_in_browser(browser, url, "quinn", creds["quinn"])

            async def recording_done() -> bool:
                await quinn.goto(url + "/qa/recordings")
                return await quinn.locator(DONE_ROW).count() > 0

            await wait_for(recording_done, timeout=20)
            await quinn.locator(f"{DONE_ROW} a").first.click()
            await quinn.wait_for_selector("#audio")
            found["/qa/recordings/… player (quinn)"] = await violations(quinn, axe)
            checked += ["console ringing", "console answered", "call detail", "player"]
            assert len(checked) >= 20, checked  # every role's pages, not a stub
            bad = {page: v for page, v in found.items() if v}
            assert bad == {}, json.dumps(bad, indent=1, ensure_ascii=False)
        finally:
            await browser.close()
