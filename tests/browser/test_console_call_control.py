"""An operator controls calls from the console in a real browser, against the whole service
and the Asterisk simulator over TCP: sign in to the queues, answer (the demo's simulated
phone), blind-transfer to a queue, start a conference."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from contact_center.demo import demo_plugin
from contact_center.sim.config import Operator
from tests.browser.conftest import signed_in_page
from tests.conftest import wait_for
from tests.e2e.service_support import PASSWORD, Rig, running_service

pytestmark = pytest.mark.browser

ANNA = "Local/101@agents"
BORIS = "Local/102@agents"
OPERATORS = (
    Operator(ANNA, "Anna", manual=True),
    Operator(BORIS, "Boris", manual=True),
)


@pytest.fixture
async def rig(tmp_path: Path, sqlite_url: str) -> AsyncIterator[tuple[Rig, list[Any]]]:
    async with running_service(tmp_path, sqlite_url, operators=OPERATORS) as base_rig:
        told: list[Any] = []  # everything the simulated Asterisk emitted
        unsubscribe = base_rig.pbx.subscribe(told.append)
        try:
            yield base_rig, told
        finally:
            unsubscribe()


@pytest.fixture
async def demo_rig(tmp_path: Path, sqlite_url: str) -> AsyncIterator[tuple[Rig, list[Any]]]:
    """The service as ``make demo`` runs it: the console has the simulated phone's buttons."""
    from contact_center.sim.pbx import SimPbx

    holder: list[SimPbx] = []

    class LatePbx:  # the plugin is built before the simulator exists; it asks for it late
        async def answer(self, interface: str) -> None:
            await holder[0].answer(interface)

        async def hangup_operator(self, interface: str) -> None:
            await holder[0].hangup_operator(interface)

    async with running_service(
        tmp_path, sqlite_url, operators=OPERATORS, extra_plugins=(demo_plugin(LatePbx()),)
    ) as base_rig:
        holder.append(base_rig.pbx)
        told: list[Any] = []
        unsubscribe = base_rig.pbx.subscribe(told.append)
        try:
            yield base_rig, told
        finally:
            unsubscribe()


async def result(page: Any, text: str) -> None:
    """What the page says the connector did with the last command."""
    await expect(page.locator("#command-result")).to_have_text(text, timeout=10_000)


def events(told: list[Any], name: str) -> list[dict[str, str]]:
    return [dict(e.headers) for e in told if e.name == name]


async def answered_pop(page: Any, call: Any) -> None:
    panel = page.locator(f'#call-control[data-call-id="{call.linkedid}"][data-stage="offered"]')
    await panel.wait_for(timeout=15_000)
    await page.click("#demo-answer")
    answered = page.locator(f'#call-control[data-call-id="{call.linkedid}"][data-stage="answered"]')
    await answered.wait_for(timeout=10_000)


async def test_operator_transfers_and_conferences_from_the_console(
    demo_rig: tuple[Rig, list[Any]], chromium: Any
) -> None:
    rig, told = demo_rig
    page = await signed_in_page(chromium, rig.base, "anna", PASSWORD)
    assert "offline" == await page.text_content("#state-label")

    # Available: the connector signs anna in to her queues (QueueAdd reaches Asterisk)
    await page.click("#set-available")
    await result(page, "Done: available.")
    assert {"sales", "support"} == {
        e["Queue"] for e in events(told, "QueueMemberAdded") if e["Interface"] == ANNA
    }

    # a call pops; anna answers on the (simulated) phone and blind-transfers it to sales
    call = await rig.pbx.place_call(
        "4951110001", "+74951234567", "Ivan Petrov", dtmf="2", dtmf_delay=0.3
    )
    await answered_pop(page, call)
    assert "+74951234567" == await page.input_value("#call-number")
    # in no conference room: nothing to leave (nor to invite into)
    await expect(page.locator("#leave-conference")).to_be_hidden()
    await expect(page.locator("#invite-target")).to_be_hidden()
    await expect(page.locator("#start-conference")).to_be_visible()
    await page.fill("#transfer-target", "sales")
    await page.click("#blind-transfer")
    await result(page, "Done: blind transfer.")
    await wait_for(
        lambda: (
            (call.channel, "sales")
            in {(e["Channel"], e["Queue"]) for e in events(told, "QueueCallerJoin")}
        ),
        timeout=10,
    )
    await rig.pbx.hangup(call.phone)  # the caller gives up waiting in sales
    await wait_for(lambda: call.channel not in {c.name for c in rig.pbx.channels.values()}, 10)

    # a second call: anna brings caller and herself into a conference room
    second = await rig.pbx.place_call(
        "4951110001", "+74957654321", "Maria", dtmf="2", dtmf_delay=0.3
    )
    await answered_pop(page, second)
    await page.click("#start-conference")
    await result(page, "Done: conference.")

    def joined() -> dict[str, set[str]]:
        rooms: dict[str, set[str]] = {}
        for e in events(told, "ConfbridgeJoin"):
            rooms.setdefault(e["Conference"], set()).add(e["Channel"])
        return rooms

    def both_legs_in_one_room() -> bool:
        return any(
            second.channel in legs and any(c.startswith(ANNA) for c in legs)
            for legs in joined().values()
        )

    await wait_for(both_legs_in_one_room, timeout=10)
    [legs] = [legs for legs in joined().values() if second.channel in legs]
    assert 2 == len(legs)
    await rig.pbx.hangup(second.phone)


async def test_the_operator_sees_who_is_in_her_conference_room(
    demo_rig: tuple[Rig, list[Any]], chromium: Any
) -> None:
    """Issue 19: the call panel lists the people in the room by name — the operator as the
    directory names her, the customer as the customer record does (not the caller ID), a
    colleague invited by extension — and the list follows every join and leave. Issue 18:
    in the room the call stays hers, so Leave works and her card then waits for the wrap-up."""
    rig, told = demo_rig
    page = await signed_in_page(chromium, rig.base, "anna", PASSWORD)
    await page.click("#set-available")
    await result(page, "Done: available.")
    call = await rig.pbx.place_call(
        "4951110001", "+74951234567", "IVAN P", dtmf="2", dtmf_delay=0.3
    )
    await answered_pop(page, call)

    # a conference with Boris (extension 102) invited into it
    await page.fill("#conference-target", "102")
    await page.click("#start-conference")
    people = page.locator("#conference-people li")
    await expect(people).to_have_count(2, timeout=10_000)  # Anna and the customer first
    await expect(page.locator("#call-stage")).to_have_text("In conference")
    await wait_for(lambda: bool(rig.pbx.phone_channels(BORIS)), timeout=10)
    await rig.pbx.answer(BORIS)
    await expect(people).to_have_count(3, timeout=10_000)
    names = sorted(await page.locator("#conference-people li").all_inner_texts())
    assert ["Anna (Operator)", "Boris (Operator)", "Ivan Petrov (Customer)"] == names
    assert not any("Local/" in n or "PJSIP/" in n for n in names)  # people, not channels

    # Boris hangs up: the list shrinks; the call is still anna's, in the room
    await rig.pbx.hangup_operator(BORIS)
    await expect(people).to_have_count(2, timeout=10_000)
    assert ["Anna (Operator)", "Ivan Petrov (Customer)"] == sorted(await people.all_inner_texts())
    # a reload shows the room as it is
    await page.reload()
    await expect(people).to_have_count(2, timeout=10_000)
    assert ["Anna (Operator)", "Ivan Petrov (Customer)"] == sorted(await people.all_inner_texts())
    await expect(page.locator("#call-stage")).to_have_text("In conference")
    card = page.locator(f'#pops .pop[data-key$="/{call.linkedid}"] .pop-card')
    assert 1 == await card.count()
    assert "ended" not in (await card.get_attribute("class") or "")

    # Leave: her part is over, the card waits for the wrap-up, the list is gone
    await page.click("#leave-conference")
    await result(page, "Done: leave conference.")
    await expect(page.locator("#call-stage")).to_have_text("Wrap-up")
    await expect(page.locator("#conference-room")).to_be_hidden()
    await expect(card).to_have_class(re.compile(r"\bended\b"), timeout=10_000)
    assert any(
        e["Channel"].startswith(ANNA) for e in events(told, "ConfbridgeLeave")
    )  # her phone left the room
    await rig.pbx.hangup(call.phone)


async def test_the_operator_in_the_room_invites_a_colleague(
    demo_rig: tuple[Rig, list[Any]], chromium: Any
) -> None:
    """Issue 19: in the room the Conference form is gone (it would move both again) and an
    Invite field is there: Boris is invited by extension, answers, and the list names three;
    caller and operator entered the room once."""
    rig, told = demo_rig
    page = await signed_in_page(chromium, rig.base, "anna", PASSWORD)
    await page.click("#set-available")
    await result(page, "Done: available.")
    call = await rig.pbx.place_call(
        "4951110001", "+74951234567", "Ivan Petrov", dtmf="2", dtmf_delay=0.3
    )
    await answered_pop(page, call)
    await expect(page.locator("#invite-form")).to_be_hidden()  # no room yet

    await page.click("#start-conference")
    await result(page, "Done: conference.")
    people = page.locator("#conference-people li")
    await expect(people).to_have_count(2, timeout=10_000)
    await expect(page.locator("#conference-form")).to_be_hidden()
    await expect(page.locator("#invite-form")).to_be_visible()

    await page.keyboard.press("Alt+I")  # the shortcut goes to the field
    await expect(page.locator("#invite-target")).to_be_focused()
    await page.keyboard.type("102")
    await page.click("#invite-to-conference")
    await result(page, "Done: invite to the room.")
    await expect(page.locator("#invite-target")).to_have_value("")
    await wait_for(lambda: bool(rig.pbx.phone_channels(BORIS)), timeout=10)
    await rig.pbx.answer(BORIS)
    await expect(people).to_have_count(3, timeout=10_000)
    names = sorted(await people.all_inner_texts())
    assert ["Anna (Operator)", "Boris (Operator)", "Ivan Petrov (Customer)"] == names
    await expect(page.locator("#call-stage")).to_have_text("In conference")
    caller_joins = [e for e in events(told, "ConfbridgeJoin") if e["Channel"] == call.channel]
    assert 1 == len(caller_joins)  # nobody already there was moved again
    rooms = {e["Conference"] for e in events(told, "ConfbridgeJoin")}
    assert {caller_joins[0]["Conference"]} == rooms  # Boris joined the room the two were in
    await rig.pbx.hangup(call.phone)


async def test_bad_target_is_refused_on_the_page(rig: tuple[Rig, list[Any]], chromium: Any) -> None:
    service, told = rig
    page = await signed_in_page(chromium, service.base, "anna", PASSWORD)
    assert 0 == await page.locator("#demo-answer").count()  # no simulated phone here
    await page.click("#set-available")
    await result(page, "Done: available.")
    call = await service.pbx.place_call(
        "4951110001", "+74951234567", "Ivan Petrov", dtmf="2", dtmf_delay=0.3
    )
    await page.locator(f'#call-control[data-call-id="{call.linkedid}"]').wait_for(timeout=15_000)
    await service.pbx.answer(ANNA)
    await page.locator('#call-control[data-stage="answered"]').wait_for(timeout=10_000)
    await page.fill("#transfer-target", "System(echo)")
    await page.click("#blind-transfer")
    await result(page, "Refused: not an extension, queue or phone number: 'System(echo)'")
    # hang up from the console: the connector hangs the caller up
    await page.click("#hangup-call")
    await result(page, "Done: hangup.")
    await page.locator('#call-control[data-stage="ended"]').wait_for(timeout=10_000)
    assert [] == [e for e in events(told, "BlindTransfer")]
