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
