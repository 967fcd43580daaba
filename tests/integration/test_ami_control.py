"""Routing's OperatorStates and CallControl driven through AmiPbxControl against the Asterisk
simulator, over real TCP: what Asterisk was told (the actions on the wire, recorded by a
proxy) and what it then did (its events, and our tracker's domain events)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from contact_center.ami.connector import AmiConnector
from contact_center.ami.control import AmiPbxControl, TrackerCallDirectory
from contact_center.ami.errors import AmiActionError
from contact_center.calls import events as ev
from contact_center.config import AmiSettings
from contact_center.routing.control import Actor, CallControl, ControlError, LiveCall
from contact_center.routing.operators import Operator, OperatorStates
from tests.conftest import wait_for
from tests.integration.tcp_proxy import TcpProxy

sim = pytest.importorskip("contact_center.sim.pbx")
sim_config = pytest.importorskip("contact_center.sim.config")

E = TypeVar("E", bound=ev.DomainEvent)
OP = "Local/101@agents"
ACTOR = Actor("op101", "operator", OP)


class RecordingProxy(TcpProxy):
    """The TCP proxy; it keeps every byte the client sent (``sent``)."""

    def actions(self, name: str = "") -> list[dict[str, str]]:  # type: ignore[override]
        """The actions named ``name`` (all with "") the client sent, as header dicts."""
        out = []
        for block in bytes(self.sent).decode("utf-8", "replace").split("\r\n\r\n"):
            lines = [line for line in block.split("\r\n") if line]
            if not lines or not lines[0].startswith("Action: "):
                continue
            if name and lines[0] != f"Action: {name}":
                continue
            headers: dict[str, str] = {}
            for line in lines:
                key, _, value = line.partition(": ")
                headers.setdefault(key, value)
            out.append(headers)
        return out


@dataclass
class Rig:
    pbx: Any  # contact_center.sim.pbx.SimPbx (imported only if the simulator is there)
    proxy: RecordingProxy
    connector: AmiConnector
    control: CallControl
    operators: OperatorStates
    directory: TrackerCallDirectory
    got: list[ev.DomainEvent] = field(default_factory=list)
    told: list[Any] = field(default_factory=list)  # the simulator's own events

    def sim_events(self, name: str) -> list[dict[str, str]]:
        return [dict(e.headers) for e in self.told if e.name == name]

    def ours(self, kind: type[E], call_id: str = "") -> list[E]:
        return [
            e for e in self.got if isinstance(e, kind) and (not call_id or e.call_id == call_id)
        ]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    config = sim_config.SimConfig(
        time_scale=0.05,
        operators=(sim_config.Operator(OP, "Operator 101", answer_after=1.0),),
    )
    async with sim.SimPbx(config) as pbx:
        proxy = RecordingProxy("127.0.0.1", pbx.port)
        await proxy.start()
        got: list[ev.DomainEvent] = []
        operators_box: list[OperatorStates] = []

        async def sink(event: ev.DomainEvent) -> None:
            got.append(event)
            for states in operators_box:
                await states.handle(event)

        settings = AmiSettings(
            port=proxy.port, secret="cc-test-secret", ping_interval=1.0, reconnect_min=0.05
        )
        connector = AmiConnector(settings, "sim1", sink, state_dir=tmp_path)
        pbx_control = AmiPbxControl(connector.actions)
        directory = TrackerCallDirectory(connector.tracker)
        operators = OperatorStates(pbx_control, sink, server="sim1")
        operators_box.append(operators)
        control = CallControl(pbx_control, directory, sink, server="sim1")
        rig = Rig(pbx, proxy, connector, control, operators, directory, got)
        unsubscribe = pbx.subscribe(rig.told.append)
        task = asyncio.create_task(connector.run())
        try:
            await asyncio.wait_for(connector.wait_connected(), 5)
            yield rig
        finally:
            unsubscribe()
            await operators.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await proxy.close()


async def answered_call(rig: Rig) -> tuple[Any, LiveCall]:
    await rig.operators.sign_in(Operator("op101", OP, "Operator 101", {"support": 0}))
    call = await rig.pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
    await wait_for(lambda: bool(rig.ours(ev.CallAnswered, call.linkedid)), 5)
    live = rig.directory.live_call(call.linkedid)
    assert live is not None
    return call, live


async def test_sign_in_pause_resume_sign_out_reach_asterisk(rig: Rig) -> None:
    op = Operator("op101", OP, "Operator 101", {"support": 0, "sales": 2})
    await rig.operators.sign_in(op)
    await wait_for(lambda: len(rig.sim_events("QueueMemberAdded")) == 2, 5)
    added = sorted(
        (e["Queue"], e["Interface"], e["MemberName"], e["Penalty"], e["Paused"])
        for e in rig.sim_events("QueueMemberAdded")
    )
    assert [
        ("sales", OP, "Operator 101", "2", "0"),
        ("support", OP, "Operator 101", "0", "0"),
    ] == added
    assert [OP, OP] == [a["StateInterface"] for a in rig.proxy.actions("QueueAdd")]

    status = await rig.operators.pause("op101", "lunch")
    assert ("paused", "lunch") == (status.state, status.reason)
    await wait_for(lambda: len(rig.sim_events("QueueMemberPause")) == 2, 5)
    paused = sorted(
        (e["Queue"], e["Paused"], e["PausedReason"]) for e in rig.sim_events("QueueMemberPause")
    )
    assert [("sales", "1", "lunch"), ("support", "1", "lunch")] == paused
    # our tracker read the same pause back from Asterisk
    await wait_for(
        lambda: (
            {(s.queue, s.paused, s.pause_reason) for s in rig.connector.tracker.operators.values()}
            == {("sales", True, "lunch"), ("support", True, "lunch")}
        ),
        5,
    )

    await rig.operators.resume("op101")
    await wait_for(lambda: len(rig.sim_events("QueueMemberPause")) == 4, 5)
    assert [False] == list({m.paused for m in rig.pbx.members(OP)})

    await rig.operators.sign_out("op101")
    await wait_for(lambda: len(rig.sim_events("QueueMemberRemoved")) == 2, 5)
    assert [] == rig.pbx.members(OP)
    logged = [e.action for e in rig.ours(ev.OperatorAction)]
    assert ["sign_in", "pause", "resume", "sign_out"] == logged


async def test_directory_names_the_channels_asterisk_bridged(rig: Rig) -> None:
    call, live = await answered_call(rig)
    connect = rig.sim_events("AgentConnect")[-1]
    expected = LiveCall(call.linkedid, call.channel, connect["DestChannel"], OP, "support")
    assert expected == live
    assert "on_call" == rig.operators.status("op101").state
    await rig.pbx.hangup(call.phone)
    await wait_for(lambda: bool(rig.ours(ev.CallEnded, call.linkedid)), 5)
    assert rig.directory.live_call(call.linkedid) is None


async def test_hangup_from_the_console_ends_the_call(rig: Rig) -> None:
    call, live = await answered_call(rig)
    with pytest.raises(ControlError):
        await rig.control.hangup(Actor("op102", "operator", "Local/102@agents"), live.call_id)
    await rig.control.hangup(ACTOR, live.call_id)
    assert [call.channel] == [a["Channel"] for a in rig.proxy.actions("Hangup")]
    await wait_for(lambda: bool(rig.ours(ev.CallEnded, live.call_id)), 5)
    ended = rig.ours(ev.CallEnded, live.call_id)[0]
    assert ("answered", "ami") == (ended.outcome, ended.source)
    hung = [e for e in rig.sim_events("Hangup") if e["Channel"] == call.channel]
    assert 1 == len(hung)
    assert ["hangup"] == [e.action for e in rig.ours(ev.OperatorAction, live.call_id)]
    await wait_for(lambda: rig.operators.status("op101").state == "available", 5)


async def test_blind_transfer_to_a_queue(rig: Rig) -> None:
    _, live = await answered_call(rig)
    try:
        await rig.control.blind_transfer(ACTOR, live.call_id, "sales")
        failure = ""
    except AmiActionError as exc:
        failure = str(exc)
    told = [(a["Channel"], a["Context"], a["Exten"]) for a in rig.proxy.actions("BlindTransfer")]
    assert [(live.operator_channel, "transfer-targets", "sales")] == told
    assert "" == failure
    await wait_for(lambda: bool(rig.ours(ev.CallTransferred, live.call_id)), 5)
    moved = rig.ours(ev.CallTransferred, live.call_id)[0]
    assert ("blind", "sales") == (moved.transfer_type, moved.target)
    # the caller (not the operator) now waits in the sales queue
    await wait_for(
        lambda: any(
            (e["Channel"], e["Queue"]) == (live.caller_channel, "sales")
            for e in rig.sim_events("QueueCallerJoin")
        ),
        5,
    )


async def test_attended_transfer_runs_on_the_operator_leg(rig: Rig) -> None:
    _, live = await answered_call(rig)
    try:
        await rig.control.attended_transfer(ACTOR, live.call_id, "102")
        failure = ""
    except AmiActionError as exc:
        failure = str(exc)
    told = rig.proxy.actions("Atxfer")
    assert [(live.operator_channel, "102", "transfer-targets")] == [
        (a["Channel"], a["Exten"], a["Context"]) for a in told
    ]
    assert "" == failure


async def test_a_consultation_is_cancelled_with_the_abort_code_received_on_the_leg(
    rig: Rig,
) -> None:
    """Cancel = features.conf's atxferabort as PlayDTMF ``Receive: yes`` on the transferring
    operator's leg, one action per digit; then the operator holds the call alone again."""
    _, live = await answered_call(rig)
    with pytest.raises(ControlError, match="no consultation in progress"):
        await rig.control.cancel_transfer(ACTOR, live.call_id)  # nothing to cancel yet
    assert [] == rig.proxy.actions("PlayDTMF")

    await rig.control.attended_transfer(ACTOR, live.call_id, "102")
    await wait_for(lambda: _consulting(rig, live.call_id) == "Local/102@agents", 10)
    await rig.control.cancel_transfer(ACTOR, live.call_id)

    told = rig.proxy.actions("PlayDTMF")
    assert [(live.operator_channel, "*", "yes"), (live.operator_channel, "1", "yes")] == [
        (a["Channel"], a["Digit"], a["Receive"]) for a in told
    ]
    await wait_for(lambda: _consulting(rig, live.call_id) == "", 10)
    after = rig.directory.live_call(live.call_id)
    assert after is not None and OP == after.operator_interface
    assert [] == rig.sim_events("AttendedTransfer")
    assert ["attended_transfer", "transfer_cancel"] == [
        e.action for e in rig.ours(ev.OperatorAction) if "transfer" in e.action
    ]


def _consulting(rig: Rig, call_id: str) -> str:
    live = rig.directory.live_call(call_id)
    return live.consulting if live is not None else "?"


async def test_click_to_call_originates_into_cc_originate(rig: Rig) -> None:
    call_id = await rig.control.click_to_call(ACTOR, "+74951234567", customer_id=42)
    assert call_id.startswith("cc-out-")
    [told] = rig.proxy.actions("Originate")
    assert (OP, "cc-originate", "+74951234567", call_id) == (
        told["Channel"], told["Context"], told["Exten"], told["ChannelId"],
    )  # fmt: skip
    assert ["click_to_call"] == [e.action for e in rig.ours(ev.OperatorAction)]
    await wait_for(lambda: bool(rig.ours(ev.CallArrived)), 5)
    arrived = rig.ours(ev.CallArrived)
    assert [call_id] == [e.call_id for e in arrived]
    assert ["outbound"] == [e.direction for e in arrived]
    # the operator's phone answered, then cc-originate dialled the customer through the trunk
    await wait_for(
        lambda: any(
            (e["DestLinkedid"], e["DialStatus"], e["DestCallerIDNum"])
            == (call_id, "ANSWER", "+74951234567")
            for e in rig.sim_events("DialEnd")
        ),
        5,
    )


async def test_conference_redirects_both_legs_into_one_room(rig: Rig) -> None:
    _, live = await answered_call(rig)
    room = await rig.control.conference(ACTOR, live.call_id)
    [told] = rig.proxy.actions("Redirect")
    assert (live.caller_channel, "conference", room, live.operator_channel, "conference", room) == (
        told["Channel"], told["Context"], told["Exten"],
        told["ExtraChannel"], told["ExtraContext"], told["ExtraExten"],
    )  # fmt: skip
    await wait_for(
        lambda: any(
            (e["Channel"], e["Conference"]) == (live.caller_channel, room)
            for e in rig.sim_events("ConfbridgeJoin")
        ),
        5,
    )
    await wait_for(
        lambda: any(
            (e["Channel"], e["Conference"]) == (live.operator_channel, room)
            for e in rig.sim_events("ConfbridgeJoin")
        ),
        5,
    )


async def test_only_calls_through_cc_originate_are_tagged_outbound(rig: Rig) -> None:
    pbx = AmiPbxControl(rig.connector.actions)
    callback = await pbx.originate("Local/+74957654321@cc-originate", "to-queue", "support")
    spy = await rig.control.spy(Actor("sup", "supervisor", "Local/105@agents"), OP, "listen")
    sent = [(a["Channel"], a["Context"], a["ChannelId"]) for a in rig.proxy.actions("Originate")]
    assert [
        ("Local/+74957654321@cc-originate", "to-queue", callback),
        ("Local/105@agents", "supervisor", spy),
    ] == sent
    assert (True, True, False) == (
        callback.startswith("cc-out-"),
        spy.startswith("cc-"),
        spy.startswith("cc-out-"),
    )


async def test_transfer_actions_carry_asterisks_field_names(rig: Rig) -> None:
    """BlindTransfer(Channel, Context, Exten) and Atxfer(Channel, Exten, Context) on the wire,
    whatever the simulator then makes of them."""
    pbx = AmiPbxControl(rig.connector.actions)
    _, live = await answered_call(rig)
    for send in (pbx.blind_transfer, pbx.attended_transfer):
        with contextlib.suppress(AmiActionError):
            await send(live.operator_channel, "transfer-targets", "sales")
    blind = rig.proxy.actions("BlindTransfer")
    atxfer = rig.proxy.actions("Atxfer")
    assert [["Action", "ActionID", "Channel", "Context", "Exten"]] == [sorted(a) for a in blind]
    assert [["Action", "ActionID", "Channel", "Context", "Exten"]] == [sorted(a) for a in atxfer]
    assert [(live.operator_channel, "transfer-targets", "sales")] * 2 == [
        (a["Channel"], a["Context"], a["Exten"]) for a in (*blind, *atxfer)
    ]


async def test_signing_in_over_members_asterisk_already_has(rig: Rig) -> None:
    """persistentmembers: Asterisk re-added the member (other penalty, still paused) before
    the operator signs in. Today's sign-in said "QueueAdd failed: Already there"; now it
    leaves Asterisk exactly as intended, and Asterisk refused nothing."""
    rig.pbx.queues.add_member("support", OP, "Operator 101", OP, 7, True, "lunch")
    op = Operator("op101", OP, "Operator 101", {"support": 0, "sales": 2})
    status = await rig.operators.sign_in(op)
    assert "available" == status.state
    members = sorted((m.queue, m.penalty, m.paused) for m in rig.pbx.members(OP))
    assert [("sales", 2, False), ("support", 0, False)] == members
    told = [a.get("Action") for a in rig.proxy.actions() if a.get("Action") != "QueueStatus"]
    assert ["QueueAdd", "QueuePenalty", "QueuePause"] == [
        a for a in told if a in ("QueueAdd", "QueuePenalty", "QueuePause", "QueueRemove")
    ]
    assert not [e for e in rig.sim_events("QueueMemberAdded") if e["Queue"] == "support"][1:]


async def test_a_wrapup_pauses_every_queue_and_ends_by_itself(rig: Rig) -> None:
    op = Operator("op101", OP, "Operator 101", {"support": 0, "sales": 0}, wrapup_seconds=1)
    await rig.operators.sign_in(op)
    call = await rig.pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
    await wait_for(lambda: bool(rig.ours(ev.CallAnswered, call.linkedid)), 5)
    await rig.pbx.hangup(call.phone)
    await wait_for(lambda: "wrapup" == rig.operators.status("op101").state, 5)
    assert {("sales", True, "wrapup"), ("support", True, "wrapup")} == {
        (m.queue, m.paused, m.paused_reason) for m in rig.pbx.members(OP)
    }
    assert rig.operators.status("op101").until > 0
    await wait_for(lambda: "available" == rig.operators.status("op101").state, 5)
    await wait_for(lambda: {False} == {m.paused for m in rig.pbx.members(OP)}, 5)

    def states() -> list[tuple[str, Any]]:
        return [
            (e.action, e.detail["state"])
            for e in rig.ours(ev.OperatorAction)
            if e.action in ("sign_in", "wrapup", "wrapup_end")
        ]

    # the end of the wrap-up is announced once Asterisk has unpaused her (a moment later)
    await wait_for(lambda: len(states()) == 3, 5)
    assert [("sign_in", "available"), ("wrapup", "wrapup"), ("wrapup_end", "available")] == states()
