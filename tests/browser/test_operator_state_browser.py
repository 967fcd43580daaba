"""What an operator and a supervisor see of the operator's state, in real browsers, with the
whole service beside the simulator: the console and the wallboard say the same thing, live —
a supervisor's force pause with the reason chosen on the wallboard (also after a reload), the
wrap-up after a call with its timer, and its early end."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import update

from contact_center.sim.config import Operator
from contact_center.store.models import Queue
from tests.browser.conftest import signed_in_page
from tests.conftest import wait_for
from tests.e2e.service_support import running_service

pytestmark = pytest.mark.browser

ANNA = "Local/101@agents"


async def test_console_and_wallboard_show_the_same_state_live(
    tmp_path: Path, sqlite_url: str, chromium: Any
) -> None:
    async with running_service(
        tmp_path, sqlite_url, operators=(Operator(ANNA, "Anna", answer_after=0.5),)
    ) as rig:
        core = rig.service.core
        assert core is not None
        async with core.sessions.begin() as db:
            await db.execute(update(Queue).values(wrapup_seconds=60))
        anna = await signed_in_page(chromium, rig.base, "anna")
        sue = await signed_in_page(chromium, rig.base, "sue")
        await sue.goto(rig.base + "/wallboard")
        board = sue.locator(f'tr[data-interface="{ANNA}"] .op-state')
        label = anna.locator("#state-label")

        await anna.click("#set-available")
        await expect(label).to_have_text("available")
        await expect(board).to_have_text("Available")

        # the wallboard asks why (a dialog of the pause reasons) before it pauses anyone
        await sue.click(f'tr[data-interface="{ANNA}"] button[data-action="pause"]')
        await sue.check('#pause-dialog input[name="reason"][value="training"]')
        await sue.click("#pause-confirm")
        await expect(label).to_have_text("paused (training)")
        await expect(board).to_have_text("Paused (Training)")
        await anna.reload()
        await expect(anna.locator("#state-label")).to_have_text("paused (training)")

        await anna.click("#set-available")
        await expect(label).to_have_text("available")
        call = await rig.pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
        await expect(board).to_have_text("On call", timeout=10_000)
        await rig.pbx.hangup(call.phone)
        await expect(label).to_have_text("wrapup", timeout=10_000)
        await expect(board).to_have_text("Wrap-up")
        since = sue.locator(f'tr[data-interface="{ANNA}"] .op-since')
        await expect(since).to_have_text(re.compile(r"^\d:\d\d left$"))
        await expect(anna.locator("#state-timer")).to_have_text(re.compile(r"^\d+ s left$"))
        paused = {m.queue: (m.paused, m.paused_reason) for m in rig.pbx.members(ANNA)}
        assert {"support": (True, "wrapup"), "sales": (True, "wrapup")} == paused

        await anna.click("#end-wrapup")
        await expect(label).to_have_text("available")
        await expect(board).to_have_text("Available")
        await expect(anna.locator("#end-wrapup-form")).to_be_hidden()

        def unpaused() -> bool:
            return {(False, "")} == {(m.paused, m.paused_reason) for m in rig.pbx.members(ANNA)}

        await wait_for(unpaused, 5)
