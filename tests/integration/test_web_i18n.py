"""Pages speak the browser's language before sign-in and the user's after (English, Russian)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from contact_center.bus import MemoryBus
from tests.integration.web_support import add_user, database, sign_in, web_server


@pytest.fixture
async def server(sqlite_url: str) -> AsyncIterator[TestServer]:
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "boris", "admin")
        async with web_server(sessions, MemoryBus()) as srv:
            yield srv


async def test_a_russian_browser_gets_russian_pages(server: TestServer) -> None:
    browser = await sign_in(server, "boris")
    try:
        for header, lang, signout in [
            ("ru-RU,ru;q=0.9,en;q=0.8", "ru", ">Выйти</button>"),
            ("en-US,en;q=0.9", "en", ">Sign out</button>"),
            ("de-DE", "en", ">Sign out</button>"),
        ]:
            async with browser.http.get(
                browser.url("/admin"), headers={"Accept-Language": header, "Accept": "text/html"}
            ) as resp:
                page = await resp.text()
                assert 200 == resp.status, page
                assert lang == resp.headers["Content-Language"]
                assert f'<html lang="{lang}">' in page
                assert signout in page
    finally:
        await browser.close()


async def test_the_sign_in_page_follows_accept_language(server: TestServer) -> None:
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/login", headers={"Accept-Language": "ru"}) as resp:
            assert "ru" == resp.headers["Content-Language"]
            assert '<html lang="ru">' in await resp.text()


async def test_the_users_language_wins_and_the_picker_saves_it(sqlite_url: str) -> None:
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "olga", "admin", language="ru")
        async with web_server(sessions, MemoryBus()) as server:
            olga = await sign_in(server, "olga")
            try:
                english_browser = {"Accept-Language": "en-US,en", "Accept": "text/html"}

                async def page(path: str) -> tuple[int, str, str]:
                    async with olga.http.get(olga.url(path), headers=english_browser) as resp:
                        return resp.status, resp.headers["Content-Language"], await resp.text()

                # her language, whatever the browser says; the picker shows it chosen
                status, lang, html = await page("/admin")
                assert (200, "ru") == (status, lang)
                assert ">Выйти</button>" in html and ">Администрирование</a>" in html
                assert '<option value="ru" lang="ru" selected>Русский</option>' in html
                # the error page too
                status, lang, html = await page("/no-such-page")
                assert (404, "ru") == (status, lang)
                assert "<h1>Страница не найдена</h1>" in html and "Ошибка 404." in html

                # the picker: saved, and back to the page she was on, now in English
                resp = await olga.post("/language", {"language": "en", "next": "/admin?x=1"})
                assert (303, "/admin?x=1") == (resp.status, resp.headers["Location"])
                status, lang, html = await page("/admin")
                assert "en" == lang and ">Sign out</button>" in html
                # an offered language only; a page elsewhere is never the way back
                resp = await olga.post("/language", {"language": "de"})
                assert 400 == resp.status
                assert "Unknown language 'de'." == await resp.text()
                resp = await olga.post("/language", {"language": "ru", "next": "//evil.example"})
                assert (303, "/") == (resp.status, resp.headers["Location"])
                # without the session's CSRF token nothing changes
                resp = await olga.post("/language", {"language": "en"}, csrf=False)
                assert 403 == resp.status
                assert "ru" == (await page("/admin"))[1]
            finally:
                await olga.close()
