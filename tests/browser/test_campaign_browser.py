"""A real chromium on the supervisor's campaign pages: the menu leads there, a campaign is
created and filled from a CSV, started, its live figures follow the calls the dialer records
without a reload, it is paused; an operator finds it under My campaigns with its script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from contact_center.bus.memory import MemoryBus
from contact_center.campaigns import http as campaigns_http
from contact_center.campaigns import store
from contact_center.store.db import utcnow
from contact_center.store.models import CampaignContact, Queue, User
from tests.browser.conftest import sign_in_browser
from tests.integration.web_support import PASSWORD, add_user, database, web_server

pytestmark = pytest.mark.browser


async def test_supervisor_creates_starts_watches_and_pauses(
    chromium: Any, sqlite_url: str, tmp_path: Path
) -> None:
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "sue", "supervisor")
        anna = await add_user(sessions, "anna", "operator", "PJSIP/101")
        async with sessions.begin() as db:
            db.add(Queue(name="sales", supervisors={}))
            user = await db.get(User, anna)
            assert user is not None
            user.queues = {"sales": 0}
        async with web_server(sessions, MemoryBus(), plugins=[campaigns_http]) as server:
            base = str(server.make_url("")).rstrip("/")
            page = await sign_in_browser(chromium, base, "sue", PASSWORD)
            await page.get_by_role("link", name="Campaigns", exact=True).click()
            await expect(page.locator("#no-campaigns")).to_have_text("No campaigns yet.")
            form = page.locator("#campaign-new")
            await form.locator('input[name="name"]').fill("Winter renewals")
            await form.locator('select[name="mode"]').select_option("predictive")
            await form.locator('textarea[name="script"]').fill("Good morning, Acme here.")
            await form.locator('input[name="queues"][value="sales"]').check()
            await form.locator('input[name="window_start"]').fill("00:00")
            await form.locator('input[name="window_end"]').fill("23:59")
            await form.locator('input[name="window_days"]').fill("1234567")
            await form.get_by_role("button", name="Create campaign").click()
            await expect(page.locator("#campaign-notice")).to_have_text(
                "Campaign created. Add numbers, then start it."
            )
            await expect(page.locator("h1")).to_have_text("Winter renewals")
            csv = tmp_path / "list.csv"
            csv.write_text("number,name\n+74951234567,Ivan\n+74997654321,Olga\n")
            await page.locator('#add-csv input[name="file"]').set_input_files(str(csv))
            await page.locator("#add-csv button").click()
            await expect(page.locator("#campaign-notice")).to_have_text(
                "2 numbers added from list.csv."
            )
            await expect(page.locator("#contacts tbody tr")).to_have_count(2)
            await page.locator("#start").click()
            await expect(page.locator("#campaign-notice")).to_contain_text("Campaign started")
            await expect(page.locator("#status")).to_have_text("running")
            figure = page.locator('#figures [data-figure="dialled"]')
            await expect(figure).to_have_text("0")
            # the dialer reaches Ivan's machine: the open page shows it within a refresh
            async with sessions.begin() as db:
                ivan = await db.scalar(
                    select(CampaignContact).where(CampaignContact.number == "+74951234567")
                )
                assert ivan is not None
                attempt = await store.claim(db, ivan.id, "", utcnow())
                assert attempt is not None
                await store.started(db, ivan.id, attempt, "cc-1")
                await store.finish(db, "cc-1", "machine", utcnow())
            await expect(figure).to_have_text("1", timeout=12_000)
            await expect(page.locator('#figures [data-figure="machine"]')).to_have_text("1")
            await expect(page.locator('#figures [data-figure="penetration"]')).to_have_text("50 %")
            await page.locator("#pause").click()
            await expect(page.locator("#status")).to_have_text("paused")
            # the list page shows it with its figures
            await page.get_by_role("link", name="All campaigns").click()
            row = page.locator("#campaigns tbody tr")
            await expect(row).to_have_count(1)
            await expect(row.locator('[data-figure="dialled"]')).to_have_text("1")
            await expect(row.locator(".status")).to_have_text("paused")

            # anna: My campaigns shows the script (paused campaigns stay listed)
            op = await sign_in_browser(chromium, base, "anna", PASSWORD)
            await op.goto(base + "/campaigns/mine")
            await expect(op.locator("blockquote.script")).to_have_text("Good morning, Acme here.")
            assert await op.get_by_role("link", name="Campaigns", exact=True).count() == 0
