"""The simulator running the dial plan we ship (deploy/asterisk/extensions.conf), judged by
capture 27 (that configuration on a real Asterisk 22.10.1 with PJSIP phones and a provider).

Each test drives a call over real AMI TCP and compares, per channel role (the provider's
caller ``PJSIP/trunk-…``, an operator's phone ``PJSIP/1XX-…``), the sequence of events and
each event's header names in order with the same kind of call in capture 27. Left out of the
comparison: what capture 27's AMI user could not see or the live rig could not produce
(``Newexten``, ``Cdr``, ``CEL``; ``VarSet`` — the simulator emits only a few; RTCP; music on
hold — the live rig had no MOH files), and device/member state events, which are not about
one channel. Runs of one repeated event (DTMF digits: the IVR menus differ) count once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contact_center.config import AgiSettings
from contact_center.demo import free_port
from contact_center.ivr.service import IvrService
from contact_center.sim.agi import FastAgiStep
from contact_center.sim.agistep import AgiStep
from contact_center.sim.config import Operator
from contact_center.sim.pbx import SimPbx
from contact_center.testing import FIXTURES, AmiClient, EventLog, sim_config
from tests.conftest import wait_for

CAPTURE = FIXTURES / "27-live-pjsip-deploy.jsonl"
NOT_COMPARED = {
    "Newexten", "Cdr", "CEL", "VarSet", "RTCPSent", "RTCPReceived", "MusicOnHoldStart",
    "MusicOnHoldStop", "DeviceStateChange", "QueueMemberStatus", "AGIExecStart", "AGIExecEnd",
    "HangupHandlerPush", "HangupHandlerRun", "DTMFBegin",
}  # fmt: skip
VOLATILE_HEADERS = {"Timestamp"}
ANNA = Operator("PJSIP/101", "Anna", answer_after=1.0)
BORIS_NEVER = Operator("PJSIP/102", "Boris", answer_after=None)
ANNA_NEVER = Operator("PJSIP/101", "Anna", answer_after=None)

Shape = list[tuple[str, tuple[str, ...]]]


def _frames(records: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
    out = []
    for record in records:
        if record.get("dir") != "in":
            continue
        pairs = [line.partition(": ") for line in record["data"].split("\r\n") if line]
        out.append([(k, v) for k, _, v in pairs])
    return out


def capture_call(label: str, occurrence: int = 1) -> list[list[tuple[str, str]]]:
    """The frames of capture 27 between the ``start <label>`` note (its n-th) and its end."""
    records = [json.loads(line) for line in CAPTURE.read_text().splitlines()]
    starts = [
        i
        for i, r in enumerate(records)
        if r.get("kind") == "note" and r["text"].startswith(f"sipp caller: start {label} ")
    ]
    start = starts[occurrence - 1]
    end = next(
        i
        for i in range(start + 1, len(records))
        if records[i].get("kind") == "note" and "sipp caller: end" in records[i]["text"]
    )
    return _frames(records[start:end])


def capture_between(after: str, before: str) -> list[list[tuple[str, str]]]:
    """The frames of capture 27 between two notes (a call no SIP caller started)."""
    records = [json.loads(line) for line in CAPTURE.read_text().splitlines()]
    notes = [(i, r["text"]) for i, r in enumerate(records) if r.get("kind") == "note"]
    start = next(i for i, text in notes if text.startswith(after))
    end = next(i for i, text in notes if i > start and text.startswith(before))
    return _frames(records[start:end])


def shapes(frames: list[list[tuple[str, str]]]) -> dict[str, Shape]:
    """Per channel role (``trunk-0``, ``phone-0``, ``phone-1`` in order of appearance):
    the events about that channel, as (name, header names)."""
    roles: dict[str, str] = {}
    counts: dict[str, int] = {}
    out: dict[str, Shape] = {}
    for frame in frames:
        headers = dict(frame)
        name = headers.get("Event", "")
        channel = headers.get("Channel", "")
        if not name or name in NOT_COMPARED or not channel.startswith("PJSIP/"):
            continue
        if channel not in roles:
            kind = "trunk" if channel.startswith("PJSIP/trunk-") else "phone"
            roles[channel] = f"{kind}-{counts.get(kind, 0)}"
            counts[kind] = counts.get(kind, 0) + 1
        entry = (name, tuple(k for k, _ in frame if k not in VOLATILE_HEADERS))
        shape = out.setdefault(roles[channel], [])
        if not shape or shape[-1] != entry:
            shape.append(entry)
    return out


def until(shape: dict[str, Shape], role: str, event: str) -> dict[str, Shape]:
    """Only ``role``'s events up to (not including) its first ``event``."""
    names = [name for name, _ in shape.get(role, [])]
    end = names.index(event) if event in names else len(names)
    return {role: shape.get(role, [])[:end]}


def differences(want: dict[str, Shape], got: dict[str, Shape]) -> list[str]:
    """What differs, readably (empty when the shapes are the same)."""
    problems = []
    for role in sorted(set(want) | set(got)):
        w, g = want.get(role, []), got.get(role, [])
        if [n for n, _ in w] != [n for n, _ in g]:
            problems.append(f"{role}: events {[n for n, _ in w]} != {[n for n, _ in g]}")
            continue
        for (name, wh), (_, gh) in zip(w, g, strict=True):
            if wh != gh:
                problems.append(f"{role} {name}: headers {wh} != {gh}")
    return problems


MENU = """\
title: Test line
languages: [en]
start: main
prompts:
  t/main: {en: "Press 1 for sales, 2 for support."}
nodes:
  main:
    type: menu
    prompt: t/main
    options: {"1": sales, "2": support}
    on_invalid: support
  sales: {type: queue, queue: sales}
  support: {type: queue, queue: support}
"""
DID = "4951110003"


@pytest.fixture
async def ivr(tmp_path: Path) -> AsyncIterator[IvrService]:
    menus = tmp_path / "menus"
    (menus / "prompts" / "en" / "t").mkdir(parents=True)
    (menus / "prompts" / "en" / "t" / "main.wav").write_bytes(b"RIFF")
    (menus / f"{DID}.yaml").write_text(MENU)

    async def sink(event: object) -> None:
        return None

    service = IvrService(AgiSettings(port=0, menus_dir=str(menus)), sink=sink)
    async with service:
        yield service


@dataclass
class Shipped:
    pbx: SimPbx
    ami: AmiClient
    log: EventLog

    def frames(self) -> list[list[tuple[str, str]]]:
        return [list(m) for m in self.ami.messages]


@pytest.fixture
def operators() -> list[Operator]:
    return [ANNA]


@contextlib.asynccontextmanager
async def shipped_pbx(
    tmp_path: Path, operators: list[Operator], agi: AgiStep, **config: Any
) -> AsyncIterator[Shipped]:
    settings = sim_config(tmp_path, operators=operators, dialplan="shipped", **config)
    async with SimPbx(settings, agi=agi) as pbx:
        ami = await AmiClient.connect(pbx.host, pbx.port)
        await ami.login()
        try:
            yield Shipped(pbx, ami, EventLog(pbx))
        finally:
            await ami.close()


@pytest.fixture
async def shipped(
    ivr: IvrService, tmp_path: Path, operators: list[Operator]
) -> AsyncIterator[Shipped]:
    async with shipped_pbx(
        tmp_path, operators, FastAgiStep(timeout=10), agi_port=ivr.port
    ) as running:
        yield running


@dataclass(frozen=True)
class Route:
    """A stand-in for our IVR's routing decision (an ``AGI()`` step without FastAGI): sets
    what the IVR sets in capture 27 and, like its voicemail branch, may move the call."""

    variables: tuple[tuple[str, str], ...] = ()
    goto: tuple[str, str, str] | None = None
    digits: int = 1  # the caller's menu choice, read first

    async def __call__(self, channel: Any, url: str, args: list[str]) -> str:
        for _ in range(self.digits):
            await channel.agi_read_digit(5.0)
        for name, value in self.variables:
            channel.agi_set_variable(name, value)
        if self.goto is not None:
            for what, value in zip(("context", "extension", "priority"), self.goto, strict=True):
                channel.agi_set_location(what, value)
        return "SUCCESS"


STICKY = Route((("CC_QUEUE", "support"), ("CC_PREFERRED", "PJSIP/101"),
                ("CC_PREFERRED_SECONDS", "15")))  # fmt: skip


async def test_a_provider_call_through_the_ivr_is_answered_by_pjsip_101(shipped: Shipped) -> None:
    shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
    call = await shipped.pbx.place_call(DID, "+79161112233", "Live Caller", dtmf="2")
    await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=call.channel)
    await shipped.pbx.hangup_caller(call)
    await shipped.ami.wait_event("Hangup", Channel=call.channel)
    await wait_for(lambda: not shipped.pbx.channels, 5)

    connect = shipped.log.named("AgentConnect")[0]
    assert ("79161112233", "support") == (connect.get("CallerIDNum"), connect.get("Queue"))
    assert connect.get("DestChannel").startswith("PJSIP/101-")
    assert call.channel.startswith("PJSIP/trunk-")
    assert [] == differences(shapes(capture_call("c1_known", 4)), shapes(shipped.frames()))


@pytest.mark.parametrize("operators", [[BORIS_NEVER, ANNA]])
async def test_ring_no_answer_moves_to_the_next_phone(shipped: Shipped) -> None:
    shipped.pbx.queues.add_member("support", "PJSIP/102", "Boris")
    shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
    call = await shipped.pbx.place_call(DID, "79034445566", "Live Caller", dtmf="2")
    await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=call.channel)
    await shipped.pbx.hangup_caller(call)
    await shipped.ami.wait_event("Hangup", Channel=call.channel)
    await wait_for(lambda: not shipped.pbx.channels, 5)

    rna = shipped.log.named("AgentRingNoAnswer")[0]
    assert rna.get("DestChannel").startswith("PJSIP/102-")
    assert [] == differences(shapes(capture_call("c4_rna")), shapes(shipped.frames()))


@pytest.mark.parametrize("operators", [[ANNA_NEVER]])
async def test_a_caller_hanging_up_while_the_queue_rings_a_phone_abandons(
    shipped: Shipped,
) -> None:
    shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
    call = await shipped.pbx.place_call(DID, "79035550001", "Live Caller", dtmf="2")
    await shipped.ami.wait_event("DialState", timeout=10, Channel=call.channel)
    await shipped.pbx.hangup_caller(call)
    await shipped.ami.wait_event("Hangup", Channel=call.channel)
    await wait_for(lambda: not shipped.pbx.channels, 5)

    assert 1 == len(shipped.log.named("QueueCallerAbandon"))
    assert [] == differences(shapes(capture_call("c3b_abandon")), shapes(shipped.frames()))


@pytest.mark.parametrize("operators", [[ANNA_NEVER]])
async def test_a_phone_the_queue_rings_is_listed_as_the_queue_s_outgoing_line(
    shipped: Shipped,
) -> None:
    """``ring_entry()`` in app_queue.c (22.10.1) gives every member channel it requests the
    application ``AppQueue`` and data ``(Outgoing Line)``, PJSIP phones included: that is how
    a connector taking over finds a phone ringing for a caller in the channel list."""
    shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
    call = await shipped.pbx.place_call(DID, "79035550001", "Live Caller", dtmf="2")
    await shipped.ami.wait_event("DialState", timeout=10, Channel=call.channel)
    listed = await shipped.ami.action("CoreShowChannels")
    done = await shipped.ami.wait_event("CoreShowChannelsComplete", ActionID=listed["ActionID"])
    rows = {
        m["Channel"].partition("-")[0]: (m["Application"], m["ApplicationData"])
        for m in shipped.ami.events("CoreShowChannel")
        if m.get("ActionID") == done["ActionID"]
    }
    await shipped.pbx.hangup_caller(call)
    await wait_for(lambda: not shipped.pbx.channels, 5)

    assert ("AppQueue", "(Outgoing Line)") == rows["PJSIP/101"]
    assert "Queue" == rows["PJSIP/trunk"][0]


async def test_a_sticky_call_rings_the_preferred_phone_with_dial(tmp_path: Path) -> None:
    async with shipped_pbx(tmp_path, [ANNA], STICKY) as shipped:
        call = await shipped.pbx.place_call(DID, "79161112233", "Live Caller", dtmf="2")
        answered = await shipped.ami.wait_event(
            "DialEnd", timeout=10, Channel=call.channel, DialStatus="ANSWER"
        )
        await shipped.pbx.hangup_caller(call)
        await wait_for(lambda: not shipped.pbx.channels, 5)

    assert answered["DestChannel"].startswith("PJSIP/101-")
    assert [] == shipped.log.named("QueueCallerJoin")  # the preferred operator answered
    dial = shipped.log.named("DialBegin")[0]
    assert ("101", "support") == (dial.get("DialString"), dial.get("DestCallerIDNum"))
    want = shapes(capture_call("e4_rec_conf", 1))  # then recorded and conferenced: cut there
    got = shapes(shipped.frames())
    for role in ("trunk-0", "phone-0"):
        assert [] == differences(until(want, role, "BridgeEnter"), until(got, role, "BridgeEnter"))


async def test_a_sticky_call_the_caller_leaves_while_the_phone_rings(tmp_path: Path) -> None:
    async with shipped_pbx(tmp_path, [ANNA_NEVER], STICKY) as shipped:
        call = await shipped.pbx.place_call(DID, "79161112233", "Live Caller", dtmf="2")
        await shipped.ami.wait_event("DialState", timeout=10, Channel=call.channel)
        await shipped.pbx.hangup_caller(call)
        await wait_for(lambda: not shipped.pbx.channels, 5)

    assert ["CANCEL"] == [e.get("DialStatus") for e in shipped.log.named("DialEnd")]
    assert [] == differences(shapes(capture_call("c3_abandon")), shapes(shipped.frames()))


async def test_a_caller_nobody_can_take_leaves_a_voicemail(tmp_path: Path) -> None:
    route = Route((("CC_TRANSFER", "support@voicemail"),), goto=("voicemail", "support", "1"))
    async with shipped_pbx(tmp_path, [], route) as shipped:
        # the caller speaks after the greeting (1 s) and hangs up 3 s after pressing 9
        await shipped.pbx.place_call(DID, "79035550013", "Live Caller", dtmf="9", talk=3)
        waiting = await shipped.ami.wait_event("MessageWaiting", timeout=10)
        await wait_for(lambda: not shipped.pbx.channels, 5)

    assert ("support@contact-center", "1") == (waiting["Mailbox"], waiting["New"])
    userfield = [e.get("UserField") for e in shipped.log.named("Cdr")]
    assert ["voicemail:support"] == userfield
    assert [] == differences(shapes(capture_call("v2_voicemail")), shapes(shipped.frames()))


async def test_click_to_call_rings_the_operators_phone_then_the_customer(tmp_path: Path) -> None:
    manual = Operator("PJSIP/101", "Anna", manual=True)
    async with shipped_pbx(tmp_path, [manual], Route(digits=0)) as shipped:
        await shipped.ami.action(
            "Originate", Channel="PJSIP/101", Context="cc-originate", Exten="+79161112233",
            CallerID='"Anna" <+79161112233>', ChannelId="cc-out-7", Async="true",
        )  # fmt: skip
        await shipped.ami.wait_event("DialState", DestUniqueid="cc-out-7")
        assert [] == shipped.log.named("DialBegin", DialString="+79161112233@trunk")  # ringing

        await shipped.pbx.answer("PJSIP/101")
        dialled = await shipped.ami.wait_event("DialBegin", DialString="+79161112233@trunk")
        answered = await shipped.ami.wait_event(
            "DialEnd", DialStatus="ANSWER", DestChannel=dialled["DestChannel"]
        )
        await shipped.ami.wait_event("BridgeEnter", Channel=answered["DestChannel"])
        await shipped.ami.action("Hangup", Channel=answered["DestChannel"])  # customer hangs up
        await shipped.ami.wait_event("Hangup", Uniqueid="cc-out-7")
        await wait_for(lambda: not shipped.pbx.channels, 5)

    assert answered["DestChannel"].startswith("PJSIP/trunk-")
    assert ("cc-out-7", "cc-out-7") == (answered["Uniqueid"], answered["DestLinkedid"])
    response = shipped.log.named("OriginateResponse")[0]
    assert ("Success", "4") == (response.get("Response"), response.get("Reason"))
    # capture 27's provider refused that call (CONGESTION): compare up to the customer's leg;
    # that dial plan did not record calls we place yet (ours does: MixMonitor first)
    want = shapes(capture_between("sipp caller: end v2_voicemail", "sipp caller: start s1_spy"))
    got = shapes([f for f in shipped.frames() if ("Event", "MixMonitorStart") not in f])
    assert [] == differences(
        until(want, "phone-0", "DialBegin"), until(got, "phone-0", "DialBegin")
    )


async def test_a_supervisor_listens_to_an_operator_with_chanspy(shipped: Shipped) -> None:
    shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
    call = await shipped.pbx.place_call(DID, "79035550014", "Live Caller", dtmf="2")
    await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=call.channel)
    await shipped.ami.action(
        "Originate", Channel="PJSIP/102", Context="supervisor", Exten="listen",
        CallerID='"sue" <sue>', Variable="CHANSPY_TARGET=PJSIP/101", Async="true",
    )  # fmt: skip
    start = await shipped.ami.wait_event("ChanSpyStart")
    spyer = start["SpyerChannel"]
    await shipped.ami.action("Hangup", Channel=spyer)
    await shipped.ami.wait_event("ChanSpyStop")
    await shipped.pbx.hangup_caller(call)
    await wait_for(lambda: not shipped.pbx.channels, 5)

    assert spyer.startswith("PJSIP/102-") and start["SpyeeChannel"].startswith("PJSIP/101-")
    want = shapes(capture_call("s1_spy"))
    got = shapes(shipped.frames())
    assert [] == differences(
        {"phone-1": want["phone-1"]}, {"phone-1": got["phone-1"]}
    )  # the supervisor's phone


async def test_a_queue_timeout_offers_a_callback(tmp_path: Path) -> None:
    # CC_IVR_DONE: what our IVR sets once its callback offer has run to its end
    route = Route((("CC_QUEUE", "support"), ("CC_IVR_DONE", "1")), digits=0)
    globals_ = (("CC_QUEUE_TIMEOUT", "2"),)
    async with shipped_pbx(tmp_path, [], route, dialplan_globals=globals_) as shipped:
        call = await shipped.pbx.place_call(DID, "79035550013", "Live Caller")
        await shipped.ami.wait_event("Hangup", timeout=10, Channel=call.channel)

    agi = [e.get("AppData") for e in shipped.log.named("Newexten", Application="AGI")]
    assert ["agi://contact-center:4573/main,4951110003",
            "agi://contact-center:4573/callback-offer,support"] == agi  # fmt: skip
    leave = shipped.log.named("QueueCallerLeave", Channel=call.channel)
    assert 1 == len(leave) and [] == shipped.log.named("QueueCallerAbandon")
    log_lines = Path(shipped.pbx.config.queue_log_path).read_text().splitlines()
    assert ["ENTERQUEUE", "EXITWITHTIMEOUT"] == [line.split("|")[4] for line in log_lines]


BORIS = Operator("PJSIP/102", "Boris", answer_after=1.0)


@pytest.mark.parametrize("operators", [[ANNA, BORIS]])
async def test_a_blind_transfer_to_extension_101_dials_that_phone(shipped: Shipped) -> None:
    shipped.pbx.queues.add_member("support", "PJSIP/102", "Boris")
    call = await shipped.pbx.place_call(DID, "79035550002", "Live Caller", dtmf="2")
    connect = await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=call.channel)

    reply = await shipped.ami.action(
        "BlindTransfer", Channel=connect["DestChannel"], Context="transfer-targets", Exten="101"
    )
    dialled = await shipped.ami.wait_event("DialBegin", DialString="101")
    await shipped.ami.wait_event("BridgeEnter", Channel=dialled["DestChannel"])
    await shipped.pbx.hangup_caller(call)
    await wait_for(lambda: not shipped.pbx.channels, 5)

    assert "Transfer succeeded" == reply["Message"]
    transfer = shipped.log.named("BlindTransfer")[0]
    assert ("101", "Yes") == (transfer.get("Extension"), transfer.get("IsExternal"))
    assert "transfer" == shipped.log.named("AgentComplete")[0].get("Reason")
    assert [] == differences(shapes(capture_call("c5_blind")), shapes(shipped.frames()))


async def test_caller_and_phone_redirected_into_a_conference(shipped: Shipped) -> None:
    shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
    member = shipped.pbx.queues.queues["support"].members["PJSIP/101"]
    call = await shipped.pbx.place_call(DID, "79161112233", "Live Caller", dtmf="2")
    connect = await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=call.channel)
    phone = connect["DestChannel"]

    reply = await shipped.ami.action(
        "Redirect", Channel=call.channel, Context="conference", Exten="8001", Priority="1",
        ExtraChannel=phone, ExtraContext="conference", ExtraExten="8001", ExtraPriority="1",
    )  # fmt: skip
    await shipped.ami.wait_event("ConfbridgeJoin", Channel=phone)
    await shipped.ami.wait_event("ConfbridgeJoin", Channel=call.channel)
    await shipped.pbx.hangup_caller(call)
    await shipped.ami.wait_event("ConfbridgeLeave", Channel=call.channel)
    busy_while_in_the_room = member.busy
    await shipped.pbx.hangup_operator("PJSIP/101")
    await shipped.ami.wait_event("ConfbridgeEnd")
    await wait_for(lambda: not shipped.pbx.channels, 5)

    assert "Dual Redirect successful" == reply["Message"]
    assert busy_while_in_the_room  # ringinuse=no: not offered calls from the conference
    await wait_for(lambda: not member.busy, 5)


async def test_a_sticky_call_the_preferred_operator_misses_goes_to_the_queue(
    tmp_path: Path,
) -> None:
    route = Route((("CC_QUEUE", "support"), ("CC_PREFERRED", "PJSIP/102"),
                   ("CC_PREFERRED_SECONDS", "3")))  # fmt: skip
    async with shipped_pbx(tmp_path, [ANNA, BORIS_NEVER], route) as shipped:
        shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
        call = await shipped.pbx.place_call(DID, "79161112233", "Live Caller", dtmf="2")
        connect = await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=call.channel)
        await shipped.pbx.hangup_caller(call)
        await wait_for(lambda: not shipped.pbx.channels, 5)

    direct = shipped.log.named("DialBegin", DialString="102")
    assert 1 == len(direct) and direct[0].get("Channel") == call.channel
    missed = shipped.log.named("DialEnd", DestChannel=direct[0].get("DestChannel"))
    assert ["NOANSWER"] == [e.get("DialStatus") for e in missed]
    assert connect["DestChannel"].startswith("PJSIP/101-")
    steps = [e.get("Application") for e in shipped.log.named("Newexten", Channel=call.channel)]
    assert steps.index("Dial") < steps.index("Queue")


async def test_a_busy_preferred_phone_sends_the_call_straight_to_the_queue(
    tmp_path: Path,
) -> None:
    busy = Operator("PJSIP/102", "Boris", busy=True)
    route = Route((("CC_QUEUE", "support"), ("CC_PREFERRED", "PJSIP/102"),
                   ("CC_PREFERRED_SECONDS", "600")))  # fmt: skip
    async with shipped_pbx(tmp_path, [ANNA, busy], route) as shipped:
        shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
        call = await shipped.pbx.place_call(DID, "79161112233", "Live Caller", dtmf="2")
        # 600 s of Dial timeout would be 30 s here: only the 486 makes it this quick
        await shipped.ami.wait_event("AgentConnect", timeout=5, Channel=call.channel)
        await shipped.pbx.hangup_caller(call)
        await wait_for(lambda: not shipped.pbx.channels, 5)

    dialled = shipped.log.named("DialBegin", DialString="102")[0].get("DestChannel")
    assert ["BUSY"] == [
        e.get("DialStatus") for e in shipped.log.named("DialEnd", DestChannel=dialled)
    ]
    assert ["17"] == [e.get("Cause") for e in shipped.log.named("Hangup", Channel=dialled)]


@pytest.mark.parametrize("operators", [[Operator("PJSIP/102", "Boris", busy=True), ANNA]])
async def test_the_queue_skips_a_busy_phone(shipped: Shipped) -> None:
    shipped.pbx.queues.add_member("support", "PJSIP/102", "Boris")
    shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
    call = await shipped.pbx.place_call(DID, "79161112233", "Live Caller", dtmf="2")
    connect = await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=call.channel)
    await shipped.pbx.hangup_caller(call)
    await wait_for(lambda: not shipped.pbx.channels, 5)

    boris = shipped.log.named("AgentCalled", Interface="PJSIP/102")[0].get("DestChannel")
    assert ["BUSY"] == [
        e.get("DialStatus") for e in shipped.log.named("DialEnd", DestChannel=boris)
    ]
    assert [] == shipped.log.named("AgentRingNoAnswer")  # refused, not rung out
    assert connect["DestChannel"].startswith("PJSIP/101-")


# --- the service away: callers still reach people -----------------------------------------

ENDS_MENU = """\
title: Test line with its own ends
languages: [en]
start: main
prompts:
  t/main: {en: "Press 1 for sales, 2 for support, 8 for our hours, 9 to hang up."}
  t/hours: {en: "We are open from 8 to 20."}
  t/bye: {en: "Goodbye."}
nodes:
  main:
    type: menu
    prompt: t/main
    options: {"1": sales, "2": support, "8": hours, "9": bye}
    on_invalid: support
  sales: {type: queue, queue: sales}
  support: {type: queue, queue: support}
  hours: {type: play, prompt: t/hours, next: done}
  done: {type: return}
  bye: {type: hangup, prompt: t/bye}
"""


@contextlib.asynccontextmanager
async def ivr_with_ends(tmp_path: Path) -> AsyncIterator[IvrService]:
    """Our IVR with a menu whose paths end the call itself (8: hours then return, 9: a
    hangup node) besides the queues."""
    menus = tmp_path / "ends"
    for prompt in ("main", "hours", "bye"):
        wav = menus / "prompts" / "en" / "t" / f"{prompt}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        wav.write_bytes(b"RIFF")
    (menus / f"{DID}.yaml").write_text(ENDS_MENU)

    async def sink(event: object) -> None:
        return None

    service = IvrService(AgiSettings(port=0, menus_dir=str(menus)), sink=sink)
    async with service:
        assert DID in service.library.current.menus
        yield service


def agi_statuses(shipped: Shipped) -> list[str]:
    return [e.get("Value") for e in shipped.log.named("VarSet", Variable="AGISTATUS")]


async def test_with_our_ivr_unreachable_a_caller_reaches_the_fallback_queue(
    tmp_path: Path,
) -> None:
    """Nobody listens on the FastAGI port (the service restarting, its host gone): AGI()
    ends with AGISTATUS FAILURE and the caller is queued in CC_FALLBACK_QUEUE (support),
    where Anna answers."""
    async with shipped_pbx(
        tmp_path, [ANNA], FastAgiStep(timeout=10), agi_port=free_port()
    ) as shipped:
        shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
        call = await shipped.pbx.place_call(DID, "79035550021", "Live Caller")
        join = await shipped.ami.wait_event("QueueCallerJoin", timeout=10, Channel=call.channel)
        connect = await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=call.channel)
        await shipped.pbx.hangup_caller(call)
        await wait_for(lambda: not shipped.pbx.channels, 5)

    assert ["FAILURE"] == agi_statuses(shipped)
    assert "support" == join["Queue"]
    assert connect["DestChannel"].startswith("PJSIP/101-")
    cdrs = shipped.log.named("Cdr", Channel=call.channel)
    assert ["queue:support"] == [e.get("UserField") for e in cdrs]


async def test_a_caller_whose_ivr_stops_mid_menu_reaches_the_fallback_queue(
    tmp_path: Path,
) -> None:
    """Our service stops while the caller is in the menu: its FastAGI server closes the
    connection, AGI() returns SUCCESS (as res_agi does) with nothing decided, and the caller
    is queued in the fallback queue, where Anna's phone rings."""
    async with ivr_with_ends(tmp_path) as ivr:
        async with shipped_pbx(
            tmp_path, [ANNA_NEVER], FastAgiStep(timeout=10), agi_port=ivr.port
        ) as shipped:
            shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
            call = await shipped.pbx.place_call(DID, "79035550022", "Live Caller")
            await shipped.ami.wait_event("AGIExecStart", timeout=10, Channel=call.channel,
                                         Command="GET DATA cc/t/main 5000 1")  # fmt: skip
            await ivr.close()  # the service goes away mid-menu
            join = await shipped.ami.wait_event("QueueCallerJoin", timeout=10, Channel=call.channel)
            ringing = await shipped.ami.wait_event("AgentCalled", timeout=10, Queue="support")
            await shipped.pbx.hangup_caller(call)
            await wait_for(lambda: not shipped.pbx.channels, 5)

    assert ["SUCCESS"] == agi_statuses(shipped)
    assert "support" == join["Queue"]
    assert ringing["DestChannel"].startswith("PJSIP/101-")


@pytest.mark.parametrize(
    ("digit", "status"),
    [("9", "HANGUP"), ("8", "SUCCESS")],
    ids=["hangup-node", "menu-returns-without-a-queue"],
)
async def test_an_ivr_that_ends_the_call_itself_still_hangs_up(
    tmp_path: Path, digit: str, status: str
) -> None:
    """A deliberate end is not "no decision": a hangup node hangs the caller up from the
    IVR (AGISTATUS HANGUP, the dial plan stops at AGI()); a menu that returns without a
    queue leaves CC_IVR_PATH and the dial plan hangs up. Neither reaches a queue."""
    async with ivr_with_ends(tmp_path) as ivr:
        async with shipped_pbx(
            tmp_path, [ANNA_NEVER], FastAgiStep(timeout=10), agi_port=ivr.port
        ) as shipped:
            shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
            call = await shipped.pbx.place_call(DID, "79035550023", "Live Caller", dtmf=digit)
            await shipped.ami.wait_event("Hangup", timeout=10, Channel=call.channel)
            await wait_for(lambda: not shipped.pbx.channels, 5)

    assert [status] == agi_statuses(shipped)
    assert [] == shipped.log.named("QueueCallerJoin")
    assert [] == shipped.log.named("AgentCalled")


@pytest.mark.parametrize(
    ("gone", "offer_status"),
    [("while queued", "FAILURE"), ("mid-offer", "SUCCESS")],
)
async def test_a_queue_timeout_with_our_ivr_away_goes_to_the_queue_s_voicemail(
    tmp_path: Path, gone: str, offer_status: str
) -> None:
    """The caller was queued by our IVR, which goes away while they wait (the callback
    offer's AGI() then fails: FAILURE) or while it offers the callback after the queue timed
    out (AGI() returns SUCCESS, as res_agi does for a closed connection, but the offer never
    set CC_IVR_DONE): either way the caller leaves a message in the queue's mailbox instead
    of being hung up."""
    globals_ = (("CC_QUEUE_TIMEOUT", "2"),)
    async with ivr_with_ends(tmp_path) as ivr:
        async with shipped_pbx(
            tmp_path, [], FastAgiStep(timeout=10), agi_port=ivr.port, dialplan_globals=globals_
        ) as shipped:
            # presses 2 (support) after 1 s, hangs up 12 s later: after the greeting
            call = await shipped.pbx.place_call(DID, "79035550024", "Live Caller", dtmf="2",
                                                talk=12)  # fmt: skip
            if gone == "while queued":
                await shipped.ami.wait_event("QueueCallerJoin", timeout=10, Channel=call.channel)
            else:
                await shipped.ami.wait_event(
                    "AGIExecStart", timeout=15, Channel=call.channel,
                    Command="GET DATA cc/common/callback-offer 5000 1",
                )  # fmt: skip
            await ivr.close()
            waiting = await shipped.ami.wait_event("MessageWaiting", timeout=15)
            await wait_for(lambda: not shipped.pbx.channels, 15)

    agi = [e.get("AppData") for e in shipped.log.named("Newexten", Application="AGI")]
    assert ["agi://contact-center:4573/main,4951110003",
            "agi://contact-center:4573/callback-offer,support"] == agi  # fmt: skip
    assert ["SUCCESS", offer_status] == agi_statuses(shipped)
    assert ("support@contact-center", "1") == (waiting["Mailbox"], waiting["New"])
