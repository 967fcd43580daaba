"""The recording index follows a call's recording events into the recordings table."""

from __future__ import annotations

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


async def feed(indexer: RecordingIndexer, events: list[DomainEvent]) -> None:
    for event in events:
        await indexer.handle(event)


async def only_recording(sessions) -> Recording:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        rows = (await session.scalars(select(Recording))).all()
    assert 1 == len(rows)
    return rows[0]


async def test_call_hangup_finalises_the_recording(db_url: str) -> None:
    wakes: list[int] = []
    async with database(db_url) as sessions:
        indexer = RecordingIndexer(sessions, on_stopped=lambda: wakes.append(1))

        await feed(indexer, [started(), answered(), ended(T_ANSWER + 6)])

        rec = await only_recording(sessions)
        assert (NAME, "stopped", "answered") == (rec.file_name, rec.status, rec.outcome)
        assert ("support", "Local/101@agents") == (rec.queue, rec.operator_interface)
        assert from_epoch(T_ANSWER + 6) == rec.stopped_at.replace(tzinfo=from_epoch(0).tzinfo)
        assert [1] == wakes


async def test_card_payment_pause_is_marked_as_a_gap(db_url: str) -> None:
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


async def test_stop_mixmonitor_then_restart_makes_two_recordings(db_url: str) -> None:
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


async def test_replayed_events_change_nothing(db_url: str) -> None:
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


async def test_customer_and_operator_are_linked(db_url: str) -> None:
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


async def test_identified_caller_is_linked(db_url: str) -> None:
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


async def test_file_names_from_events_are_checked(db_url: str) -> None:
    async with database(db_url) as sessions:
        indexer = RecordingIndexer(sessions)

        await feed(
            indexer,
            [started(file="/var/spool/asterisk/monitor/.."), started(file="bad name;rm -rf.wav")],
        )

        async with sessions() as session:
            assert [] == (await session.scalars(select(Recording))).all()
