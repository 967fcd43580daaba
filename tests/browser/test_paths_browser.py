"""What each operator sees on each call path, in real browsers, with the whole service beside
the simulator running the shipped dial plan (PJSIP phones, our IVR over FastAGI): a queue
offer; a blind transfer to a person, whose pop carries the previous operator's transfer note;
an attended transfer; a sticky ring of the customer's last operator; a callback dialled
operator-first; a click-to-call. Each card names the customer and shows how the call came,
on the console of the operator whose phone rings — and on nobody else's."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from contact_center.callbacks import store as callbacks
from contact_center.customers.phones import phone_suffix
from contact_center.sim.config import Operator
from contact_center.store.db import utcnow
from contact_center.store.models import Customer, CustomerPhone
from tests.browser.conftest import signed_in_page
from tests.conftest import wait_for
from tests.e2e.service_support import DID, PASSWORD, Rig, running_service

pytestmark = pytest.mark.browser

ANNA, BORIS = "PJSIP/101", "PJSIP/102"
OPERATORS = (Operator(ANNA, "Anna", manual=True), Operator(BORIS, "Boris", manual=True))
IVAN, MARIA = "+74951234567", "+74997654321"
WAIT = 15_000


@dataclass
class Desks:
    rig: Rig
    anna: Any
    boris: Any
    maria_id: int

    def card(self, page: Any, name: str, stage: str = "") -> Any:
        """The newest pop card on ``page`` naming ``name`` (at ``stage``, if given)."""
        cards = page.locator("article.pop-card").filter(has_text=name)
        if stage:
            cards = cards.filter(has=page.locator(f".stage-{stage}"))
        return cards.first

    async def command_done(self, page: Any, text: str) -> None:
        await expect(page.locator("#command-result")).to_have_text(text, timeout=WAIT)

    async def call_ends(self, channel: str) -> None:
        pbx = self.rig.pbx
        await wait_for(lambda: channel not in {c.name for c in pbx.channels.values()}, 10)

    async def nobody_on_the_phone(self) -> None:
        await wait_for(lambda: not self.rig.pbx.channels, 10)


@pytest.fixture
async def desks(tmp_path: Path, sqlite_url: str, chromium: Any) -> AsyncIterator[Desks]:
    async with running_service(
        tmp_path, sqlite_url, operators=OPERATORS, dialplan="shipped"
    ) as rig:
        core = rig.service.core
        assert core is not None
        async with core.sessions.begin() as db:
            now = utcnow()
            maria = Customer(
                name="Maria Sidorova", custom={}, created_at=now, updated_at=now, language="ru"
            )
            maria.phones.append(
                CustomerPhone(e164=MARIA, suffix=phone_suffix(MARIA), raw="+7 499 765-43-21")
            )
            db.add(maria)
            await db.flush()
            maria_id = maria.id
        anna = await signed_in_page(chromium, rig.base, "anna", PASSWORD)
        boris = await signed_in_page(chromium, rig.base, "boris", PASSWORD)
        yield Desks(rig, anna, boris, maria_id)


async def test_each_path_pops_on_the_right_console(desks: Desks) -> None:
    rig, anna, boris = desks.rig, desks.anna, desks.boris
    pbx = rig.pbx
    told: list[str] = []
    pbx.subscribe(lambda event: told.append(event.name))
    await anna.click("#set-available")  # boris stays offline: the queue rings anna only
    await desks.command_done(anna, "Done: available.")

    # 1. a queue offer: anna's card names Ivan, the queue and the IVR digit
    first = await pbx.place_call(DID, IVAN, "Ivan Petrov", dtmf="2", dtmf_delay=0.5)
    offer = desks.card(anna, "Ivan Petrov", "offered")
    await expect(offer).to_be_visible(timeout=WAIT)
    await expect(offer.locator(".path")).to_have_text("Queue call")
    await expect(offer.locator(".queue")).to_have_text("support")
    await expect(offer.locator(".ivr-digits")).to_have_text("2")
    await expect(offer.locator(".previous-operator")).to_have_count(0)
    await pbx.answer(ANNA)
    await expect(anna.locator('#call-control[data-stage="answered"]')).to_be_visible(timeout=WAIT)

    # 2. blind transfer to a person with a note: boris's pop has Ivan, anna and her note
    await anna.fill("#transfer-target", "102")
    await anna.fill("#transfer-note", "wants a refund for order 42")
    await anna.click("#blind-transfer")
    await desks.command_done(anna, "Done: blind transfer.")
    handed = desks.card(boris, "Ivan Petrov", "offered")
    await expect(handed).to_be_visible(timeout=WAIT)
    await expect(handed.locator(".path")).to_have_text("Transferred to you")
    await expect(handed.locator(".previous-operator")).to_have_text("Anna")
    await expect(handed.locator(".call-note")).to_have_text("wants a refund for order 42 — Anna")
    await expect(handed.locator(".transfer")).to_have_text("Blind → 102 (Anna)")
    await pbx.answer(BORIS)
    await expect(boris.locator('#call-control[data-stage="answered"]')).to_be_visible(timeout=WAIT)
    await pbx.hangup_caller(first)
    await desks.nobody_on_the_phone()

    # 3. attended transfer: Maria (no history: no sticky ring) from the queue to boris
    second = await pbx.place_call(DID, MARIA, "Maria Sidorova", dtmf="2", dtmf_delay=0.5)
    await expect(desks.card(anna, "Maria Sidorova", "offered")).to_be_visible(timeout=WAIT)
    await pbx.answer(ANNA)
    await expect(anna.locator('#call-control[data-stage="answered"]')).to_be_visible(timeout=WAIT)
    await anna.fill("#transfer-target", "102")
    await anna.fill("#transfer-note", "")
    await anna.click("#attended-transfer")
    await desks.command_done(anna, "Done: attended transfer.")
    consulted = desks.card(boris, "Maria Sidorova", "offered")
    await expect(consulted).to_be_visible(timeout=WAIT)
    await expect(consulted.locator(".path")).to_have_text("Transferred to you")
    await expect(consulted.locator(".previous-operator")).to_have_text("Anna")
    # boris takes it; anna completes the transfer from her console: the caller is boris's
    await pbx.answer(BORIS)
    await expect(anna.locator("#consultation-state")).to_have_text(
        "Consulting Boris — caller on hold", timeout=WAIT
    )
    await anna.click("#transfer-complete")
    await wait_for(lambda: told.count("AttendedTransfer") == 1, 10)
    taken = desks.card(boris, "Maria Sidorova", "answered")
    await expect(taken).to_be_visible(timeout=WAIT)
    await expect(taken.locator(".transfer")).to_contain_text("Attended")
    await pbx.hangup_caller(second)
    await desks.nobody_on_the_phone()

    # 4. Ivan again: anna served him last, her phone rings first (sticky), not the queue
    third = await pbx.place_call(DID, IVAN, "Ivan Petrov", dtmf="2", dtmf_delay=0.5)
    sticky = anna.locator(f'article.pop-card[data-call-id="{third.linkedid}"]')
    await expect(sticky).to_be_visible(timeout=WAIT)
    await expect(sticky.locator(".path")).to_have_text("Rings you directly")
    await expect(sticky).to_contain_text("Ivan Petrov")
    await expect(sticky.locator(".queue")).to_have_count(0)  # rung directly, not queued
    assert 0 == await boris.locator(f'article.pop-card[data-call-id="{third.linkedid}"]').count()
    await pbx.answer(ANNA)
    await pbx.hangup_caller(third)
    await desks.nobody_on_the_phone()

    # 5. a callback for Maria, assigned to boris: his phone rings first, with her card
    await boris.click("#set-available")
    await desks.command_done(boris, "Done: available.")
    core = rig.service.core
    assert core is not None
    async with core.sessions.begin() as db:
        await callbacks.create(
            db,
            key="test-callback-maria",
            number=MARIA,
            queue="support",
            requested_by="anna",
            now=utcnow(),
            customer_id=desks.maria_id,
            note="call back about the refund",
            assigned_login="boris",
        )
    assert 1 == await rig.service.components["callback_dialer"].tick()
    back = desks.card(boris, "Maria Sidorova", "offered")
    await expect(back).to_be_visible(timeout=WAIT)
    await expect(back.locator(".path")).to_have_text("Callback")
    await expect(back.locator(".caller-number")).to_have_text("+7 499 765-43-21")
    assert 0 == await anna.locator("article.pop-card .path", has_text="Callback").count()
    await pbx.answer(BORIS)  # then the customer is dialled
    await wait_for(lambda: any(c.name.startswith("PJSIP/trunk-") for c in pbx.channels.values()))
    await pbx.hangup_operator(BORIS)
    await desks.nobody_on_the_phone()

    # 6. click-to-call from anna's console: her phone rings with Maria's card
    await boris.click("#set-offline")
    # as she would dial a number by hand: the card comes from the number
    await anna.fill("#call-number", MARIA)
    await anna.click("#click-to-call-button")
    await desks.command_done(anna, re.compile(r"^Done"))
    dialled = desks.card(anna, "Maria Sidorova", "offered")
    await expect(dialled).to_be_visible(timeout=WAIT)
    await expect(dialled.locator(".path")).to_have_text("Outbound call")
    await expect(dialled.locator(".caller-number")).to_have_text("+7 499 765-43-21")
    assert 0 == await boris.locator("article.pop-card .path", has_text="Outbound call").count()
    await pbx.answer(ANNA)
    await wait_for(lambda: any(c.name.startswith("PJSIP/trunk-") for c in pbx.channels.values()))
    await pbx.hangup_operator(ANNA)
    await desks.nobody_on_the_phone()
