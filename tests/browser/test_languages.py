"""In a real chromium: a user whose language is Russian sees the menu, the pages and the error
pages in Russian, switches to English in the header's picker and sees English at once; before
sign-in, a Russian browser (Accept-Language) gets the sign-in form in Russian."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import MemoryBus
from contact_center.callbacks import http as callbacks_http
from contact_center.callbacks import store
from contact_center.config import load_settings
from contact_center.exports import http as exports_http
from contact_center.recording import http as recording_http
from contact_center.store.db import utcnow
from contact_center.store.models import Queue, User
from tests.browser.conftest import sign_in_page
from tests.integration.web_support import PASSWORD, add_user, database, web_server

pytestmark = pytest.mark.browser

Site = tuple[str, async_sessionmaker[AsyncSession]]
DUE = datetime(2030, 1, 10, 7, 30, tzinfo=UTC)  # 10:30 in Moscow


@pytest.fixture
async def site(sqlite_url: str) -> AsyncIterator[Site]:
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "olga", "supervisor", language="ru", display_name="Ольга")
        await add_user(sessions, "ivan", "operator", "PJSIP/101", queues={"support": 0})
        async with sessions.begin() as db:
            db.add(Queue(name="support", supervisors={"logins": ["olga"]}))
            await store.create(
                db,
                key="1",
                number="+74951234567",
                queue="support",
                requested_by="ivan",
                now=utcnow(),
                due_at=DUE,
            )
        cfg = load_settings(environ={"CC_GENERAL_TIMEZONE": "Europe/Moscow"})
        plugins = [callbacks_http, recording_http, exports_http]
        server: TestServer
        async with web_server(sessions, MemoryBus(), plugins=plugins, cfg=cfg) as server:
            yield str(server.make_url("")).rstrip("/"), sessions


async def test_a_russian_user_sees_russian_and_switches_to_english(
    site: Site, chromium: Any
) -> None:
    base, sessions = site
    # the browser asks for English: the user's own language wins
    page = await sign_in_page(chromium, base, "olga", path="/callbacks", locale="en-US")
    await expect(page.locator("html")).to_have_attribute("lang", "ru")
    menu = page.locator("nav.menu")
    await expect(menu.locator('a[href="/callbacks"]')).to_have_text("Обратные звонки")
    await expect(menu.locator('a[href="/exports"]')).to_have_text("Выгрузки")
    await expect(menu.locator('a[href="/qa/recordings"]')).to_have_text("Записи")
    await expect(page.locator("#who .role")).to_have_text("Супервизор")
    await expect(page.locator("#signout")).to_have_text("Выйти")
    # a page in Russian, its date and time in Russian, in the call center's zone
    await expect(page.locator("h1")).to_have_text("Обратные звонки")
    await expect(page.locator("#callbacks thead th").first).to_have_text("Клиент")
    row = page.locator("#callbacks tr[data-callback]")
    await expect(row).to_contain_text("10 янв. 10:30")
    await expect(row.locator("td.status")).to_have_text("ждут")
    await expect(page.locator("#pending .label")).to_have_text("ждут")
    # the error pages: one that does not exist, one for other roles
    response = await page.goto(base + "/no-such-page")
    assert response is not None and 404 == response.status
    await expect(page.locator("#error-page h1")).to_have_text("Страница не найдена")
    await expect(page.locator("#error-page .detail")).to_have_text("Ошибка 404.")
    await expect(page.locator("#error-home")).to_have_text("На вашу начальную страницу")
    response = await page.goto(base + "/admin")
    assert response is not None and 403 == response.status
    await expect(page.locator("#error-page h1")).to_have_text("У вас нет доступа к этой странице")
    await expect(page.locator("#error-page .reason")).to_have_text(
        "Эта страница — для администраторов."
    )

    # English in the picker: the same page, at once in English, and it stays so
    await page.goto(base + "/callbacks")
    await expect(page.locator("#language")).to_have_value("ru")
    await page.select_option("#language", "en")
    await page.click("#language-save")
    await expect(page.locator("h1")).to_have_text("Callbacks")
    assert base + "/callbacks" == page.url
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(menu.locator('a[href="/callbacks"]')).to_have_text("Callbacks")
    await expect(page.locator("#who .role")).to_have_text("Supervisor")
    await expect(page.locator("#callbacks tr[data-callback]")).to_contain_text("10 Jan 10:30")
    await expect(page.locator("#language")).to_have_value("en")
    async with sessions() as db:
        assert "en" == await db.scalar(select(User.language).where(User.login == "olga"))
    await page.goto(base + "/qa/recordings")
    await expect(page.locator("h1")).to_have_text("Recordings")


async def test_a_russian_browser_signs_in_in_russian(site: Site, chromium: Any) -> None:
    base, _sessions = site
    context = await chromium.new_context(locale="ru-RU")  # Accept-Language: ru-RU
    page = await context.new_page()
    await page.goto(base + "/callbacks")  # sent to the sign-in form
    await expect(page.locator("html")).to_have_attribute("lang", "ru")
    await expect(page.locator("form.login h1")).to_have_text("Вход")
    await expect(page.locator("form.login label").first).to_contain_text("Логин")
    await expect(page.locator("form.login label").nth(1)).to_contain_text("Пароль")
    await expect(page.locator("form.login button")).to_have_text("Вход")
    await page.fill('input[name="login"]', "ivan")
    await page.fill('input[name="password"]', "not the password")
    await page.click("form.login button")
    await expect(page.locator("form.login .error")).to_have_text("Неверный логин или пароль.")
    # ivan chose no language: the browser's stays his after sign-in
    await page.fill('input[name="login"]', "ivan")
    await page.fill('input[name="password"]', PASSWORD)
    await page.click("form.login button")
    await page.wait_for_url(base + "/callbacks")
    await expect(page.locator("h1")).to_have_text("Мои обратные звонки")
    await expect(page.locator("#who .role")).to_have_text("Оператор")
    await expect(page.locator("#language")).to_have_value("ru")
