"""An operator who moved her call into a conference still holds it (issue 18): the whole service
over real TCP beside the simulator running the shipped dial plan. After ``conference`` from the
console the connector still names her as the call's operator (so Leave and Hang up work), her
card stays open while she talks in the room, every participant's join and leave is reported
with a name, and leaving the room ends her part with the wrap-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from contact_center.bus import POPS
from contact_center.calls import events as ev
from contact_center.history.views import customer_timeline
from contact_center.sim.config import Operator
from contact_center.store.models import Call, CallLeg
from contact_center.testing import EventLog
from tests.conftest import wait_for
from tests.e2e.service_support import DID, Rig, running_service

ANNA = "PJSIP/101"


async def _conference(rig: Rig, log: EventLog, pops: list[dict[str, Any]]) -> tuple[Any, Any]:
    """Anna takes a queue call and moves it into a room; both legs joined."""
    pbx, connector = rig.pbx, rig.service.components["connector"]
    await rig.command("anna", "operator", ANNA, "available")
    await wait_for(lambda: ANNA in pbx.queues.queues["support"].members, timeout=5)
    call = await pbx.place_call(DID, "+74951234567", "Ivan Petrov", dtmf="2")
    await log.wait("DeviceStateChange", timeout=10, Device=ANNA, State="RINGING")
    await pbx.answer(ANNA)
    connect = await log.wait("AgentConnect", timeout=10, Channel=call.channel)
    phone = pbx.channels[connect.get("DestChannel")]
    await wait_for(lambda: _pop(pops, call.linkedid, "answered"), timeout=5)

    await rig.command("anna", "operator", ANNA, "conference", call_id=call.linkedid)
    await log.wait("ConfbridgeJoin", timeout=10, Channel=phone.name)
    await log.wait("ConfbridgeJoin", timeout=10, Channel=call.channel)
    await wait_for(lambda: len(_in_room(connector, call.linkedid)) == 2, timeout=5)
    return call, phone


def _pop(pops: list[dict[str, Any]], call_id: str, stage: str) -> bool:
    return any(m["type"] == "pop" and m["call_id"] == call_id and m["stage"] == stage for m in pops)


def _closes(pops: list[dict[str, Any]], call_id: str) -> list[str]:
    return [m["reason"] for m in pops if m["type"] == "pop.closed" and m["call_id"] == call_id]


def _in_room(connector: Any, call_id: str) -> set[str]:
    """Who the tracker's participant events say is in the room now (by name)."""
    return {p.name for p in connector.tracker.conference_participants(call_id)}


async def test_the_operator_keeps_her_call_in_the_conference_and_leaves_it(
    tmp_path: Path, db_url: str
) -> None:
    operators = (Operator(ANNA, "Anna", manual=True),)
    async with running_service(tmp_path, db_url, operators=operators, dialplan="shipped") as rig:
        pbx, connector = rig.pbx, rig.service.components["connector"]
        core = rig.service.core
        assert core is not None
        pops: list[dict[str, Any]] = []
        stop_pops = core.bus.listen(POPS, lambda _id, m: pops.append(m))  # type: ignore[attr-defined]
        seen: list[ev.DomainEvent] = []
        stop_events = core.bus.listen(  # type: ignore[attr-defined]
            "events", lambda _id, m: seen.append(ev.from_dict(m))
        )
        log = EventLog(pbx)
        try:
            call, phone = await _conference(rig, log, pops)

            # the connector still knows her as the call's operator: her channel in the room
            live = connector.tracker.live_channels(call.linkedid)
            assert (phone.name, ANNA) == (live.operator_channel, live.operator_interface)
            # her card did not close (nothing on her screen said the call ended)
            assert [] == _closes(pops, call.linkedid)
            # both participants, by name: the operator from the directory, the customer
            joined = [e for e in seen if isinstance(e, ev.ConferenceParticipantJoined)]
            assert {("operator", "Anna"), ("customer", "Ivan Petrov")} <= {
                (e.role, e.name) for e in joined if e.call_id == call.linkedid
            }

            # Leave from the console: her phone leaves the room, her part ends with wrap-up
            await rig.command("anna", "operator", ANNA, "leave_conference", call_id=call.linkedid)
            await log.wait("ConfbridgeLeave", timeout=10, Channel=phone.name)
            await wait_for(lambda: _closes(pops, call.linkedid) == ["ended"], timeout=10)

            def left() -> set[tuple[str, str]]:
                return {
                    (e.role, e.name) for e in seen if isinstance(e, ev.ConferenceParticipantLeft)
                }

            await wait_for(lambda: ("operator", "Anna") in left(), timeout=5)
            assert {"Ivan Petrov"} == _in_room(connector, call.linkedid)  # he stays
            gone = [
                e for e in seen if isinstance(e, ev.OperatorLeft) and e.call_id == call.linkedid
            ]
            assert [ANNA] == [e.interface for e in gone]  # her part ended once
            assert gone[0].talk_seconds > 0

            await pbx.hangup_caller(call)  # the customer, alone in the room, hangs up
            await wait_for(lambda: not connector.tracker.calls, timeout=10)
        finally:
            log.close()
            stop_pops()
            stop_events()

        # history: the call is hers, one operator leg with her talk (no second row)
        sessions = rig.service.core.sessions  # type: ignore[union-attr]

        async def written() -> bool:
            async with sessions() as db:
                row = await db.scalar(select(Call).where(Call.linkedid == call.linkedid))
                return row is not None and row.ended_at is not None

        await wait_for(written, timeout=10)
        async with sessions() as db:
            row = await db.scalar(select(Call).where(Call.linkedid == call.linkedid))
            assert row is not None
            legs = (
                await db.scalars(
                    select(CallLeg).where(CallLeg.call_id == row.id, CallLeg.role == "operator")
                )
            ).all()
        assert ("answered", ANNA) == (row.outcome, row.operator_interface)
        # the customer's timeline says each entry into the room once: the participant rows,
        # not also the room's first join
        assert row.customer_id is not None
        page = await customer_timeline(sessions, row.customer_id, limit=200)
        kinds = [item.kind for item in page.items if item.call == call.linkedid]
        assert "call.conference_participant_joined" in kinds
        assert "call.conference_joined" not in kinds
        assert [phone.uniqueid] == [leg.uniqueid for leg in legs]
        assert legs[0].talk_seconds == gone[0].talk_seconds


async def test_hang_up_from_the_console_in_a_conference(tmp_path: Path, db_url: str) -> None:
    operators = (Operator(ANNA, "Anna", manual=True),)
    async with running_service(tmp_path, db_url, operators=operators, dialplan="shipped") as rig:
        pbx, connector = rig.pbx, rig.service.components["connector"]
        core = rig.service.core
        assert core is not None
        pops: list[dict[str, Any]] = []
        stop_pops = core.bus.listen(POPS, lambda _id, m: pops.append(m))  # type: ignore[attr-defined]
        log = EventLog(pbx)
        try:
            call, phone = await _conference(rig, log, pops)
            await rig.command("anna", "operator", ANNA, "hangup", call_id=call.linkedid)
            await log.wait("Hangup", timeout=10, Channel=call.channel)
            await log.wait("Hangup", timeout=10, Channel=phone.name)
            await wait_for(lambda: _closes(pops, call.linkedid) == ["ended"], timeout=10)
            await wait_for(lambda: not connector.tracker.calls, timeout=5)
        finally:
            log.close()
            stop_pops()
        await wait_for(lambda: ANNA not in pbx.queues.busy, timeout=5)
