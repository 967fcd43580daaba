"""Who answers at a ringing interface: the screen pop's operator directory.

A pop must never wait for the directory to be refreshed (it used to: every 30 s one pop
waited for a reload of the whole users table, and the first pop after a start always did).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import POPS, MemoryBus
from contact_center.calls import events as ev
from contact_center.customers.lookup import CustomerLookup
from contact_center.screenpop import ScreenPop
from contact_center.screenpop.service import OperatorDirectory
from contact_center.store.db import create_engine, session_factory
from contact_center.store.models import Base, User
from tests.conftest import wait_for
from tests.integration.web_support import add_user, database

ALICE, CAROL = "Local/101@agents", "Local/103@agents"
T0 = 1_790_000_000.0


def call(call_id: str, interface: str, at: float = T0) -> list[ev.DomainEvent]:
    b: dict[str, Any] = {"server": "pbx1", "call_id": call_id}
    return [
        ev.CallArrived(
            **b, at=at, caller_number="", caller_number_raw="84951234567", caller_name="Ivan"
        ),
        ev.CallQueued(**b, at=at + 1, queue="support", position=1),
        ev.CallOffered(**b, at=at + 5, queue="support", interface=interface, member_name="op"),
    ]


async def ring(pops: ScreenPop, call_id: str, interface: str, at: float = T0) -> None:
    """The call arrives, queues and rings ``interface``; returns when its pops are out."""
    for event in call(call_id, interface, at):
        await pops.feed(event)
    await pops.settle()


async def any_pop(bus: MemoryBus, call_id: str) -> bool:
    return bool(await popped_to(bus, call_id))


async def popped_to(bus: MemoryBus, call_id: str) -> list[str]:
    entries = await bus.read(POPS, "0", count=1000)
    return [m["to"] for _, m in entries if m["type"] == "pop" and m["call_id"] == call_id]


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database(db_url) as (_, factory):
        await add_user(factory, "alice", "operator", ALICE)
        yield factory


async def started(
    bus: MemoryBus,
    sessions: async_sessionmaker[AsyncSession],
    ttl: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> ScreenPop:
    pops = ScreenPop(
        bus,
        CustomerLookup(sessions, region="RU"),
        sessions,
        directory=OperatorDirectory(sessions, ttl, clock=clock),
    )
    await pops.start()
    return pops


async def test_a_stale_directory_pops_from_its_table_while_the_reload_waits_on_the_database(
    postgres_url: str,
) -> None:
    async with database(postgres_url) as (_, sessions):
        await add_user(sessions, "alice", "operator", ALICE)
        bus = MemoryBus()
        pops = await started(bus, sessions, ttl=0.05)
        await asyncio.sleep(0.1)  # the table is stale now
        url = make_url(postgres_url)
        schema = url.query["search_path"]
        locker = await asyncpg.connect(
            url.set(drivername="postgresql").set(query={}).render_as_string(hide_password=False)
        )
        try:
            # Another transaction holds the users table: a reload would wait for it.
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute(f'LOCK TABLE "{schema}".users IN ACCESS EXCLUSIVE MODE')
            for event in call("c1", ALICE):
                await pops.feed(event)
            await wait_for(lambda: any_pop(bus, "c1"), timeout=5)
            assert ["alice"] == await popped_to(bus, "c1")
            reloading = pops.directory._reloading
            assert reloading is not None and not reloading.done()  # still waiting on the lock
            await transaction.rollback()
            await asyncio.wait_for(asyncio.shield(reloading), 5)
        finally:
            await locker.close()
            await pops.close()


async def test_an_operator_added_after_start_gets_the_pop_of_their_first_call(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = MemoryBus()
    now = [1000.0]
    pops = await started(bus, sessions, clock=lambda: now[0])
    try:
        await add_user(sessions, "carol", "operator", CAROL)
        now[0] += 1.1  # a miss reloads at most once a second
        await ring(pops, "c1", CAROL)
        assert ["carol"] == await popped_to(bus, "c1")
    finally:
        await pops.close()


async def test_a_deactivated_operator_stops_getting_pops_once_the_table_is_refreshed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = MemoryBus()
    pops = await started(bus, sessions, ttl=0.05)
    try:
        async with sessions.begin() as db:
            await db.execute(update(User).where(User.login == "alice").values(active=False))
        await asyncio.sleep(0.1)
        # The stale table answers this pop and is refreshed beside it.
        await ring(pops, "c1", ALICE)
        reloading = pops.directory._reloading
        assert reloading is not None
        await asyncio.wait_for(asyncio.shield(reloading), 5)
        await ring(pops, "c2", ALICE, at=T0 + 60)
        assert [] == await popped_to(bus, "c2")
    finally:
        await pops.close()


async def test_a_database_not_ready_at_start_is_logged_and_the_first_pop_loads_the_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}")
    sessions = session_factory(engine)
    bus = MemoryBus()
    try:
        with caplog.at_level(logging.WARNING, logger="contact_center.screenpop.service"):
            pops = await started(bus, sessions)  # not migrated yet: no users table
        assert "operator directory not loaded: " in caplog.text
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            await add_user(sessions, "alice", "operator", ALICE)
            await ring(pops, "c1", ALICE)
            assert ["alice"] == await popped_to(bus, "c1")
        finally:
            await pops.close()
    finally:
        await engine.dispose()
