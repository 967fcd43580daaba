"""Every leg over real AMI TCP: the simulator plays Asterisk, our connector (parser, tracker)
turns its stream into domain events. Blind and attended transfers to people, a Redirect, a
direct Dial and click-to-call: each operator is offered the call when their phone rings, talks
on a leg of their own, and console control follows the call to whoever holds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contact_center.ami.connector import AmiConnector
from contact_center.calls import events as ev
from contact_center.sim.config import Operator
from contact_center.sim.pbx import Call, SimPbx
from contact_center.testing import AmiClient, EventLog, connected_connector, running_pbx
from tests.conftest import wait_for

OP101 = Operator("Local/101@agents", "Operator 101", answer_after=0.5)
OP103 = Operator("Local/103@agents", "Operator 103", answer_after=0.5)


@dataclass
class Rig:
    pbx: SimPbx
    ami: AmiClient
    log: EventLog
    connector: AmiConnector
    events: list[ev.DomainEvent]

    def of(self, call_id: str, kind: type[ev.DomainEvent]) -> list[ev.DomainEvent]:
        return [e for e in self.events if e.call_id == call_id and isinstance(e, kind)]

    async def ended(self, call_id: str) -> ev.CallEnded:
        await wait_for(lambda: bool(self.of(call_id, ev.CallEnded)), 10)
        [end] = self.of(call_id, ev.CallEnded)
        assert isinstance(end, ev.CallEnded)
        return end


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    events: list[ev.DomainEvent] = []

    async def sink(event: ev.DomainEvent) -> None:
        events.append(event)

    async with running_pbx(tmp_path, operators=[OP101, OP103]) as pbx:
        async with connected_connector(pbx, tmp_path / "state", sink) as connector:
            ami = await AmiClient.connect(pbx.host, pbx.port)
            await ami.login()
            log = EventLog(pbx)
            try:
                yield Rig(pbx, ami, log, connector, events)
            finally:
                log.close()
                await ami.close()


async def answered_by_101(rig: Rig) -> tuple[Call, str]:
    rig.pbx.queues.add_member("support", OP101.interface, OP101.name)
    call = await rig.pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
    connect = await rig.log.wait("AgentConnect", Channel=call.channel)
    await wait_for(lambda: bool(rig.of(call.linkedid, ev.CallAnswered)), 5)
    return call, connect.get("DestChannel")


def holder(rig: Rig, call_id: str) -> str:
    live = rig.connector.tracker.live_channels(call_id)
    return live.operator_interface if live is not None else ""


async def test_blind_transfer_to_a_person_pops_and_moves_control(rig: Rig) -> None:
    call, operator = await answered_by_101(rig)
    assert "Local/101@agents" == holder(rig, call.linkedid)

    await rig.ami.action("BlindTransfer", Channel=operator, Context="transfer-targets", Exten="103")
    await wait_for(lambda: len(rig.of(call.linkedid, ev.CallAnswered)) == 2, 10)
    assert "Local/103@agents" == holder(rig, call.linkedid)
    await rig.pbx.hangup(call.phone)
    end = await rig.ended(call.linkedid)

    offers = rig.of(call.linkedid, ev.CallOffered)
    assert [
        ("Local/101@agents", "queue", []),
        ("Local/103@agents", "transfer", ["Local/101@agents"]),
    ] == [
        (o.interface, o.via, o.previous_operators) for o in offers if isinstance(o, ev.CallOffered)
    ]
    [moved] = rig.of(call.linkedid, ev.CallTransferred)
    assert isinstance(moved, ev.CallTransferred)
    assert ("blind", "103", "Local/101@agents") == (
        moved.transfer_type,
        moved.target,
        moved.by_interface,
    )
    left = [e for e in rig.of(call.linkedid, ev.OperatorLeft) if isinstance(e, ev.OperatorLeft)]
    assert [("Local/101@agents", "transfer"), ("Local/103@agents", "caller")] == [
        (e.interface, e.reason) for e in left
    ]
    assert all(e.talk_seconds > 0 for e in left)
    assert end.talk_seconds == pytest.approx(sum(e.talk_seconds for e in left))
    assert ("answered", "caller") == (end.outcome, end.hung_up_by)


async def test_attended_transfer_offers_the_consulted_operator_at_ring_time(rig: Rig) -> None:
    call, operator = await answered_by_101(rig)

    await rig.ami.action("Atxfer", Channel=operator, Exten="103", Context="transfer-targets")
    await wait_for(lambda: len(rig.of(call.linkedid, ev.CallOffered)) == 2, 10)
    await wait_for(
        lambda: any(
            e.get("DestChannel").startswith("Local/103@agents-")
            for e in rig.log.named("DialEnd", DialStatus="ANSWER")
        ),
        10,
    )
    await rig.pbx.hangup_operator("Local/101@agents")  # 101 hangs up: the transfer completes
    await rig.log.wait("AttendedTransfer")
    await wait_for(lambda: holder(rig, call.linkedid) == "Local/103@agents", 10)
    await rig.pbx.hangup(call.phone)
    await rig.ended(call.linkedid)

    [offer_103] = [
        o for o in rig.of(call.linkedid, ev.CallOffered)
        if isinstance(o, ev.CallOffered) and o.interface == "Local/103@agents"
    ]  # fmt: skip
    [answer_103] = [
        a for a in rig.of(call.linkedid, ev.CallAnswered)
        if isinstance(a, ev.CallAnswered) and a.interface == "Local/103@agents"
    ]  # fmt: skip
    [moved] = rig.of(call.linkedid, ev.CallTransferred)
    assert offer_103.at < moved.at <= answer_103.at  # rang during the consultation
    assert ("transfer", ["Local/101@agents"]) == (offer_103.via, offer_103.previous_operators)
    assert isinstance(moved, ev.CallTransferred) and "attended" == moved.transfer_type


async def test_redirect_to_a_person_is_a_transfer(rig: Rig) -> None:
    call, _operator = await answered_by_101(rig)

    await rig.ami.action(
        "Redirect", Channel=call.channel, Context="transfer-targets", Exten="103", Priority="1"
    )
    await wait_for(lambda: holder(rig, call.linkedid) == "Local/103@agents", 10)
    await rig.pbx.hangup(call.phone)
    await rig.ended(call.linkedid)

    moves = [
        t for t in rig.of(call.linkedid, ev.CallTransferred) if isinstance(t, ev.CallTransferred)
    ]
    assert [("redirect", "103", "Local/101@agents")] == [
        (t.transfer_type, t.target, t.by_interface) for t in moves
    ]


async def test_click_to_call_is_the_operators_call_with_the_customers_number(rig: Rig) -> None:
    await rig.ami.action(
        "Originate", Channel=OP101.interface, Context="cc-originate", Exten="+74951234567",
        ChannelId="cc-out-42", CallerID='"Click-to-call" <+74951234567>', Async="true",
    )  # fmt: skip
    answered = await rig.log.wait("DialEnd", DialStatus="ANSWER", DestCallerIDNum="+74951234567")
    await wait_for(lambda: bool(rig.of("cc-out-42", ev.CallAnswered)), 5)
    assert "Local/101@agents" == holder(rig, "cc-out-42")
    await rig.ami.action("Hangup", Channel=answered.get("DestChannel"))
    end = await rig.ended("cc-out-42")

    [arrived] = rig.of("cc-out-42", ev.CallArrived)
    [offer] = rig.of("cc-out-42", ev.CallOffered)
    assert isinstance(arrived, ev.CallArrived) and isinstance(offer, ev.CallOffered)
    assert ("outbound", "+74951234567", "Local/101@agents") == (
        arrived.direction, arrived.did, arrived.operator_interface,
    )  # fmt: skip
    assert ("Local/101@agents", "outbound") == (offer.interface, offer.via)
    assert offer.at <= arrived.at + 60 and offer.seq > arrived.seq
    assert ("outbound", "answered", "+74951234567") == (end.direction, end.outcome, end.dialled)
    # (the CC_KIND tag: Asterisk reports an Originate's Variable as VarSet — capture 21,
    # tested there — the simulator sets it silently)
    assert end.talk_seconds > 0
