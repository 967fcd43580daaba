"""The operator workspace's store on SQLite and PostgreSQL: a wrap-up is kept from the first
keystroke until saved (a new web instance — a restart — still owes it and shows what was
typed), saving sets the call's disposition (also during the call) and the history once;
contact corrections are audited on the customer's timeline; the forms are checked in one
place."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import POPS, MemoryBus
from contact_center.calls import events as ev
from contact_center.history.writer import HistoryWriter
from contact_center.store.db import utcnow
from contact_center.store.models import Call, CallLeg, Customer, InteractionEvent, Wrapup
from contact_center.web import workspace_store as store
from contact_center.web.keys import HUB_KEY
from tests.conftest import wait_for
from tests.integration.web_support import add_customer, add_user, database, sign_in, web_server

ANNA = "Local/101@agents"
BORIS = "Local/102@agents"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database(db_url) as (_, sessions):
        await add_user(sessions, "anna", "operator", ANNA)
        await add_user(sessions, "boris", "operator", BORIS)
        yield sessions


async def add_call(
    db: async_sessionmaker[AsyncSession],
    linkedid: str,
    *,
    operator: str = ANNA,
    customer_id: int | None = None,
    answered: bool = True,
    ended: bool = True,
    minutes_ago: float = 5,
    disposition: str = "",
    second_operator: str = "",
) -> int:
    start = utcnow() - timedelta(minutes=minutes_ago)
    async with db.begin() as s:
        call = Call(
            server="pbx1",
            linkedid=linkedid,
            customer_id=customer_id,
            caller_number="+74951234567",
            operator_interface=operator,
            started_at=start,
            answered_at=start + timedelta(seconds=10) if answered else None,
            ended_at=start + timedelta(minutes=2) if ended else None,
            talk_seconds=110.0,
            outcome="answered" if answered else "abandoned",
            disposition=disposition,
        )
        s.add(call)
        await s.flush()
        if second_operator:
            s.add(
                CallLeg(
                    call_id=call.id,
                    server="pbx1",
                    uniqueid=linkedid + ".9",
                    channel=second_operator,
                    role="operator",
                    started_at=start + timedelta(minutes=1),
                )
            )
        return call.id


async def save(db: async_sessionmaker[AsyncSession], call_id: str, fields: dict) -> Any:
    """Anna saves her wrap-up of ``call_id`` from the console."""
    return await store.save_wrapup(
        db,
        server="pbx1",
        call_id=call_id,
        login="anna",
        interface=ANNA,
        form=store.WrapupForm.parse(fields),
        at=time.time(),
    )


def form(disposition: str = "resolved", notes: str = "", customer_id: int | None = None) -> dict:
    return {
        "disposition": disposition,
        "notes": notes,
        "customer_id": "" if customer_id is None else str(customer_id),
    }


async def test_the_wrapups_owed_are_the_answered_calls_without_one(
    db: async_sessionmaker[AsyncSession],
) -> None:
    ivan = await add_customer(db, "Иван Петров", ["+74951234567"])
    await add_call(db, "owed", customer_id=ivan)
    await add_call(db, "done-by-demo", disposition="sale")  # already has a disposition
    await add_call(db, "missed", answered=False)  # nobody talked: nothing to wrap up
    await add_call(db, "yesterday", minutes_ago=60 * 20)  # outside the window
    await add_call(db, "borises", operator=BORIS)
    await add_call(db, "passed-to-boris", second_operator=BORIS)  # boris had a leg of it

    anna = await store.pending_wrapups(db, login="anna", interface=ANNA)
    boris = await store.pending_wrapups(db, login="boris", interface=BORIS)

    assert [("owed", ivan, "Иван Петров"), ("passed-to-boris", None, "")] == [
        (p.call_id, p.customer_id, p.customer_name) for p in anna
    ]
    assert ["borises", "passed-to-boris"] == [p.call_id for p in boris]


async def test_a_draft_survives_and_saving_settles_it_once(
    db: async_sessionmaker[AsyncSession],
) -> None:
    ivan = await add_customer(db, "Ivan", ["+74951234567"])
    await add_call(db, "c1", customer_id=ivan)
    draft = store.WrapupForm.parse(form("", "half typed", ivan), draft=True)
    await store.save_draft(
        db, server="pbx1", call_id="c1", login="anna", form=draft, at=time.time()
    )
    # what a reload (or a new web process) reads back: the call still owed, with the text
    [owed] = await store.pending_wrapups(db, login="anna", interface=ANNA)
    assert ("c1", "", "half typed", ivan) == (
        owed.call_id,
        owed.disposition,
        owed.notes,
        owed.customer_id,
    )

    for notes in ("first", "corrected"):
        event = await save(db, "c1", form("callback", notes, ivan))
    assert [] == await store.pending_wrapups(db, login="anna", interface=ANNA)
    async with db() as s:
        call = (await s.execute(select(Call).where(Call.linkedid == "c1"))).scalar_one()
        rows = (await s.execute(select(InteractionEvent))).scalars().all()
        [kept] = (await s.execute(select(Wrapup))).scalars().all()
    assert "callback" == call.disposition
    assert [("operator.wrapup", "anna", ivan, "corrected")] == [
        (r.kind, r.actor, r.customer_id, r.data["notes"]) for r in rows
    ]
    assert event.key == rows[0].key
    assert ("callback", "corrected", True) == (
        kept.disposition,
        kept.notes,
        kept.saved_at is not None,
    )
    # a late draft (a slow request from the page) does not reopen a saved wrap-up
    late = store.WrapupForm.parse(form("", "stale"), draft=True)
    await store.save_draft(db, server="pbx1", call_id="c1", login="anna", form=late, at=1.0)
    assert [] == await store.pending_wrapups(db, login="anna", interface=ANNA)


async def test_a_wrapup_saved_during_the_call_sets_its_disposition(
    db: async_sessionmaker[AsyncSession],
) -> None:
    await add_call(db, "live", ended=False)
    await save(db, "live", form("sale"))
    async with db() as s:
        call = (await s.execute(select(Call).where(Call.linkedid == "live"))).scalar_one()
    assert ("sale", None) == (call.disposition, call.ended_at)


async def test_a_wrapup_saved_before_the_calls_row_is_written_keeps_its_disposition(
    db: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    # The history writer batches: an operator may save her wrap-up before the call's row
    # exists (seen in CI on a busy machine). The writer then skips the wrap-up's event (the
    # save wrote its history row under the same key), so the save itself must leave the
    # disposition where the call's row will be — and the call's events fill that row in.
    await save(db, "early", form("sale"))
    started = time.time() - 30
    writer = HistoryWriter(db, spill_dir=tmp_path / "spill")
    await writer.handle(
        ev.CallArrived(
            server="pbx1", call_id="early", at=started, key="arrived-early",
            caller_number="+74951234567", caller_number_raw="+74951234567", caller_name="Ivan",
        )
    )  # fmt: skip
    key = store.wrapup_key("pbx1", "early", "anna")
    await writer.handle(
        ev.OperatorAction(
            server="pbx1", call_id="early", at=time.time(), key=key,
            user="anna", action="wrapup", detail={"disposition": "sale", "notes": ""},
        )
    )  # fmt: skip
    await writer.flush()
    async with db() as s:
        call = (await s.execute(select(Call).where(Call.linkedid == "early"))).scalar_one()
        rows = (await s.execute(select(InteractionEvent.kind))).scalars().all()
    assert ("sale", "+74951234567") == (call.disposition, call.caller_number)
    assert abs(call.started_at.timestamp() - started) < 1  # the arrival's, not the save's
    assert sorted(rows) == ["call.arrived", "operator.wrapup"]


@pytest.mark.parametrize(
    ("fields", "draft", "reason"),
    [
        ({"notes": "x"}, False, "Choose a disposition"),
        ({"disposition": "x" * 81}, False, "Disposition is longer than 80 characters"),
        ({"disposition": "resolved", "notes": "n" * 4001}, False, "Notes is longer than"),
        ({"disposition": "bogus"}, False, "Unknown disposition: bogus"),
        ({"disposition": "resolved", "customer_id": "12a"}, False, "customer_id must be a number"),
        ({"disposition": "resolved", "notes": "bell\x07"}, True, "control characters"),
    ],
)
def test_the_wrapup_form_is_checked_in_one_place(
    fields: dict[str, str], draft: bool, reason: str
) -> None:
    with pytest.raises(store.InvalidInput, match=reason):
        store.WrapupForm.parse(fields, draft=draft, allowed=("resolved", "sale"))
    assert "" == store.WrapupForm.parse({}, draft=True).disposition  # a draft may be empty


async def test_contact_corrections_are_on_the_timeline_with_who_made_them(
    db: async_sessionmaker[AsyncSession],
) -> None:
    ivan = await add_customer(db, "Ivan", ["+74951234567"], email="old@example.com")
    changed = await store.update_contact(
        db,
        ivan,
        {"email": "ivan@example.com", "address": "Москва, Тверская 1", "name": "Ivan"},
        login="anna",
        server="pbx1",
        call_id="c1",
        at=time.time(),
    )
    assert {"email": "ivan@example.com", "address": "Москва, Тверская 1"} == changed
    assert {} == await store.update_contact(
        db, ivan, {"email": "ivan@example.com"}, login="anna", at=time.time()
    )
    with pytest.raises(store.InvalidInput, match="Not an email address"):
        await store.update_contact(db, ivan, {"email": "nope"}, login="anna", at=time.time())
    with pytest.raises(store.InvalidInput, match="Name is required"):
        await store.update_contact(db, ivan, {"name": " "}, login="anna", at=time.time())
    async with db() as s:
        customer = await s.get(Customer, ivan)
        rows = (await s.execute(select(InteractionEvent))).scalars().all()
    assert customer is not None and "ivan@example.com" == customer.email
    [row] = rows
    assert ("customer.updated", "anna", "c1") == (row.kind, row.actor, row.call_linkedid)
    assert {"email": "old@example.com", "address": ""} == row.data["before"]


async def test_over_http_a_restarted_web_still_shows_the_wrapup_owed(
    db: async_sessionmaker[AsyncSession],
) -> None:
    """The draft goes to the server as the operator types; a new web instance (the service
    restarted: no pops remembered) lists the call with what was typed, saving ends it."""
    ivan = await add_customer(db, "Ivan", ["+74951234567"])
    await add_call(db, "c7", customer_id=ivan)
    bus = MemoryBus()
    async with web_server(db, bus) as server:
        message = {"type": "pop", "to": "anna", "server": "pbx1", "call_id": "c7", "html": ""}
        await bus.publish(POPS, message)
        await wait_for(lambda: server.app[HUB_KEY].was_popped("anna", "pbx1", "c7"))
        anna = await sign_in(server, "anna")
        try:
            resp = await anna.post(
                "/api/calls/pbx1/c7/wrapup/draft", {"notes": "wants a refund", "disposition": ""}
            )
            assert 200 == resp.status, await resp.text()
        finally:
            await anna.close()
    async with web_server(db, MemoryBus()) as restarted:
        anna = await sign_in(restarted, "anna")
        try:
            async with anna.http.get(anna.url("/api/operator/wrapups")) as resp:
                owed = await resp.json()
            assert [("c7", "wants a refund", ivan, "Ivan")] == [
                (i["call_id"], i["notes"], i["customer_id"], i["customer_name"])
                for i in owed["items"]
            ]
            assert "resolved" in owed["dispositions"]
            resp = await anna.post(
                "/api/calls/pbx1/c7/wrapup",
                {"disposition": "resolved", "notes": "refund sent", "customer_id": str(ivan)},
            )
            assert 200 == resp.status, await resp.text()
            async with anna.http.get(anna.url("/api/operator/wrapups")) as resp:
                assert [] == (await resp.json())["items"]
            bad = await anna.post("/api/calls/pbx1/c7/wrapup", {"notes": "no disposition"})
            assert (400, "Choose a disposition") == (bad.status, await bad.text())
        finally:
            await anna.close()
