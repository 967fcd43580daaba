"""The administration pages' forms over real HTTP: what each saves, the page again with the
reason (400) when the input is refused, and 404 for what does not exist."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import pytest

from contact_center.bus import MemoryBus
from tests.integration.web_support import Browser, add_user, database, sign_in, web_server


@pytest.fixture
async def root(sqlite_url: str) -> AsyncIterator[tuple[Browser, int]]:
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "root", "admin")
        alice = await add_user(sessions, "alice", "operator", interface="PJSIP/1")
        async with web_server(sessions, MemoryBus()) as server:
            browser = await sign_in(server, "root")
            try:
                yield browser, alice
            finally:
                await browser.close()


async def answer(browser: Browser, path: str, form: dict[str, str]) -> tuple[int, str]:
    """The status, and where it redirects to (303) or the page's text."""
    async with await browser.post(path, form) as resp:
        if resp.status == 303:
            return resp.status, resp.headers["Location"]
        return resp.status, html.unescape(await resp.text())


async def test_admin_forms_save_refuse_with_the_reason_and_404(
    root: tuple[Browser, int],
) -> None:
    browser, alice = root
    # users: created, refused (a skill level out of range), edited, refused again
    form = {"login": "bob", "role": "operator", "password": "a-long-password-1"}
    status, where = await answer(browser, "/admin/users/new", {**form, "skills": "en:3"})
    assert (status, where.split("?")[0]) == (303, "/admin")
    status, page = await answer(
        browser, "/admin/users/new", {**form, "login": "carl", "skills": "en:9"}
    )
    assert status == 400 and "en:9" in page and 'value="carl"' in page
    status, page = await answer(browser, "/admin/users/new", form)  # bob exists already
    assert status == 400 and 'id="form-error"' in page
    status, where = await answer(browser, f"/admin/users/{alice}", {"display_name": "Alice B"})
    assert status == 303 and "Alice B" not in where
    status, page = await answer(browser, f"/admin/users/{alice}", {"queues": "support:500"})
    assert status == 400 and "support:500" in page
    assert (await answer(browser, "/admin/users/99999", {"display_name": "x"}))[0] == 404
    async with browser.http.get(browser.url("/admin/users/99999")) as resp:
        assert resp.status == 404
    # queues: saved, refused with the queue's name before the reason
    status, _ = await answer(browser, "/admin/queues/support", {"wrapup_seconds": "30"})
    assert status == 303
    status, page = await answer(browser, "/admin/queues/support", {"wrapup_seconds": "-1"})
    assert status == 400 and "support: " in page
    # lists: added, refused twice (empty, again), removed, 404
    status, _ = await answer(browser, "/admin/lists/pause_reason", {"name": "coaching"})
    assert status == 303
    status, page = await answer(browser, "/admin/lists/pause_reason", {"name": "coaching"})
    assert status == 400 and 'id="form-error"' in page
    status, page = await answer(browser, "/admin/lists/pause_reason", {"name": ""})
    assert status == 400 and 'id="form-error"' in page
    assert (await answer(browser, "/admin/lists/pause_reason/99999/remove", {}))[0] == 404
    # tokens: made (shown once), refused, 404 on revoking what does not exist
    status, page = await answer(browser, "/admin/tokens", {"name": "ci", "scopes": "admin"})
    assert status == 201 and "ci" in page
    status, page = await answer(browser, "/admin/tokens", {"name": "", "scopes": "nope"})
    assert status == 400 and 'id="form-error"' in page
    assert (await answer(browser, "/admin/tokens/99999/revoke", {}))[0] == 404
