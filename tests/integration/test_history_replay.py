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


async def test_every_leg_in_history_as_a_user_reads_it(db_url: str, tmp_path: Path) -> None:
    """17 (transfers to people), 21 (calls we placed), 27 (real SIP: IVR digits, voicemail,
    supervision): the calls table, the legs and the timeline say what happened."""
    names = ("17-transfer-chain", "21-callback-and-click-to-call", "27-live-pjsip-deploy")
    replayed = [e for name in names for e in replay_events(FIXTURES / f"{name}.jsonl")]
    async with database(db_url) as sessions:
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill", batch_size=16)
        for event in replayed:
            await writer.handle(event)
        await writer.flush()
        async with sessions() as session:
            calls = {c.linkedid: c for c in (await session.scalars(select(models.Call))).all()}
            legs = (await session.scalars(select(models.CallLeg))).all()
            rows = (await session.scalars(select(models.InteractionEvent))).all()

    ends = {e.call_id: e for e in replayed if isinstance(e, ev.CallEnded)}
    left = [e for e in replayed if isinstance(e, ev.OperatorLeft)]
    # 17: the call's talk is the customer's across 101, 104 and 103; each has a leg row
    transfer = calls["1796590684.0"]
    mine = [e for e in left if e.call_id == transfer.linkedid]
    assert 3 == len(mine)
    assert transfer.talk_seconds == sum(e.talk_seconds for e in mine)
    assert ("support", "Local/101@agents", "answered") == (
        transfer.queue,
        transfer.operator_interface,
        transfer.outcome,
    )
    operator_legs = {
        leg.channel for leg in legs if leg.call_id == transfer.id and leg.role == "operator"
    }
    assert {"Local/101@agents", "Local/104@agents", "Local/103@agents"} == operator_legs
    timeline = [r.summary for r in rows if r.call_linkedid == transfer.linkedid]
    assert "Transferred (blind) to 104" in timeline
    assert "Transferred (attended) to 103" in timeline
    assert any(s.startswith("Ringing Local/103@agents by transfer") for s in timeline)
    # 21: placed by the operator: outbound, theirs, to the customer, with the dialer's outcome
    placed = [c for c in calls.values() if c.linkedid.startswith("cc-out-")]
    by_end = sorted((ends[c.linkedid].outcome, c.did) for c in placed)
    assert [
        ("answered", "+74951234567"), ("failed", "+79161112233"), ("no_answer", "+74997654321"),
    ] == by_end  # fmt: skip
    assert {"outbound"} == {c.direction for c in placed}
    assert all(c.operator_interface for c in placed)
    assert sorted(o for o, _ in by_end) == sorted(c.outcome for c in placed)
    # 27: keys 1, 0 of the IVR stored once (the DTMF of SIP INFO and the IVR's own record)
    known = [c for c in calls.values() if c.caller_number_raw == "79161112233" and c.queue]
    assert known and all(c.ivr_path.get("digits") == "10" for c in known)
    # 27: a voicemail is a voicemail; the supervisor's ChanSpy is supervision, not a call
    assert ["79035550013"] == [
        c.caller_number_raw for c in calls.values() if c.outcome == "voicemail"
    ]
    [spy] = [c for c in calls.values() if c.direction == "supervisor"]
    assert "supervision" == spy.outcome
