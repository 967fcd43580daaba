"""The campaign dialer over the simulator on real TCP, on SQLite and PostgreSQL: a
progressive campaign rings its free operators first (an Originate into cc-originate per
operator), honours the do-not-call list and each customer's calling window at dial time,
schedules retries by outcome, gives up after the maximum attempts, writes every attempt on
the customer's timeline, and finishes when its list is exhausted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from contact_center.calls import events as ev
from contact_center.campaigns import reports, store
from contact_center.campaigns.dialer import CampaignDialer
from contact_center.sim.pbx import Event
from contact_center.store.models import (
    Campaign,
    CampaignAttempt,
    CampaignContact,
    Customer,
    CustomerPhone,
    InteractionEvent,
)
from contact_center.testing import EventLog
from tests.conftest import wait_for
from tests.integration.dialer_support import NOW, Desk, rig
from tests.integration.dialer_support import ended as rig_ended
from tests.integration.web_support import database

MOSCOW = "+74951234567"
VLADIVOSTOK = "+74232123456"
LISTED = "+74997654321"  # on the do-not-call list
MOBILE = "+79161112233"  # a Russian mobile: any of eleven zones; the campaign's default used
CSV = f"""number,name,tz
{MOSCOW},Ivan Petrov,
{VLADIVOSTOK},Far East Ltd,
{LISTED},Do Not Disturb,
{MOBILE},Maria,
not a number,Nobody,
""".encode()


def started(event: Event) -> bool:
    """The operator's phone of one of our Originates (its first half)."""
    return (
        event.name == "Newchannel"
        and event.get("Uniqueid").startswith("cc-out-")
        and event.get("Channel").endswith(";1")
    )


def ended(call_id: str, outcome: str) -> ev.CallEnded:
    return rig_ended(
        call_id,
        outcome,
        direction="outbound",
        tags={"KIND": "campaign", "NUMBER": "+70000000000"},
    )


async def test_progressive_campaign_dnc_windows_retries_and_stop(
    db_url: str, tmp_path: Path
) -> None:
    desks = [
        Desk("anna", "Local/101@agents", "available", ("support",)),
        Desk("boris", "Local/102@agents", "available", ("sales",)),  # not this campaign's
        Desk("vera", "Local/103@agents", "available", ("support",)),
    ]
    clock = [NOW]
    async with rig(db_url, tmp_path) as the:
        sessions, pbx = the.sessions, the.pbx
        log = EventLog(pbx)
        async with sessions.begin() as db:
            ivan = Customer(
                name="Ivan Petrov", custom={}, created_at=NOW, updated_at=NOW, segment="VIP"
            )
            ivan.phones.append(CustomerPhone(e164=MOSCOW, suffix="7654321", raw=MOSCOW))
            db.add(ivan)
            await db.flush()
            campaign = await store.create(
                db,
                {
                    "name": "Renewals",
                    "mode": "progressive",
                    "queues": "support",
                    "window_start": "09:00",
                    "window_end": "20:00",
                    "window_days": "12345",
                    "default_tz": "Europe/Moscow",
                    "max_attempts": "2",
                    "retry_no_answer_minutes": "60",
                },
                actor="sue",
                now=NOW,
            )
            added, problems = await store.import_csv(db, campaign, CSV)
            assert added == 4
            assert problems == ["line 6: not a number is not a phone number"]
            # a saved search adds Ivan (a customer) — his number is on the list already
            assert await store.add_from_search(db, campaign, segment="vip") == 0
            await store.add_dnc(db, LISTED, reason="complained", actor="sue", now=NOW)
            await store.set_status(db, campaign, "running", NOW)
            campaign_id = campaign.id
        dialer = CampaignDialer(
            sessions,
            the.control,
            lambda: desks,
            clock=lambda: clock[0],
            server="sim1",
        )

        async def contacts() -> dict[str, CampaignContact]:
            async with sessions() as db:
                rows = (await db.scalars(select(CampaignContact))).all()
            return {r.number: r for r in rows}

        # two free operators of the campaign: Moscow and the mobile (Moscow by default);
        # Vladivostok is at 20:00, outside its window; the listed number is never dialled
        assert await dialer.tick() == 2
        await wait_for(lambda: len([e for e in log.events if started(e)]) == 2, timeout=5)
        rows = await contacts()
        assert {rows[MOSCOW].status, rows[MOBILE].status} == {"dialing"}
        assert {rows[MOSCOW].operator_login, rows[MOBILE].operator_login} == {"anna", "vera"}
        assert (rows[VLADIVOSTOK].status, rows[VLADIVOSTOK].attempts) == ("pending", 0)
        # out of the way of the numbers that may be called, looked at again in 15 minutes
        assert store.aware(rows[VLADIVOSTOK].next_at) == NOW + timedelta(minutes=15)  # type: ignore[arg-type]
        assert (rows[LISTED].status, rows[LISTED].attempts) == ("dnc", 0)
        channels = sorted(e.get("Channel").split("-")[0] for e in log.events if started(e))
        assert channels == ["Local/101@agents", "Local/103@agents"]  # never boris
        # both operators are reserved: nothing more starts
        assert await dialer.tick() == 0

        # Moscow does not answer: again in 60 minutes; the mobile talks with its operator
        await dialer.handle(ended(rows[MOSCOW].attempt_linkedid, "no_answer"))
        await dialer.handle(ended(rows[MOSCOW].attempt_linkedid, "no_answer"))  # redelivered
        await dialer.handle(ended(rows[MOBILE].attempt_linkedid, "answered"))
        rows = await contacts()
        assert (rows[MOSCOW].status, rows[MOSCOW].attempts) == ("pending", 1)
        assert store.aware(rows[MOSCOW].next_at) == NOW + timedelta(minutes=60)  # type: ignore[arg-type]
        assert rows[MOBILE].status == "done"
        assert await dialer.tick() == 0  # nothing due yet, Vladivostok still outside

        # an hour later Moscow is due; busy on the second attempt: given up (2 of 2)
        clock[0] = NOW + timedelta(minutes=61)
        assert await dialer.tick() == 1
        rows = await contacts()
        await dialer.handle(ended(rows[MOSCOW].attempt_linkedid, "busy"))
        rows = await contacts()
        assert (rows[MOSCOW].status, rows[MOSCOW].attempts) == ("failed", 2)

        # the next morning in Vladivostok (00:30 UTC = 10:30 there) its number is called
        clock[0] = datetime(2026, 12, 8, 0, 30, tzinfo=UTC)
        assert await dialer.tick() == 1
        rows = await contacts()
        assert rows[VLADIVOSTOK].status == "dialing"
        await dialer.handle(ended(rows[VLADIVOSTOK].attempt_linkedid, "answered"))

        # nothing left on the list: the campaign finishes by itself
        assert await dialer.tick() == 0
        async with sessions() as db:
            row = await db.get(Campaign, campaign_id)
            assert row is not None
            assert (row.status, row.finished_reason) == ("finished", "list exhausted")
            figures = await reports.figures(db, row)
            timeline = (
                await db.scalars(
                    select(InteractionEvent.summary)
                    .where(InteractionEvent.kind == "campaign.attempt")
                    .order_by(InteractionEvent.id)
                )
            ).all()
            on_ivan = await db.scalar(
                select(InteractionEvent.summary).where(InteractionEvent.customer_id == ivan.id)
            )
        assert {k: figures[k] for k in ("dialled", "answered", "busy", "no_answer", "dnc")} == {
            "dialled": 4,
            "answered": 2,
            "busy": 1,
            "no_answer": 1,
            "dnc": 1,
        }
        assert figures["penetration"] == 0.75  # 3 of 4 numbers were dialled
        assert timeline[0] == (
            f"Campaign Renewals: call to {MOSCOW} by anna: no answer (attempt 1 of 2);"
            " next try 11:00"
        )
        assert len(timeline) == 4  # Moscow twice, the mobile, Vladivostok
        assert any("given up after 2 attempts" in t for t in timeline)
        assert on_ivan is None  # imported from the CSV without a customer id


async def test_a_recall_disposition_and_do_not_call(db_url: str) -> None:
    async with database(db_url) as (_, sessions):
        async with sessions.begin() as db:
            campaign = await store.create(
                db, {"name": "Survey", "operators": "anna"}, actor="sue", now=NOW
            )
            await store.import_csv(db, campaign, f"number\n{MOSCOW}\n{MOBILE}\n".encode())
            rows = {
                r.number: r
                for r in (
                    await db.scalars(
                        select(CampaignContact).where(CampaignContact.campaign_id == campaign.id)
                    )
                ).all()
            }
            await store.dispose(
                db,
                rows[MOSCOW],
                "recall",
                recall_at=NOW + timedelta(days=1),
                actor="anna",
                now=NOW,
            )
            await store.dispose(
                db, rows[MOBILE], "do_not_call", recall_at=None, actor="anna", now=NOW
            )
            assert await store.is_dnc(db, MOBILE)
            assert (rows[MOSCOW].status, store.aware(rows[MOSCOW].next_at)) == (  # type: ignore[arg-type]
                "pending",
                NOW + timedelta(days=1),
            )
            assert rows[MOBILE].status == "dnc"
            due = await store.due(db, campaign.id, NOW + timedelta(hours=1), 10)
            assert due == []
            due = await store.due(db, campaign.id, NOW + timedelta(days=1), 10)
            assert [c.number for c in due] == [MOSCOW]


async def test_a_refused_ring_gives_the_contact_back_uncounted(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Asterisk refuses to ring the operator (a phone it does not know): the contact is
    pending again 30 seconds later, the attempt neither counted nor kept."""
    desks = [Desk("anna", "Nowhere/101", "available", ("support",))]
    async with rig(sqlite_url, tmp_path) as the:
        async with the.sessions.begin() as db:
            campaign = await store.create(
                db,
                {"name": "Refused", "queues": "support", "window_days": "1234567"},
                actor="sue",
                now=NOW,
            )
            await store.import_csv(db, campaign, f"number\n{MOSCOW}\n".encode())
            await store.set_status(db, campaign, "running", NOW)
        dialer = CampaignDialer(the.sessions, the.control, lambda: desks, clock=lambda: NOW)
        assert await dialer.tick() == 0
        async with the.sessions() as db:
            contact = await db.scalar(select(CampaignContact))
            attempts = (await db.scalars(select(CampaignAttempt))).all()
        assert contact is not None
        assert (contact.status, contact.attempts, contact.operator_login) == ("pending", 0, "anna")
        assert store.aware(contact.next_at) == NOW + timedelta(seconds=30)  # type: ignore[arg-type]
        assert attempts == []
        assert dialer.started == 0
