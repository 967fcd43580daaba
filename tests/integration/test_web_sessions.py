"""Sessions end when they should (issue 21, item 6): on a password change, on disabling the
user, and when an admin signs a user out everywhere; the user's websockets close too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from contact_center.bus import MemoryBus
from contact_center.web.cli import set_active, set_password
from contact_center.web.keys import HUB_KEY
from contact_center.web.ws import CloseCode
from tests.conftest import wait_for
from tests.integration.web_support import (
    Browser,
    add_user,
    database,
    next_frame,
    sign_in,
    web_server,
)


@pytest.fixture
async def site(sqlite_url: str) -> AsyncIterator[tuple[TestServer, dict[str, int]]]:
    async with database(sqlite_url) as (_, sessions):
        ids = {
            "alice": await add_user(sessions, "alice", "operator", interface="PJSIP/1"),
            "bob": await add_user(sessions, "bob", "operator", interface="PJSIP/2"),
            "root": await add_user(sessions, "root", "admin"),
        }
        async with web_server(sessions, MemoryBus()) as server:
            yield server, ids


async def signed_in(browser: Browser) -> bool:
    async with browser.http.get(browser.url("/console"), allow_redirects=False) as resp:
        return resp.status == 200


async def socket_of(
    server: TestServer, browser: Browser, login: str
) -> aiohttp.ClientWebSocketResponse:
    ws = await browser.ws()
    await wait_for(lambda: any(c.login == login for c in server.app[HUB_KEY].connections()))
    return ws


async def closed_as_signed_out(ws: aiohttp.ClientWebSocketResponse) -> bool:
    msg = await next_frame(ws)
    return (aiohttp.WSMsgType.CLOSE, CloseCode.SIGNED_OUT) == (msg.type, msg.data)


@pytest.mark.parametrize("change", ["password", "disable"])
async def test_a_password_change_or_disabling_ends_every_session(
    site: tuple[TestServer, dict[str, int]], sqlite_url: str, change: str
) -> None:
    server, _ = site
    alice, bob = await sign_in(server, "alice"), await sign_in(server, "bob")
    try:
        ws = await socket_of(server, alice, "alice")
        if change == "password":
            ended = await set_password(sqlite_url, "alice", "a-new-password")
        else:
            ended = await set_active(sqlite_url, "alice", False)
        assert 1 == len(ended)
        assert not await signed_in(alice)
        assert await signed_in(bob)  # nobody else is signed out
        # The socket is re-authorised with the next message the console sends.
        await ws.send_str("ping")
        assert await closed_as_signed_out(ws)
    finally:
        await alice.close()
        await bob.close()


async def test_an_admin_signs_a_user_out_everywhere(
    site: tuple[TestServer, dict[str, int]],
) -> None:
    server, ids = site
    alice, root = await sign_in(server, "alice"), await sign_in(server, "root")
    second_tab = await sign_in(server, "alice")  # another browser: another session
    try:
        sockets = [await socket_of(server, alice, "alice"), await second_tab.ws()]
        async with root.http.get(root.url("/admin")) as resp:
            assert f'action="/admin/users/{ids["alice"]}/signout"' in await resp.text()
        resp = await root.post(f"/admin/users/{ids['alice']}/signout", {})
        assert 303 == resp.status
        for ws in sockets:  # closed at once, without waiting for a message
            assert await closed_as_signed_out(ws)
        assert not await signed_in(alice)
        assert not await signed_in(second_tab)
        assert await signed_in(root)
        assert 404 == (await root.post("/admin/users/99999/signout", {})).status
        # an operator may not sign others out
        bob = await sign_in(server, "bob")
        assert 403 == (await bob.post(f"/admin/users/{ids['root']}/signout", {})).status
        await bob.close()
    finally:
        for browser in (alice, root, second_tab):
            await browser.close()


@pytest.mark.parametrize("how", ["expired", "user disabled in the database"])
async def test_a_socket_whose_session_no_longer_signs_in_is_closed(
    site: tuple[TestServer, dict[str, int]], sqlite_url: str, how: str
) -> None:
    """The socket's recheck (a message from the console, or the periodic one) closes it when
    the session has expired or its user was disabled without the session being revoked."""
    from datetime import timedelta

    from sqlalchemy import update

    from contact_center.store.db import create_engine, session_factory, utcnow
    from contact_center.store.models import User, WebSession

    server, ids = site
    alice = await sign_in(server, "alice")
    engine = create_engine(sqlite_url)
    try:
        ws = await socket_of(server, alice, "alice")
        await ws.send_str("ping")  # still signed in: answered, not closed
        msg = await next_frame(ws)
        assert aiohttp.WSMsgType.TEXT == msg.type
        async with session_factory(engine).begin() as db:
            if how == "expired":
                past = utcnow() - timedelta(minutes=1)
                await db.execute(update(WebSession).values(expires_at=past))
            else:
                await db.execute(update(User).where(User.id == ids["alice"]).values(active=False))
        await ws.send_str("ping")
        assert await closed_as_signed_out(ws)
    finally:
        await engine.dispose()
        await alice.close()
