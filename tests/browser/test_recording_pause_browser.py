"""The card-payment button in a real browser: the console pauses the call's recording (AMI
MixMonitorMute reaches the simulator) until the operator marks the payment done."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import signed_in_page
from tests.browser.test_console_call_control import answered_pop, demo_rig, events, result
from tests.conftest import wait_for
from tests.e2e.service_support import PASSWORD, Rig

pytestmark = pytest.mark.browser
__all__ = ["demo_rig"]  # the fixture, shared with the call-control browser test


async def test_card_payment_pauses_the_recording_until_marked_done(
    demo_rig: tuple[Rig, list[Any]], chromium: Any
) -> None:
    rig, told = demo_rig
    page = await signed_in_page(chromium, rig.base, "anna", PASSWORD)
    await page.click("#set-available")
    await result(page, "Done: available.")
    call = await rig.pbx.place_call(
        "4951110001", "+74951234567", "Ivan Petrov", dtmf="2", dtmf_delay=0.3
    )
    await answered_pop(page, call)

    def mutes() -> list[str]:
        return [
            e["State"] for e in events(told, "MixMonitorMute") if e["Linkedid"] == call.linkedid
        ]

    await expect(page.locator("#card-payment-done")).to_be_hidden()
    await page.click("#card-payment")
    await expect(page.locator("#recording-state")).to_have_text(
        "Recording paused for card payment", timeout=10_000
    )
    await expect(page.locator("#card-payment")).to_be_hidden()
    await wait_for(lambda: ["1"] == mutes(), timeout=10)

    await page.click("#card-payment-done")
    await expect(page.locator("#recording-state")).to_have_text("Recording on", timeout=10_000)
    await expect(page.locator("#card-payment")).to_be_visible()
    await wait_for(lambda: ["1", "0"] == mutes(), timeout=10)
    await rig.pbx.hangup(call.phone)
