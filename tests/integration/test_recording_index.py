"""The recording index follows a call's recording events into the recordings table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select

from contact_center.calls.events import (
    CallAnswered,
    CallEnded,
    CallerIdentified,
    DomainEvent,
    RecordingMuted,
    RecordingStarted,
    RecordingStopped,
)
from contact_center.recording.index import RecordingIndexer
from contact_center.store.db import from_epoch, utcnow
from contact_center.store.models import Call, Customer, Recording
from tests.integration.recording_support import database

# Identities and times as in 02-inbound-ivr-queue-answered.jsonl.
CALL = "1795344512.0"
FILE = "/var/spool/asterisk/monitor/20261122-104833-1795344512.1.wav"
NAME = "20261122-104833-1795344512.1.wav"
CHANNEL = "Local/4951110001@inbound-00000000;2"
T0 = 1795344513.938867  # MixMonitorStart
T_ANSWER = 1795344517.0


def started(at: float = T0, file: str = FILE) -> RecordingStarted:
    return RecordingStarted(server="pbx1", call_id=CALL, at=at, file=file, channel=CHANNEL)


def answered() -> CallAnswered:
    return CallAnswered(
        server="pbx1",
        call_id=CALL,
        at=T_ANSWER,
        queue="support",
        interface="Local/101@agents",
        member_name="Operator 101",
        hold_seconds=3,
        ring_seconds=1,
    )


def muted(at: float, state: bool) -> RecordingMuted:
    return RecordingMuted(server="pbx1", call_id=CALL, at=at, muted=state)


def ended(at: float) -> CallEnded:
    return CallEnded(server="pbx1", call_id=CALL, at=at, cause=16, outcome="answered")


Feed = Callable[[RecordingIndexer, list[DomainEvent]], Awaitable[None]]


@pytest.fixture(params=["one by one", "in one batch"])
def feed(request: pytest.FixtureRequest) -> Feed:
    """The events handed over one at a time, or as one batch (one transaction, as the
    service's consumer does): the same rows either way."""

    async def one_by_one(indexer: RecordingIndexer, events: list[DomainEvent]) -> None:
        for event in events:
            await indexer.handle(event)

    async def in_one_batch(indexer: RecordingIndexer, events: list[DomainEvent]) -> None:
        await indexer.handle_many(events)

    return one_by_one if request.param == "one by one" else in_one_batch


async def only_recording(sessions) -> Recording:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        rows = (await session.scalars(select(Recording))).all()
    assert 1 == len(rows)
    return rows[0]


async def test_call_hangup_finalises_the_recording(db_url: str, feed: Feed) -> None:
    wakes: list[int] = []
    async with database(db_url) as sessions:
        indexer = RecordingIndexer(sessions, on_stopped=lambda: wakes.append(1))

        await feed(indexer, [started(), answered(), ended(T_ANSWER + 6)])

        rec = await only_recording(sessions)
        assert (NAME, "stopped", "answered") == (rec.file_name, rec.status, rec.outcome)
        assert ("support", "Local/101@agents") == (rec.queue, rec.operator_interface)
        assert from_epoch(T_ANSWER + 6) == rec.stopped_at.replace(tzinfo=from_epoch(0).tzinfo)
        assert [1] == wakes


async def test_card_payment_pause_is_marked_as_a_gap(db_url: str, feed: Feed) -> None:
    async with database(db_url) as sessions:
        indexer = RecordingIndexer(sessions)

        await feed(
            indexer,
            [
                started(),
                answered(),
                muted(T_ANSWER + 2, True),
                muted(T_ANSWER + 2.5, True),  # duplicate mute
                muted(T_ANSWER + 4.25, False),
                muted(T_ANSWER + 5, True),  # still muted when the caller hangs up
                ended(T_ANSWER + 6),
            ],
        )

        rec = await only_recording(sessions)
        # Offsets count from the bridge: MixMonitor(b) records nothing while queued.
        assert [[2.0, 4.25, "muted"], [5.0, 6.0, "muted"]] == rec.pauses["gaps"]


async def test_stop_mixmonitor_then_restart_makes_two_recordings(db_url: str, feed: Feed) -> None:
    second = "/var/spool/asterisk/monitor/20261122-104840-1795344512.1.wav"
    async with database(db_url) as sessions:
        indexer = RecordingIndexer(sessions)

        await feed(
            indexer,
            [
                started(),
                answered(),
                RecordingStopped(server="pbx1", call_id=CALL, at=T_ANSWER + 1),
                started(at=T_ANSWER + 2, file=second),
                ended(T_ANSWER + 6),
            ],
        )

        async with sessions() as session:
            rows = (await session.scalars(select(Recording).order_by(Recording.id))).all()
        assert [(NAME, "stopped"), ("20261122-104840-1795344512.1.wav", "stopped")] == [
            (r.file_name, r.status) for r in rows
        ]
        assert ["answered", "answered"] == [r.outcome for r in rows]


async def test_replayed_events_change_nothing(db_url: str, feed: Feed) -> None:
    async with database(db_url) as sessions:
        indexer = RecordingIndexer(sessions)
        events: list[DomainEvent] = [
            started(),
            answered(),
            muted(T_ANSWER + 1, True),
            muted(T_ANSWER + 2, False),
            ended(T_ANSWER + 6),
        ]
        await feed(indexer, events)
        first = await only_recording(sessions)

        await feed(indexer, events)

        again = await only_recording(sessions)
        assert (first.status, first.pauses, first.stopped_at) == (
            again.status,
            again.pauses,
            again.stopped_at,
        )


async def test_customer_and_operator_are_linked(db_url: str, feed: Feed) -> None:
    async with database(db_url) as sessions:
        async with sessions() as session, session.begin():
            customer = Customer(name="Ivan Petrov", created_at=utcnow(), updated_at=utcnow())
            session.add(customer)
            await session.flush()
            session.add(
                Call(server="pbx1", linkedid=CALL, started_at=utcnow(), customer_id=customer.id)
            )
            customer_id = customer.id
        indexer = RecordingIndexer(sessions)

        await feed(indexer, [started(), answered(), ended(T_ANSWER + 6)])

        rec = await only_recording(sessions)
        assert customer_id == rec.customer_id


async def test_identified_caller_is_linked(db_url: str, feed: Feed) -> None:
    async with database(db_url) as sessions:
        async with sessions() as session, session.begin():
            customer = Customer(name="Maria", created_at=utcnow(), updated_at=utcnow())
            session.add(customer)
            await session.flush()
            customer_id = customer.id
        indexer = RecordingIndexer(sessions)

        await feed(
            indexer,
            [
                started(),
                CallerIdentified(
                    server="pbx1",
                    call_id=CALL,
                    at=T0 + 1,
                    customer_id=customer_id,
                    method="account",
                ),
            ],
        )

        assert customer_id == (await only_recording(sessions)).customer_id


async def test_file_names_from_events_are_checked(db_url: str, feed: Feed) -> None:
    async with database(db_url) as sessions:
        indexer = RecordingIndexer(sessions)

        await feed(
            indexer,
            [started(file="/var/spool/asterisk/monitor/.."), started(file="bad name;rm -rf.wav")],
        )

        async with sessions() as session:
            assert [] == (await session.scalars(select(Recording))).all()


async def test_a_batch_of_interleaved_calls_indexes_each_its_own(db_url: str) -> None:
    """Several calls' events mixed in one batch (as the bus hands them over): each file gets
    its own call's operator, outcome and stop, and the worker is woken."""
    other = "1795344600.7"
    other_file = "/var/spool/asterisk/monitor/20261122-105000-1795344600.7.wav"
    wakes: list[int] = []
    async with database(db_url) as sessions:
        indexer = RecordingIndexer(sessions, on_stopped=lambda: wakes.append(1))
        second_started = RecordingStarted(
            server="pbx1", call_id=other, at=T0 + 1, file=other_file, channel=CHANNEL
        )
        second_answered = CallAnswered(
            server="pbx1", call_id=other, at=T_ANSWER + 1, queue="sales",
            interface="Local/102@agents", member_name="Operator 102", hold_seconds=2,
            ring_seconds=1,
        )  # fmt: skip
        second_ended = CallEnded(
            server="pbx1", call_id=other, at=T_ANSWER + 9, cause=16, outcome="answered"
        )

        await indexer.handle_many(
            [started(), second_started, answered(), second_answered, ended(T_ANSWER + 6)]
        )
        await indexer.handle_many([second_ended])

        async with sessions() as session:
            rows = (await session.scalars(select(Recording).order_by(Recording.id))).all()
        assert [
            (NAME, "Local/101@agents", "support", "stopped"),
            ("20261122-105000-1795344600.7.wav", "Local/102@agents", "sales", "stopped"),
        ] == [(r.file_name, r.operator_interface, r.queue, r.status) for r in rows]
        assert [1, 1] == wakes


async def test_a_stop_during_a_batch_loses_nothing(db_url: str) -> None:
    """The consumer is stopped while its batch's transaction runs: the batch is written and
    acknowledged — not lost, and not handed out again to whoever consumes next."""
    import asyncio
    import contextlib

    from contact_center.bus.memory import MemoryBus
    from contact_center.bus.pump import pump
    from contact_center.calls.events import from_dict, to_dict

    bus = MemoryBus(maxlen=1000)
    for event in [started(), answered(), ended(T_ANSWER + 6)]:
        await bus.publish("events", to_dict(event))
    async with database(db_url) as sessions:
        indexer = RecordingIndexer(sessions)
        inside, go_on = asyncio.Event(), asyncio.Event()

        async def many(messages: list[dict[str, object]]) -> None:
            inside.set()
            await go_on.wait()  # the stop arrives here, mid-batch
            await indexer.handle_many([from_dict(dict(m)) for m in messages])

        async def one(message: dict[str, object]) -> None:
            await indexer.handle(from_dict(dict(message)))

        task = asyncio.create_task(
            pump(bus, "events", one, group="recording", consumer="c", block_ms=10, many=many)
        )
        await asyncio.wait_for(inside.wait(), 5)
        task.cancel()
        await asyncio.sleep(0.05)  # the stop is under way
        assert not task.done()  # … waiting for the batch, not cutting it off
        go_on.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

        rec = await only_recording(sessions)
        assert ("stopped", "answered") == (rec.status, rec.outcome)
        left = await bus.consume("events", "recording", "next", block_ms=0, claim_idle_ms=0)
        assert [] == left
