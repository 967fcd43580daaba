"""Helpers for the web, websocket and screen-pop tests: a real server on a real port.

The one home of the helpers every suite shares (the recording, history and e2e helpers import
them from here): a database with the schema (:func:`database`, :func:`sessions_for`), a user
who can sign in (:func:`add_user`), and an HTTP client signed in through the real form
(:func:`sign_in`, :func:`sign_in_at`). The browser tests' playwright helpers are in
``tests/browser/conftest.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contact_center.bus.base import Bus
from contact_center.config import Settings, load_settings
from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.models import Base, User
from contact_center.web.app import Deps, create_app

PASSWORD = "correct horse battery"
# argon2 is slow on purpose; test users get a cheap hash (verify reads the cost from the
# hash), so sign-ins stay fast on a busy machine. Real users get the library defaults.
_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)

# For checks that do not depend on the database engine: run them on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@asynccontextmanager
async def database(url: str) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """The models' schema created at ``url``; yields (engine, sessions), disposed after."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield engine, session_factory(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def sessions_for(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """:func:`database` for tests that need only the sessions."""
    async with database(url) as (_engine, sessions):
        yield sessions


async def add_user(
    sessions: async_sessionmaker[AsyncSession],
    login: str,
    role: str = "operator",
    interface: str = "",
    *,
    queues: dict[str, int] | None = None,
    language: str = "",
    display_name: str | None = None,
) -> int:
    """An active user who signs in with :data:`PASSWORD`; returns its id."""
    async with sessions.begin() as db:
        user = User(
            login=login,
            display_name=login.title() if display_name is None else display_name,
            password_hash=_HASH,
            role=role,
            interface=interface,
            queues=queues or {},
            skills={},
            active=True,
            created_at=utcnow(),
            language=language,
        )
        db.add(user)
        await db.flush()
        return user.id


def settings(**web_fields: Any) -> Settings:
    return load_settings(environ={}, overrides={"web": web_fields} if web_fields else None)


@asynccontextmanager
async def web_server(
    sessions: async_sessionmaker[AsyncSession],
    bus: Bus,
    *,
    plugins: Sequence[ModuleType] = (),
    cfg: Settings | None = None,
    extras: dict[web.AppKey[Any], Any] | None = None,
) -> AsyncIterator[TestServer]:
    app = create_app(Deps(cfg or settings(), sessions, bus), plugins, extras=extras)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@dataclass
class Browser:
    """A cookie-keeping HTTP client signed in as one user."""

    http: aiohttp.ClientSession
    base: str
    csrf: str = ""

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def origin(self) -> str:
        return self.base

    async def post(
        self, path: str, data: dict[str, str], *, csrf: bool = True
    ) -> aiohttp.ClientResponse:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return await self.http.post(
            self.url(path), data=data, headers=headers, allow_redirects=False
        )

    async def ws(
        self, last_id: str | None = None, **kwargs: Any
    ) -> aiohttp.ClientWebSocketResponse:
        path = "/ws" + (f"?last_id={last_id}" if last_id else "")
        headers = {"Origin": self.origin}
        return await self.http.ws_connect(self.url(path), headers=headers, **kwargs)

    async def close(self) -> None:
        await self.http.close()


async def login_form_token(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(base + "/login") as resp:
        page = await resp.text()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


async def sign_in(server: TestServer, login: str, password: str = PASSWORD) -> Browser:
    """An HTTP client signed in to ``server`` through the real form (with its CSRF token)."""
    return await sign_in_at(str(server.make_url("")).rstrip("/"), login, password)


async def sign_in_at(base: str, login: str, password: str = PASSWORD) -> Browser:
    """:func:`sign_in` to a service at the URL ``base`` (e.g. a whole running service)."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        token = await login_form_token(http, base)
        async with http.post(
            base + "/login",
            data={"login": login, "password": password, "csrf_token": token, "next": "/console"},
            allow_redirects=False,
        ) as resp:
            assert 303 == resp.status, await resp.text()
        browser = Browser(http, base)
        async with http.get(base + "/console", headers={"Accept": "text/html"}) as resp:
            page = await resp.text()
    except BaseException:
        await http.close()
        raise
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    browser.csrf = match.group(1) if match else ""
    return browser


async def add_customer(
    sessions: async_sessionmaker[AsyncSession], name: str, phones: Sequence[str] = (), **fields: Any
) -> int:
    """A customer with E.164 phones, stored as the storage layer stores them."""
    from contact_center.customers.phones import phone_suffix
    from contact_center.store.models import Customer, CustomerPhone

    now = utcnow()
    async with sessions.begin() as db:
        customer = Customer(name=name, custom={}, created_at=now, updated_at=now, **fields)
        for e164 in phones:
            customer.phones.append(CustomerPhone(e164=e164, suffix=phone_suffix(e164), raw=e164))
        db.add(customer)
        await db.flush()
        return customer.id


@asynccontextmanager
async def signed_in(
    server: TestServer, login: str, password: str = PASSWORD
) -> AsyncIterator[Browser]:
    """:func:`sign_in` for the ``async with`` block; the client is closed after it."""
    browser = await sign_in(server, login, password)
    try:
        yield browser
    finally:
        await browser.close()


async def next_frame(ws: Any, timeout: float = 5.0) -> Any:
    """The next websocket frame but the ``ready`` one that ends every (re)connect."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type != aiohttp.WSMsgType.TEXT or json.loads(msg.data).get("type") != "ready":
            return msg
