"""The history writer against SQLite and PostgreSQL: rows, call rows, idempotency, customers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from contact_center.calls import events as ev
from contact_center.history.writer import HistoryWriter
from contact_center.store import models
from tests.integration.history_support import (
    HISTORY_EVENTS_PER_CALL,
    T0,
    Sessions,
    add_customer,
    answered_call,
    count,
    database,
)


async def write_all(writer: HistoryWriter, events: list[ev.DomainEvent]) -> None:
    for event in events:
        await writer.handle(event)
    await writer.flush()


async def the_call(sessions: Sessions, linkedid: str) -> models.Call:
    async with sessions() as session:
        stmt = select(models.Call).where(models.Call.linkedid == linkedid)
        return (await session.execute(stmt)).scalar_one()


async def test_a_call_becomes_history_rows_and_a_call_row(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        await write_all(writer, answered_call("1700000000.1"))

        assert HISTORY_EVENTS_PER_CALL == await count(sessions, models.InteractionEvent)
        call = await the_call(sessions, "1700000000.1")
        assert ("+74951234567", "Ivan Petrov", "8800") == (
            call.caller_number,
            call.caller_name,
            call.did,
        )
        assert ("support", "PJSIP/101", "answered", 16, 95.0, 4.0, "resolved") == (
            call.queue,
            call.operator_interface,
            call.outcome,
            call.hangup_cause,
            call.talk_seconds,
            call.wait_seconds,
            call.disposition,
        )
        # The PIN typed in a sensitive step is never stored.
        assert "2****" == call.ivr_path["digits"]
        assert call.answered_at is not None and call.ended_at is not None
        async with sessions() as session:
            legs = (await session.execute(select(models.CallLeg))).scalars().all()
            summaries = (
                (await session.execute(select(models.InteractionEvent.summary))).scalars().all()
            )
        assert {("caller", "PJSIP/trunk-1700000000.1"), ("operator", "PJSIP/101")} == {
            (leg.role, leg.channel) for leg in legs
        }
        assert all(leg.ended_at is not None for leg in legs)
        assert "Answered by Alice (PJSIP/101) from support after 4 s" in summaries
        assert not any("4321" in s for s in summaries)


async def test_duplicated_and_replayed_events_write_nothing_new(
    db_url: str, tmp_path: Path
) -> None:
    async with database(db_url) as sessions:
        events = answered_call("1700000000.7")
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill", batch_size=3)
        # Each event twice in a row (a duplicated frame), then the whole call replayed.
        await write_all(writer, [e for e in events for _ in range(2)])
        await write_all(writer, events)
        # And once more by a fresh writer, as after a restart.
        await write_all(HistoryWriter(sessions, spill_dir=tmp_path / "spill2"), events)

        assert HISTORY_EVENTS_PER_CALL == await count(sessions, models.InteractionEvent)
        assert 1 == await count(sessions, models.Call)
        assert 2 == await count(sessions, models.CallLeg)
        call = await the_call(sessions, "1700000000.7")
        assert 2 == len(call.ivr_path["steps"])


async def test_call_is_linked_to_the_customer_by_caller_number(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        customer = await add_customer(sessions, "Ivan Petrov", "+74951234567")
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        await write_all(writer, answered_call("1700000000.2"))

        assert customer == (await the_call(sessions, "1700000000.2")).customer_id
        assert HISTORY_EVENTS_PER_CALL == await count(
            sessions, models.InteractionEvent, models.InteractionEvent.customer_id == customer
        )


async def test_identified_caller_on_a_shared_number_gets_the_whole_call(
    db_url: str, tmp_path: Path
) -> None:
    async with database(db_url) as sessions:
        await add_customer(sessions, "Father", "+74951234567")
        son = await add_customer(sessions, "Son", "+74951234567")
        events = answered_call("1700000000.3")
        identified = ev.CallerIdentified(
            server="pbx1",
            call_id="1700000000.3",
            at=T0 + 5.5,
            key="ident-3",
            customer_id=son,
            method="account",
        )
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill", batch_size=2)
        # Identification comes mid-call, after rows were written without a customer.
        await write_all(writer, events[:4])
        await write_all(writer, [identified, *events[4:]])

        assert son == (await the_call(sessions, "1700000000.3")).customer_id
        assert HISTORY_EVENTS_PER_CALL + 1 == await count(
            sessions, models.InteractionEvent, models.InteractionEvent.customer_id == son
        )


async def test_an_event_the_database_refuses_is_skipped_not_blocking(
    db_url: str, tmp_path: Path
) -> None:
    async with database(db_url) as sessions:
        events = answered_call("1700000000.4")
        unknown_customer = ev.CallerIdentified(
            server="pbx1",
            call_id="1700000000.4",
            at=T0 + 3,
            key="ident-bad",
            customer_id=999_999,
            method="pin",
        )
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        await write_all(writer, [*events[:3], unknown_customer, *events[3:]])

        assert HISTORY_EVENTS_PER_CALL == await count(sessions, models.InteractionEvent)
        assert 1 == writer.stats.skipped
        assert 0 == writer.pending


async def test_service_writer_reports_its_buffer_to_prometheus(
    sqlite_url: str, tmp_path: Path
) -> None:
    from prometheus_client import CollectorRegistry

    from contact_center.config import load_settings
    from contact_center.history.writer import build_history_writer

    settings = load_settings(environ={}, overrides={"general": {"data_dir": str(tmp_path)}})
    registry = CollectorRegistry()
    async with database(sqlite_url) as sessions:
        writer = build_history_writer(settings, sessions, registry=registry)
        for event in answered_call("1700000000.9")[:3]:
            await writer.handle(event)
        assert 3.0 == registry.get_sample_value("cc_history_buffer_events")
        assert 1_000_000 == registry.get_sample_value("cc_history_buffer_capacity")
        await writer.flush()
        assert 0.0 == registry.get_sample_value("cc_history_buffer_events")
        assert tmp_path / "history-spill" == writer.buffer.directory


async def test_links_through_the_customer_lookup_service(sqlite_url: str, tmp_path: Path) -> None:
    from contact_center.customers.lookup import CustomerLookup

    async with database(sqlite_url) as sessions:
        customer = await add_customer(sessions, "Ivan Petrov", "+74951234567")
        lookup = CustomerLookup(sessions, region="RU")
        writer = HistoryWriter(sessions, lookup=lookup, spill_dir=tmp_path / "spill")
        # As dialled from a Russian trunk: 8 495 ... normalises to the stored E.164.
        await write_all(writer, answered_call("1700000000.5", caller="84951234567"))

        assert customer == (await the_call(sessions, "1700000000.5")).customer_id


async def test_two_writers_on_the_same_events_write_them_once(db_url: str, tmp_path: Path) -> None:
    import asyncio

    async with database(db_url) as sessions:
        events = [e for i in range(3) for e in answered_call(f"1700000100.{i}", t0=T0 + i)]
        first = HistoryWriter(sessions, spill_dir=tmp_path / "a", batch_size=4)
        second = HistoryWriter(sessions, spill_dir=tmp_path / "b", batch_size=4)
        await asyncio.gather(write_all(first, events), write_all(second, events))

        assert 3 * HISTORY_EVENTS_PER_CALL == await count(sessions, models.InteractionEvent)
        assert 3 * HISTORY_EVENTS_PER_CALL == first.stats.written + second.stats.written
        for i in range(3):
            assert 2 == len((await the_call(sessions, f"1700000100.{i}")).ivr_path["steps"])


async def test_call_charged_is_left_to_billing(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        charged = ev.CallCharged(
            server="pbx1",
            call_id="1700000000.9",
            at=T0 + 200,
            key="charge-1700000000.9",
            amount="2.85",
            currency="RUB",
            plan="inbound",
            billed_seconds=95,
        )
        await write_all(writer, [*answered_call("1700000000.9"), charged])

        # Billing writes the charge's timeline row itself; a second one would double it.
        assert 0 == await count(
            sessions, models.InteractionEvent, models.InteractionEvent.kind == "call.charged"
        )
        assert HISTORY_EVENTS_PER_CALL == await count(sessions, models.InteractionEvent)
