"""Screenshots of every page each role reaches, from a running demo (headless chromium),
into docs/img/ (the README links them):

    .venv/bin/python scripts/screenshots.py                  # English, into docs/img/
    .venv/bin/python scripts/screenshots.py --lang ru        # Russian, into docs/img/ru/
    .venv/bin/python scripts/screenshots.py --lang en --lang ru

Per language: the sign-in form (as a browser asking for that language sees it), then each
role signs in, picks the language in the header's picker (as a person would; it is saved as
theirs) and every entry of its menu is captured as ``<role>-<page>.png``; the operator's
console is also captured with a call ringing and answered.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from contact_center.config import load_settings
from contact_center.demo import demo_running
from contact_center.i18n import DEFAULT_LOCALE, LOCALES

IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip
ROLES = {"anna": "operator", "sue": "supervisor", "quinn": "qa", "admin": "admin"}
VIEWPORT = {"width": 1280, "height": 860}
BROWSER_LOCALE = {"en": "en-US", "ru": "ru-RU"}


def out_dir(lang: str) -> Path:
    """docs/img/ for the source language, docs/img/<lang>/ for the others."""
    return IMG if lang == DEFAULT_LOCALE else IMG / lang


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


async def sign_in(browser: Any, base: str, login: str, password: str, lang: str) -> Any:
    """Signed in through the form, then the language chosen in the header's picker."""
    context = await browser.new_context(viewport=VIEWPORT, locale=BROWSER_LOCALE.get(lang, lang))
    page = await context.new_page()
    await page.goto(base + "/login")
    await page.fill('input[name="login"]', login)
    await page.fill('input[name="password"]', password)
    async with page.expect_navigation():
        await page.click('form.login button[type="submit"]')
    if await page.locator("#language").input_value() != lang:
        await page.select_option("#language", lang)
        async with page.expect_navigation():
            await page.click("#language-save")
    return page


async def shoot(page: Any, folder: Path, name: str, taken: list[str]) -> None:
    await page.screenshot(path=str(folder / name), full_page=True)
    taken.append(str((folder / name).relative_to(IMG.parent)))
    print(f"  {taken[-1]}", file=sys.stderr)


async def shoot_language(demo: Any, browser: Any, lang: str, taken: list[str]) -> None:
    folder = out_dir(lang)
    folder.mkdir(parents=True, exist_ok=True)
    url, creds = demo.base_url, demo.creds
    anonymous = await browser.new_context(viewport=VIEWPORT, locale=BROWSER_LOCALE.get(lang, lang))
    login_page = await anonymous.new_page()
    await login_page.goto(url + "/login")
    await shoot(login_page, folder, "login.png", taken)
    await anonymous.close()

    anna = await sign_in(browser, url, "anna", creds["anna"], lang)
    await anna.goto(url + "/console")
    await anna.click("#set-available")
    await asyncio.sleep(1)
    for n in demo.numbers[1:4]:
        await demo.pbx.place_call("4951110004", n, "Maria Sidorova", talk=30)
        await asyncio.sleep(1.5)
    await demo.pbx.place_call("4951110001", demo.numbers[0], "Ivan Petrov", dtmf="2",
                              dtmf_delay=1)  # fmt: skip
    await anna.wait_for_selector("#call-control[data-call-id]", timeout=30_000)
    await asyncio.sleep(2)
    await shoot(anna, folder, "console.png", taken)
    seen: set[str] = set()
    for login, role in ROLES.items():
        page = anna if login == "anna" else await sign_in(browser, url, login, creds[login], lang)
        links = page.locator("nav.menu a")
        paths = [await links.nth(i).get_attribute("href") or ""
                 for i in range(await links.count())]  # fmt: skip
        if role == "admin":  # admins reach every page: only theirs alone
            paths = [p for p in paths if p not in seen]
        seen.update(paths)
        for path in paths:
            await page.goto(url + path)
            await page.wait_for_load_state("load")
            await asyncio.sleep(1)  # live pages fill in over their sockets
            await shoot(page, folder, f"{role}-{slug(path)}.png", taken)
        await page.context.close()
    wallboard = folder / "supervisor-wallboard.png"
    if wallboard.exists():
        (folder / "wallboard.png").write_bytes(wallboard.read_bytes())


async def main(langs: list[str]) -> None:
    taken: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = load_settings(environ={"CC_GENERAL_DATA_DIR": tmp, "CC_WEB_PORT": "0"})
        async with demo_running(base, robot=True) as demo, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            try:
                for lang in langs:
                    await shoot_language(demo, browser, lang, taken)
            finally:
                await browser.close()
    print(f"{len(taken)} screenshots under {IMG}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Screenshots of every page by role and language, from a running demo."
    )
    parser.add_argument(
        "--lang",
        action="append",
        choices=LOCALES,
        help=f"language of the pages (repeat for several; default {DEFAULT_LOCALE})",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main(list(dict.fromkeys(args.lang or [DEFAULT_LOCALE]))))
