"""The operator workspace as an operator uses it all day, in a real chromium, against the
whole service and the Asterisk simulator over TCP (the demo's simulated phone answers):
answer → wrap-up with the keyboard alone, the wrap-up kept across a reload after hang-up,
the transfer dialog with a note that reaches the next operator, leaving a conference, the
dial pad, customer search with click-to-call, my callbacks and calls today, the alert on a
pop — and axe-core finds nothing serious on the console with its dialogs open."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from contact_center.demo import demo_plugin
from contact_center.sim.config import Operator
from contact_center.store.db import utcnow
from contact_center.store.models import Call, Callback, InteractionEvent, Wrapup
from tests.browser.conftest import CHROMIUM_ARGS, signed_in_page
from tests.browser.test_accessibility import require_axe, violations
from tests.conftest import wait_for
from tests.e2e.service_support import PASSWORD, Rig, running_service

pytestmark = pytest.mark.browser

ANNA, BORIS = "Local/101@agents", "Local/102@agents"
OPERATORS = (Operator(ANNA, "Anna", manual=True), Operator(BORIS, "Boris", manual=True))
IVAN = "+74951234567"  # seeded: Ivan Petrov, VIP, account 4000123


@pytest.fixture
async def rig(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Rig]:
    """The service as ``make demo`` runs it: the demo adds the simulated phone's buttons."""
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
        yield base_rig


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from tests.browser.conftest import CHROMIUM, require_chromium

    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield launched
        finally:
            await launched.close()


async def result(page: Any, text: str) -> None:
    await expect(page.locator("#command-result")).to_have_text(text, timeout=10_000)


async def ring(rig: Rig, name: str = "Ivan Petrov", number: str = IVAN) -> Any:
    return await rig.pbx.place_call("4951110001", number, name, dtmf="2", dtmf_delay=0.3)


async def calls(rig: Rig) -> list[Call]:
    async with rig.service.core.sessions() as db:  # type: ignore[union-attr]
        return list((await db.scalars(select(Call))).all())


async def test_answer_to_wrapup_with_the_keyboard_alone(rig: Rig, browser: Any) -> None:
    page = await (await browser.new_context()).new_page()
    await page.goto(rig.base + "/console")
    # the sign-in form: the login field has the focus
    await page.keyboard.type("anna")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_selector('#link[data-status="open"]')

    await page.keyboard.press("?")  # the help lists the shortcuts
    help_box = page.locator("#help-dialog")
    await expect(help_box).to_be_visible()
    await expect(help_box).to_contain_text("Alt+A")
    await expect(help_box).to_contain_text("Save the wrap-up")
    await page.keyboard.press("Escape")
    await expect(help_box).to_be_hidden()

    await page.keyboard.press("Alt+1")  # available
    await result(page, "Done: available.")
    call = await ring(rig)
    await page.locator(f'#call-control[data-call-id="{call.linkedid}"]').wait_for(timeout=15_000)
    await expect(page.locator("#call-stage")).to_have_text("Ringing")
    await page.keyboard.press("Alt+A")  # the simulated phone's answer
    await expect(page.locator("#call-stage")).to_have_text("Talking", timeout=10_000)
    await expect(page.locator("#call-timer")).to_have_text(re.compile(r"^0:0\d$"), timeout=5_000)

    await page.keyboard.press("Alt+W")  # to the wrap-up of this call
    focused = await page.evaluate("document.activeElement.name")
    assert "disposition" == focused
    await page.keyboard.type("sale")  # a focused select picks the option typed
    await page.keyboard.press("Tab")
    await page.keyboard.type("Wants the premium plan")
    await page.keyboard.press("Alt+S")
    card = page.locator(f'.pop-card[data-call-id="{call.linkedid}"]')
    await card.wait_for(state="detached", timeout=10_000)
    await expect(page.locator("#flash")).to_have_text("Wrap-up saved.")

    async def disposition_set() -> bool:
        return [("sale",)] == [(c.disposition,) for c in await calls(rig)]

    await wait_for(disposition_set, timeout=10)  # saved during the call: calls.disposition
    await rig.pbx.hangup(call.phone)
    await expect(page.locator("#flash")).to_have_text("", timeout=10_000)  # it fades


async def test_the_wrapup_survives_a_reload_after_the_caller_hangs_up(
    rig: Rig, browser: Any
) -> None:
    page = await signed_in_page(browser, rig.base, "anna", PASSWORD)
    await page.click("#set-available")
    await result(page, "Done: available.")
    call = await ring(rig)
    await page.locator(f'#call-control[data-call-id="{call.linkedid}"]').wait_for(timeout=15_000)
    card = page.locator(f'.pop-card[data-call-id="{call.linkedid}"]')
    await expect(card.locator(".caller-id")).to_have_text("Caller ID: Ivan Petrov")
    await expect(card.locator(".vip-badge")).to_have_text("VIP")
    assert 0 == await card.locator("form.wrapup").count()  # not while ringing
    await page.click("#demo-answer")
    await expect(page.locator("#call-stage")).to_have_text("Talking", timeout=10_000)
    # the caller gives a new e-mail: corrected on the card, on the timeline with who did it
    await card.locator(".edit-contact summary").click()
    await card.locator('.contact-form input[name="email"]').fill("ivan@example.com")
    await card.locator(".contact-form button").click()
    await expect(card.locator(".contact-form .form-status")).to_have_text("Saved.")

    async def audited() -> bool:
        async with rig.service.core.sessions() as db:  # type: ignore[union-attr]
            rows = (await db.scalars(select(InteractionEvent))).all()
        return any(
            r.kind == "customer.updated"
            and r.actor == "anna"
            and r.data["after"] == {"email": "ivan@example.com"}
            for r in rows
        )

    await wait_for(audited, timeout=10)
    await card.locator('textarea[name="notes"]').fill("asked for a refund")
    await rig.pbx.hangup(call.phone)  # the caller hangs up before the wrap-up is saved
    await expect(page.locator("#call-stage")).to_have_text("Wrap-up", timeout=10_000)
    assert await page.locator("#hangup-call").is_hidden()  # nothing left to hang up

    async def draft_kept() -> bool:
        async with rig.service.core.sessions() as db:  # type: ignore[union-attr]
            return ["asked for a refund"] == [w.notes for w in await db.scalars(select(Wrapup))]

    await wait_for(draft_kept, timeout=10)
    await page.reload()
    pending = page.locator("#pending-list .pending-wrapup")
    await expect(pending).to_have_count(1, timeout=10_000)
    await expect(pending.locator("h3")).to_contain_text("Ivan Petrov")
    await expect(pending.locator("textarea")).to_have_value("asked for a refund")
    await expect(pending.locator(".wrapup-timer")).to_have_text(re.compile(r"^\d+:\d\d$"))
    await pending.locator("select").select_option("resolved")
    await pending.locator("button.save-wrapup").click()
    await expect(pending).to_have_count(0)
    await expect(page.locator("#pending-wrapups")).to_be_hidden()

    async def settled() -> bool:
        async with rig.service.core.sessions() as db:  # type: ignore[union-attr]
            rows = (await db.scalars(select(InteractionEvent))).all()
        return any(
            r.kind == "operator.wrapup" and r.data.get("disposition") == "resolved" for r in rows
        ) and ["resolved"] == [c.disposition for c in await calls(rig)]

    await wait_for(settled, timeout=10)
    await page.reload()
    await page.wait_for_selector('#link[data-status="open"]')
    await expect(page.locator("#pending-list .pending-wrapup")).to_have_count(0)
    # my calls today shows it, in words
    await expect(page.locator("#my-calls li.my-call").first).to_contain_text("Ivan Petrov")
    await expect(page.locator("#my-calls li.my-call").first).to_contain_text("resolved")


async def test_transfer_dialog_and_the_note_that_travels_with_the_call(
    rig: Rig, browser: Any
) -> None:
    anna = await signed_in_page(browser, rig.base, "anna", PASSWORD)
    boris = await signed_in_page(browser, rig.base, "boris", PASSWORD)
    await boris.click("#set-available")
    await result(boris, "Done: available.")
    await anna.click("#set-available")
    await result(anna, "Done: available.")
    await boris.select_option("#pause-reason", "lunch")
    await boris.click("#set-paused")  # boris at lunch: the call comes to anna
    await result(boris, "Done: pause.")
    await expect(boris.locator("#state-label")).to_have_text("paused (lunch)")
    call = await ring(rig)
    await anna.locator(f'#call-control[data-call-id="{call.linkedid}"]').wait_for(timeout=15_000)
    await anna.click("#demo-answer")
    await expect(anna.locator("#call-stage")).to_have_text("Talking", timeout=10_000)
    await boris.click("#set-available")  # back from lunch
    await result(boris, "Done: available.")
    await anna.select_option("#pause-reason", "meeting")
    await anna.click("#set-paused")  # anna will not get it back from the queue
    await result(anna, "Done: pause.")

    await anna.click("#transfer-directory")
    dialog = anna.locator("#transfer-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#transfer-queues")).to_contain_text("sales")
    await expect(dialog.locator("#transfer-queues")).to_contain_text("free")
    await dialog.locator('#transfer-queues button[data-target="sales"]').click()
    await expect(dialog).to_be_hidden()
    assert "sales" == await anna.input_value("#transfer-target")
    await anna.fill("#transfer-note", "wants the invoice resent")
    await anna.click("#blind-transfer")
    await result(anna, "Done: blind transfer.")

    card = boris.locator(f'.pop-card[data-call-id="{call.linkedid}"]')
    await card.wait_for(timeout=15_000)
    await expect(card.locator(".call-note")).to_contain_text("wants the invoice resent")
    await expect(card.locator(".previous-operator")).to_have_text("Anna")  # a name, not a phone
    await boris.click("#demo-answer")
    await expect(boris.locator("#call-stage")).to_have_text("Talking", timeout=10_000)
    await rig.pbx.hangup(call.phone)


async def test_in_a_conference_and_after_it_the_card_offers_only_what_still_applies(
    rig: Rig, browser: Any
) -> None:
    page = await signed_in_page(browser, rig.base, "anna", PASSWORD)
    await page.click("#set-available")
    await result(page, "Done: available.")
    call = await ring(rig)
    await page.locator(f'#call-control[data-call-id="{call.linkedid}"]').wait_for(timeout=15_000)
    await page.click("#demo-answer")
    await expect(page.locator("#call-stage")).to_have_text("Talking", timeout=10_000)
    await page.click("#start-conference")
    await result(page, "Done: conference.")
    # in the room: leave it or hang up; no second conference, no transfer, no recording pause
    await expect(page.locator("#call-stage")).to_have_text("In conference", timeout=10_000)
    await expect(page.locator("#leave-conference")).to_be_visible()
    await expect(page.locator("#hangup-call")).to_be_visible()
    for control in ("#blind-transfer", "#start-conference", "#pause-recording"):
        await expect(page.locator(control)).to_be_hidden()
    await rig.pbx.hangup(call.phone)  # the caller leaves the room: the call is over
    await page.locator(f'#call-control[data-call-id="{call.linkedid}"]').wait_for(timeout=10_000)
    card = page.locator(f'.pop-card[data-call-id="{call.linkedid}"]')
    await expect(card.locator("form.wrapup select")).to_be_visible()
    await expect(card.locator(".wrapup-timer")).to_have_text(re.compile(r"^0:\d\d$"))


async def test_dial_pad_search_callbacks_and_the_alert_on_a_pop(rig: Rig, browser: Any) -> None:
    async with rig.service.core.sessions.begin() as db:  # type: ignore[union-attr]
        db.add(
            Callback(
                key="cb-1",
                number="+74957654321",
                queue="support",
                note="about the delivery",
                status="pending",
                requested_at=utcnow(),
                requested_by="ivr",
                assigned_login="anna",
                log={},
            )
        )
    context = await browser.new_context()
    await context.grant_permissions(["notifications"])
    await context.add_init_script(
        """window.__notes = [];
        const Real = window.Notification;
        class Seen {  // records what the page shows; permission is the browser's own
          constructor(title, options) { window.__notes.push(title + ": " + options.body); }
          close() {}
        }
        Object.defineProperty(Seen, "permission", {get: () => Real.permission});
        Seen.requestPermission = () => Real.requestPermission();
        window.Notification = Seen;"""
    )
    page = await context.new_page()
    await page.goto(rig.base + "/console")
    await page.fill('input[name="login"]', "anna")
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await page.wait_for_selector('#link[data-status="open"]')

    # my callbacks: the one assigned to me, with a call button
    callback = page.locator("#my-callbacks li.callback")
    await expect(callback).to_contain_text("about the delivery")

    # the alert is turned on once, from a click; a new pop then rings and notifies
    await page.click("#enable-alerts")
    await expect(page.locator("#enable-alerts")).to_be_hidden()
    await page.click("#set-available")
    await result(page, "Done: available.")
    call = await ring(rig)
    await page.locator(f'#call-control[data-call-id="{call.linkedid}"]').wait_for(timeout=15_000)
    await wait_for(lambda: page.evaluate("window.__notes.length"), timeout=5)
    notes = await page.evaluate("window.__notes")
    # one per time the phone starts ringing (the queue rings again after a ring timeout)
    assert notes and all(n.startswith("Incoming call: Ivan Petrov — ") for n in notes), notes
    assert len(notes) == int(await page.evaluate("document.body.dataset.rang"))
    await rig.pbx.hangup(call.phone)
    await page.locator(f'.pop-card[data-call-id="{call.linkedid}"]').wait_for(state="detached")

    # customer search by account number, then click-to-call from the result
    await page.fill("#customer-search", "4000123")
    await page.press("#customer-search", "Enter")
    found = page.locator("#customer-results li.customer-result")
    await expect(found).to_have_count(1)
    await expect(found).to_contain_text("Ivan Petrov")
    await found.locator("button.call-this").click()
    await result(page, "Done: click to call.")

    # the dial pad builds a number key by key
    await page.click("#dial-clear")
    for key in "102":
        await page.click(f'#dialpad button[data-key="{key}"]')
    assert "102" == await page.input_value("#call-number")


async def test_the_console_with_its_dialogs_has_no_serious_violation(
    rig: Rig, browser: Any
) -> None:
    axe = require_axe()
    page = await signed_in_page(browser, rig.base, "anna", PASSWORD)
    await page.click("#set-available")
    await result(page, "Done: available.")
    call = await ring(rig)
    await page.locator(f'#call-control[data-call-id="{call.linkedid}"]').wait_for(timeout=15_000)
    await page.click("#demo-answer")
    await expect(page.locator("#call-stage")).to_have_text("Talking", timeout=10_000)
    found = {"answered": await violations(page, axe)}
    await page.click("#transfer-directory")
    await expect(page.locator("#transfer-dialog")).to_be_visible()
    found["transfer dialog"] = await violations(page, axe)
    await page.keyboard.press("Escape")
    await page.keyboard.press("?")
    await expect(page.locator("#help-dialog")).to_be_visible()
    found["help"] = await violations(page, axe)
    await page.keyboard.press("Escape")
    await rig.pbx.hangup(call.phone)
    await expect(page.locator("#call-stage")).to_have_text("Wrap-up", timeout=10_000)
    found["wrap-up"] = await violations(page, axe)
    assert {} == {k: v for k, v in found.items() if v}
