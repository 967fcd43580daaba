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

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contact_center.config import AgiSettings
from contact_center.ivr.service import IvrService
from contact_center.sim.agi import FastAgiStep
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


@pytest.fixture
async def shipped(
    ivr: IvrService, tmp_path: Path, operators: list[Operator]
) -> AsyncIterator[Shipped]:
    config = sim_config(tmp_path, operators=operators, dialplan="shipped", agi_port=ivr.port)
    async with SimPbx(config, agi=FastAgiStep(timeout=10)) as pbx:
        ami = await AmiClient.connect(pbx.host, pbx.port)
        await ami.login()
        try:
            yield Shipped(pbx, ami, EventLog(pbx))
        finally:
            await ami.close()


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
