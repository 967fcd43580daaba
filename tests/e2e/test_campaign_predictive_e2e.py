"""Predictive campaigns over the whole service and the simulator on real TCP, with the dial
plan we ship: the dialer originates customers first into [cc-campaign]; AMD() hangs up on a
machine; a person is queued to a free operator, whose console pops the customer's card as the
queue rings them; busy and unanswered numbers come back from the Originate's response; a
person who answers when no operator takes the call within 2 s hears the apology and counts
as abandoned. Every outcome schedules the number as the campaign says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from contact_center.campaigns import reports, store
from contact_center.sim import callees
from contact_center.sim.callees import (
    ALWAYS_BUSY,
    ALWAYS_MACHINE,
    ALWAYS_PERSON,
    NEVER_ANSWERS,
    Callees,
)
from contact_center.sim.config import Operator
from contact_center.store.db import utcnow
from contact_center.store.models import Campaign, CampaignContact, Customer, InteractionEvent
from tests.conftest import wait_for
from tests.e2e.service_support import Rig, running_service, sign_in
from tests.e2e.test_service_e2e import next_message

IVAN = "+74951234567"  # seeded by the rig: Ivan Petrov, VIP
MACHINE, BUSY, SILENT = "+74957770001", "+74957770002", "+74957770003"
ALWAYS = {"window_start": "00:00", "window_end": "23:59", "window_days": "1234567"}


async def start_campaign(rig: Rig, numbers: list[str]) -> None:
    sessions = rig.service.core.sessions  # type: ignore[union-attr]
    async with sessions.begin() as db:
        campaign = await store.create(
            db,
            {
                "name": "Predict",
                "mode": "predictive",
                "queues": "support",
                "dial_timeout": "5",
                **ALWAYS,
            },
            actor="sue",
            now=utcnow(),
        )
        await store.import_csv(db, campaign, ("number\n" + "\n".join(numbers)).encode())
        await store.set_status(db, campaign, "running", utcnow())


async def contacts(rig: Rig) -> dict[str, CampaignContact]:
    async with rig.service.core.sessions() as db:  # type: ignore[union-attr]
        return {r.number: r for r in (await db.scalars(select(CampaignContact))).all()}


async def test_predictive_outcomes_and_the_card_pops_for_a_person(
    tmp_path: Path, db_url: str
) -> None:
    operators = (Operator("PJSIP/101", "Anna", answer_after=0.3, talk=None),)
    async with running_service(tmp_path, db_url, operators=operators, dialplan="shipped") as rig:
        callees.install(
            rig.pbx,
            Callees(
                per_number={
                    IVAN: ALWAYS_PERSON,
                    MACHINE: ALWAYS_MACHINE,
                    BUSY: ALWAYS_BUSY,
                    SILENT: NEVER_ANSWERS,
                }
            ),
        )
        anna = await sign_in(rig.base, "anna")
        try:
            ws = await anna.ws()
            await rig.command("anna", "operator", "PJSIP/101", "available")
            await wait_for(
                lambda: "PJSIP/101" in str(rig.pbx.queues.queues["support"].members), timeout=5
            )
            await start_campaign(rig, [MACHINE, BUSY, SILENT, IVAN])
            pop = await next_message(ws, "pop", timeout=40)
            assert "offered" == pop["stage"]
            assert "Ivan Petrov" in pop["html"]
            assert IVAN == pop["caller"]["number"]
            assert "support" == pop["queue"]

            async def all_tried() -> bool:
                rows = await contacts(rig)
                return all(r.status != "dialing" and r.attempts for r in rows.values())

            await wait_for(all_tried, timeout=40)
            rows = await contacts(rig)
            outcomes = {n: (r.status, r.last_outcome) for n, r in rows.items()}
            assert outcomes == {
                IVAN: ("done", "answered"),
                MACHINE: ("pending", "machine"),
                BUSY: ("pending", "busy"),
                SILENT: ("pending", "no_answer"),
            }
            async with rig.service.core.sessions() as db:  # type: ignore[union-attr]
                ivan_id = await db.scalar(select(Customer.id).where(Customer.name == "Ivan Petrov"))
                # imported from a CSV: the timeline row has no customer; the call's own has
                summaries = (
                    await db.scalars(
                        select(InteractionEvent.summary).where(
                            InteractionEvent.kind == "campaign.attempt"
                        )
                    )
                ).all()
                calls = (
                    await db.scalars(
                        select(InteractionEvent.kind).where(InteractionEvent.customer_id == ivan_id)
                    )
                ).all()
                row = await db.scalar(select(Campaign))
                assert row is not None
                figures = await reports.figures(db, row)
            assert (
                f"Campaign Predict: call to {MACHINE} by the dialer: answering machine"
                " (attempt 1 of 3); next try"
            ) in " | ".join(summaries)
            assert "call.answered" in calls  # the queue call on Ivan's own timeline
            # the queue chose anna: the attempt is hers (her disposition is asked for)
            assert rows[IVAN].operator_login == "anna"
            assert f"Campaign Predict: call to {IVAN} by anna: talked with an operator" in summaries
            assert {
                k: figures[k]
                for k in ("dialled", "answered", "machine", "busy", "no_answer", "abandoned")
            } == {
                "dialled": 4,
                "answered": 1,
                "machine": 1,
                "busy": 1,
                "no_answer": 1,
                "abandoned": 0,
            }
        finally:
            await anna.http.close()


async def test_a_person_nobody_takes_hears_the_apology_and_is_abandoned(
    tmp_path: Path, db_url: str
) -> None:
    operators = (Operator("PJSIP/101", "Anna", answer_after=None),)  # rings, never answers
    async with running_service(tmp_path, db_url, operators=operators, dialplan="shipped") as rig:
        callees.install(rig.pbx, Callees(per_number={IVAN: ALWAYS_PERSON}))
        await rig.command("anna", "operator", "PJSIP/101", "available")
        await wait_for(
            lambda: "PJSIP/101" in str(rig.pbx.queues.queues["support"].members), timeout=5
        )
        played: list[Any] = []
        rig.pbx.subscribe(
            lambda e: (
                played.append(e)
                if e.name == "Newexten" and e.get("Application") == "Playback"
                else None
            )
        )
        await start_campaign(rig, [IVAN])

        async def tried() -> bool:
            rows = await contacts(rig)
            return rows[IVAN].last_outcome != ""

        await wait_for(tried, timeout=30)
        rows = await contacts(rig)
        assert (rows[IVAN].status, rows[IVAN].last_outcome) == ("pending", "abandoned")
        assert [e.get("AppData") for e in played] == ["all-circuits-busy-now&please-try-call-later"]
        async with rig.service.core.sessions() as db:  # type: ignore[union-attr]
            row = await db.scalar(select(Campaign))
            assert row is not None
            figures = await reports.figures(db, row)
        assert (figures["abandoned"], figures["abandon_rate"]) == (1, 1.0)
