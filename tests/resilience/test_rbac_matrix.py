"""Every route of the app the Service builds × anonymous and every role, over real HTTP:
what each may do follows from the route's own ``require_role`` marking; default deny."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from contact_center.store.db import utcnow
from contact_center.store.models import Call, Customer, InteractionEvent, Recording, User
from contact_center.web import auth
from contact_center.web.auth import SESSION_COOKIE, Role
from tests.e2e.service_support import PASSWORD, sign_in
from tests.resilience.rig import fault_rig

ROLE_USERS = {"operator": "anna", "supervisor": "sue", "qa": "quinn", "admin": "root"}
# Signing out / in would change who is asking (an admin's "sign out everywhere" too: its
# roles are checked in tests/integration/test_web_sessions.py).
SKIP = {
    "/logout",
    "/login",
    "/admin/users/{user_id}/signout",
    "/api/admin/users/{user_id}/signout",
}
PARAM = re.compile(r"\{(\w+)(?::([^{}]+))?\}")
DENIALS = ("may not do this", "default deny", "CSRF")


def concrete(path: str) -> str:
    """A request path for a route template: ids → 1, regex alternatives → the first."""

    def one(match: re.Match[str]) -> str:
        name, regex = match.group(1), match.group(2)
        if regex:
            return regex.split("|")[0].strip("()")
        return {"server": "pbx1", "fmt": "csv"}.get(name, "1")

    return PARAM.sub(one, path)


def routes(app: web.Application) -> list[tuple[str, str, Any]]:
    out = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or isinstance(resource, web.StaticResource):
            continue
        if route.method in ("HEAD", "OPTIONS", "*"):
            continue
        path = resource.canonical
        if path in SKIP:
            continue
        out.append((route.method, path, route.handler))
    return sorted(out, key=lambda r: (r[1], r[0]))


def expected(handler: Any, role: str | None) -> str:
    """ "ok" (not refused), "401" (sign in first) or "403" (refused), from the marking."""
    if auth.is_public(handler):
        return "ok"
    if role is None:
        return "401"
    roles = auth.roles_of(handler)
    if roles is None:
        return "403"  # default deny: a route without a rule serves no one
    return "ok" if role == "admin" or role in roles else "403"


async def test_every_route_times_every_role_follows_its_marking(
    tmp_path: Path, postgres_url: str
) -> None:
    """Property: for every route registered in the full app, anonymous requests get 401 (or
    a redirect to sign-in for pages), each role gets through exactly the routes marked for
    it (admin everywhere marked), every other role gets 403, routes without a marking are
    denied to all; and no request, allowed or not, makes the server fail (5xx)."""
    async with fault_rig(tmp_path, postgres_url) as rig:
        sessions = rig.service.core.sessions  # type: ignore[union-attr]
        async with sessions.begin() as db:
            db.add(
                User(
                    login="root",
                    display_name="Root",
                    password_hash=auth.hash_password(PASSWORD),
                    role=Role.ADMIN,
                    interface="",
                    queues={},
                    skills={},
                    active=True,
                    created_at=utcnow(),
                )
            )
        clients: dict[str | None, tuple[aiohttp.ClientSession, str]] = {
            None: (aiohttp.ClientSession(), "")
        }
        try:
            for name, login in ROLE_USERS.items():
                signed = await sign_in(rig.base, login)
                token = signed.http.cookie_jar.filter_cookies(URL(rig.base))[SESSION_COOKIE].value
                user = await auth.load_session(sessions, token)
                assert user is not None
                clients[name] = (signed.http, user.csrf_token)
            table = routes(rig.service.components["app"])
            assert len(table) >= 20  # the whole app, not a stub
            wrong: list[str] = []
            seen: dict[str, int] = {"ok": 0, "401": 0, "403": 0}
            for method, path, handler in table:
                url = rig.base + concrete(path)
                for role, (http, csrf) in clients.items():
                    want = expected(handler, role)
                    headers = {"Accept": "application/json", "X-CSRF-Token": csrf}
                    async with http.request(
                        method, url, headers=headers, allow_redirects=False, data={}
                    ) as resp:
                        status, text = resp.status, await resp.text()
                    got = verdict(status, text)
                    seen[got] += 1
                    if status >= 500 or got != want:
                        wrong.append(
                            f"{method} {path} as {role}: want {want}, got {status} {text[:80]!r}"
                        )
            assert [] == wrong, "\n".join(wrong)
            assert all(seen.values()), seen  # each kind of answer was exercised
            print(f"\nRBAC: {len(table)} routes x {len(clients)} callers: {seen}")
            owned = await ownership_pass(sessions, rig.base, table, clients)
            print(f"ownership: {owned} requests on someone else's call, customer, recording")
        finally:
            for http, _ in clients.values():
                await http.close()


OWNED_PARAMS = {"customer_id", "linkedid", "call_id", "rec_id"}


async def seed_foreign(sessions: Any) -> dict[str, str]:
    """A customer, call and recording of a queue no test user works in, answered at a phone
    none of them has: nobody but an admin may reach them."""
    now = utcnow()
    async with sessions.begin() as db:
        stranger = Customer(name="Stranger", custom={}, created_at=now, updated_at=now)
        db.add(stranger)
        await db.flush()
        call = dict(server="pbx1", linkedid="foreign-1", queue="elsewhere")
        db.add(
            Call(**call, operator_interface="PJSIP/999", customer_id=stranger.id, started_at=now)
        )
        db.add(
            InteractionEvent(
                key="foreign-1-note", customer_id=stranger.id, server="pbx1",
                call_linkedid="foreign-1", kind="operator.wrapup", at=now, actor="someone",
                summary="Wrap-up: private", data={"notes": "private"},
            )
        )  # fmt: skip
        rec = Recording(
            server="pbx1", call_linkedid="foreign-1", file_name="foreign-1.wav",
            status="stopped", queue="elsewhere", operator_interface="PJSIP/999",
            customer_id=stranger.id, started_at=now,
        )  # fmt: skip
        db.add(rec)
        await db.flush()
        return {
            "customer_id": str(stranger.id),
            "linkedid": "foreign-1",
            "call_id": "foreign-1",
            "rec_id": str(rec.id),
        }


async def ownership_pass(
    sessions: Any,
    base: str,
    table: list[tuple[str, str, Any]],
    clients: dict[str | None, tuple[aiohttp.ClientSession, str]],
) -> int:
    """Every route naming a call, customer or recording, on someone else's: each role the
    marking lets in is still refused (403/404) and never shown the stranger; admins pass."""
    ids = await seed_foreign(sessions)
    wrong: list[str] = []
    count = 0
    for method, path, handler in table:
        names = {m.group(1) for m in PARAM.finditer(path)}
        if not names & OWNED_PARAMS:
            continue
        url = base + PARAM.sub(lambda m: ids.get(m.group(1)) or concrete(m.group(0)), path)
        for role, (http, csrf) in clients.items():
            if role is None or expected(handler, role) != "ok":
                continue
            headers = {"Accept": "application/json", "X-CSRF-Token": csrf}
            async with http.request(
                method, url, headers=headers, allow_redirects=False, data={}
            ) as resp:
                status, text = resp.status, await resp.text()
            count += 1
            if status >= 500:
                wrong.append(f"{method} {path} as {role}: {status}")
            elif role != "admin" and (status not in (403, 404) or "Stranger" in text):
                wrong.append(f"{method} {path} as {role}: want 403/404, got {status} {text[:80]!r}")
    assert [] == wrong, "\n".join(wrong)
    assert count >= 10  # calls, customers and recordings were all tried
    return count


def verdict(status: int, text: str) -> str:
    if status == 401:
        return "401"
    if status == 403 and any(d in text for d in DENIALS):
        return "403"
    return "ok"
