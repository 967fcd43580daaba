"""Screenshots of every page each role reaches, from a running demo (headless chromium),
into docs/img/ (the README links them):

    .venv/bin/python scripts/screenshots.py

Each role signs in, every entry of its menu is captured as ``<role>-<page>.png``; the
operator's console is also captured with a call ringing and answered.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from contact_center.config import load_settings
from contact_center.demo import demo_running

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ROLES = {"anna": "operator", "sue": "supervisor", "quinn": "qa", "admin": "admin"}


async def sign_in(browser, base, login, password):  # type: ignore[no-untyped-def]
    page = await (await browser.new_context(viewport={"width": 1280, "height": 860})).new_page()
    await page.goto(base + "/login")
    await page.fill('input[name="login"]', login)
    await page.fill('input[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_load_state("load")
    return page


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    taken: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = load_settings(environ={"CC_GENERAL_DATA_DIR": tmp, "CC_WEB_PORT": "0"})
        async with demo_running(base, robot=True) as demo, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            url, creds = demo.base_url, demo.creds
            anna = await sign_in(browser, url, "anna", creds["anna"])
            await anna.click("#set-available")
            await asyncio.sleep(1)
            for n in demo.numbers[1:4]:
                await demo.pbx.place_call("4951110004", n, "Maria Sidorova", talk=30)
                await asyncio.sleep(1.5)
            await demo.pbx.place_call("4951110001", demo.numbers[0], "Ivan Petrov", dtmf="2",
                                      dtmf_delay=1)
            await anna.wait_for_selector("#call-control[data-call-id]", timeout=30_000)
            await asyncio.sleep(2)
            await anna.screenshot(path=str(OUT / "console.png"), full_page=True)
            taken.append("console.png")
            seen: set[str] = set()
            for login, role in ROLES.items():
                page = anna if login == "anna" else await sign_in(browser, url, login, creds[login])
                links = page.locator("nav.menu a")
                paths = [await links.nth(i).get_attribute("href") or ""
                         for i in range(await links.count())]
                if role == "admin":  # admins reach every page: only theirs alone
                    paths = [p for p in paths if p not in seen]
                seen.update(paths)
                for path in paths:
                    await page.goto(url + path)
                    await page.wait_for_load_state("load")
                    await asyncio.sleep(1)  # live pages fill in over their sockets
                    name = f"{role}-{slug(path)}.png"
                    await page.screenshot(path=str(OUT / name), full_page=True)
                    taken.append(name)
                    print(f"  {name}", file=sys.stderr)
            wallboard = OUT / "supervisor-wallboard.png"
            if wallboard.exists():
                (OUT / "wallboard.png").write_bytes(wallboard.read_bytes())
            await browser.close()
    print(f"{len(taken)} screenshots in {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
