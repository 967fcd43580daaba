"""Console actions over HTTP: wrap-up into the history, identify/create the caller, state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import EVENTS, POPS, MemoryBus
from contact_center.customers.lookup import CustomerLookup
from contact_center.store.db import utcnow
from contact_center.store.models import Call, InteractionEvent, User
from contact_center.web.keys import HUB_KEY
from tests.conftest import wait_for
from tests.integration.web_support import (
    SQLITE_ONLY,
    add_customer,
    add_user,
    database,
    sign_in,
    web_server,
)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database(db_url) as (_, sessions):
        await add_user(sessions, "alice", "operator", "Local/101@agents")
        yield sessions


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


async def popped(server: TestServer, bus: MemoryBus, login: str, call_id: str) -> None:
    """The call rang for ``login`` (the screen pop told this web instance so)."""
    message = {"type": "pop", "to": login, "server": "pbx1", "call_id": call_id, "html": ""}
    await bus.publish(POPS, message)
    await wait_for(lambda: server.app[HUB_KEY].was_popped(login, "pbx1", call_id))


@pytest.fixture
async def server(db: async_sessionmaker[AsyncSession], bus: MemoryBus) -> AsyncIterator[TestServer]:
    async with web_server(db, bus) as srv:
        yield srv


async def test_wrapup_is_saved_in_the_history_once_and_published(
    server: TestServer, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    ivan = await add_customer(db, "Ivan", ["+74951234567"])
    async with db.begin() as s:  # the caller, as the history writer recorded the call
        s.add(Call(server="pbx1", linkedid="1700000000.1", customer_id=ivan, started_at=utcnow()))
    await popped(server, bus, "alice", "1700000000.1")
    alice = await sign_in(server, "alice")
    try:
        for notes in ["first draft", "Called about <b>invoice</b>"]:
            resp = await alice.post(
                "/api/calls/pbx1/1700000000.1/wrapup",
                {"disposition": "resolved", "notes": notes, "customer_id": str(ivan)},
            )
            assert 200 == resp.status, await resp.text()
    finally:
        await alice.close()
    async with db() as s:
        rows = (await s.execute(select(InteractionEvent))).scalars().all()
    assert [(ivan, "pbx1", "1700000000.1", "operator.wrapup", "alice", "Wrap-up: resolved")] == [
        (r.customer_id, r.server, r.call_linkedid, r.kind, r.actor, r.summary) for r in rows
    ]
    assert "Called about <b>invoice</b>" == rows[0].data["notes"]
    published = [m for _, m in await bus.read(EVENTS, "0")]
    assert 2 == len(published)
    last = published[-1]
    assert ("operator.action", "wrapup", "alice", ivan, rows[0].key) == (
        last["kind"],
        last["action"],
        last["user"],
        last["customer_id"],
        last["key"],
    )
    assert "resolved" == last["detail"]["disposition"]


@SQLITE_ONLY
async def test_a_wrapup_goes_only_to_the_calls_own_customer(
    server: TestServer, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    """Issue 21, item 3: a wrap-up naming another customer's id would write the notes into
    that customer's history; it is refused, and nothing is written."""
    ivan = await add_customer(db, "Ivan", ["+74951234567"])
    olga = await add_customer(db, "Olga", ["+74957654321"])
    async with db.begin() as s:
        s.add(Call(server="pbx1", linkedid="c9", customer_id=ivan, started_at=utcnow()))
    await popped(server, bus, "alice", "c9")
    alice = await sign_in(server, "alice")
    try:
        wrapup = {"disposition": "resolved", "notes": "secret", "customer_id": str(olga)}
        resp = await alice.post("/api/calls/pbx1/c9/wrapup", wrapup)
        assert (400, "No such customer on this call") == (resp.status, await resp.text())
        async with db() as s:
            assert [] == (await s.scalars(select(InteractionEvent))).all()
        # A customer the pop showed her for a call (matched by phone, not yet in the
        # history) is that call's customer.
        await bus.publish(
            POPS,
            {"type": "pop", "to": "alice", "server": "pbx1", "call_id": "c10", "html": "",
             "customer_id": None, "customer_ids": [ivan, olga]},
        )  # fmt: skip
        await wait_for(lambda: server.app[HUB_KEY].was_popped("alice", "pbx1", "c10"))
        resp = await alice.post("/api/calls/pbx1/c10/wrapup", wrapup)
        assert 200 == resp.status
    finally:
        await alice.close()


async def test_wrapup_without_disposition_is_refused(server: TestServer, bus: MemoryBus) -> None:
    await popped(server, bus, "alice", "c1")
    alice = await sign_in(server, "alice")
    try:
        resp = await alice.post("/api/calls/pbx1/c1/wrapup", {"notes": "x"})
        assert 400 == resp.status
        assert "Choose a disposition" == await resp.text()
    finally:
        await alice.close()


@SQLITE_ONLY
async def test_choosing_a_customer_publishes_caller_identified(
    server: TestServer, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    anna = await add_customer(db, "Anna", ["+74951112233"])
    await popped(server, bus, "alice", "c1")
    alice = await sign_in(server, "alice")
    try:
        assert (
            400 == (await alice.post("/api/calls/pbx1/c1/identify", {"customer_id": "999"})).status
        )
        resp = await alice.post("/api/calls/pbx1/c1/identify", {"customer_id": str(anna)})
        assert {"customer_id": anna} == await resp.json()
    finally:
        await alice.close()
    [(_, event)] = [e for e in await bus.read(EVENTS, "0")]
    assert ("call.identified", "pbx1", "c1", anna, "operator") == (
        event["kind"],
        event["server"],
        event["call_id"],
        event["customer_id"],
        event["method"],
    )


async def test_creating_the_unknown_caller_makes_them_findable_and_identifies_the_call(
    server: TestServer, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    await popped(server, bus, "alice", "c9")
    alice = await sign_in(server, "alice")
    try:
        bad = await alice.post("/api/customers", {"name": "X", "phone": "call me maybe"})
        assert 400 == bad.status
        resp = await alice.post(
            "/api/customers",
            {
                "name": "New Caller",
                "phone": "8 (495) 765-43-21",
                "company": "Shop",
                "server": "pbx1",
                "call_id": "c9",
            },
        )
        assert 201 == resp.status
        created = (await resp.json())["customer_id"]
    finally:
        await alice.close()
    [card] = await CustomerLookup(db, region="RU").by_number("+74957654321")
    assert (created, "New Caller", "Shop", ("+74957654321",)) == (
        card.id,
        card.name,
        card.company,
        card.phones,
    )
    [(_, event)] = await bus.read(EVENTS, "0")
    assert ("call.identified", "c9", created) == (
        event["kind"],
        event["call_id"],
        event["customer_id"],
    )


@SQLITE_ONLY
async def test_state_must_be_known(server: TestServer) -> None:
    alice = await sign_in(server, "alice")
    try:
        resp = await alice.post("/api/operator/state", {"state": "asleep"})
        assert 400 == resp.status
        assert "State must be one of available, paused, offline" == await resp.text()
    finally:
        await alice.close()


@SQLITE_ONLY
async def test_operators_act_only_on_calls_offered_to_them(
    server: TestServer, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(db, "bob", "operator", "Local/102@agents")
    sam_id = await add_user(db, "sam", "supervisor")
    await add_user(db, "sally", "supervisor")  # supervises no queue
    await popped(server, bus, "bob", "bobs-call")
    async with db.begin() as s:
        s.add(
            Call(
                server="pbx1",
                linkedid="older-call",
                operator_interface="Local/101@agents",
                started_at=utcnow(),
            )
        )
        s.add(Call(server="pbx1", linkedid="bobs-call", queue="support", started_at=utcnow()))
        s.add(Call(server="pbx1", linkedid="sales-call", queue="sales", started_at=utcnow()))
        sam = await s.get(User, sam_id)
        assert sam is not None
        sam.queues = {"support": 0}
    alice, sam, sally = [await sign_in(server, u) for u in ("alice", "sam", "sally")]
    try:
        wrapup = {"disposition": "resolved"}
        denied = await alice.post("/api/calls/pbx1/bobs-call/wrapup", wrapup)
        assert (403, "This call was not offered to you or to your queues") == (
            denied.status,
            await denied.text(),
        )
        assert (
            403
            == (await alice.post("/api/calls/pbx1/bobs-call/identify", {"customer_id": "1"})).status
        )
        # Known from the call record (e.g. popped before this web instance restarted).
        assert 200 == (await alice.post("/api/calls/pbx1/older-call/wrapup", wrapup)).status
        assert 200 == (await sam.post("/api/calls/pbx1/bobs-call/wrapup", wrapup)).status
        # Issue 21, item 5: supervisors act on the calls of their queues only.
        for who, call in ((sam, "sales-call"), (sally, "bobs-call"), (sally, "sales-call")):
            for action in ("hangup", "recording/pause", "recording/resume", "wrapup"):
                resp = await who.post(f"/api/calls/pbx1/{call}/{action}", wrapup)
                assert 403 == resp.status, (call, action)
    finally:
        await alice.close()
        await sam.close()
        await sally.close()
