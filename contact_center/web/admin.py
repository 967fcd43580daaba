"""``/admin``: the administrator's landing page — who can sign in, with which role, phone and
queues, and where the other administration pages are.

Users are created and changed with ``contact-center users`` for now; this page shows them as
people see them (names first, the phone interface as detail).
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from contact_center.store.models import User
from contact_center.web.auth import Role, require_role
from contact_center.web.keys import SESSIONS_KEY
from contact_center.web.shell import ROLE_LABELS

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


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", admin_page, name="admin")
