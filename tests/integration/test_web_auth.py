"""Sign-in, sessions, CSRF, rate limit, roles (default deny) and plugins over real HTTP."""

from __future__ import annotations

import re
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import EVENTS, MemoryBus
from contact_center.store.models import WebSession
from contact_center.web.auth import Role, UnknownRole, public, require_role
from contact_center.web.keys import add_template_dir
from tests.integration.web_support import (
    PASSWORD,
    SQLITE_ONLY,
    Browser,
    add_user,
    database,
    login_form_token,
    settings,
    sign_in,
    web_server,
)


@require_role(Role.SUPERVISOR)
async def supervisors_only(request: web.Request) -> web.Response:
    return web.Response(text="board")


async def forgot_the_decorator(request: web.Request) -> web.Response:
    return web.Response(text="should never be served")


@public
async def open_to_all(request: web.Request) -> web.Response:
    return web.Response(text="hello")


@require_role(Role.QA)
@aiohttp_jinja2.template("plugin_form.html")
async def plugin_form(request: web.Request) -> dict[str, object]:
    return {"title": "Plugin"}


def make_plugin(template_dir: str) -> types.ModuleType:
    plugin = types.ModuleType("test_plugin")

    def setup(app: web.Application) -> None:
        add_template_dir(app, template_dir)
        app.router.add_get("/board", supervisors_only)
        app.router.add_get("/oops", forgot_the_decorator)
        app.router.add_get("/hello", open_to_all)
        app.router.add_get("/plugin-form", plugin_form)

    plugin.setup = setup  # type: ignore[attr-defined]
    return plugin


async def seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    for login, role in [
        ("alice", "operator"),
        ("sam", "supervisor"),
        ("quinn", "qa"),
        ("ada", "admin"),
    ]:
        await add_user(sessions, login, role, interface="PJSIP/1" if login == "alice" else "")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions live in the database: these run on SQLite and PostgreSQL."""
    async with database(db_url) as (_, sessions):
        await seed(sessions)
        yield sessions


@pytest.fixture
async def server(db: async_sessionmaker[AsyncSession], tmp_path: Path) -> AsyncIterator[TestServer]:
    async with plugin_server(db, tmp_path) as srv:
        yield srv


@pytest.fixture
async def sqlite_server(sqlite_url: str, tmp_path: Path) -> AsyncIterator[TestServer]:
    """For checks that do not depend on the database engine (kept fast)."""
    async with database(sqlite_url) as (_, sessions):
        await seed(sessions)
        async with plugin_server(sessions, tmp_path) as srv:
            yield srv


@asynccontextmanager
async def plugin_server(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[TestServer]:
    templates = tmp_path / "tpl"
    templates.mkdir()
    (templates / "plugin_form.html").write_text(
        '{% extends "base.html" %}{% block content %}<form method="post">{{ csrf_field() }}</form>'
        "{% endblock %}"
    )
    async with web_server(sessions, MemoryBus(), plugins=[make_plugin(str(templates))]) as srv:
        yield srv


async def anonymous(server: TestServer) -> Browser:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    return Browser(http, str(server.make_url("")).rstrip("/"))


async def test_anonymous_page_redirects_to_sign_in_and_api_says_401(
    sqlite_server: TestServer,
) -> None:
    browser = await anonymous(sqlite_server)
    try:
        resp = await browser.http.get(
            browser.url("/console"), headers={"Accept": "text/html"}, allow_redirects=False
        )
        assert 302 == resp.status
        assert "/login?next=/console" == resp.headers["Location"]
        resp = await browser.post("/api/operator/state", {"state": "available"})
        assert 401 == resp.status
        assert 200 == (await browser.http.get(browser.url("/hello"))).status
    finally:
        await browser.close()


async def test_sign_in_sets_a_safe_cookie_and_opens_the_console(server: TestServer) -> None:
    browser = await anonymous(server)
    try:
        token = await login_form_token(browser.http, browser.base)
        resp = await browser.http.post(
            browser.url("/login"),
            data={"login": "alice", "password": PASSWORD, "csrf_token": token, "next": "/console"},
            allow_redirects=False,
        )
        assert 303 == resp.status
        assert "/console" == resp.headers["Location"]
        cookie = resp.cookies["cc_session"]
        assert cookie["httponly"] is True
        assert "Lax" == cookie["samesite"]
        assert "" == cookie["secure"]  # secure_cookies is off in this test's settings
        page = await browser.http.get(browser.url("/console"))
        assert 200 == page.status
        # the header names the person and the role, the phone as detail
        assert re.search(
            r'id="who"><strong>Alice</strong> <span class="role">Operator</span> '
            r'<span class="detail" title="Phone">PJSIP/1</span>',
            await page.text(),
        )
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    finally:
        await browser.close()


@SQLITE_ONLY
async def test_secure_cookie_flag_follows_settings(db: async_sessionmaker[AsyncSession]) -> None:
    async with web_server(db, MemoryBus(), cfg=settings(secure_cookies=True)) as srv:
        browser = await anonymous(srv)
        try:
            page = await browser.http.get(browser.url("/login"))
            login_cookie = page.cookies["cc_login_csrf"]
            assert True is login_cookie["secure"]
            # The client does not send Secure cookies over plain HTTP: send it by hand.
            resp = await browser.http.post(
                browser.url("/login"),
                data={"login": "alice", "password": PASSWORD, "csrf_token": login_cookie.value},
                headers={"Cookie": f"cc_login_csrf={login_cookie.value}"},
                allow_redirects=False,
            )
            assert True is resp.cookies["cc_session"]["secure"]
        finally:
            await browser.close()


async def test_open_redirect_after_sign_in_is_refused(sqlite_server: TestServer) -> None:
    browser = await anonymous(sqlite_server)
    try:
        token = await login_form_token(browser.http, browser.base)
        resp = await browser.http.post(
            browser.url("/login"),
            data={"login": "alice", "password": PASSWORD, "csrf_token": token, "next": "//evil"},
            allow_redirects=False,
        )
        assert "/" == resp.headers["Location"]
    finally:
        await browser.close()


async def test_sign_in_without_the_form_token_is_refused(sqlite_server: TestServer) -> None:
    browser = await anonymous(sqlite_server)
    try:
        resp = await browser.http.post(
            browser.url("/login"), data={"login": "alice", "password": PASSWORD}
        )
        assert 403 == resp.status
    finally:
        await browser.close()


async def test_failed_sign_ins_are_rate_limited(sqlite_server: TestServer) -> None:
    browser = await anonymous(sqlite_server)
    try:
        token = await login_form_token(browser.http, browser.base)
        statuses = []
        for password in ["wrong"] * 5 + [PASSWORD]:
            resp = await browser.http.post(
                browser.url("/login"),
                data={"login": "alice", "password": password, "csrf_token": token},
                allow_redirects=False,
            )
            statuses.append(resp.status)
        assert [401] * 5 + [429] == statuses
        assert "Too many failed attempts" in await resp.text()
    finally:
        await browser.close()


async def test_unknown_login_fails_like_a_wrong_password(sqlite_server: TestServer) -> None:
    browser = await anonymous(sqlite_server)
    try:
        token = await login_form_token(browser.http, browser.base)
        resp = await browser.http.post(
            browser.url("/login"),
            data={"login": "nobody", "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
        )
        assert 401 == resp.status
        assert "Wrong login or password." in await resp.text()
    finally:
        await browser.close()


async def test_unsafe_requests_need_the_csrf_token(server: TestServer) -> None:
    browser = await sign_in(server, "alice")
    try:
        assert (
            403
            == (
                await browser.post("/api/operator/state", {"state": "available"}, csrf=False)
            ).status
        )
        resp = await browser.post(
            "/api/operator/state", {"state": "available", "csrf_token": "forged"}, csrf=False
        )
        assert 403 == resp.status
        ok = await browser.post("/api/operator/state", {"state": "available"})
        assert 200 == ok.status
        as_field = await browser.post(
            "/api/operator/state", {"state": "available", "csrf_token": browser.csrf}, csrf=False
        )
        assert 200 == as_field.status
    finally:
        await browser.close()


@pytest.mark.parametrize(
    ("login", "path", "expected"),
    [
        ("alice", "/board", 403),
        ("sam", "/board", 200),
        ("ada", "/board", 200),
        ("quinn", "/console", 403),
        ("alice", "/console", 200),
        ("ada", "/oops", 403),  # no require_role: default deny, even for admin
        ("quinn", "/plugin-form", 200),
        ("alice", "/plugin-form", 403),
    ],
)
async def test_roles_are_checked_on_every_route(
    sqlite_server: TestServer, login: str, path: str, expected: int
) -> None:
    browser = await sign_in(sqlite_server, login)
    try:
        resp = await browser.http.get(browser.url(path), allow_redirects=False)
        assert expected == resp.status
    finally:
        await browser.close()


async def test_plugin_templates_get_the_csrf_field(sqlite_server: TestServer) -> None:
    browser = await sign_in(sqlite_server, "quinn")
    try:
        page = await (await browser.http.get(browser.url("/plugin-form"))).text()
        session_csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
        assert f'<input type="hidden" name="csrf_token" value="{session_csrf}">' in page
    finally:
        await browser.close()


async def test_sign_out_ends_the_session(
    server: TestServer, db: async_sessionmaker[AsyncSession]
) -> None:
    browser = await sign_in(server, "alice")
    try:
        cookie = browser.http.cookie_jar.filter_cookies(server.make_url("/"))["cc_session"].value
        resp = await browser.post("/logout", {})
        assert 303 == resp.status
        assert "/login" == resp.headers["Location"]
        replay = aiohttp.ClientSession(cookies={"cc_session": cookie})
        try:
            stale = await replay.post(
                browser.url("/api/operator/state"), data={"state": "available"}
            )
            assert 401 == stale.status
        finally:
            await replay.close()
        async with db() as s:
            revoked = (await s.execute(select(WebSession.revoked_at))).scalars().all()
        assert 1 == len(revoked) and revoked[0] is not None
    finally:
        await browser.close()


async def test_healthz_reports_database_and_bus(sqlite_server: TestServer) -> None:
    browser = await anonymous(sqlite_server)
    try:
        resp = await browser.http.get(browser.url("/healthz"))
        assert 200 == resp.status
        assert {"status": "ok", "database": "ok", "bus": "ok"} == await resp.json()
    finally:
        await browser.close()


@SQLITE_ONLY
async def test_state_change_publishes_an_operator_command(
    db: async_sessionmaker[AsyncSession],
) -> None:
    bus = MemoryBus()
    async with web_server(db, bus) as srv:
        browser = await sign_in(srv, "alice")
        try:
            resp = await browser.post("/api/operator/state", {"state": "paused", "reason": "lunch"})
            body = await resp.json()
            assert ("paused", "lunch", "sent") == (
                body["requested"],
                body["reason"],
                body["status"],
            )
            # No connector carried it out: the console does not claim a state it is not in.
            page = await (await browser.http.get(browser.url("/console"))).text()
            assert '<strong id="state-label">offline</strong>' in page
        finally:
            await browser.close()
    [(_, event)] = await bus.read(EVENTS, "0")
    # the connector carries it out (QueuePause) and logs what it did as an operator.action
    assert ("operator.command", "alice", "pause") == (
        event["kind"],
        event["user"],
        event["command"],
    )
    assert ("PJSIP/1", {"reason": "lunch"}) == (event["interface"], event["args"])


def test_require_role_rejects_unknown_roles() -> None:
    with pytest.raises(UnknownRole, match="unknown role 'root'"):
        require_role("root")


async def test_actions_answer_503_when_the_bus_is_down(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contact_center.bus.redis import RedisBus
    from contact_center.web import app as app_module

    monkeypatch.setattr(app_module, "HUB_START_TIMEOUT", 0.1)

    dead = RedisBus("redis://127.0.0.1:1/0", prefix="x")  # nothing listens on port 1
    async with database(sqlite_url) as (_, sessions):
        await seed(sessions)
        async with web_server(sessions, dead) as srv:
            browser = await sign_in(srv, "alice")
            try:
                resp = await browser.post("/api/operator/state", {"state": "available"})
                assert (503, "the event bus is unavailable, try again") == (
                    resp.status,
                    await resp.text(),
                )
                health = await browser.http.get(browser.url("/healthz"))
                assert (503, "degraded") == (health.status, (await health.json())["status"])
            finally:
                await browser.close()
    await dead.close()
