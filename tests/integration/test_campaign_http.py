"""Campaign pages and API over real HTTP: a supervisor creates a campaign, fills its list from
a CSV and a customer search, starts and pauses it, keeps the do-not-call list; an operator sees
their campaign's script, presses call on a preview card and records a disposition; refusals
say why and change nothing."""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import select

from contact_center.bus.memory import MemoryBus
from contact_center.campaigns import http as campaigns_http
from contact_center.campaigns import store
from contact_center.store.db import utcnow
from contact_center.store.models import (
    Campaign,
    CampaignContact,
    Customer,
    CustomerPhone,
    DoNotCall,
    InteractionEvent,
    User,
)
from tests.integration.web_support import add_user, database, sign_in, web_server


async def page(browser: object, path: str) -> tuple[str, str]:
    async with browser.http.get(browser.url(path)) as resp:  # type: ignore[attr-defined]
        assert resp.status == 200, await resp.text()
        text = await resp.text()
    token = re.search(r'name="csrf-token" content="([^"]+)"', text)
    assert token is not None
    return token.group(1), text


async def post(browser: object, path: str, token: str, data: object) -> aiohttp.ClientResponse:
    return await browser.http.post(  # type: ignore[attr-defined,no-any-return]
        browser.url(path),  # type: ignore[attr-defined]
        data=data,
        headers={"X-CSRF-Token": token},
        allow_redirects=False,
    )


async def test_supervisor_builds_runs_and_reports_a_campaign(db_url: str) -> None:
    async with database(db_url) as (_, sessions):
        anna = await add_user(sessions, "anna", "operator", "PJSIP/101")
        await add_user(sessions, "sue", "supervisor")
        now = utcnow()
        async with sessions.begin() as db:
            user = await db.get(User, anna)
            assert user is not None
            user.queues = {"sales": 0}
            ivan = Customer(
                name="Ivan Petrov", segment="VIP", custom={}, created_at=now, updated_at=now
            )
            ivan.phones.append(CustomerPhone(e164="+74951234567", suffix="7654321", raw=""))
            db.add(ivan)
        async with web_server(sessions, MemoryBus(), plugins=[campaigns_http]) as server:
            sue = await sign_in(server, "sue")
            op = await sign_in(server, "anna")
            token, text = await page(sue, "/campaigns")
            assert "No campaigns yet." in text
            # a campaign without anyone to call for it is refused, the form kept
            async with await post(sue, "/campaigns", token, {"name": "Renewals"}) as resp:
                assert resp.status == 400
                body = await resp.text()
                assert "assign at least one queue or operator" in body
                assert 'value="Renewals"' in body
            form = {
                "name": "Renewals",
                "mode": "preview",
                "script": "Hello, this is Acme about your renewal.",
                "queues": "sales",
                "window_start": "00:00",
                "window_end": "23:59",
                "window_days": "1234567",
                "abandon_cap_percent": "2.5",
            }
            async with await post(sue, "/campaigns", token, form) as resp:
                assert resp.status == 303
                where = resp.headers["Location"]
            token, text = await page(sue, where)
            assert "Campaign created. Add numbers, then start it." in text
            campaign_id = int(where.split("/")[2].split("?")[0])
            # numbers from a CSV (one line unusable, named) and from a saved search
            data = aiohttp.FormData()
            data.add_field(
                "file",
                b"number,name\n+74997654321,Olga\nhello,Nobody\n",
                filename="list.csv",
                content_type="text/csv",
            )
            async with await post(sue, f"/campaigns/{campaign_id}/contacts", token, data) as resp:
                text = await resp.text()
                assert "1 numbers added from list.csv." in text
                assert "line 3: hello is not a phone number" in text
            async with await post(
                sue, f"/campaigns/{campaign_id}/contacts", token, {"segment": "vip"}
            ) as resp:
                assert "1 numbers added from the customer search." in await resp.text()
            # the do-not-call list: a bad number refused, a good one listed
            token, _ = await page(sue, "/campaigns/dnc")
            async with await post(sue, "/campaigns/dnc", token, {"number": "abc"}) as resp:
                assert resp.status == 400
                assert "abc is not a phone number" in await resp.text()
            async with await post(
                sue, "/campaigns/dnc", token, {"number": "+7 499 765-43-21", "reason": "asked"}
            ) as resp:
                assert "+74997654321 will not be called by any campaign." in await resp.text()
            # start it
            async with await post(
                sue, f"/campaigns/{campaign_id}/status", token, {"status": "running"}
            ) as resp:
                assert resp.status == 303
            async with sue.http.get(sue.url(f"/api/campaigns/{campaign_id}")) as resp:
                api = await resp.json()
            assert (api["status"], api["mode"], api["figures"]["listed"]) == (
                "running",
                "preview",
                2,
            )
            assert api["figures"]["abandon_cap"] == 0.025
            # the operator: script and the next card; the listed number is skipped at call
            otoken, text = await page(op, "/campaigns/mine")
            assert "Hello, this is Acme about your renewal." in text
            async with sessions() as db:
                contacts = {
                    c.number: c
                    for c in (
                        await db.scalars(select(CampaignContact).order_by(CampaignContact.id))
                    ).all()
                }
            olga, ivan_c = contacts["+74997654321"], contacts["+74951234567"]
            assert f"/campaigns/{campaign_id}/preview/{olga.id}" in text
            async with await post(
                op, f"/campaigns/{campaign_id}/preview/{olga.id}", otoken, {}
            ) as resp:
                assert "+74997654321 is on the do-not-call list." in await resp.text()
            async with await post(
                op, f"/campaigns/{campaign_id}/preview/{ivan_c.id}", otoken, {}
            ) as resp:
                assert "Calling Ivan Petrov: your phone rings first." in await resp.text()
            async with sessions() as db:
                row = await db.get(CampaignContact, ivan_c.id)
                assert row is not None
                assert (row.disposition, row.operator_login) == ("preview", "anna")
                assert (await db.get(CampaignContact, olga.id)).status == "dnc"  # type: ignore[union-attr]
            # the call happened (as the dialer records it); anna asks for a recall
            async with sessions.begin() as db:
                row = await db.get(CampaignContact, ivan_c.id)
                assert row is not None
                row.status, row.last_outcome, row.disposition = "done", "answered", ""
            otoken, text = await page(op, "/campaigns/mine")
            async with await post(
                op,
                f"/campaigns/contacts/{ivan_c.id}/disposition",
                otoken,
                {"disposition": "recall"},
            ) as resp:
                assert resp.status == 400
                assert "a recall needs a time" in await resp.text()
            async with await post(
                op,
                f"/campaigns/contacts/{ivan_c.id}/disposition",
                otoken,
                {"disposition": "recall", "recall_at": "2030-01-10T10:30"},
            ) as resp:
                assert "Disposition saved." in await resp.text()
            async with sessions() as db:
                row = await db.get(CampaignContact, ivan_c.id)
                assert row is not None and row.status == "pending"
                assert store.aware(row.next_at).isoformat() == "2030-01-10T10:30:00+00:00"  # type: ignore[arg-type]
                summary = await db.scalar(
                    select(InteractionEvent.summary).where(
                        InteractionEvent.kind == "campaign.disposition"
                    )
                )
                assert (
                    summary
                    == "Campaign call to +74951234567: call back later, recall at 10 Jan 10:30 UTC"
                )
                assert await db.scalar(select(DoNotCall.reason)) == "asked"
            # operators may not manage campaigns; pause through the JSON API
            async with op.http.get(op.url("/api/campaigns")) as resp:
                assert resp.status == 403
            async with sue.http.post(
                sue.url(f"/api/campaigns/{campaign_id}/status"),
                json={"status": "paused"},
                headers={"X-CSRF-Token": token},
            ) as resp:
                assert resp.status == 200
                assert (await resp.json())["status"] == "paused"
            # a campaign through the API: refused with the reason, then made from a search
            async with sue.http.post(
                sue.url("/api/campaigns"),
                json={"name": "Survey", "mode": "predictive", "operators": ["anna"]},
                headers={"X-CSRF-Token": token},
            ) as resp:
                assert resp.status == 400
                assert "connects people through a queue" in await resp.text()
            async with sue.http.post(
                sue.url("/api/campaigns"),
                json={
                    "name": "Survey",
                    "mode": "predictive",
                    "queues": ["sales"],
                    "search": {"segment": "VIP"},
                },
                headers={"X-CSRF-Token": token},
            ) as resp:
                assert resp.status == 201
                made = await resp.json()
            assert (made["mode"], made["status"], made["figures"]["listed"]) == (
                "predictive",
                "paused",
                1,
            )
            async with sue.http.get(sue.url("/api/campaigns")) as resp:
                items = (await resp.json())["items"]
            assert [(i["name"], i["status"]) for i in items] == [
                ("Renewals", "paused"),
                ("Survey", "paused"),
            ]
            async with sessions() as db:
                assert (await db.scalar(select(Campaign.status))) == "paused"
