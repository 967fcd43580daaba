"""Asterisk's autopause as people see it, in real browsers: the simulator runs the queues.conf
we ship (``autopause = all``); Anna lets a queue call ring out, Asterisk pauses her with
reason Auto-Pause, and her console and the supervisor's wallboard say she is paused with
"No answer — auto-pause" — until she clicks Available."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from contact_center.sim.config import Operator
from tests.browser.conftest import signed_in_page
from tests.e2e.service_support import DID, running_service

pytestmark = pytest.mark.browser

ANNA = "PJSIP/101"


async def test_console_and_wallboard_show_asterisks_autopause(
    tmp_path: Path, sqlite_url: str, chromium: Any
) -> None:
    async with running_service(
        tmp_path,
        sqlite_url,
        operators=(Operator(ANNA, "Anna", answer_after=None),),  # away from her desk
        dialplan="shipped",
    ) as rig:
        anna = await signed_in_page(chromium, rig.base, "anna")
        sue = await signed_in_page(chromium, rig.base, "sue")
        await sue.goto(rig.base + "/wallboard")
        label = anna.locator("#state-label")
        board = sue.locator(f'tr[data-interface="{ANNA}"] .op-state')

        await anna.click("#set-available")
        await expect(label).to_have_text("available", timeout=10_000)
        call = await rig.pbx.place_call(DID, "+74951234567", "Ivan Petrov", dtmf="2")
        await expect(label).to_have_text("paused (No answer — auto-pause)", timeout=15_000)
        await expect(board).to_have_text("Paused (No answer — auto-pause)", timeout=10_000)
        await rig.pbx.hangup_caller(call)

        await anna.click("#set-available")
        await expect(label).to_have_text("available", timeout=10_000)
        await expect(board).to_have_text("Available", timeout=10_000)
        paused = {m.queue: (m.paused, m.paused_reason) for m in rig.pbx.members(ANNA)}
        assert {"support": (False, ""), "sales": (False, "")} == paused
