"""API tokens end to end over real HTTP (SQLite and PostgreSQL): shown once, only a hash in
the database, accepted as ``Authorization: Bearer`` without CSRF, limited to their scopes and
to /api/, refused once expired, revoked or when their user is disabled; last use recorded."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update

from contact_center.bus import MemoryBus
from contact_center.customers import http as customers_http
from contact_center.store.db import utcnow
from contact_center.store.models import ApiToken, User
from tests.integration.web_support import add_customer, add_user, database, sign_in, web_server

Site = tuple[TestServer, Any, str]


@pytest.fixture
async def site(db_url: str) -> AsyncIterator[Site]:
    async with database(db_url) as (_, sessions):
        await add_user(sessions, "root", "admin")
        await add_user(sessions, "crm", "supervisor")
        async with web_server(sessions, MemoryBus(), plugins=[customers_http]) as server:
            yield server, sessions, str(server.make_url("")).rstrip("/")


async def bearer(
    base: str, token: str, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            base + path,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json", **headers},
            allow_redirects=False,
        ) as resp,
    ):
        body_out = await (resp.json() if resp.content_type == "application/json" else resp.text())
        return resp.status, body_out


async def make(site: Site, body: dict[str, Any]) -> dict[str, Any]:
    server, _, _ = site
    root = await sign_in(server, "root")
    try:
        async with root.http.post(
            root.url("/api/admin/tokens"), json=body, headers={"X-CSRF-Token": root.csrf}
        ) as resp:
            assert 201 == resp.status, await resp.text()
            made: dict[str, Any] = await resp.json()
        async with root.http.get(root.url("/api/admin/tokens")) as resp:
            listed = await resp.json()
    finally:
        await root.close()
    # shown once: the list never carries the token
    assert made["token"] not in str(listed)
    return made


async def test_a_token_is_shown_once_and_kept_as_a_hash(site: Site) -> None:
    _, sessions, base = site
    crm_id = await user_id(sessions, "crm")
    made = await make(site, {"name": "crm", "scopes": ["customers:read"], "user_id": crm_id})
    token = made["token"]
    assert token.startswith("cct_") and len(token) >= 40
    assert ("crm", ["customers:read"], "active") == (
        made["item"]["user_login"],
        made["item"]["scopes"],
        made["item"]["state"],
    )
    async with sessions() as db:
        row = (await db.execute(select(ApiToken))).scalar_one()
    assert hashlib.sha256(token.encode()).hexdigest() == row.token_hash
    assert token not in repr(vars(row))
    assert row.last_used_at is None
    status, _ = await bearer(base, token, "GET", "/api/customers?q=a")
    assert 200 == status
    async with sessions() as db:
        used = (await db.execute(select(ApiToken))).scalar_one()
    assert used.last_used_at is not None


async def user_id(sessions: Any, login: str) -> int:
    async with sessions() as db:
        return int((await db.execute(select(User.id).where(User.login == login))).scalar_one())


async def test_scopes_decide_what_a_token_reaches(site: Site) -> None:
    _, sessions, base = site
    customer = await add_customer(sessions, "Ann Lee", ["+15550001"])
    reader = (await make(site, {"name": "reader", "scopes": ["customers:read"]}))["token"]
    writer = (await make(site, {"name": "writer", "scopes": ["customers:write"]}))["token"]
    assert 200 == (await bearer(base, reader, "GET", f"/api/customers/{customer}"))[0]
    assert (403, "this token lacks the scope customers:write") == await bearer(
        base, reader, "PATCH", f"/api/customers/{customer}", {"notes": "x"}
    )
    assert (403, "this token lacks the scope admin") == await bearer(
        base, reader, "GET", "/api/admin/users"
    )
    # writes need no CSRF token with a bearer token
    status, changed = await bearer(
        base, writer, "PATCH", f"/api/customers/{customer}", {"notes": "called back"}
    )
    assert 200 == status, changed
    # pages and the websocket are not for tokens
    status, _ = await bearer(base, reader, "GET", "/admin", Accept="text/html")
    assert status in (302, 303, 401)
    # a cookie session still needs its CSRF token for the same write
    server, _, _ = site
    root = await sign_in(server, "root")
    try:
        async with root.http.patch(
            root.url(f"/api/customers/{customer}"), json={"notes": "no csrf"}
        ) as resp:
            assert 403 == resp.status
    finally:
        await root.close()


async def test_expired_revoked_and_disabled_tokens_are_refused(site: Site) -> None:
    _, sessions, base = site
    crm_id = await user_id(sessions, "crm")
    one = await make(site, {"name": "one", "scopes": ["customers:read"], "user_id": crm_id})
    two = await make(site, {"name": "two", "scopes": ["customers:read"], "user_id": crm_id})
    admin = await make(site, {"name": "ops", "scopes": ["admin"]})
    for made in (one, two):
        assert 200 == (await bearer(base, made["token"], "GET", "/api/customers?q=a"))[0]
    async with sessions.begin() as db:
        await db.execute(
            update(ApiToken)
            .where(ApiToken.id == one["item"]["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    status, text = await bearer(base, one["token"], "GET", "/api/customers?q=a")
    assert (401, "unknown, expired or revoked API token") == (status, text)
    # revoked through the API by another (admin) token; a token cannot revoke itself
    admin_token, admin_id = admin["token"], admin["item"]["id"]
    assert 409 == (await bearer(base, admin_token, "DELETE", f"/api/admin/tokens/{admin_id}"))[0]
    status, revoked = await bearer(
        base, admin_token, "DELETE", f"/api/admin/tokens/{two['item']['id']}"
    )
    assert (200, "revoked") == (status, revoked["state"])
    assert 401 == (await bearer(base, two["token"], "GET", "/api/customers?q=a"))[0]
    assert 401 == (await bearer(base, "cct_made-up", "GET", "/api/customers?q=a"))[0]
    assert 401 == (await bearer(base, "", "GET", "/api/customers?q=a"))[0]
    # a disabled user's tokens stop working
    three = await make(site, {"name": "three", "scopes": ["customers:read"], "user_id": crm_id})
    status, _ = await bearer(
        base, admin_token, "PATCH", f"/api/admin/users/{crm_id}", {"active": False}
    )
    assert 200 == status
    assert 401 == (await bearer(base, three["token"], "GET", "/api/customers?q=a"))[0]
    status, audit = await bearer(base, admin_token, "GET", "/api/admin/audit")
    actions = [(e["who"], e["action"], e["target"]) for e in audit["items"]][:2]
    assert [
        ("root (token ops)", "user.update", "user crm"),
        ("root", "token.create", "token three"),
    ] == actions


async def test_bad_token_requests_are_told_why(site: Site) -> None:
    _, _, base = site
    for value in ("Basic abc", "Bearer", "Bearer not-ours"):
        async with (
            aiohttp.ClientSession() as http,
            http.get(base + "/api/customers", headers={"Authorization": value}) as resp,
        ):
            assert 401 == resp.status
            assert "invalid_token" in resp.headers.get("WWW-Authenticate", "")


async def test_a_crm_token_runs_the_customers_crud_cycle(site: Site) -> None:
    _, _, base = site
    token = (await make(site, {"name": "crm", "scopes": ["customers:read", "customers:write"]}))[
        "token"
    ]
    phones = [
        {"number": "+7 495 111-22-33", "type": "work"},
        {"number": "89161234567", "type": "mobile"},
    ]
    status, ann = await bearer(
        base, token, "PUT", "/api/customers/by-external-id/crm-1", {"name": "Ann", "phones": phones}
    )
    assert 201 == status, ann
    status, bob = await bearer(
        base,
        token,
        "PUT",
        "/api/customers/by-external-id/crm-2",
        {"name": "Bob", "phones": [{"number": "+74951112233", "type": "home"}]},
    )
    assert 201 == status, bob
    # one number, two customers: kept apart, both found
    status, found = await bearer(base, token, "GET", "/api/customers?q=%2B74951112233")
    assert 200 == status
    assert {"Ann", "Bob"} == {c["name"] for c in found["items"]}
    assert [("+74951112233", "work"), ("+79161234567", "mobile")] == [
        (p["number"], p["type"]) for p in ann["phones"]
    ]
    status, changed = await bearer(
        base, token, "PATCH", f"/api/customers/{ann['id']}", {"company": "Acme"}
    )
    assert (200, "Acme") == (status, changed["company"])
    assert 204 == (await bearer(base, token, "DELETE", f"/api/customers/{bob['id']}"))[0]
    assert 404 == (await bearer(base, token, "GET", f"/api/customers/{bob['id']}"))[0]
