"""The simulator's transfers, originate ids, dual redirect and muted recordings, driven over
real AMI TCP like our service drives Asterisk (click-to-call: test_sim_shipped.py)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contact_center.sim.config import Operator
from contact_center.sim.pbx import Call, SimPbx
from contact_center.sim.records import SAMPLE_RATE, Recording
from contact_center.testing import AmiClient, EventLog, running_pbx
from tests.conftest import wait_for

OP101 = Operator("Local/101@agents", "Operator 101", answer_after=1.0)
OP103 = Operator("Local/103@agents", "Operator 103", answer_after=1.0)


@dataclass
class Rig:
    pbx: SimPbx
    ami: AmiClient
    log: EventLog
    tmp_path: Path


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with running_pbx(tmp_path, operators=[OP101, OP103]) as pbx:
        ami = await AmiClient.connect(pbx.host, pbx.port)
        await ami.login()
        log = EventLog(pbx)
        try:
            yield Rig(pbx, ami, log, tmp_path)
        finally:
            log.close()
            await ami.close()


async def answered_support_call(rig: Rig) -> tuple[Call, str]:
    """A caller talking to operator 101 from the support queue; returns the operator leg."""
    rig.pbx.queues.add_member("support", OP101.interface, OP101.name)
    call = await rig.pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
    connect = await rig.log.wait("AgentConnect", Channel=call.channel)
    return call, connect.get("DestChannel")


def queue_log(rig: Rig) -> list[list[str]]:
    return [line.split("|")[1:] for line in (rig.tmp_path / "queue_log").read_text().splitlines()]


async def test_blind_transfer_sends_the_caller_to_another_queue(rig: Rig) -> None:
    call, operator = await answered_support_call(rig)

    reply = await rig.ami.action(
        "BlindTransfer", Channel=operator, Context="transfer-targets", Exten="sales"
    )
    join = await rig.log.wait("QueueCallerJoin", Queue="sales")

    assert ("Success", "Transfer succeeded") == (reply["Response"], reply["Message"])
    assert call.channel == join.get("Channel")
    moved = await rig.log.wait("BlindTransfer")
    assert (  # IsExternal: Yes for a transfer asked over AMI (captures 17, 19, 27)
        "Success", operator, call.channel, call.linkedid, "Yes", "transfer-targets", "sales",
    ) == tuple(
        moved.get(k)
        for k in (
            "Result", "TransfererChannel", "TransfereeChannel", "TransfereeLinkedid",
            "IsExternal", "Context", "Extension",
        )
    )  # fmt: skip
    complete = await rig.log.wait("AgentComplete", Channel=call.channel)
    assert "transfer" == complete.get("Reason")
    await wait_for(lambda: any(r[3] == "BLINDTRANSFER" for r in queue_log(rig)), 5)
    [line] = [r for r in queue_log(rig) if r[3] == "BLINDTRANSFER"]
    assert [
        call.uniqueid,
        "support",
        "Operator 101",
        "BLINDTRANSFER",
        "sales",
        "transfer-targets",
    ] == (line[:6])


async def test_blind_transfer_to_an_operator_rings_that_operator(rig: Rig) -> None:
    call, operator = await answered_support_call(rig)

    await rig.ami.action("BlindTransfer", Channel=operator, Context="transfer-targets", Exten="103")
    dial = await rig.log.wait("DialBegin", DialString="103@agents")  # no technology (17)
    bridged = await rig.log.wait(
        "DialEnd", DialStatus="ANSWER", DestChannel=dial.get("DestChannel")
    )

    assert call.linkedid == bridged.get("DestLinkedid")
    entered = rig.log.named("BridgeEnter", Channel=dial.get("DestChannel"))
    assert 1 == len(entered)


async def test_blind_transfer_of_a_channel_not_in_a_call_fails(rig: Rig) -> None:
    call = await rig.pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
    await rig.log.wait("QueueCallerJoin")

    reply = await rig.ami.action(
        "BlindTransfer", Channel=call.channel, Context="transfer-targets", Exten="sales"
    )
    unknown = await rig.ami.action(
        "BlindTransfer", Channel=call.channel, Context="transfer-targets", Exten="nowhere"
    )

    assert ("Error", "Transfer failed") == (reply["Response"], reply["Message"])
    assert "Error" == unknown["Response"]


async def consulted(rig: Rig, operator: str, exten: str) -> str:
    """Atxfer to ``exten`` until the target answered; the consultation channel."""
    reply = await rig.ami.action(
        "Atxfer", Channel=operator, Exten=exten, Context="transfer-targets"
    )
    assert "Atxfer successfully queued" == reply["Message"]
    # the consultation channel is imparted, not dialled by the operator: its DialEnd has no
    # Channel (capture 17)
    mark = f"Local/{exten}@transfer-targets-"

    def answered() -> list[str]:
        return [
            e.get("DestChannel")
            for e in rig.log.named("DialEnd", DialStatus="ANSWER", Channel="")
            if e.get("DestChannel").startswith(mark)
        ]

    await wait_for(lambda: bool(answered()), 10)
    return answered()[0]


async def test_attended_transfer_bridges_the_caller_with_the_target(rig: Rig) -> None:
    call, operator = await answered_support_call(rig)

    target = await consulted(rig, operator, "103")
    on_hold = rig.log.named("MusicOnHoldStart", Channel=call.channel)[0]
    assert [] == rig.log.named("AttendedTransfer")  # consulting: nothing moved yet
    await rig.pbx.hangup_operator(OP101.interface)  # the operator hangs up: completes it
    moved = await rig.log.wait("AttendedTransfer")
    together = await rig.log.wait(
        "BridgeEnter", Channel=call.channel, BridgeUniqueid=moved.get("DestBridgeUniqueid")
    )

    assert call.channel == on_hold.get("Channel")
    assert ("Success", operator, call.channel, target, "103", "Bridge") == (
        moved.get("Result"), moved.get("OrigTransfererChannel"),
        moved.get("TransfereeChannel"), moved.get("TransferTargetChannel"),
        moved.get("TransferTargetExten"), moved.get("DestType"),
    )  # fmt: skip
    assert call.linkedid == moved.get("OrigTransfererLinkedid")
    assert "2" == together.get("BridgeNumChannels")
    complete = await rig.log.wait("AgentComplete", Channel=call.channel)
    assert "transfer" == complete.get("Reason")
    assert ["ATTENDEDTRANSFER"] == [r[3] for r in queue_log(rig) if "TRANSFER" in r[3]]
    # operator 103 now talks to the caller; when the caller hangs up everything ends
    await rig.pbx.hangup(call.phone)
    await rig.log.wait("Hangup", Channel=call.channel)
    await wait_for(lambda: not rig.pbx.channels, 5)


async def test_a_scripted_operator_completes_after_atxfer_complete_after(
    tmp_path: Path,
) -> None:
    async with running_pbx(tmp_path, operators=[OP101, OP103], atxfer_complete_after=0.5) as pbx:
        ami = await AmiClient.connect(pbx.host, pbx.port)
        await ami.login()
        rig = Rig(pbx, ami, EventLog(pbx), tmp_path)
        call, operator = await answered_support_call(rig)
        target = await consulted(rig, operator, "103")

        moved = await rig.log.wait("AttendedTransfer")

        assert (target, call.channel) == (
            moved.get("TransferTargetChannel"),
            moved.get("TransfereeChannel"),
        )
        await ami.close()


async def test_originate_channel_ids_become_the_uniqueids(rig: Rig) -> None:
    await rig.ami.action(
        "Originate", Channel="Local/4951110004@inbound", Context="callersim", Exten="hold",
        ChannelId="cc-out-1", OtherChannelId="cc-out-1-b", Async="true",
    )  # fmt: skip
    await rig.ami.action(
        "Originate", Channel="Local/4951110004@inbound", Context="callersim", Exten="hold",
        ChannelId="cc-2", Async="true",
    )  # fmt: skip
    await rig.log.wait("Newchannel", Uniqueid="cc-2;2")

    first = [(e.get("Uniqueid"), e.get("Linkedid")) for e in rig.log.named("Newchannel")][:2]
    assert [("cc-out-1", "cc-out-1"), ("cc-out-1-b", "cc-out-1")] == first
    assert "cc-2" == (await rig.log.wait("Newchannel", Uniqueid="cc-2;2")).get("Linkedid")


async def test_dual_redirect_puts_caller_and_operator_in_one_conference(rig: Rig) -> None:
    call, operator = await answered_support_call(rig)

    reply = await rig.ami.action(
        "Redirect", Channel=call.channel, Context="conference", Exten="8001", Priority="1",
        ExtraChannel=operator, ExtraContext="conference", ExtraExten="8001", ExtraPriority="1",
    )  # fmt: skip
    await rig.log.wait("ConfbridgeJoin", Channel=operator)
    await rig.log.wait("ConfbridgeJoin", Channel=call.channel)

    assert "Success" == reply["Response"]
    assert {call.channel, operator} == {
        e.get("Channel") for e in rig.log.named("ConfbridgeJoin", Conference="8001")
    }


async def conference_of(rig: Rig, room: str) -> tuple[Call, str]:
    """Caller and operator 101 redirected into ConfBridge ``room``."""
    call, operator = await answered_support_call(rig)
    await rig.ami.action(
        "Redirect", Channel=call.channel, Context="conference", Exten=room, Priority="1",
        ExtraChannel=operator, ExtraContext="conference", ExtraExten=room, ExtraPriority="1",
    )  # fmt: skip
    await rig.log.wait("ConfbridgeJoin", Channel=operator)
    await rig.log.wait("ConfbridgeJoin", Channel=call.channel)
    return call, operator


async def test_confbridge_kick_answers_as_app_confbridge_does(rig: Rig) -> None:
    async def says(**headers: str) -> tuple[str, str]:
        reply = await rig.ami.action("ConfbridgeKick", **headers)
        return reply["Response"], reply["Message"]

    assert ("Error", "No active conferences.") == await says(Conference="8001", Channel="all")
    _call, operator = await conference_of(rig, "8001")

    assert ("Error", "No Conference name provided.") == await says(Channel="all")
    assert ("Error", "No Conference by that name found.") == await says(
        Conference="8002", Channel="all"
    )
    assert ("Error", "No Channel by that name found in Conference.") == await says(
        Conference="8001", Channel="Local/999@agents-00000000;1"
    )
    assert ("Success", "User kicked") == await says(Conference="8001", Channel=operator)
    await rig.log.wait("ConfbridgeLeave", Channel=operator)
    assert ("Success", "All participants kicked") == await says(Conference="8001", Channel="all")
    await rig.log.wait("ConfbridgeEnd", Conference="8001")
    assert ("Error", "No active conferences.") == await says(Conference="8001", Channel="all")
    await wait_for(lambda: not rig.pbx.channels, 5)


async def test_a_kicked_party_leaves_and_its_dial_plan_goes_on_after_confbridge(rig: Rig) -> None:
    call, operator = await conference_of(rig, "8001")

    reply = await rig.ami.action("ConfbridgeKick", Conference="8001", Channel=operator)
    hangup = await rig.log.wait("Hangup", Channel=operator)

    assert "Success" == reply["Response"]
    after = [
        (e.name, e.get("Application"))
        for e in rig.log.events
        if e.get("Channel") == operator and e.name in {"ConfbridgeLeave", "Newexten"}
    ]
    # [conference] _8XXX: …, ConfBridge(), Hangup() — the kick returns from ConfBridge()
    assert [("Newexten", "ConfBridge"), ("ConfbridgeLeave", ""), ("Newexten", "Hangup")] == (
        after[-3:]
    )
    assert "16" == hangup.get("Cause")
    # the caller stays in the room, alone, until it hangs up
    assert [call.channel] == [c.name for c in rig.pbx.dialplan.conferences["8001"].channels]
    await rig.pbx.hangup(call.phone)
    await rig.log.wait("ConfbridgeEnd", Conference="8001")
    assert {} == rig.pbx.dialplan.conferences


def test_a_muted_span_is_written_as_silence(tmp_path: Path) -> None:
    recording = Recording(tmp_path / "r.wav")
    recording.bridge_started(100.0)
    recording.set_muted(True, 101.0)
    recording.set_muted(False, 102.5)
    recording.close(104.0)

    samples = wav_samples(tmp_path / "r.wav")
    second = SAMPLE_RATE
    assert 4 * second == len(samples)
    assert any(samples[: second - 1]) and any(samples[int(2.5 * second) :])
    assert not any(samples[second : int(2.5 * second)])


async def test_mixmonitor_mute_over_ami_silences_the_recording(rig: Rig) -> None:
    call, _ = await answered_support_call(rig)
    path = Path((await rig.log.wait("VarSet", Variable="MIXMONITOR_FILENAME")).get("Value"))

    await rig.ami.action("MixMonitorMute", Channel=call.channel, Direction="both", State="1")
    await asyncio.sleep(0.2)  # the muted span lasts 0.2 s of the (real-time) recording
    await rig.ami.action("MixMonitorMute", Channel=call.channel, Direction="both", State="0")
    await rig.pbx.hangup(call.phone)
    await rig.log.wait("Hangup", Channel=call.channel)

    samples = wav_samples(path)
    assert any(samples)
    assert longest_silence(samples) >= int(0.15 * SAMPLE_RATE)


def wav_samples(path: Path) -> tuple[int, ...]:
    data = path.read_bytes()[44:]
    return struct.unpack(f"<{len(data) // 2}h", data)


def longest_silence(samples: tuple[int, ...]) -> int:
    best = run = 0
    for value in samples:
        run = run + 1 if value == 0 else 0
        best = max(best, run)
    return best


async def test_attended_transfer_to_a_queue_waits_for_its_operator(rig: Rig) -> None:
    rig.pbx.queues.add_member("sales", OP103.interface, OP103.name)
    call, operator = await answered_support_call(rig)

    await rig.ami.action("Atxfer", Channel=operator, Exten="sales", Context="transfer-targets")
    in_sales = await rig.log.wait("AgentConnect", Queue="sales")
    await rig.pbx.hangup_operator(OP101.interface)
    moved = await rig.log.wait("AttendedTransfer")

    assert (call.linkedid, "sales") == (in_sales.get("Linkedid"), in_sales.get("Exten"))
    assert in_sales.get("Channel") == moved.get("TransferTargetChannel").replace(";1", ";2")
    await rig.log.wait(
        "BridgeEnter", Channel=call.channel, BridgeUniqueid=moved.get("DestBridgeUniqueid")
    )


# --- the consultation's events against the real capture 19 ------------------------------------

CONSULT_EVENTS = {
    "DTMFEnd", "Hold", "Unhold", "MusicOnHoldStart", "MusicOnHoldStop", "BridgeEnter",
    "BridgeLeave", "BridgeCreate", "BridgeDestroy", "DialBegin", "DialEnd", "AttendedTransfer",
    "BridgeMerge",
}  # fmt: skip


def consultation_story(
    events: list[tuple[str, dict[str, str]]], operator: str, caller: str
) -> list[tuple[str, ...]]:
    """The consultation as roles (operator, caller, consultation channel) and bridges in
    order of appearance: what must match Asterisk, whatever the names and ids."""
    bridges: dict[str, str] = {}

    def role(channel: str) -> str:
        if channel == operator:
            return "operator"
        if channel == caller:
            return "caller"
        if "@transfer-targets-" in channel:
            return "consultation" + (";2" if channel.endswith(";2") else "")
        return "other" if channel else ""

    story = []
    for name, h in events:
        if name not in CONSULT_EVENTS:
            continue
        item = [name, role(h.get("Channel", ""))]
        bridge = h.get("BridgeUniqueid", "")
        if bridge:
            item.append(bridges.setdefault(bridge, f"bridge{len(bridges)}"))
        if name.startswith("Dial"):
            item += [role(h.get("DestChannel", "")), h.get("DialStatus", "")]
        if name == "DTMFEnd":
            item.append(h.get("Digit", ""))
        story.append(tuple(x for x in item if x))
    return story


def capture_19_story() -> list[tuple[str, ...]]:
    """Capture 19 from the Atxfer to the abandoned consultation's end."""
    from contact_center.ami.replay import capture_reads

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    stream = b"".join(
        data
        for conn, data in capture_reads(fixtures / "19-attended-cancel-then-queue.jsonl")
        if conn == "ami-main"
    ).decode()
    events: list[tuple[str, dict[str, str]]] = []
    started = False
    for message in stream.split("\r\n\r\n"):
        h: dict[str, str] = {}
        for line in message.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                h.setdefault(key, value)
        if "Atxfer successfully queued" == h.get("Message"):
            started = True
        if "Transfer succeeded" == h.get("Message"):
            break
        if started and "Event" in h:
            events.append((h["Event"], h))
    return consultation_story(
        events, "Local/101@agents-00000009;1", "Local/4951110004@inbound-00000008;2"
    )


async def test_an_abandoned_consultation_tells_the_story_of_capture_19(tmp_path: Path) -> None:
    """101 consults 102, whose phone rings; the consultation channel is hung up (AMI Hangup):
    the same events, in the same order, as Asterisk 22 sent."""
    never = Operator("Local/102@agents", "Operator 102", manual=True)
    async with running_pbx(tmp_path, operators=[OP101, OP103, never]) as pbx:
        ami = await AmiClient.connect(pbx.host, pbx.port)
        await ami.login()
        rig = Rig(pbx, ami, EventLog(pbx), tmp_path)
        try:
            call, operator = await answered_support_call(rig)
            start = len(rig.log.events)
            await ami.action("Atxfer", Channel=operator, Exten="102", Context="transfer-targets")
            await wait_for(
                lambda: any(
                    e.get("DestChannel").startswith("Local/102@agents-")
                    for e in rig.log.named("DialBegin")
                ),
                10,
            )
            [consultation] = [
                name for name in pbx.channels if name.startswith("Local/102@transfer-targets-")
                and name.endswith(";1")
            ]  # fmt: skip
            await ami.action("Hangup", Channel=consultation)
            await rig.log.wait("BridgeDestroy", timeout=10)
            await wait_for(lambda: bool(rig.log.named("Unhold", Channel=operator)), 10)
            events = [(e.name, dict(e.headers)) for e in rig.log.events[start:]]
            assert capture_19_story() == consultation_story(events, operator, call.channel)
            assert [] == rig.log.named("AttendedTransfer")
            await pbx.hangup(call.phone)
        finally:
            rig.log.close()
            await ami.close()


def capture_17_story() -> list[tuple[str, ...]]:
    """Capture 17's Atxfer (104 consults 103, then 104's leg is hung up) up to the end of
    the consultation's bridge (Asterisk's Local optimisation follows, not simulated)."""
    from contact_center.ami.replay import capture_reads

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    stream = b"".join(
        data
        for conn, data in capture_reads(fixtures / "17-transfer-chain.jsonl")
        if conn == "ami-main"
    ).decode()
    events: list[tuple[str, dict[str, str]]] = []
    started = moved = False
    for message in stream.split("\r\n\r\n"):
        h: dict[str, str] = {}
        for line in message.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                h.setdefault(key, value)
        if "Atxfer successfully queued" == h.get("Message"):
            started = True
        if started and "Event" in h:
            events.append((h["Event"], h))
            moved = moved or h["Event"] == "AttendedTransfer"
            if moved and h["Event"] == "BridgeDestroy":
                break
    return consultation_story(
        events, "Local/104@agents-00000002;1", "Local/4951110004@inbound-00000000;2"
    )


async def test_a_completed_consultation_tells_the_story_of_capture_17(rig: Rig) -> None:
    call, operator = await answered_support_call(rig)
    start = len(rig.log.events)
    target = await consulted(rig, operator, "103")
    await rig.ami.action("Hangup", Channel=operator)  # capture 17: AMI Hangup of the leg
    await rig.log.wait("AttendedTransfer", timeout=10)
    await wait_for(lambda: len(rig.log.named("BridgeDestroy")) >= 1, 10)
    events = []
    for e in rig.log.events[start:]:
        events.append((e.name, dict(e.headers)))
        if e.name == "BridgeDestroy" and any(n == "AttendedTransfer" for n, _h in events):
            break
    # the queue's own events (AgentComplete) and the person's legs are not in the story
    assert capture_17_story() == consultation_story(events, operator, call.channel)
    assert target == rig.log.named("AttendedTransfer")[0].get("TransferTargetChannel")
    await rig.pbx.hangup(call.phone)


async def test_hanging_up_while_the_target_rings_transfers_at_once(tmp_path: Path) -> None:
    """A "blond" transfer (bridge_basic.c, atxferdropcall=no): the operator hangs up while
    the target still rings; Asterisk merges at once, the caller hears it ring until it
    answers."""
    later = Operator("Local/102@agents", "Operator 102", manual=True)
    async with running_pbx(tmp_path, operators=[OP101, OP103, later]) as pbx:
        ami = await AmiClient.connect(pbx.host, pbx.port)
        await ami.login()
        rig = Rig(pbx, ami, EventLog(pbx), tmp_path)
        try:
            call, operator = await answered_support_call(rig)
            await ami.action("Atxfer", Channel=operator, Exten="102", Context="transfer-targets")
            await wait_for(
                lambda: any(
                    e.get("DestChannel").startswith("Local/102@agents-")
                    for e in rig.log.named("DialBegin")
                ),
                10,
            )
            await ami.action("Hangup", Channel=operator)
            moved = await rig.log.wait("AttendedTransfer", timeout=10)
            assert [] == [
                e for e in rig.log.named("DialEnd", DialStatus="ANSWER")
                if e.get("DestChannel").startswith("Local/102@agents-")
            ]  # fmt: skip
            await pbx.answer("Local/102@agents")
            await wait_for(
                lambda: any(
                    e.get("DestChannel").startswith("Local/102@agents-")
                    for e in rig.log.named("DialEnd", DialStatus="ANSWER")
                ),
                10,
            )
            caller = pbx.channels[call.channel]
            assert caller.bridge is not None
            assert moved.get("TransferTargetChannel") in {c.name for c in caller.bridge.channels}
            await pbx.hangup(call.phone)
        finally:
            rig.log.close()
            await ami.close()


async def test_only_digits_received_on_the_operators_leg_steer_the_consultation(
    rig: Rig,
) -> None:
    """PlayDTMF plays a digit *out* of the channel (to the operator's phone); only with
    ``Receive: yes`` is it taken as pressed on that phone, which the feature codes read."""
    call, operator = await answered_support_call(rig)
    target = await consulted(rig, operator, "103")
    home = rig.pbx.channels[call.channel].bridge
    assert home is not None

    for digit in "*1":  # atxferabort, but played out to the phone: no effect
        await rig.ami.action("PlayDTMF", Channel=operator, Digit=digit)
    for digit in "*4":  # atxferswap, received: Anna goes back to the caller
        await rig.ami.action("PlayDTMF", Channel=operator, Digit=digit, Receive="yes")
    await wait_for(lambda: rig.pbx.channels[operator].bridge is home, 10)
    assert target in rig.pbx.channels  # the *1 before did not abort
    assert not rig.pbx.channels[call.channel].on_hold_music
    assert rig.pbx.channels[target].on_hold_music  # the target waits on hold now

    for digit in "*1":  # atxferabort, received: the consultation ends, target hung up
        await rig.ami.action("PlayDTMF", Channel=operator, Digit=digit, Receive="yes")
    await rig.log.wait("Hangup", timeout=10, Channel=target)
    assert rig.pbx.channels[operator].bridge is home
    assert [] == rig.log.named("AttendedTransfer")
    await rig.pbx.hangup(call.phone)
