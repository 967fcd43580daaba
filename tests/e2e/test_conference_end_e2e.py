"""A conference the customer leaves ends (item 7 of issue 17): the whole service over real TCP
beside the simulator running the shipped dial plan. The operator brings caller and herself
into a ConfBridge room from the console; the caller hangs up; the connector sees only the
operator left and sends ``ConfbridgeKick … all``; her phone leaves the room, its dial plan goes
on after ConfBridge() to Hangup(), she is free for the next call and the call is closed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from contact_center.sim.config import Operator
from contact_center.store.models import Call
from contact_center.testing import EventLog
from tests.conftest import wait_for
from tests.e2e.service_support import DID, running_service

ANNA = "PJSIP/101"


async def test_a_room_the_customer_left_is_ended_and_frees_the_operator(
    tmp_path: Path, db_url: str
) -> None:
    operators = (Operator(ANNA, "Anna", manual=True),)
    async with running_service(tmp_path, db_url, operators=operators, dialplan="shipped") as rig:
        pbx, connector = rig.pbx, rig.service.components["connector"]
        log = EventLog(pbx)
        try:
            await rig.command("anna", "operator", ANNA, "available")
            await wait_for(lambda: ANNA in pbx.queues.queues["support"].members, timeout=5)
            call = await pbx.place_call(DID, "+74951234567", "Ivan Petrov", dtmf="2")
            await log.wait("DeviceStateChange", timeout=10, Device=ANNA, State="RINGING")
            await pbx.answer(ANNA)
            connect = await log.wait("AgentConnect", timeout=10, Channel=call.channel)
            phone = pbx.channels[connect.get("DestChannel")]
            await wait_for(lambda: _answered(connector, call.linkedid), timeout=5)

            await rig.command("anna", "operator", ANNA, "conference", call_id=call.linkedid)
            joined = await log.wait("ConfbridgeJoin", timeout=10, Channel=phone.name)
            room = joined.get("Conference")
            await log.wait("ConfbridgeJoin", timeout=10, Channel=call.channel)
            assert ANNA in pbx.queues.busy  # in the room she is on a call (ringinuse=no)

            await pbx.hangup_caller(call)  # the customer leaves; nobody else does anything

            left = await log.wait("ConfbridgeLeave", timeout=10, Channel=phone.name)
            await log.wait("Hangup", timeout=10, Channel=phone.name)
            await log.wait("ConfbridgeEnd", timeout=10, Conference=room)
        finally:
            log.close()

        assert room == left.get("Conference")
        assert "KICKED" == phone.variables.get("CONFBRIDGE_RESULT")  # kicked, not hung up
        # her phone's dial plan went on after ConfBridge(): [conference] …, Hangup()
        steps = [e.get("Application") for e in log.named("Newexten", Channel=phone.name)]
        assert ["ConfBridge", "Hangup"] == steps[-2:]
        # her phone is free: no channel, not busy for the queues, the device idle
        assert [] == pbx.phone_channels(ANNA)
        await wait_for(lambda: ANNA not in pbx.queues.busy, timeout=5)
        assert "NOT_INUSE" == log.named("DeviceStateChange", Device=ANNA)[-1].get("State")
        assert {} == pbx.dialplan.conferences

        # the call is closed once, with her as its operator, and nothing is left open
        sessions = rig.service.core.sessions  # type: ignore[union-attr]

        async def ended() -> bool:
            async with sessions() as db:
                row = await db.scalar(select(Call).where(Call.linkedid == call.linkedid))
                return row is not None and row.ended_at is not None

        await wait_for(ended, timeout=10)
        await wait_for(lambda: not connector.tracker.calls, timeout=5)
        async with sessions() as db:
            row = await db.scalar(select(Call).where(Call.linkedid == call.linkedid))
        assert row is not None
        assert ("answered", ANNA) == (row.outcome, row.operator_interface)

        # and she takes the next call
        second = await pbx.place_call(DID, "+74951234567", "Ivan Petrov", dtmf="2")
        await wait_for(lambda: bool(pbx.phone_channels(ANNA)), timeout=10)
        await pbx.hangup_caller(second)


def _answered(connector: object, linkedid: str) -> bool:
    calls = connector.tracker.calls  # type: ignore[attr-defined]
    return any(cid == linkedid and call.answered_at for (_s, cid), call in calls.items())
