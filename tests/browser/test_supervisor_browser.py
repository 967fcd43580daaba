"""A supervisor in a real chromium, with the whole service beside the simulator: a forced pause
asks why (the dialog lists the pause reasons; cancelling sends nothing, no choice pauses
nobody), the operator's state then shows the reason on the wallboard, on the console and on the
operator's day, which also lists the call they took today."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from contact_center.sim.config import Operator
from tests.browser.conftest import signed_in_page
from tests.e2e.service_support import running_service

pytestmark = pytest.mark.browser

ANNA = "Local/101@agents"


async def test_force_pause_asks_the_reason_and_the_day_shows_it(
    tmp_path: Path, sqlite_url: str, chromium: Any
) -> None:
    async with running_service(
        tmp_path, sqlite_url, operators=(Operator(ANNA, "Anna", answer_after=0.5),)
    ) as rig:
        anna = await signed_in_page(chromium, rig.base, "anna")
        sue = await signed_in_page(chromium, rig.base, "sue")
        await sue.goto(rig.base + "/wallboard")
        board = sue.locator(f'tr[data-interface="{ANNA}"] .op-state')
        await anna.click("#set-available")
        await expect(board).to_have_text("Available")

        # a call today: Anna answers it, it ends
        call = await rig.pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
        await expect(board).to_have_text("On call", timeout=10_000)
        await rig.pbx.hangup(call.phone)
        await expect(board).to_have_text("Available", timeout=10_000)

        pause = sue.locator(f'tr[data-interface="{ANNA}"] button[data-action="pause"]')
        dialog = sue.locator("#pause-dialog")
        # the dialog asks why, with every pause reason; cancelling sends nothing
        await pause.click()
        await expect(dialog).to_be_visible()
        await expect(sue.locator("#pause-who")).to_have_text("Anna")
        await expect(dialog.locator("label.check")).to_have_text(
            ["Break", "Lunch", "Training", "Meeting", "After-call work", "Technical problem"]
        )
        await sue.click("#pause-cancel")
        await expect(dialog).to_be_hidden()
        await expect(sue.locator("#flash")).to_have_text("")
        # no reason chosen: the dialog stays, nobody is paused
        await pause.click()
        await sue.click("#pause-confirm")
        await expect(dialog).to_be_visible()
        await expect(board).to_have_text("Available")
        await sue.check('#pause-dialog input[name="reason"][value="lunch"]')
        await sue.click("#pause-confirm")
        await expect(dialog).to_be_hidden()
        await expect(sue.locator("#flash")).to_have_text("Pause sent for Anna (Lunch).")
        await expect(board).to_have_text("Paused (Lunch)", timeout=10_000)
        await expect(anna.locator("#state-label")).to_have_text("paused (lunch)")
        paused = {m.queue: (m.paused, m.paused_reason) for m in rig.pbx.members(ANNA)}
        assert {"support": (True, "lunch"), "sales": (True, "lunch")} == paused

        # the operator's day: the state with its reason, the call, the totals
        await sue.click(f'tr[data-interface="{ANNA}"] .op-name a')
        await sue.wait_for_url(rig.base + "/wallboard/operators/anna")
        await expect(sue.locator("#operator-state")).to_have_text("Paused (Lunch)")
        await expect(
            sue.locator(f'#operator-calls tr[data-call="{call.linkedid}"]')
        ).to_be_visible()
        await expect(sue.locator("#total-calls")).to_have_text("1")
        await expect(sue.locator("#day-strip rect.seg.paused title")).to_have_text("Paused (Lunch)")
        assert await sue.locator("#day-strip rect.seg.talk").count() >= 1
        # unpaused from there
        await sue.click('form[data-cc-form] button[type="submit"]')
        await expect(sue.locator("#flash")).to_have_text("Unpause sent.")
        await expect(anna.locator("#state-label")).to_have_text("available", timeout=10_000)
