"""A small progressive campaign over the whole service and the simulator on real TCP, with the
dial plan we ship: the campaign dialer rings anna's phone first and her console pops the
customer's card while it rings; she answers, cc-originate dials the customer through the
trunk, they talk; the outbound call's end closes the contact as answered and puts the
attempt on the customer's timeline. The next number is busy (the simulator's callees): tried
again later. A number on the do-not-call list is never dialled."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from contact_center.campaigns import reports, store
from contact_center.sim import callees
from contact_center.sim.callees import ALWAYS_BUSY, ALWAYS_PERSON, Callees
from contact_center.sim.config import Operator
from contact_center.store.db import utcnow
from contact_center.store.models import Campaign, CampaignContact, Customer, InteractionEvent
from tests.conftest import wait_for
from tests.e2e.service_support import running_service, sign_in
from tests.e2e.test_service_e2e import next_message

OPERATORS = (Operator("PJSIP/101", "Anna", manual=True),)
IVAN = "+74951234567"  # seeded by the rig: Ivan Petrov, VIP
LISTED = "+74997654321"
BUSY = "+74957770002"


async def test_a_progressive_campaign_pops_the_card_then_connects(
    tmp_path: Path, db_url: str
) -> None:
    async with running_service(tmp_path, db_url, operators=OPERATORS, dialplan="shipped") as rig:
        sessions = rig.service.core.sessions  # type: ignore[union-attr]
        # Ivan answers; the other number on the list is busy (the simulator's callees)
        callees.install(rig.pbx, Callees(per_number={IVAN: ALWAYS_PERSON, BUSY: ALWAYS_BUSY}))
        async with sessions.begin() as db:
            campaign = await store.create(
                db,
                {
                    "name": "Renewals",
                    "queues": "support",
                    "window_start": "00:00",
                    "window_end": "23:59",
                    "window_days": "1234567",
                },
                actor="sue",
                now=utcnow(),
            )
            # the do-not-call number first on the list: skipped at dial time
            await store.import_csv(db, campaign, f"number,name\n{LISTED},Olga\n".encode())
            assert await store.add_from_search(db, campaign, text="Petrov") == 1
            await store.import_csv(db, campaign, f"number\n{BUSY}\n".encode())
            await store.add_dnc(db, LISTED, reason="asked", actor="sue", now=utcnow())
            await store.set_status(db, campaign, "running", utcnow())
            ivan_id = await db.scalar(select(Customer.id).where(Customer.name == "Ivan Petrov"))
        anna = await sign_in(rig.base, "anna")
        try:
            ws = await anna.ws()
            await rig.command("anna", "operator", "PJSIP/101", "available")
            # the dialer sees her free and rings her phone: the card pops while it rings
            pop = await next_message(ws, "pop", timeout=15)
            assert "offered" == pop["stage"]
            assert "Ivan Petrov" in pop["html"] and "VIP" in pop["html"]
            assert IVAN == pop["caller"]["number"]
            await rig.pbx.answer("PJSIP/101")
            answered = await next_message(ws, "pop")
            assert "answered" == answered["stage"]
            # they talk; Ivan hangs up (the simulator's callee): the contact is done

            async def outcome_of(number: str) -> str:
                async with sessions() as db:
                    row = await db.scalar(
                        select(CampaignContact).where(CampaignContact.number == number)
                    )
                    return row.last_outcome if row is not None else ""

            async def ivan_done() -> bool:
                return await outcome_of(IVAN) == "answered"

            await wait_for(ivan_done, timeout=15)
            # anna is free again: the next number rings her first, then the customer is busy
            pop = await next_message(ws, "pop", timeout=15)
            assert "offered" == pop["stage"] and BUSY == pop["caller"]["number"]
            await rig.pbx.answer("PJSIP/101")

            async def busy_known() -> bool:
                return await outcome_of(BUSY) == "busy"

            await wait_for(busy_known, timeout=15)
            async with sessions() as db:
                rows = {r.number: r for r in (await db.scalars(select(CampaignContact))).all()}
                timeline = (
                    await db.scalars(
                        select(InteractionEvent.summary).where(
                            InteractionEvent.customer_id == ivan_id,
                            InteractionEvent.kind == "campaign.attempt",
                        )
                    )
                ).all()
                row = await db.scalar(select(Campaign))
                assert row is not None
                figures = await reports.figures(db, row)
            assert (rows[IVAN].status, rows[IVAN].operator_login) == ("done", "anna")
            assert (rows[BUSY].status, rows[BUSY].attempts) == ("pending", 1)  # again later
            assert (rows[LISTED].status, rows[LISTED].attempts) == ("dnc", 0)
            assert timeline == [
                f"Campaign Renewals: call to {IVAN} by anna: talked with an operator"
            ]
            assert {k: figures[k] for k in ("dialled", "answered", "busy", "penetration")} == {
                "dialled": 2,
                "answered": 1,
                "busy": 1,
                "penetration": 0.6667,
            }
        finally:
            await anna.http.close()
