"""The customer page in a real chromium: QA finds the customer, plays the call's recording on
the page, scores it in the player, and the score shows on the customer's timeline; an operator
opens the page of their own caller, and not of someone else's."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from contact_center.bus import MemoryBus
from contact_center.calls import events as ev
from contact_center.config import load_settings
from contact_center.customers import http as customers_http
from contact_center.history import http as history_http
from contact_center.history.writer import HistoryWriter
from contact_center.recording import http as recording_http
from contact_center.recording.process import ProcessOptions, process_file
from contact_center.store.db import utcnow
from contact_center.store.models import QaForm, Recording, User
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.conftest import wait_for
from tests.integration.history_support import T0, answered_call
from tests.integration.web_support import PASSWORD, add_customer, add_user, database, web_server
from tests.unit.recording_audio import silence, tone, write_wav

pytestmark = pytest.mark.browser

ALICE, BOB = "Local/101@agents", "Local/102@agents"
FORM = {
    "sections": [
        {"id": "open", "title": "Opening", "questions": [{"id": "greet", "text": "Greeted"}]},
        {
            "id": "work",
            "title": "Handling",
            "questions": [{"id": "solved", "text": "Solved", "max": 5}],
        },
    ]
}


def _call(linkedid: str, t0: float, caller: str, interface: str) -> list[ev.DomainEvent]:
    return [
        dataclasses.replace(e, interface=interface, member_name="")  # type: ignore[type-var]
        if isinstance(e, ev.CallOffered | ev.CallAnswered)
        else e
        for e in answered_call(linkedid, t0=t0, caller=caller)
    ]


@pytest.fixture
async def site(sqlite_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    spool = tmp_path / "spool"
    spool.mkdir()
    write_wav(spool / "call-a.wav", [tone(3), silence(1), tone(4)])
    result = process_file(spool / "call-a.wav", ProcessOptions())
    async with database(sqlite_url) as (_, sessions):
        ivan = await add_customer(sessions, "Ivan Petrov", ["+74951234567"])
        olga = await add_customer(sessions, "Olga Sidorova", ["+74957654321"])
        await add_user(sessions, "alice", "operator", interface=ALICE)
        await add_user(sessions, "bob", "operator", interface=BOB)
        quinn_id = await add_user(sessions, "quinn", "qa")
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        for event in [
            *_call("c-a", T0, "+74951234567", ALICE),
            *_call("c-o", T0 + 900, "+74957654321", BOB),
        ]:
            await writer.handle(event)
        await writer.flush()
        async with sessions.begin() as db:
            quinn = await db.get(User, quinn_id)
            assert quinn is not None
            quinn.queues, quinn.display_name = {"support": 0}, "Quinn Reviewer"
            m = result.metrics
            rec = Recording(
                server="pbx1", call_linkedid="c-a", file_name="call-a.wav",
                compact_name=result.compact_name, status="done", queue="support",
                operator_interface=ALICE, customer_id=ivan, outcome="answered",
                started_at=utcnow(), duration_seconds=m.duration_seconds,
                peaks={"values": list(m.peaks), "seconds_per_peak": m.seconds_per_peak},
            )  # fmt: skip
            db.add(rec)
            db.add(QaForm(name="Support basics", definition=FORM, active=True, created_at=utcnow()))
            await db.flush()
            rec_id = rec.id
        cfg = load_settings(environ={}, overrides={"recording": {"spool_dir": str(spool)}})
        plugins = [history_http, customers_http, recording_http]
        async with web_server(sessions, MemoryBus(), plugins=plugins, cfg=cfg) as server:
            yield {
                "base": str(server.make_url("")).rstrip("/"),
                "ivan": ivan,
                "olga": olga,
                "rec": rec_id,
            }


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    require_chromium()
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def sign_in(browser: Any, base: str, login: str) -> Page:
    page: Page = await (await browser.new_context()).new_page()
    await page.goto(base + "/login?next=/customers")
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/customers")
    return page


async def test_qa_plays_the_call_on_the_customer_page_and_the_score_joins_it(
    site: dict[str, Any], browser: Any
) -> None:
    base, ivan, rec = site["base"], site["ivan"], site["rec"]
    quinn = await sign_in(browser, base, "quinn")
    await quinn.fill("input[name=q]", "Petrov")
    await quinn.click("#customer-search button[type=submit]")
    await quinn.click(f'li[data-customer-id="{ivan}"] .customer-name')
    await quinn.wait_for_url(f"{base}/customers/{ivan}")
    await expect(quinn.locator("h1")).to_contain_text("Ivan Petrov")
    group = quinn.locator('article[data-call="c-a"]')
    await expect(group.locator(".tl-headline")).to_contain_text(
        "Called from +7 495 123-45-67, waited 0:04"
    )
    await expect(group.locator('li[data-kind="call.answered"]')).to_contain_text(
        "Alice answered after 0:04 waiting"
    )

    # the call's recording plays on the page: a click on the waveform seeks there
    player = group.locator(f'.rec-player[data-recording="{rec}"]')
    await expect(player.locator("svg.waveform path.peaks")).to_be_attached()
    box = await player.locator("svg.waveform").bounding_box()
    assert box is not None
    await quinn.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)

    async def played_there() -> bool:
        return float(await player.locator("audio").evaluate("a => a.currentTime")) >= 4.0

    await wait_for(played_there, timeout=10)

    # not scored yet; QA scores it in the player
    await quinn.goto(f"{base}/customers/{ivan}?topic=qa")
    await expect(quinn.locator("#timeline-empty")).to_be_visible()
    await quinn.goto(f"{base}/qa/recordings/{rec}")
    await quinn.select_option("#a_greet", "1")
    await quinn.select_option("#a_solved", "5")
    await quinn.click(".submit-score")
    await quinn.wait_for_selector("article.qa-review")

    # the score is on the customer's timeline, in plain words, and the filter finds it
    await quinn.goto(f"{base}/customers/{ivan}")
    await quinn.check('input[name="topic"][value="qa"]')
    await quinn.click('#timeline-filters button[type="submit"]')
    await quinn.wait_for_url(re.compile(r".*topic=qa.*"))
    lines = quinn.locator("ol.tl-lines li")
    await expect(lines).to_have_count(1)
    await expect(lines.first).to_contain_text("QA score 100 % by Quinn Reviewer (Support basics)")
    await expect(quinn.locator('.tl-headline a[href="/calls/pbx1/c-a"]')).to_be_visible()


async def test_an_operator_opens_the_page_of_their_own_caller_only(
    site: dict[str, Any], browser: Any
) -> None:
    base, ivan, olga = site["base"], site["ivan"], site["olga"]
    alice = await sign_in(browser, base, "alice")
    await alice.goto(f"{base}/customers/{ivan}")
    await expect(alice.locator("h1")).to_contain_text("Ivan Petrov")
    await expect(alice.locator('article[data-call="c-a"] .tl-headline')).to_contain_text(
        "Called from +7 495 123-45-67"
    )
    await expect(alice.locator("ol.tl-lines")).to_contain_text("Disposition by Alice: resolved")
    # Olga called Bob: her page is not Alice's to see (the search still finds her name)
    response = await alice.goto(f"{base}/customers/{olga}")
    assert response is not None and 404 == response.status
    await expect(alice.locator("h1")).to_have_text("Page not found")
    assert "Sidorova" not in await alice.content()
    assert "c-o" not in await alice.content()
