"""Callback pages over real HTTP: an operator's own list and new callbacks, supervisors'
reassign and cancel, each person seeing only their queues."""

from __future__ import annotations

import re

from sqlalchemy import select

from contact_center.bus.memory import MemoryBus
from contact_center.callbacks import http as callbacks_http
from contact_center.callbacks import store
from contact_center.config import load_settings
from contact_center.store.db import utcnow
from contact_center.store.models import Callback, Queue, User
from tests.integration.web_support import add_user, database, sign_in, web_server


async def csrf_of(browser: object, path: str = "/callbacks") -> tuple[str, str]:
    async with browser.http.get(browser.url(path)) as resp:  # type: ignore[attr-defined]
        page = await resp.text()
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match is not None
    return match.group(1), page


def listed(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-callback="(\d+)"', page)]


async def test_my_callbacks_supervisors_and_scope(db_url: str) -> None:
    async with database(db_url) as (_, sessions):
        anna = await add_user(sessions, "anna", "operator", "PJSIP/101")
        boris = await add_user(sessions, "boris", "operator", "PJSIP/102")
        await add_user(sessions, "sue", "supervisor")
        await add_user(sessions, "sam", "supervisor")
        async with sessions.begin() as db:
            for uid, queues in ((anna, {"support": 0}), (boris, {"sales": 0})):
                user = await db.get(User, uid)
                assert user is not None
                user.queues = queues
            db.add(Queue(name="support", supervisors={"logins": ["sue"]}))
            db.add(Queue(name="sales", supervisors={"logins": ["sam"]}))
            now = utcnow()
            unassigned = await store.create(
                db, key="1", number="+74951234567", queue="support", requested_by="", now=now
            )
            sales = await store.create(
                db, key="2", number="+74997654321", queue="sales", requested_by="", now=now
            )
        cfg = load_settings(environ={"CC_GENERAL_TIMEZONE": "Europe/Moscow"})
        async with web_server(sessions, MemoryBus(), plugins=[callbacks_http], cfg=cfg) as server:
            op = await sign_in(server, "anna")
            sue = await sign_in(server, "sue")
            try:
                token, page = await csrf_of(op)
                # anna sees her queue's unassigned callback, not sales'
                assert listed(page) == [unassigned.id]
                assert "My callbacks" in page and "caller (IVR)" in page
                # she schedules one for tomorrow 10:30 Moscow time, for herself
                async with op.http.post(
                    op.url("/callbacks"),
                    data={
                        "csrf_token": token,
                        "number": "8 (916) 111-22-33",
                        "queue": "support",
                        "when": "2030-01-10T10:30",
                        "note": "asked to call after the meeting",
                        "assign_to_me": "on",
                    },
                    headers={"X-CSRF-Token": token},
                    allow_redirects=False,
                ) as resp:
                    assert resp.status == 303
                async with sessions() as db:
                    mine = await db.scalar(select(Callback).where(Callback.requested_by == "anna"))
                assert mine is not None
                assert (mine.number, mine.assigned_login, mine.queue) == (
                    "+79161112233",
                    "anna",
                    "support",
                )
                assert store.aware(mine.due_at).isoformat() == "2030-01-10T07:30:00+00:00"  # type: ignore[arg-type]
                # a queue she does not take, a number that is not one: refused, said why
                async with op.http.post(
                    op.url("/callbacks"),
                    data={"csrf_token": token, "number": "+74951112233", "queue": "sales"},
                    headers={"X-CSRF-Token": token},
                ) as resp:
                    assert resp.status == 400
                    assert "you do not take calls of the queue sales" in await resp.text()
                async with op.http.post(
                    op.url("/callbacks"),
                    data={"csrf_token": token, "number": "hello", "queue": "support"},
                    headers={"X-CSRF-Token": token},
                ) as resp:
                    assert "is not a phone number we can dial" in await resp.text()
                # a time that is no time, one gone by, a customer who does not exist
                for wrong, said in (
                    ({"when": "tomorrow"}, "the time must look like 2026-12-07T10:30"),
                    ({"when": "2020-01-01T10:00"}, "that time has passed"),
                    ({"customer_id": "999999"}, "there is no customer 999999"),
                    ({"customer_id": "12a"}, "there is no customer 12a"),
                ):
                    async with op.http.post(
                        op.url("/callbacks"),
                        data={
                            "csrf_token": token,
                            "number": "+74951112233",
                            "queue": "support",
                            **wrong,
                        },
                        headers={"X-CSRF-Token": token},
                    ) as resp:
                        assert (400, True) == (resp.status, said in await resp.text()), wrong
                # sue supervises support: both support callbacks, reassigns one to boris…
                token_s, page_s = await csrf_of(sue)
                assert sorted(listed(page_s)) == sorted([unassigned.id, mine.id])
                # offered her queues' operators and her queues only; a supervisor is no operator
                offered = [o in page_s for o in ('<option value="anna"', '<option value="boris"')]
                assert [True, False] == offered
                assert '<option value="support">' in page_s
                assert '<option value="sales">' not in page_s
                async with sue.http.post(
                    sue.url(f"/callbacks/{unassigned.id}/reassign"),
                    data={"csrf_token": token_s, "login": "sam"},
                    headers={"X-CSRF-Token": token_s},
                    allow_redirects=False,
                ) as resp:
                    assert (400, "sam is not an active operator") == (
                        resp.status,
                        await resp.text(),
                    )
                async with sue.http.post(
                    sue.url(f"/callbacks/{unassigned.id}/reassign"),
                    data={"csrf_token": token_s, "login": "anna"},
                    headers={"X-CSRF-Token": token_s},
                    allow_redirects=False,
                ) as resp:
                    assert resp.status == 303
                # …cancels the other; sales' callback is not hers to touch
                async with sue.http.post(
                    sue.url(f"/callbacks/{mine.id}/cancel"),
                    data={"csrf_token": token_s},
                    headers={"X-CSRF-Token": token_s},
                    allow_redirects=False,
                ) as resp:
                    assert resp.status == 303
                async with sue.http.post(
                    sue.url(f"/callbacks/{sales.id}/cancel"),
                    data={"csrf_token": token_s},
                    headers={"X-CSRF-Token": token_s},
                ) as resp:
                    assert resp.status == 404
                async with sessions() as db:
                    rows = {r.id: r for r in (await db.scalars(select(Callback))).all()}
                assert rows[unassigned.id].assigned_login == "anna"
                assert rows[mine.id].status == "cancelled"
                assert rows[sales.id].status == "pending"
                # the JSON list says the same as the page
                async with op.http.get(op.url("/api/callbacks")) as resp:
                    items = (await resp.json())["items"]
                assert [(i["id"], i["assigned_login"]) for i in items] == [(unassigned.id, "anna")]
                # the wallboard's counts: sue's queues only (the cancelled one is gone)
                async with sue.http.get(sue.url("/api/callbacks/summary")) as resp:
                    counts = await resp.json()
                assert (counts["waiting"], counts["dialing"], sorted(counts["queues"])) == (
                    1,
                    0,
                    ["support"],
                )
                async with op.http.get(op.url("/api/callbacks/summary")) as resp:
                    assert resp.status == 403  # operators have their own list
            finally:
                await op.close()
                await sue.close()
