"""A stop while the history writer has a backlog to write ends within its bound and loses
nothing: what is not written is on disk (the spill) for the next start.

The writer stops while SQLite is held by another writer (a batch of billing or of the
recording index, another process): a write then waits for SQLite's lock. The close used
to take its own stop (the bound running out) for the flusher's and swallow it, then wait
for the lock and write the rest of the backlog: the stop ran past its bound, and the tasks
it left behind held ``asyncio.run`` after it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from sqlalchemy import select

from contact_center import aio
from contact_center.calls import events as ev
from contact_center.history.buffer import SpillBuffer
from contact_center.history.describe import event_key, is_history
from contact_center.history.writer import HistoryWriter
from contact_center.store import models
from tests.integration.history_support import T0, answered_call, database


def backlog(calls: int) -> list[ev.DomainEvent]:
    return [e for i in range(calls) for e in answered_call(f"7.{i}", t0=T0 + i) if is_history(e)]


async def written_keys(sessions: object) -> set[str]:
    async with sessions() as session:  # type: ignore[operator]
        return set((await session.execute(select(models.InteractionEvent.key))).scalars())


def hold_sqlite(url: str) -> sqlite3.Connection:
    """A second connection to the database file, usable from a thread."""
    path = url.split("///", 1)[1]
    return sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)


async def test_closing_the_writer_while_sqlite_is_held_ends_in_bound_and_spills_the_rest(
    sqlite_url: str, tmp_path: Path
) -> None:
    spill = tmp_path / "spill"
    events = backlog(60)
    async with database(sqlite_url) as sessions:
        writer = HistoryWriter(sessions, spill_dir=spill, batch_size=50, flush_interval=0.05)
        for event in events[:120]:
            await writer.handle(event)  # written at once: the database is free
        assert len(await written_keys(sessions)) > 0
        # taken in a thread, with a long busy timeout: the writer may be mid-transaction, and
        # it needs this loop to finish it (a blocking BEGIN here: "database is locked" on CI)
        holder = hold_sqlite(sqlite_url)
        await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")  # another writer holds it
        for event in events[120:]:
            writer.buffer.put(ev.to_dict(event))  # the backlog the flusher is on
        await writer.start()
        await asyncio.sleep(0.3)  # the flusher waits for the lock
        started = time.monotonic()
        try:
            await aio.wait_for(writer.close(), 0.5)  # a stop's bound (Service.on_stop)
            closed = "in time"
        except TimeoutError:
            closed = "cut at its bound"
        took = time.monotonic() - started
        holder.execute("ROLLBACK")
        holder.close()
        # the flusher told to stop ends once SQLite answers: nothing left to hold the loop
        flushers = [t for t in asyncio.all_tasks() if t.get_name() == "history-writer"]
        done, pending = await asyncio.wait(flushers, timeout=40) if flushers else (set(), set())
        assert not pending
        assert all(t.cancelled() for t in done)

        assert "cut at its bound" == closed
        assert took < 5  # not SQLite's 30 s lock timeout, nor the backlog's writing
        on_disk = SpillBuffer(spill)  # what the next start writes
        spilled = {event_key(ev.from_dict(item)) for item in on_disk.peek(len(on_disk))}
        stored = await written_keys(sessions)
        assert {event_key(e) for e in events} <= stored | spilled
        assert len(spilled) > 0
        json.dumps(sorted(spilled))  # the spill is JSON lines a restart reads back


async def test_stopping_the_service_while_history_has_a_backlog_ends_and_loses_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The embedded default (SQLite, in-process bus) stopped while the history consumer is
    on a backlog and SQLite is held: the stop ends (each step within its bound), the tasks
    it had to leave behind end as soon as SQLite answers (nothing holds ``asyncio.run``),
    and every event is in the database, in the spill, or unacknowledged on the bus."""
    from contact_center.bus.base import EVENTS
    from contact_center.service import Service
    from tests.e2e.service_support import rig_settings

    settings = rig_settings(tmp_path, sqlite_url)
    service = Service(settings, "worker", stop_step=0.5)
    await service.start()
    core = service.need_core()
    events = backlog(80)
    for event in events[:100]:
        await core.bus.publish(EVENTS, ev.to_dict(event))
    for _ in range(200):  # the consumer is at work on the database
        if await written_keys(core.sessions):
            break
        await asyncio.sleep(0.05)
    # taken in a thread, with a long busy timeout: the writer may be mid-transaction, and
    # it needs this loop to finish it (a blocking BEGIN here: "database is locked" on CI)
    holder = hold_sqlite(sqlite_url)
    await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")
    for event in events[100:]:
        await core.bus.publish(EVENTS, ev.to_dict(event))
    await asyncio.sleep(0.5)  # the history consumer and its flusher wait for the lock
    before = asyncio.all_tasks()
    started = time.monotonic()
    await service.stop()
    took = time.monotonic() - started
    holder.execute("ROLLBACK")
    holder.close()
    left = [t for t in before if t is not asyncio.current_task() and not t.done()]
    _, still = await asyncio.wait(left, timeout=40) if left else (set(), set())

    assert not still, [t.get_name() for t in still]
    assert took < 15  # the stop's steps, not SQLite's 30 s lock timeout per writer
    on_bus: set[str] = set()
    while unacked := await core.bus.consume(  # what a next start reads: pending, then new
        EVENTS, "history", "next-start", count=10_000, claim_idle_ms=0
    ):
        on_bus |= {event_key(ev.from_dict(message)) for _, message in unacked}
        await core.bus.ack(EVENTS, "history", *(sid for sid, _ in unacked))
    on_disk = SpillBuffer(tmp_path / "data" / "history-spill")
    spilled = {event_key(ev.from_dict(item)) for item in on_disk.peek(len(on_disk))}
    async with database(sqlite_url) as sessions:
        stored = await written_keys(sessions)
    missing = {event_key(e) for e in events} - stored - spilled - on_bus
    assert not missing, (len(missing), len(events), len(stored), len(spilled), len(on_bus), took)
