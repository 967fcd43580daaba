"""Walk the demo as a call center would, in a real chromium, against exactly what `make demo`
runs (simulator + seeded data + the whole service): an operator gets a pop and answers, the
supervisor's wallboard changes, QA plays the recording, and the call's charge shows in its
history."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from contact_center.config import load_settings
from contact_center.demo import demo_running
from tests.browser.conftest import sign_in_page
from tests.conftest import wait_for

pytestmark = pytest.mark.browser
DONE_ROW = '#qa-results tr[data-recording]:has(td:text-is("done"))'


async def sign_in(browser: Any, base: str, login: str, password: str, path: str) -> Any:
    page = await sign_in_page(browser, base, login, password, path=path)
    await page.wait_for_url(f"**{path}*")
    return page


def tile(page: Any, queue: str, metric: str) -> Any:
    return page.locator(f'[data-queue="{queue}"] [data-metric="{metric}"] .value')


async def test_walk_the_demo(tmp_path: Path, chromium: Any) -> None:

    base = load_settings(
        environ={"CC_GENERAL_DATA_DIR": str(tmp_path / "demo"), "CC_WEB_PORT": "0"}
    )
    base = replace(base, recording=replace(base.recording, workers=1))
    async with demo_running(base, robot=False, time_scale=0.2) as demo:
        browser = chromium  # the session's chromium plays audio without a click
        try:
            url, creds = demo.base_url, demo.creds
            anna = await sign_in(browser, url, "anna", creds["anna"], "/console")
            sue = await sign_in(browser, url, "sue", creds["sue"], "/wallboard")
            await anna.wait_for_selector('#link[data-status="open"]')
            await anna.click("#set-available")
            await expect(anna.locator("#command-result")).to_contain_text("Done", timeout=10_000)
            answered = tile(sue, "support", "answered")
            await answered.wait_for(timeout=10_000)
            # the demo's history already has calls answered today: count from where it stands
            before = int(await answered.inner_text())

            number = demo.numbers[0]
            # from the provider to the demo's front desk (straight to support)
            call = await demo.pbx.place_call("4951110004", number, "Ivan Petrov")
            pop = anna.locator(f'#call-control[data-call-id="{call.linkedid}"]')
            await pop.wait_for(timeout=15_000)
            await expect(anna.locator("#pops")).to_contain_text(number[-4:])
            await anna.click("#demo-answer")
            await anna.locator(
                f'#call-control[data-call-id="{call.linkedid}"][data-stage="answered"]'
            ).wait_for(timeout=10_000)
            await expect(answered).to_have_text(str(before + 1), timeout=10_000)
            await asyncio.sleep(1.0)  # the conversation itself: a second of recorded audio
            await demo.pbx.hangup_caller(call)

            quinn = await sign_in(browser, url, "quinn", creds["quinn"], "/qa/recordings")

            async def recording_listed() -> bool:
                await quinn.goto(url + "/qa/recordings")
                # processed (converted, waveform measured) and so playable
                return await quinn.locator(DONE_ROW).count() > 0

            await wait_for(recording_listed, timeout=20)
            await quinn.locator(f"{DONE_ROW} a").first.click()
            await quinn.wait_for_selector("#audio")

            async def audio_ready() -> bool:
                state = await quinn.evaluate("document.getElementById('audio').readyState")
                return int(state) >= 1

            await wait_for(audio_ready, timeout=10)
            await quinn.evaluate("document.getElementById('audio').play()")

            async def playing() -> bool:
                t = await quinn.evaluate("document.getElementById('audio').currentTime")
                return float(t) > 0.1

            await wait_for(playing, timeout=10)

            async def charged() -> bool:
                await sue.goto(f"{url}/calls/{demo.settings.general.server_id}/{call.linkedid}")
                text = await sue.locator("#charge").inner_text()
                return text.strip() != "none"

            await wait_for(charged, timeout=20)
            charge = await sue.locator("#charge").inner_text()
            # the demo's inbound plan (tariffs/inbound.yaml) priced the answered call
            assert re.fullmatch(r"\d+(\.\d+)? [A-Z]{3} \(inbound, \d+ s billed\)", charge), charge
        finally:
            await browser.close()
