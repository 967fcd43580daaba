"""Callbacks dialled back over the simulator on real TCP, on SQLite and PostgreSQL: the
operator's phone rings first (an Originate into cc-originate tagged as a callback), one
callback per operator at a time, only in business hours; outcomes come back from the
outbound call's CallEnded and schedule retries, give up, or close the callback."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

from sqlalchemy import select

from contact_center.callbacks import store
from contact_center.callbacks.dialer import CallbackDialer
from contact_center.calls import events as ev
from contact_center.config import CallbackSettings
from contact_center.routing.rules import BusinessHours
from contact_center.sim.pbx import Event
from contact_center.store.models import Callback, InteractionEvent
from contact_center.testing import AmiClient, EventLog
from tests.conftest import wait_for
from tests.integration.dialer_support import NOW, Desk, ended, rig

POLICY = CallbackSettings(max_attempts=2, retry_no_answer_minutes=15)


async def test_operator_first_callbacks_and_their_outcomes(db_url: str, tmp_path: Path) -> None:
    desks = [
        Desk("anna", "Local/101@agents", "available", ("support",)),
        Desk("boris", "Local/102@agents", "paused", ("support",)),
        Desk("vera", "Local/103@agents", "available", ("sales",)),
    ]
    clock = [NOW]
    async with rig(db_url, tmp_path) as the:
        sessions, pbx = the.sessions, the.pbx
        log = EventLog(pbx)
        async with sessions.begin() as db:
            first = await store.create(
                db, key="a", number="+74951234567", queue="support", requested_by="", now=NOW
            )
            second = await store.create(
                db, key="b", number="+74997654321", queue="support", requested_by="", now=NOW
            )
            later = await store.create(
                db,
                key="c",
                number="+79161112233",
                queue="support",
                requested_by="",
                now=NOW,
                due_at=NOW + timedelta(hours=1),
            )
            closed = await store.create(
                db, key="d", number="+79035550000", queue="sales", requested_by="", now=NOW
            )
        sales_hours = BusinessHours("UTC", {0: ((time(12), time(18)),)})
        dialer = CallbackDialer(
            sessions,
            the.control,
            lambda: desks,
            POLICY,
            hours=lambda queue: sales_hours if queue == "sales" else None,
            clock=lambda: clock[0],
            server="sim1",
        )
        # one available operator in support: the first callback only; sales is closed
        assert await dialer.tick() == 1
        await wait_for(lambda: any(started(e) for e in log.events), timeout=5)
        originate = next(e for e in log.events if started(e))
        assert originate.get("Channel").startswith("Local/101@agents-")
        async with sessions() as db:
            rows = {r.id: r for r in (await db.scalars(select(Callback))).all()}
        attempt = rows[first.id].attempt_linkedid
        assert (rows[first.id].status, rows[first.id].operator_login, rows[first.id].attempts) == (
            "dialing",
            "anna",
            1,
        )
        assert attempt.startswith("cc-out-") and originate.get("Linkedid") == attempt
        assert [rows[i].status for i in (second.id, later.id, closed.id)] == ["pending"] * 3
        # the customer's variables reach the call: it is known as a callback from the start
        client = await AmiClient.connect("127.0.0.1", pbx.port)
        await client.login()
        try:
            kind = await client.action(
                "Getvar", Channel=originate.get("Channel"), Variable="CC_KIND"
            )
            assert kind.get("Value") == "callback"
        finally:
            await client.close()
        # anna is busy with it: nothing more starts while her attempt runs
        assert await dialer.tick() == 0

        # the customer does not answer: retried after 15 minutes, counted
        await dialer.handle(ended(attempt, "no_answer"))
        await dialer.handle(ended(attempt, "no_answer"))  # a redelivery changes nothing
        async with sessions() as db:
            row = await db.get(Callback, first.id)
            assert row is not None
            assert (row.status, row.attempts, row.last_outcome) == ("pending", 1, "no_answer")
            assert store.aware(row.due_at) == NOW + timedelta(minutes=15)  # type: ignore[arg-type]
            timeline = (
                await db.scalars(
                    select(InteractionEvent.summary).where(
                        InteractionEvent.kind == "callback.attempt"
                    )
                )
            ).all()
        assert timeline == [
            "Callback to +74951234567 by anna: no answer (attempt 1 of 2); next try 10:15"
        ]
        # anna is free again: the second callback (due now) goes to her
        assert await dialer.tick() == 1
        async with sessions() as db:
            row = await db.get(Callback, second.id)
            assert row is not None and row.status == "dialing"
            attempt2 = row.attempt_linkedid
        await dialer.handle(ended(attempt2, "answered"))
        # 15 minutes later the first is due again; the customer is busy: given up (2 of 2)
        clock[0] = NOW + timedelta(minutes=16)
        assert await dialer.tick() == 1
        async with sessions() as db:
            row = await db.get(Callback, first.id)
            assert row is not None and row.attempts == 2
            attempt3 = row.attempt_linkedid
        await dialer.handle(ended(attempt3, "busy"))
        # the operator's phone is not answered: not counted, tried again a minute later
        clock[0] = NOW + timedelta(hours=1, minutes=1)  # 11:01: sales still closed
        assert await dialer.tick() == 1
        async with sessions() as db:
            row = await db.get(Callback, later.id)
            assert row is not None
            attempt4 = row.attempt_linkedid
        await dialer.handle(ended(attempt4, "operator_no_answer"))
        async with sessions() as db:
            rows = {r.id: r for r in (await db.scalars(select(Callback))).all()}
        assert (rows[first.id].status, rows[first.id].attempts) == ("failed", 2)
        assert rows[second.id].status == "reached"
        assert (rows[later.id].status, rows[later.id].attempts) == ("pending", 0)
        assert store.aware(rows[later.id].due_at) == clock[0] + timedelta(seconds=60)  # type: ignore[arg-type]
        # sales opens at noon: then vera calls its customer back
        assert rows[closed.id].status == "pending"
        clock[0] = NOW.replace(hour=12, minute=5)
        assert await dialer.tick() == 2  # vera: sales; anna: the support one due again
        async with sessions() as db:
            row = await db.get(Callback, closed.id)
            assert row is not None and (row.status, row.operator_login) == ("dialing", "vera")


def started(event: Event) -> bool:
    return event.name == "Newchannel" and event.get("Uniqueid").startswith("cc-out-")


async def test_a_callback_reached_end_to_end_through_the_tracker(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The real path: the dialer rings anna (Local/101@agents answers), the rig's
    cc-originate dials the customer's phone (+74951234567 answers), the customer hangs up;
    the tracker's CallEnded of the outbound call closes the callback as reached."""
    desks = [Desk("anna", "Local/101@agents", "available", ("support",))]
    ended_calls: list[ev.CallEnded] = []
    dialer_box: list[CallbackDialer] = []

    async def sink(event: ev.DomainEvent) -> None:
        if isinstance(event, ev.CallEnded):
            ended_calls.append(event)
        if dialer_box:
            await dialer_box[0].handle(event)

    async with rig(sqlite_url, tmp_path, sink) as the:
        sessions, pbx = the.sessions, the.pbx
        log = EventLog(pbx)
        async with sessions.begin() as db:
            cb = await store.create(
                db, key="e2e", number="+74951234567", queue="support", requested_by="", now=NOW
            )
        dialer = CallbackDialer(sessions, the.control, lambda: desks, POLICY, server="sim1")
        dialer_box.append(dialer)
        assert await dialer.tick() == 1
        # the customer's phone answers: the operator and the customer talk
        await log.wait("BridgeEnter", timeout=10, Context="customer-phones")
        customer = next(
            c for c in pbx.channels.values() if "customer-phones" in c.name and not c.dead
        )
        await pbx.hangup(customer.name)

        async def closed() -> bool:
            async with sessions() as db:
                row = await db.get(Callback, cb.id)
                return row is not None and row.status == "reached"

        await wait_for(closed, timeout=15)
        outbound = [e for e in ended_calls if e.direction == "outbound"]
        assert [e.outcome for e in outbound] == ["answered"]
        async with sessions() as db:
            summary = await db.scalar(
                select(InteractionEvent.summary).where(InteractionEvent.kind == "callback.attempt")
            )
        assert summary == "Callback to +74951234567 by anna: reached"


async def test_a_refused_ring_and_a_lost_outcome_give_the_callback_back(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Asterisk refuses to ring the operator (a phone it does not know): the callback is
    pending again, the attempt not counted, tried after ``operator_retry_seconds``; an
    attempt whose outcome never came is given back once ``dial_timeout_minutes`` passed."""
    desks = [Desk("anna", "Nowhere/101", "available", ("support",))]
    clock = [NOW]
    async with rig(sqlite_url, tmp_path) as the:
        sessions = the.sessions
        async with sessions.begin() as db:
            refused = await store.create(
                db, key="r", number="+74951234567", queue="support", requested_by="", now=NOW
            )
            lost = await store.create(
                db, key="l", number="+74997654321", queue="support", requested_by="", now=NOW
            )
            assert await store.claim(db, lost.id, "boris", NOW - timedelta(hours=2))
        dialer = CallbackDialer(
            sessions,
            the.control,
            lambda: desks,
            POLICY,
            clock=lambda: clock[0],
            server="sim1",
        )
        assert await dialer.tick() == 0
        async with sessions() as db:
            rows = {r.id: r for r in (await db.scalars(select(Callback))).all()}
        assert (rows[refused.id].status, rows[refused.id].attempts) == ("pending", 0)
        assert store.aware(rows[refused.id].due_at) == NOW + timedelta(  # type: ignore[arg-type]
            seconds=POLICY.operator_retry_seconds
        )
        assert (rows[lost.id].status, rows[lost.id].attempts) == ("pending", 0)
        assert dialer.started == 0
