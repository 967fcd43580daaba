"""Take the README's screenshots from a running demo (headless chromium).

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from contact_center.config import load_settings
from contact_center.demo import demo_running

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


async def sign_in(browser, base, login, password, path):  # type: ignore[no-untyped-def]
    page = await (await browser.new_context(viewport={"width": 1280, "height": 860})).new_page()
    await page.goto(base + path)
    await page.fill('input[name="login"]', login)
    await page.fill('input[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_url(f"**{path}*")
    return page


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = load_settings(environ={"CC_GENERAL_DATA_DIR": tmp, "CC_WEB_PORT": "0"})
        async with demo_running(base, robot=True) as demo, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            url, creds = demo.base_url, demo.creds
            anna = await sign_in(browser, url, "anna", creds["anna"], "/console")
            sue = await sign_in(browser, url, "sue", creds["sue"], "/wallboard")
            await anna.click("#set-available")
            await asyncio.sleep(1)
            for n in demo.numbers[1:4]:
                await demo.pbx.place_call("4951110004", n, "Maria Sidorova", talk=30)
                await asyncio.sleep(1.5)
            await demo.pbx.place_call("4951110001", demo.numbers[0], "Ivan Petrov", dtmf="2",
                                      dtmf_delay=1)
            await anna.wait_for_selector("#call-control[data-call-id]", timeout=30_000)
            await asyncio.sleep(2)
            OUT.mkdir(parents=True, exist_ok=True)
            await anna.screenshot(path=str(OUT / "console.png"), full_page=True)
            await asyncio.sleep(2)
            await sue.screenshot(path=str(OUT / "wallboard.png"), full_page=True)
            await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
