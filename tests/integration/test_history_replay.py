"""Real Asterisk captures replayed through the tracker, written twice: the rows exist once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from contact_center.ami.replay import replay_events
from contact_center.billing.service import BillingService
from contact_center.calls import events as ev
from contact_center.history.writer import HistoryWriter
from contact_center.store import models
from tests.conftest import FIXTURES
from tests.integration.history_support import Sessions, count, database

CAPTURES = sorted(FIXTURES.glob("*.jsonl"))


async def snapshot(sessions: Sessions) -> dict[str, Any]:
    """Everything the writer and billing produced, without surrogate ids and write times."""
    async with sessions() as session:
        events = (await session.execute(select(models.InteractionEvent))).scalars().all()
        calls = (await session.execute(select(models.Call))).scalars().all()
        legs = (await session.execute(select(models.CallLeg))).scalars().all()
        charges = (await session.execute(select(models.Charge))).scalars().all()
    return {
        "events": sorted((e.key, e.kind, e.call_linkedid, e.summary, str(e.data)) for e in events),
        "calls": sorted(
            (
                c.linkedid,
                c.caller_number,
                c.queue,
                c.operator_interface,
                c.outcome,
                c.talk_seconds,
                str(c.ivr_path),
                str(c.ended_at),
            )
            for c in calls
        ),
        "legs": sorted((leg.uniqueid, leg.channel, leg.role, str(leg.ended_at)) for leg in legs),
        "charges": sorted((c.call_linkedid, c.amount, str(c.breakdown)) for c in charges),
    }


async def test_captures_written_twice_give_the_same_rows_once(db_url: str, tmp_path: Path) -> None:
    replayed = [e for path in CAPTURES for e in replay_events(path)]
    history = [e for e in replayed if not isinstance(e, ev.OperatorState)]
    ended = {e.call_id for e in replayed if isinstance(e, ev.CallEnded)}
    assert len(CAPTURES) >= 6 and ended  # the captures are there and have finished calls

    async with database(db_url) as sessions:
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill", batch_size=16)
        billing = BillingService(sessions)
        for event in replayed:
            await writer.handle(event)
            await billing.handle(event)
        await writer.flush()
        once = await snapshot(sessions)
        for event in replayed:  # the same captures again, as after a resync
            await writer.handle(event)
            await billing.handle(event)
        await writer.flush()

        assert once == await snapshot(sessions)
        assert len({e.key for e in history}) == len(once["events"]) - len(once["charges"])
        assert len(ended) == await count(sessions, models.Charge)
        assert len(history) == writer.stats.duplicates
