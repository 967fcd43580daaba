"""End to end in a real browser over real TCP: a call → lookup → card on the right screen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import EVENTS, MemoryBus, pump
from contact_center.calls import events as ev
from contact_center.customers.lookup import CustomerLookup
from contact_center.screenpop import ScreenPop
from contact_center.store.models import InteractionEvent
from tests.browser.conftest import signed_in_page
from tests.conftest import wait_for
from tests.integration.web_support import add_customer, add_user, database, web_server

pytestmark = pytest.mark.browser

ALICE, BOB = "Local/101@agents", "Local/102@agents"
HOSTILE = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">\r\nNew\nLine'
    "\u202eevil" + "A" * 10_000
)


class Stack:
    def __init__(
        self, server: TestServer, bus: MemoryBus, sessions: async_sessionmaker[AsyncSession]
    ):
        self.server, self.bus, self.sessions = server, bus, sessions
        self.url = str(server.make_url("")).rstrip("/")

    async def call(self, call_id: str, number: str, name: str, digits: str, interface: str) -> None:
        base: dict[str, Any] = {"server": "pbx1", "call_id": call_id, "at": 1_790_000_000.0}
        for event in [
            ev.CallArrived(**base, caller_number="", caller_number_raw=number, caller_name=name),
            ev.IvrStep(**base, menu="main", node="start", digits=digits),
            ev.CallQueued(**base, queue="support", position=1),
            ev.CallOffered(**base, queue="support", interface=interface, member_name="op"),
        ]:
            await self.bus.publish(EVENTS, ev.to_dict(event))

    async def answer(self, call_id: str, interface: str) -> None:
        base: dict[str, Any] = {"server": "pbx1", "call_id": call_id, "at": 1_790_000_010.0}
        answered = ev.CallAnswered(
            **base,
            queue="support",
            interface=interface,
            member_name="op",
            hold_seconds=10.0,
            ring_seconds=2.0,
        )
        await self.bus.publish(EVENTS, ev.to_dict(answered))


@pytest.fixture
async def stack(sqlite_url: str) -> AsyncIterator[Stack]:
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "alice", "operator", ALICE)
        await add_user(sessions, "bob", "operator", BOB)
        bus = MemoryBus()
        screenpop = ScreenPop(bus, CustomerLookup(sessions, region="RU"), sessions)
        worker = asyncio.create_task(
            pump(
                bus, EVENTS, screenpop.handle_message, group="screenpop", consumer="w", block_ms=100
            )
        )
        try:
            async with web_server(sessions, bus) as server:
                yield Stack(server, bus, sessions)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await screenpop.close()


async def test_call_pops_the_right_customer_on_the_right_screen_only(
    chromium: Any, stack: Stack
) -> None:
    ivan = await add_customer(stack.sessions, "Ivan Petrov", ["+74951234567"], segment="VIP")
    alice = await signed_in_page(chromium, stack.url, "alice")
    bob = await signed_in_page(chromium, stack.url, "bob")

    await stack.call("c1", "84951234567", "Ivan P", "2", ALICE)
    card = alice.locator(".pop-card").first
    await card.wait_for()
    assert "Ivan Petrov" == await card.locator(".customer-name").text_content()
    assert "2" == await card.locator(".ivr-digits").text_content()
    assert "VIP" == await card.locator(".vip-badge").text_content()
    assert str(ivan) == await card.get_attribute("data-customer-id")

    await stack.call("c2", "+74950000002", "For Bob", "1", BOB)
    await bob.locator(".pop-card").first.wait_for()
    assert ["For Bob"] == await bob.locator(".pop-card .caller-name").all_text_contents()
    assert ["c1"] == await alice.locator(".pop-card").evaluate_all(
        "els => els.map(e => e.dataset.callId)"
    )


async def test_hostile_caller_name_is_shown_as_text(stack: Stack, chromium: Any) -> None:
    alice = await signed_in_page(chromium, stack.url, "alice")
    await stack.call("c1", "+74957654321", HOSTILE, "9", ALICE)
    card = alice.locator(".pop-card").first
    await card.wait_for()
    shown = await card.locator(".caller-name").text_content()
    assert shown is not None
    assert shown.startswith(
        '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    )
    assert "\u202eevil" in shown
    assert len(shown) <= 200
    assert None is await alice.evaluate("window.__pwned")
    assert 0 == await alice.locator("#pops img, #pops script").count()
    # The create-customer form for this unknown caller has the number filled in.
    assert "+74957654321" == await card.locator('input[name="phone"]').input_value()


async def test_wrapup_and_pause_from_the_console(stack: Stack, chromium: Any) -> None:
    ivan = await add_customer(stack.sessions, "Ivan Petrov", ["+74951234567"])
    alice = await signed_in_page(chromium, stack.url, "alice")
    await stack.call("c1", "+74951234567", "Ivan", "2", ALICE)
    card = alice.locator(".pop-card").first
    await card.wait_for()
    # While the phone rings: no wrap-up form, no "Recording on"; the caller ID is labelled.
    assert 0 == await card.locator("form.wrapup").count()
    await expect(alice.locator("#recording-state")).to_be_hidden()
    await expect(card.locator(".caller-id")).to_have_text("Caller ID: Ivan")
    await expect(card.locator("h2 .customer-name")).to_have_text("Ivan Petrov")
    await stack.answer("c1", ALICE)
    await expect(alice.locator("#call-stage")).to_have_text("Talking")
    await expect(alice.locator("#recording-state")).to_have_text("Recording on")
    # the phone puts the caller on hold and takes them back (AMI Hold / Unhold)
    for held, words in ((True, "On hold"), (False, "Talking")):
        hold = ev.CallHeld(
            server="pbx1", call_id="c1", at=1_790_000_020.0, held=held, channel=ALICE + ";2"
        )
        await stack.bus.publish(EVENTS, ev.to_dict(hold))
        await expect(alice.locator("#call-stage")).to_have_text(words)
    await card.locator('select[name="disposition"]').select_option("sale")
    await card.locator('textarea[name="notes"]').fill("Wants the <b>premium</b> plan")
    await card.locator("form.wrapup button").click()
    await alice.locator(".pop-card").first.wait_for(state="detached")

    async def saved() -> bool:
        async with stack.sessions() as db:
            rows = (await db.execute(select(InteractionEvent))).scalars().all()
        return [(ivan, "c1", "sale", "Wants the <b>premium</b> plan")] == [
            (r.customer_id, r.call_linkedid, r.data["disposition"], r.data["notes"]) for r in rows
        ]

    await wait_for(saved)

    await alice.select_option("#pause-reason", "lunch")
    await alice.click("#set-paused")
    # Only the connector (absent here) changes the state: the page shows what was sent,
    # and a state label that does not claim a pause nobody carried out.
    await expect(alice.locator("#command-result")).to_have_text("Sent: pause…")
    await expect(alice.locator("#state-label")).to_have_text("offline")
    sent = [m for _, m in await stack.bus.read(EVENTS, "0") if m["kind"].startswith("operator.")]
    assert [
        ("operator.action", "wrapup", {}),
        ("operator.command", "pause", {"reason": "lunch"}),
    ] == [(m["kind"], m.get("action") or m.get("command"), m.get("args", {})) for m in sent]


async def test_reload_shows_the_active_pop_once(stack: Stack, chromium: Any) -> None:
    alice = await signed_in_page(chromium, stack.url, "alice")
    await stack.call("c1", "+74957654321", "Caller", "1", ALICE)
    await alice.locator(".pop-card").first.wait_for()
    await alice.reload()
    await alice.wait_for_selector('#link[data-status="open"]')
    await alice.locator(".pop-card").first.wait_for()
    await stack.call("c2", "+74957654322", "Second", "2", ALICE)
    await alice.locator(".pop-card").nth(1).wait_for()
    ids = await alice.locator(".pop-card").evaluate_all("els => els.map(e => e.dataset.callId)")
    assert ["c2", "c1"] == ids


async def test_sign_out_sends_the_other_tab_to_the_sign_in_page(
    chromium: Any, stack: Stack
) -> None:
    alice = await signed_in_page(chromium, stack.url, "alice")
    other_tab = await alice.context.new_page()
    await other_tab.goto(stack.url + "/console")
    await other_tab.wait_for_selector('#link[data-status="open"]')
    await alice.click("#signout")
    await other_tab.wait_for_url("**/login")
