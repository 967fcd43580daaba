"""An attended transfer steered in a real browser (issue 19), against the whole service and
the Asterisk simulator over TCP: Anna consults Boris with the caller on hold, swaps to the
caller and back, cancels (Boris's card closes), then transfers again and completes (her card
goes to wrap-up, Boris has the call)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from contact_center.sim.config import Operator
from tests.browser.conftest import signed_in_page
from tests.conftest import wait_for
from tests.e2e.service_support import PASSWORD, Rig, running_service

pytestmark = pytest.mark.browser

ANNA, BORIS = "Local/101@agents", "Local/102@agents"
OPERATORS = (Operator(ANNA, "Anna", manual=True), Operator(BORIS, "Boris", manual=True))
WAIT = 10_000


@pytest.fixture
async def rig(tmp_path: Path, sqlite_url: str) -> AsyncIterator[tuple[Rig, list[Any]]]:
    async with running_service(tmp_path, sqlite_url, operators=OPERATORS) as base_rig:
        told: list[Any] = []  # everything the simulated Asterisk emitted
        unsubscribe = base_rig.pbx.subscribe(told.append)
        try:
            yield base_rig, told
        finally:
            unsubscribe()


def names(told: list[Any], event: str) -> list[dict[str, str]]:
    return [dict(e.headers) for e in told if e.name == event]


async def consult_boris(page: Any, boris: Any, rig: Rig) -> None:
    """Anna starts an attended transfer to Boris from her console; Boris answers."""
    await page.fill("#transfer-target", "102")
    await page.click("#attended-transfer")
    await expect(page.locator("#command-result")).to_have_text(
        "Done: attended transfer.", timeout=WAIT
    )
    await expect(page.locator("#consultation-state")).to_have_text(
        "Calling Boris — caller on hold", timeout=WAIT
    )
    await expect(boris.locator("article.pop-card .stage-offered")).to_be_visible(timeout=WAIT)
    await rig.pbx.answer(BORIS)
    await expect(page.locator("#consultation-state")).to_have_text(
        "Consulting Boris — caller on hold", timeout=WAIT
    )


async def test_consult_swap_cancel_then_complete_from_the_console(
    rig: tuple[Rig, list[Any]], chromium: Any
) -> None:
    service, told = rig
    anna = await signed_in_page(chromium, service.base, "anna", PASSWORD)
    boris = await signed_in_page(chromium, service.base, "boris", PASSWORD)
    await anna.click("#set-available")
    await expect(anna.locator("#command-result")).to_have_text("Done: available.", timeout=WAIT)
    call = await service.pbx.place_call(
        "4951110001", "+74951234567", "Ivan Petrov", dtmf="2", dtmf_delay=0.3
    )
    await anna.locator(f'#call-control[data-call-id="{call.linkedid}"]').wait_for(timeout=15_000)
    await service.pbx.answer(ANNA)
    await anna.locator('#call-control[data-stage="answered"]').wait_for(timeout=WAIT)
    assert await anna.locator("#consultation").is_hidden()  # no consultation: no buttons

    await consult_boris(anna, boris, service)
    for button in ("#transfer-complete", "#transfer-swap", "#transfer-cancel"):
        await expect(anna.locator(button)).to_be_visible()
    await expect(anna.locator("#transfer-swap")).to_have_text("Talk to the caller")

    # swap: Anna talks to the caller, Boris waits; and back
    await anna.click("#transfer-swap")
    await expect(anna.locator("#consultation-state")).to_have_text(
        "Talking to the caller — Boris on hold", timeout=WAIT
    )
    await expect(anna.locator("#transfer-swap")).to_have_text("Talk to Boris")
    await anna.click("#transfer-swap")
    await expect(anna.locator("#consultation-state")).to_have_text(
        "Consulting Boris — caller on hold", timeout=WAIT
    )

    # cancel: Boris is hung up, his card closes, Anna is back with the caller
    await anna.click("#transfer-cancel")
    await expect(anna.locator("#consultation-state")).to_have_text(
        "Transfer to Boris cancelled — you are back with the caller", timeout=WAIT
    )
    await expect(anna.locator("#transfer-complete")).to_be_hidden()
    await expect(boris.locator("article.pop-card")).to_have_count(0, timeout=WAIT)
    assert [] == names(told, "AttendedTransfer")
    await expect(anna.locator('#call-control[data-stage="answered"]')).to_be_visible()

    # again, and complete: the caller is Boris's, Anna's card waits for her wrap-up
    await consult_boris(anna, boris, service)
    await anna.click("#transfer-complete")
    await expect(anna.locator("#consultation-state")).to_have_text(
        "Transferred to Boris", timeout=WAIT
    )
    await wait_for(lambda: len(names(told, "AttendedTransfer")) == 1, 10)
    await expect(anna.locator('#call-control[data-stage="ended"]')).to_be_visible(timeout=WAIT)
    await expect(anna.locator("article.pop-card form.wrapup")).to_be_visible()
    await expect(boris.locator("article.pop-card .stage-answered")).to_be_visible(timeout=WAIT)
    await service.pbx.hangup(call.phone)
