"""Charging finished calls and re-rating, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from contact_center.billing.reports import charges_report
from contact_center.billing.repository import save_plans
from contact_center.billing.service import BillingService, charge_event_key
from contact_center.billing.tariffs import load_plans
from contact_center.calls import events as ev
from contact_center.history.writer import HistoryWriter
from contact_center.store import models
from tests.integration.history_support import (
    T0,
    Sessions,
    add_customer,
    answered_call,
    count,
    database,
)

TARIFFS = Path(__file__).resolve().parents[2] / "tariffs"
DAY = (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))


def three_calls() -> list[ev.DomainEvent]:
    """Inbound from a mobile (95 s), outbound to Moscow (95 s), inbound never answered."""
    inbound = answered_call("1.1", caller="+79161234567", talk=95)
    outbound = answered_call(
        "1.2", t0=T0 + 300, caller="101", did="+74951234567", direction="outbound", talk=95
    )
    unanswered = [
        e
        for e in answered_call("1.3", t0=T0 + 600, caller="+74957654321", talk=0)
        if not isinstance(e, ev.CallAnswered)
    ]
    return [*inbound, *outbound, *unanswered]


async def consume(consumers: list[Any], events: list[ev.DomainEvent]) -> None:
    for event in events:
        for consumer in consumers:
            await consumer.handle(event)
    for consumer in consumers:
        if isinstance(consumer, HistoryWriter):
            await consumer.flush()


async def charges(sessions: Sessions) -> dict[str, tuple[Decimal, int, str]]:
    async with sessions() as session:
        rows = (await session.execute(select(models.Charge))).scalars().all()
    return {r.call_linkedid: (r.amount, r.billed_seconds, r.plan) for r in rows}


async def test_each_finished_call_gets_exactly_one_charge(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        await save_plans(
            sessions,
            [*load_plans(TARIFFS / "inbound.yaml"), *load_plans(TARIFFS / "outbound.yaml")],
        )
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        billing = BillingService(sessions)
        events = three_calls()
        await consume([writer, billing], events)
        # The end of every call delivered again (a replay, a redelivery from the bus).
        await consume([billing], [e for e in events if isinstance(e, ev.CallEnded)])

        assert {
            # inbound plan, mobile 1.80/min per second: 95 s = 2.85
            "1.1": (Decimal("2.85"), 95, "inbound"),
            # outbound plan, 7495 peak 1.50/min, 60/60: 120 s = 3.00
            "1.2": (Decimal("3.00"), 120, "outbound"),
            "1.3": (Decimal("0"), 0, "inbound"),
        } == await charges(sessions)
        assert 3 == await count(sessions, models.Charge)
        # The charge is in the history too, once per call.
        assert 3 == await count(
            sessions, models.InteractionEvent, models.InteractionEvent.kind == "call.charged"
        )


async def test_rerate_is_idempotent_and_shows_progress(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        billing = BillingService(sessions)
        # No plan imported yet: every call still gets one (explained, zero) charge.
        await consume([writer, billing], three_calls())
        unpriced = await charges(sessions)
        assert {Decimal(0)} == {amount for amount, _, _ in unpriced.values()}

        await save_plans(
            sessions,
            [*load_plans(TARIFFS / "inbound.yaml"), *load_plans(TARIFFS / "outbound.yaml")],
        )
        seen: list[tuple[int, int]] = []
        result = await billing.rerate(*DAY, progress=lambda d, t: seen.append((d, t)), chunk=2)
        first = await charges(sessions)
        again = await billing.rerate(*DAY)

        assert [(2, 3), (3, 3)] == seen
        assert (3, {"RUB": Decimal("5.85")}) == (result.calls, result.amount_by_currency)
        assert Decimal("2.85") == first["1.1"][0]
        assert first == await charges(sessions)
        assert (result.calls, result.amount_by_currency) == (again.calls, again.amount_by_currency)
        assert 3 == await count(sessions, models.Charge)


async def test_customer_plan_prices_their_outbound_calls(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        cheap = load_plans(TARIFFS / "outbound.yaml")[0]
        await save_plans(sessions, [cheap])
        (vip,) = load_plans(_write_vip_plan(tmp_path))
        await save_plans(sessions, [vip])
        customer = await add_customer(sessions, "VIP Ltd", "+74951234567", plan="vip")
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        billing = BillingService(sessions)
        events = answered_call("2.1", caller="101", did="+74951234567", direction="outbound")
        identified = ev.CallerIdentified(
            server="pbx1",
            call_id="2.1",
            at=T0 + 1,
            key="id-2.1",
            customer_id=customer,
            method="operator",
        )
        await consume([writer, billing], [events[0], identified, *events[1:]])

        assert {"2.1": (Decimal("0.00"), 95, "vip")} == await charges(sessions)


def _write_vip_plan(tmp_path: Path) -> Path:
    path = tmp_path / "vip.yaml"
    path.write_text(
        'name: vip\ncurrency: RUB\nrates:\n  - {prefix: "7", per_minute: "0", increment: 1/1}\n'
    )
    return path


async def test_reports_totals_match_the_sum_of_calls(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        await save_plans(
            sessions,
            [*load_plans(TARIFFS / "inbound.yaml"), *load_plans(TARIFFS / "outbound.yaml")],
        )
        customer = await add_customer(sessions, "Mobile Man", "+79161234567")
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        await consume([writer, BillingService(sessions)], three_calls())

        by = {}
        for group in ("customer", "operator", "queue", "day"):
            report = await charges_report(sessions, group_by=group, since=DAY[0], until=DAY[1])  # type: ignore[arg-type]
            assert (3, {"RUB": Decimal("5.85")}) == (report.calls, report.totals)
            assert Decimal("5.85") == sum((r.amount for r in report.rows), Decimal(0))
            by[group] = {(r.key, r.label): (r.calls, r.amount) for r in report.rows}

        assert {
            (str(customer), "Mobile Man"): (1, Decimal("2.85")),
            ("", "(unknown caller)"): (2, Decimal("3.00")),
        } == by["customer"]
        assert {("support", "support"): (3, Decimal("5.85"))} == by["queue"]
        assert {
            ("PJSIP/101", "PJSIP/101"): (2, Decimal("5.85")),
            ("", "(no operator)"): (1, Decimal("0")),
        } == by["operator"]
        assert {("2026-03-03", "2026-03-03"): (3, Decimal("5.85"))} == by["day"]


async def test_publishes_call_charged_once_after_the_charge_commits(
    db_url: str, tmp_path: Path
) -> None:
    async with database(db_url) as sessions:
        await save_plans(
            sessions,
            [*load_plans(TARIFFS / "inbound.yaml"), *load_plans(TARIFFS / "outbound.yaml")],
        )
        published: list[ev.DomainEvent] = []
        stored_when_published: list[int] = []

        async def publish(event: ev.DomainEvent) -> None:
            # Another session sees the charge only if it was committed before publishing.
            stored_when_published.append(
                await count(sessions, models.Charge, models.Charge.call_linkedid == event.call_id)
            )
            published.append(event)

        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        billing = BillingService(sessions, publish=publish)
        events = three_calls()
        await consume([writer, billing], events)
        await consume([billing], [e for e in events if isinstance(e, ev.CallEnded)])

        assert [
            ("1.1", "2.85", "RUB", "inbound", 95),
            ("1.2", "3.00", "RUB", "outbound", 120),
            ("1.3", "0.00", "RUB", "inbound", 0),
        ] == [
            (e.call_id, e.amount, e.currency, e.plan, e.billed_seconds)
            for e in published
            if isinstance(e, ev.CallCharged)
        ]
        assert [1, 1, 1] == stored_when_published
        assert [charge_event_key("pbx1", c) for c in ("1.1", "1.2", "1.3")] == [
            e.key for e in published
        ]
        assert [e.at for e in events if isinstance(e, ev.CallEnded)] == [e.at for e in published]
        assert published == [ev.from_dict(ev.to_dict(e)) for e in published]


async def test_rerate_publishes_only_calls_whose_price_changed(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        published: list[ev.DomainEvent] = []

        async def publish(event: ev.DomainEvent) -> None:
            published.append(event)

        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        billing = BillingService(sessions, publish=publish)
        await consume([writer, billing], three_calls())  # no plan yet: three zeros
        published.clear()

        await billing.rerate(*DAY)
        assert [] == published  # nothing changed

        await save_plans(sessions, load_plans(TARIFFS / "inbound.yaml"))
        await billing.rerate(*DAY, chunk=2)
        repriced = [(e.call_id, e.amount) for e in published if isinstance(e, ev.CallCharged)]
        published.clear()
        await billing.rerate(*DAY)

        # Only the inbound calls got a plan; the outbound one still has none.
        assert [("1.1", "2.85"), ("1.3", "0.00")] == repriced
        assert [] == published


async def test_transferred_calls_are_billed_by_the_plans_rule_as_asterisks_records_say(
    db_url: str, tmp_path: Path
) -> None:
    """27's blind transfers to people: billed from the answer (queue_log CONNECT) to the end
    of the call (Master.csv's last record of it) — every operator's part, not the first's —
    or, with ``bill: talk``, each operator's own talk."""
    import csv

    from contact_center.ami import queue_log
    from contact_center.ami.replay import replay_events
    from tests.conftest import FIXTURES

    events = replay_events(FIXTURES / "27-live-pjsip-deploy.jsonl")
    lines, _ = queue_log.read_lines(FIXTURES / "27-live-pjsip-deploy.queue_log")
    transferred = {v.callid: v for v in queue_log.queue_visits(lines) if v.transfers}
    assert len(transferred) == 3
    cdr_text = (FIXTURES / "27-live-pjsip-deploy.cdr.csv").read_text()
    records = list(csv.reader(cdr_text.splitlines()))
    ends: dict[str, float] = {}
    for row in records:
        end = datetime.strptime(row[11], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        ends[row[19]] = max(ends.get(row[19], 0.0), end)
    talk: dict[str, float] = {}
    for e in events:
        if isinstance(e, ev.OperatorLeft):
            talk[e.call_id] = talk.get(e.call_id, 0.0) + e.talk_seconds

    def check(got: dict[str, tuple[Decimal, int, str]], rule: str) -> None:
        for callid, visit in transferred.items():  # the queue leg's callid is the Linkedid
            assert visit.connected_at is not None
            _amount, billed, plan = got[callid]
            assert "inbound" == plan
            if rule == "answer":
                expected = ends[callid] - visit.connected_at
                assert abs(billed - expected) <= 2, (callid, billed, expected)
            else:
                assert billed == pytest.approx(talk[callid], abs=1.0)
                assert talk[callid] > (visit.talk_seconds or 0) + 1  # more than the first's

    plan_text = (TARIFFS / "inbound.yaml").read_text()
    by_talk = tmp_path / "inbound-talk.yaml"
    by_talk.write_text(plan_text.replace("match: caller", "match: caller\nbill: talk"))
    async with database(db_url) as sessions:
        await save_plans(sessions, load_plans(TARIFFS / "inbound.yaml"))
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        billing = BillingService(sessions)
        await consume([writer, billing], events)
        check(await charges(sessions), "answer")
        # the same calls re-rated under a plan that bills the operators' talk
        await save_plans(sessions, load_plans(by_talk))
        await billing.rerate(
            datetime.fromtimestamp(events[0].at - 3600, tz=UTC),
            datetime.fromtimestamp(events[-1].at + 3600, tz=UTC),
        )
        check(await charges(sessions), "talk")


async def test_a_batch_of_events_is_charged_as_one_by_one(db_url: str, tmp_path: Path) -> None:
    """The consumer hands billing a batch of events (one transaction for the calls it
    ends): the same charges as one event at a time, each announced once, after it commits;
    the batch delivered again charges nothing twice."""
    async with database(db_url) as sessions:
        await save_plans(
            sessions,
            [*load_plans(TARIFFS / "inbound.yaml"), *load_plans(TARIFFS / "outbound.yaml")],
        )
        published: list[ev.DomainEvent] = []
        stored_when_published: list[int] = []

        async def publish(event: ev.DomainEvent) -> None:
            stored_when_published.append(
                await count(sessions, models.Charge, models.Charge.call_linkedid == event.call_id)
            )
            published.append(event)

        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        billing = BillingService(sessions, publish=publish)
        events = three_calls()
        await consume([writer], events)

        await billing.handle_many(events)
        await billing.handle_many(events)

        assert {
            "1.1": (Decimal("2.85"), 95, "inbound"),
            "1.2": (Decimal("3.00"), 120, "outbound"),
            "1.3": (Decimal("0"), 0, "inbound"),
        } == await charges(sessions)
        assert ["1.1", "1.2", "1.3"] == [e.call_id for e in published]
        assert [1, 1, 1] == stored_when_published


def interleaved_calls(customer: int) -> list[ev.DomainEvent]:
    """Five calls at once, their events interleaved as the bus delivers them: a customer's
    own-plan outbound call identified mid-call, an inbound, an unanswered, one that ended
    twice (a redelivery inside the batch) and one whose start billing never saw."""
    own = answered_call("4.1", caller="101", did="+74951234567", direction="outbound")
    identified = ev.CallerIdentified(
        server="pbx1", call_id="4.1", at=T0 + 1, key="id-4.1", customer_id=customer,
        method="operator",
    )  # fmt: skip
    inbound = answered_call("4.2", t0=T0 + 3, caller="+79161234567", talk=61)
    unanswered = [
        e
        for e in answered_call("4.3", t0=T0 + 4, caller="+74957654321", talk=0)
        if not isinstance(e, ev.CallAnswered)
    ]
    twice = answered_call("4.4", t0=T0 + 5, caller="+79161234567", talk=30)
    unseen = [e for e in answered_call("4.5", t0=T0 + 6) if isinstance(e, ev.CallEnded)]
    events = [own[0], identified, *own[1:], *inbound, *unanswered, *twice, *unseen]
    events.append(next(e for e in twice if isinstance(e, ev.CallEnded)))
    return sorted(events, key=lambda e: e.at)  # stable: equal times keep their order


async def charged_state(sessions: Sessions) -> tuple[Any, Any]:
    """Every charge and every charge on the timeline, as a user of reports would see them."""
    async with sessions() as session:
        rows = (await session.execute(select(models.Charge))).scalars().all()
        timeline = (
            await session.execute(
                select(models.InteractionEvent).where(
                    models.InteractionEvent.kind == "call.charged"
                )
            )
        ).scalars()
        return (
            sorted(
                (
                    r.server,
                    r.call_linkedid,
                    r.customer_id,
                    r.plan,
                    r.prefix,
                    r.number,
                    r.billed_seconds,
                    r.amount,
                    r.currency,
                    r.breakdown,
                )
                for r in rows
            ),
            sorted(
                (t.key, t.customer_id, t.call_linkedid, t.summary, t.data["amount"])
                for t in timeline
            ),
        )


async def forget_charges(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await session.execute(delete(models.Charge))
        await session.execute(
            delete(models.InteractionEvent).where(models.InteractionEvent.kind == "call.charged")
        )


async def test_interleaved_replayed_and_hostile_batches_charge_as_one_by_one(
    db_url: str, tmp_path: Path
) -> None:
    """Batches cut anywhere through interleaved calls, delivered twice, one of them carrying
    an event that cannot be handled: the same charges and timeline rows as one event at a
    time, each call charged and announced once; the hostile event costs only itself (its
    batch falls back to one event at a time, as the consumer's pump does)."""
    async with database(db_url) as sessions:
        await save_plans(
            sessions,
            [*load_plans(TARIFFS / "inbound.yaml"), *load_plans(TARIFFS / "outbound.yaml")],
        )
        (vip,) = load_plans(_write_vip_plan(tmp_path))
        await save_plans(sessions, [vip])
        customer = await add_customer(sessions, "VIP Ltd", "+74951234567", plan="vip")
        events = interleaved_calls(customer)
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        # the calls' rows, except 4.5's start: billing rates it from the stored row
        await consume([writer], events)
        hostile = ev.CallEnded(
            server="pbx1", call_id="4.9", at=1e20, key="evil", cause=16, talk_seconds=1
        )  # a date no database holds
        stream = [*events[:9], hostile, *events[9:]]

        one_by_one: list[str] = []

        async def note(event: ev.DomainEvent) -> None:
            one_by_one.append(event.call_id)

        single = BillingService(sessions, publish=note)
        for event in stream:
            with contextlib.suppress(OverflowError, ValueError):
                await single.handle(event)
        expected = await charged_state(sessions)
        await forget_charges(sessions)

        batched: list[str] = []

        async def announce(event: ev.DomainEvent) -> None:
            batched.append(event.call_id)

        billing = BillingService(sessions, publish=announce)
        for size in (7, 4, len(stream)):  # the second and third pass are replays
            for i in range(0, len(stream), size):
                batch = stream[i : i + size]
                try:
                    await billing.handle_many(batch)
                except (OverflowError, ValueError):
                    assert hostile in batch
                    for event in batch:
                        with contextlib.suppress(OverflowError, ValueError):
                            await billing.handle(event)

        assert expected == await charged_state(sessions)
        charged = {row[1]: row[3:8] for row in expected[0]}
        assert {"4.1", "4.2", "4.3", "4.4", "4.5"} == set(charged)
        assert ("vip", 95) == (charged["4.1"][0], charged["4.1"][3])  # the customer's own plan
        assert (61, Decimal("1.83")) == charged["4.2"][3:]  # mobile 1.80/min, 61 s
        assert sorted(one_by_one) == sorted(batched) == ["4.1", "4.2", "4.3", "4.4", "4.5"]
