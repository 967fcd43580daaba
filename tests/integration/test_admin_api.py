"""The admin REST API and its audit log, over real HTTP on SQLite and PostgreSQL: users,
queues, pause reasons and dispositions — each change answered as stored, refused with a
clear reason when wrong, and written to the audit log with who, before and after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from contact_center.bus import MemoryBus
from contact_center.config import load_settings
from contact_center.customers import http as customers_http
from contact_center.store.models import User
from contact_center.web.auth import verify_password
from tests.integration.web_support import Browser, add_user, database, sign_in, web_server

Site = tuple[TestServer, Any, dict[str, int]]


@pytest.fixture
async def site(db_url: str) -> AsyncIterator[Site]:
    async with database(db_url) as (_, sessions):
        ids = {
            "root": await add_user(sessions, "root", "admin"),
            "alice": await add_user(sessions, "alice", "operator", interface="PJSIP/1"),
        }
        async with web_server(sessions, MemoryBus(), plugins=[customers_http]) as server:
            yield server, sessions, ids


async def call(
    browser: Browser, method: str, path: str, body: Any = None, *, csrf: bool = True
) -> tuple[int, Any]:
    headers = {"X-CSRF-Token": browser.csrf} if csrf else {}
    async with browser.http.request(
        method, browser.url(path), json=body, headers=headers, allow_redirects=False
    ) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


async def test_users_are_created_changed_and_audited(site: Site) -> None:
    server, sessions, ids = site
    root = await sign_in(server, "root")
    try:
        status, made = await call(
            root,
            "POST",
            "/api/admin/users",
            {
                "login": "bob",
                "role": "operator",
                "password": "a-long-password",
                "display_name": "Bob Stone",
                "interface": "PJSIP/102",
                "queues": {"support": 0, "sales": 2},
                "skills": {"billing": 3},
            },
        )
        assert 201 == status, made
        assert {"support": 0, "sales": 2} == made["queues"]
        assert (409, "user bob already exists") == await call(
            root, "POST", "/api/admin/users", {"login": "bob", "role": "qa", "password": "x" * 8}
        )
        status, text = await call(
            root,
            "POST",
            "/api/admin/users",
            {"login": "eve", "role": "boss", "password": "short", "interface": "ZAP 1"},
        )
        assert 400 == status
        assert "role:" in text and "password:" in text and "interface:" in text
        # unchanged without the CSRF token
        assert (
            403
            == (
                await call(
                    root, "PATCH", f"/api/admin/users/{made['id']}", {"role": "qa"}, csrf=False
                )
            )[0]
        )
        status, changed = await call(
            root,
            "PATCH",
            f"/api/admin/users/{made['id']}",
            {"role": "supervisor", "skills": {"billing": 5, "en": 1}, "active": False},
        )
        assert 200 == status, changed
        assert ("supervisor", {"billing": 5, "en": 1}, False) == (
            changed["role"],
            changed["skills"],
            changed["active"],
        )
        assert (409, "you cannot disable yourself or take away your own admin role") == (
            await call(root, "PATCH", f"/api/admin/users/{ids['root']}", {"active": False})
        )
        status, ended = await call(
            root, "POST", f"/api/admin/users/{made['id']}/password", {"password": "another-one!"}
        )
        assert (200, {"sessions_ended": 0}) == (status, ended)
        assert 404 == (await call(root, "GET", "/api/admin/users/99999"))[0]
        status, audit = await call(root, "GET", "/api/admin/audit?limit=10")
    finally:
        await root.close()
    async with sessions() as db:
        bob = (await db.execute(select(User).where(User.login == "bob"))).scalar_one()
    assert verify_password(bob.password_hash, "another-one!")
    assert 200 == status
    entries = [(e["who"], e["action"], e["target"]) for e in audit["items"]]
    assert [
        ("root", "user.password", "user bob"),
        ("root", "user.update", "user bob"),
        ("root", "user.create", "user bob"),
    ] == entries
    update = audit["items"][1]
    assert ("operator", "supervisor") == (update["before"]["role"], update["after"]["role"])
    assert (True, False) == (update["before"]["active"], update["after"]["active"])
    assert "another-one!" not in str(audit) and "a-long-password" not in str(audit)


async def test_pause_reasons_are_stored_and_the_console_offers_them(site: Site) -> None:
    server, _, _ = site
    root, alice = await sign_in(server, "root"), await sign_in(server, "alice")
    try:
        status, seeded = await call(alice, "GET", "/api/lists/pause_reason")
        assert (200, ["break", "lunch", "training", "meeting", "after-call work", "technical"]) == (
            status,
            seeded["names"],
        )
        status, added = await call(
            root, "POST", "/api/admin/lists/pause_reason", {"name": "coaching"}
        )
        assert 201 == status, added
        assert (
            409
            == (await call(root, "POST", "/api/admin/lists/pause_reason", {"name": "coaching"}))[0]
        )
        lunch = next(
            c["id"]
            for c in (await call(root, "GET", "/api/admin/lists/pause_reason"))[1]["items"]
            if c["name"] == "lunch"
        )
        assert 200 == (await call(root, "DELETE", f"/api/admin/lists/pause_reason/{lunch}"))[0]
        names = (await call(alice, "GET", "/api/lists/pause_reason"))[1]["names"]
        # an operator may read the lists but not change them
        assert (
            403 == (await call(alice, "POST", "/api/admin/lists/disposition", {"name": "spam"}))[0]
        )
        async with alice.http.get(alice.url("/console"), headers={"Accept": "text/html"}) as resp:
            console = await resp.text()
        refused = await call(
            alice, "POST", "/api/operator/state", {"state": "paused", "reason": "lunch"}
        )
        audit = (await call(root, "GET", "/api/admin/audit"))[1]["items"]
    finally:
        await root.close()
        await alice.close()
    assert ["break", "training", "meeting", "after-call work", "technical", "coaching"] == names
    assert ">coaching<" in console and ">lunch<" not in console
    assert '<option value="break">Break</option>' in console  # words, not the code
    assert 400 == refused[0] and "coaching" in refused[1]
    assert [
        ("pause_reason.remove", {"name": "lunch"}, None),
        ("pause_reason.add", None, {"name": "coaching"}),
    ] == [(e["action"], e["before"], e["after"]) for e in audit]


async def test_queues_keep_the_admins_settings(site: Site) -> None:
    server, _, _ = site
    root = await sign_in(server, "root")
    try:
        status, queue = await call(
            root,
            "PATCH",
            "/api/admin/queues/support",
            {"server": "pbx2", "service_level_seconds": 30, "required_skills": ["billing", "en"]},
        )
        assert 200 == status, queue
        status, listed = await call(root, "GET", "/api/admin/queues")
        bad = await call(root, "PATCH", "/api/admin/queues/support", {"service_level_seconds": 0})
        audit = (await call(root, "GET", "/api/admin/audit"))[1]["items"]
    finally:
        await root.close()
    assert {
        "name": "support",
        "server": "pbx2",
        "title": "",
        "service_level_seconds": 30,
        "wrapup_seconds": 0,
        "required_skills": ["billing", "en"],
        "skills_from": "admin",
    } in listed["items"]
    assert 400 == bad[0] and "service_level_seconds" in bad[1]
    assert [("queue.update", None)] == [(e["action"], e["before"]) for e in audit]
    assert "pbx2" == audit[0]["after"]["server"]


async def test_anonymous_and_non_admins_are_refused(site: Site) -> None:
    server, _, _ = site
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http, http.get(base + "/api/admin/users") as resp:
        assert 401 == resp.status
    alice = await sign_in(server, "alice")
    try:
        assert 403 == (await call(alice, "GET", "/api/admin/users"))[0]
        assert 403 == (await call(alice, "GET", "/api/admin/audit"))[0]
    finally:
        await alice.close()


async def test_skills_set_on_a_queue_replace_routing_yaml_for_the_penalties(site: Site) -> None:
    server, sessions, _ = site
    from sqlalchemy import update as sql_update

    from contact_center.routing.directory import StoreOperators

    async with sessions.begin() as db:
        await db.execute(
            sql_update(User)
            .where(User.login == "alice")
            .values(queues={"sales": 0, "billing": 1}, skills={"billing": 4, "en": 2})
        )
    from_yaml = {"billing": ("billing",)}
    directory = StoreOperators(sessions, queue_skills=lambda: from_yaml)
    before = await directory.operator("alice")
    root = await sign_in(server, "root")
    try:
        status, _ = await call(
            root, "PATCH", "/api/admin/queues/sales", {"required_skills": ["en"]}
        )
        assert 200 == status
        status, _ = await call(
            root, "PATCH", "/api/admin/queues/billing", {"required_skills": ["billing", "en"]}
        )
        assert 200 == status
    finally:
        await root.close()
    after = await directory.operator("alice")
    assert before is not None and after is not None
    # penalty = configured + 5 − the weakest required level
    assert {"sales": 0, "billing": 2} == dict(before.queues)
    assert {"sales": 3, "billing": 4} == dict(after.queues)


BAD_PLAN = """name: broken
currency: RUB
rates:
  - {prefix: "7", per_minute: "0.90"}
  - {prefix: "79", per_minute: "lots"}
"""


async def test_tariffs_are_checked_like_the_command_and_saved_all_or_nothing(site: Site) -> None:
    server, _, _ = site
    good = (Path(__file__).parents[2] / "tariffs" / "inbound.yaml").read_text()
    root = await sign_in(server, "root")
    try:
        status, checked = await call(
            root,
            "POST",
            "/api/admin/tariffs",
            {"file_name": "inbound.yaml", "content": good, "check_only": True},
        )
        assert (200, False) == (status, checked["saved"])
        assert [] == (await call(root, "GET", "/api/admin/tariffs"))[1]["items"]
        status, text = await call(
            root, "POST", "/api/admin/tariffs", {"file_name": "broken.yaml", "content": BAD_PLAN}
        )
        assert 400 == status
        assert text.startswith("broken.yaml:5: ") and "/tmp" not in text
        # the page: two files, one broken: nothing imported, the mistake named
        form = aiohttp.FormData()
        form.add_field("csrf_token", root.csrf)
        form.add_field("files", good.encode(), filename="inbound.yaml")
        form.add_field("files", BAD_PLAN.encode(), filename="broken.yaml")
        async with root.http.post(root.url("/admin/tariffs"), data=form) as resp:
            page = await resp.text()
            assert 400 == resp.status
        assert "broken.yaml:5: " in page
        assert [] == (await call(root, "GET", "/api/admin/tariffs"))[1]["items"]
        form = aiohttp.FormData()
        form.add_field("csrf_token", root.csrf)
        form.add_field("files", good.encode(), filename="inbound.yaml")
        async with root.http.post(
            root.url("/admin/tariffs"), data=form, allow_redirects=False
        ) as resp:
            assert 303 == resp.status
        plans = (await call(root, "GET", "/api/admin/tariffs"))[1]["items"]
        audit = (await call(root, "GET", "/api/admin/audit"))[1]["items"]
    finally:
        await root.close()
    assert [("inbound", "inbound", "RUB", 11)] == [
        (p["name"], p["direction"], p["currency"], p["rates"]) for p in plans
    ]
    assert [("tariffs.import", "inbound", {"inbound": {"rates": 11}})] == [
        (e["action"], e["target"], e["after"]) for e in audit
    ]


async def test_the_ivr_view_shows_the_menus_and_what_ivr_check_finds(sqlite_url: str) -> None:
    broken = Path(__file__).parents[1] / "fixtures" / "ivr_broken"
    cfg = load_settings(environ={}, overrides={"agi": {"menus_dir": str(broken)}})
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "root", "admin")
        async with web_server(sessions, MemoryBus(), cfg=cfg) as server:
            root = await sign_in(server, "root")
            try:
                status, found = await call(root, "GET", "/api/admin/ivr")
                async with root.http.get(
                    root.url("/admin/ivr"), headers={"Accept": "text/html"}
                ) as resp:
                    page = await resp.text()
            finally:
                await root.close()
    assert 200 == status
    assert ["good"] == [m["name"] for m in found["menus"]]
    assert 10 == len(found["problems"])
    assert f"{broken}/unreachable.yaml:7: unreachable node 'forgotten'" in found["problems"]
    assert "unreachable node &#39;forgotten&#39;" in page


async def test_the_pop_card_offers_the_admins_dispositions(site: Site) -> None:
    server, sessions, _ = site
    from contact_center.screenpop.service import OperatorDirectory

    root = await sign_in(server, "root")
    try:
        assert (
            201 == (await call(root, "POST", "/api/admin/lists/disposition", {"name": "upsell"}))[0]
        )
        items = (await call(root, "GET", "/api/admin/lists/disposition"))[1]["items"]
        other = next(c["id"] for c in items if c["name"] == "other")
        assert 200 == (await call(root, "DELETE", f"/api/admin/lists/disposition/{other}"))[0]
    finally:
        await root.close()
    directory = OperatorDirectory(sessions)
    await directory.load()
    assert (
        "resolved",
        "callback",
        "escalated",
        "sale",
        "complaint",
        "wrong number",
        "upsell",
    ) == directory.dispositions


async def test_the_admin_pages_and_their_messages_speak_russian(site: Site) -> None:
    server, _, ids = site
    root = await sign_in(server, "root")
    ru = {"Accept-Language": "ru", "Accept": "text/html"}
    try:
        pages = {}
        for path in ("/admin", "/admin/tokens", "/admin/lists", "/admin/audit", "/admin/queues"):
            async with root.http.get(root.url(path), headers=ru) as resp:
                assert 200 == resp.status
                pages[path] = await resp.text()
        async with root.http.patch(
            root.url(f"/api/admin/users/{ids['root']}"),
            json={"role": "qa"},
            headers={"Accept-Language": "ru", "X-CSRF-Token": root.csrf},
        ) as resp:
            refused = (resp.status, await resp.text())
    finally:
        await root.close()
    assert "Добавить пользователя" in pages["/admin"]
    assert "Создать токен" in pages["/admin/tokens"]
    assert "Причины паузы" in pages["/admin/lists"]
    assert "Журнал изменений" in pages["/admin/audit"]
    assert "Обязательные навыки" in pages["/admin/queues"]
    assert (409, "нельзя отключить себя или снять с себя роль администратора") == refused


async def test_webhook_changes_are_audited(db_url: str) -> None:
    from contact_center.webhooks import http as webhooks_http

    cfg = load_settings(environ={}, overrides={"webhooks": {"allow_networks": "127.0.0.1"}})
    async with database(db_url) as (_, sessions):
        await add_user(sessions, "root", "admin")
        async with web_server(sessions, MemoryBus(), plugins=[webhooks_http], cfg=cfg) as server:
            root = await sign_in(server, "root")
            try:
                status, made = await call(
                    root,
                    "POST",
                    "/api/webhooks",
                    {"url": "http://127.0.0.1:9/hook", "kinds": ["call.outcome"]},
                )
                assert 201 == status, made
                webhook_id = made["webhook"]["id"]
                assert 204 == (await call(root, "DELETE", f"/api/webhooks/{webhook_id}"))[0]
                audit = (await call(root, "GET", "/api/admin/audit"))[1]["items"]
            finally:
                await root.close()
    assert [
        ("webhook.delete", {"url": "http://127.0.0.1:9/hook", "kinds": ["call.outcome"]}, None),
        (
            "webhook.add",
            None,
            {"url": "http://127.0.0.1:9/hook", "kinds": ["call.outcome"], "description": ""},
        ),
    ] == [(e["action"], e["before"], e["after"]) for e in audit]
    assert {"root"} == {e["who"] for e in audit}
