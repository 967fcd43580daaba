"""``/admin``: the administrator's landing page — who can sign in, with which role, phone and
queues, and where the other administration pages are.

Users are created and changed with ``contact-center users`` for now; this page shows them as
people see them (names first, the phone interface as detail), and ends a user's sessions
(``POST /admin/users/{id}/signout``: every session revoked, their websockets closed on every
web instance).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from contact_center.bus.base import POPS, BusError
from contact_center.store.models import User
from contact_center.web.auth import Role, end_user_sessions, require_role
from contact_center.web.keys import BUS_KEY, HUB_KEY, SESSIONS_KEY, redirect
from contact_center.web.shell import ROLE_LABELS

log = logging.getLogger(__name__)

ROLE_ORDER = (Role.OPERATOR, Role.SUPERVISOR, Role.QA, Role.ADMIN)


@require_role(Role.ADMIN)
@aiohttp_jinja2.template("admin.html")
async def admin_page(request: web.Request) -> dict[str, Any]:
    async with request.app[SESSIONS_KEY]() as db:
        users = list((await db.scalars(select(User))).all())
    order: dict[str, int] = {role: n for n, role in enumerate(ROLE_ORDER)}
    users.sort(key=lambda u: (order.get(u.role, len(order)), (u.display_name or u.login).lower()))
    rows = [
        {
            "id": u.id,
            "name": u.display_name or u.login,
            "login": u.login,
            "role": ROLE_LABELS.get(u.role, u.role),
            "interface": u.interface,
            "queues": ", ".join(sorted(u.queues or {})),
            "active": u.active,
        }
        for u in users
    ]
    counts = {ROLE_LABELS[r]: sum(1 for u in users if u.role == r and u.active) for r in ROLE_ORDER}
    return {"title": "Administration", "users": rows, "counts": counts}


@require_role(Role.ADMIN)
async def end_sessions(request: web.Request) -> web.StreamResponse:
    """End every session of a user: revoked in the database (every instance refuses them),
    their sockets here closed now, the other instances told through the bus."""
    raw = request.match_info["user_id"]
    user_id = int(raw) if raw.isdigit() and len(raw) < 19 else 0
    async with request.app[SESSIONS_KEY]() as db:
        if user_id == 0 or await db.get(User, user_id) is None:
            raise web.HTTPNotFound(text="no such user")
    ended = await end_user_sessions(request.app[SESSIONS_KEY], user_id)
    for session_id in ended:
        request.app[HUB_KEY].close_session(session_id)
        try:
            await request.app[BUS_KEY].publish(POPS, {"type": "signout", "session": session_id})
        except BusError as exc:
            log.warning("sign-out not broadcast to other instances: %s", exc)
    return redirect("/admin")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", admin_page, name="admin")
    app.router.add_post("/admin/users/{user_id}/signout", end_sessions, name="admin_signout")
