"""app_queue's autopause and wrapuptime in the simulator, as configured in the queues.conf we
ship (deploy/asterisk/queues.conf: ``autopause = all``, ``wrapuptime = 3``,
``shared_lastcall = yes``), over AMI on real TCP — judged by capture 22 (queue ``states``:
autopause yes, wrap-up 4 s, on Asterisk 22.10.1)."""

from __future__ import annotations

import json
from pathlib import Path

from contact_center.sim.config import Operator
from contact_center.sim.dialplan.sources import queue_files_for
from contact_center.sim.queueconf import load_queues
from contact_center.testing import FIXTURES
from tests.conftest import wait_for
from tests.integration.test_sim_shipped import DID, Route, shipped_pbx

BORIS_NEVER = Operator("PJSIP/102", "Boris", answer_after=None)
ANNA = Operator("PJSIP/101", "Anna", answer_after=0.5)
SUPPORT = Route((("CC_QUEUE", "support"),))


def capture_22_pause_headers() -> list[str]:
    """The header names of app_queue's QueueMemberPause in capture 22, in order."""
    records = [json.loads(line) for line in (FIXTURES / "22-operator-states.jsonl").open()]
    stream = "".join(r["data"] for r in records if r.get("proto") == "ami" and r.get("dir") == "in")
    for block in stream.split("\r\n\r\n"):
        lines = block.split("\r\n")
        if "Event: QueueMemberPause" in lines and "PausedReason: Auto-Pause" in lines:
            return [line.partition(": ")[0] for line in lines if line]
    raise AssertionError("capture 22 has no autopause")


def queue_log(tmp_path: Path) -> list[list[str]]:
    """The simulator's queue_log without its epoch column."""
    text = (tmp_path / "queue_log").read_text(encoding="utf-8")
    return [line.split("|")[1:] for line in text.splitlines()]


def shipped_queue(name: str) -> float:
    return next(q.wrapuptime for q in load_queues(*queue_files_for("shipped")) if q.name == name)


async def test_a_ring_no_answer_pauses_the_operator_in_all_queues(tmp_path: Path) -> None:
    async with shipped_pbx(tmp_path, [BORIS_NEVER, ANNA], SUPPORT) as shipped:
        queues = shipped.pbx.queues
        for queue in ("support", "sales"):
            queues.add_member(queue, "PJSIP/102", "Boris")
            queues.add_member(queue, "PJSIP/101", "Anna")
        call = await shipped.pbx.place_call(DID, "79161112233", "Live Caller", dtmf="2")
        missed = await shipped.ami.wait_event("AgentRingNoAnswer", timeout=10)
        await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=call.channel)
        await shipped.pbx.hangup_caller(call)
        await wait_for(lambda: not shipped.pbx.channels, 5)
        second = await shipped.pbx.place_call(DID, "79161112244", "Next Caller", dtmf="2")
        await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=second.channel)
        await shipped.pbx.hangup_caller(second)
        await wait_for(lambda: not shipped.pbx.channels, 5)
        pauses = [dict(m) for m in shipped.ami.messages if ("Event", "QueueMemberPause") in m]
        pause_headers = [
            [k for k, _ in m] for m in shipped.ami.messages if ("Event", "QueueMemberPause") in m
        ]
        rung = [e.get("Interface") for e in shipped.log.named("AgentCalled")]

    assert "PJSIP/102" == missed["Interface"]
    assert [("support", "Boris", "1", "Auto-Pause"), ("sales", "Boris", "1", "Auto-Pause")] == [
        (p["Queue"], p["MemberName"], p["Paused"], p["PausedReason"]) for p in pauses
    ]
    assert [capture_22_pause_headers()] * 2 == pause_headers
    log = queue_log(tmp_path)
    rna = next(i for i, line in enumerate(log) if line[3] == "RINGNOANSWER")
    assert log[rna][1:3] == ["support", "Boris"]
    assert [
        ["NONE", "NONE", "Boris", "PAUSEALL", "Auto-Pause"],
        ["NONE", "support", "Boris", "PAUSE", "Auto-Pause"],
        ["NONE", "sales", "Boris", "PAUSE", "Auto-Pause"],
    ] == log[rna + 1 : rna + 4]
    # the first call rang Boris, then Anna; the second call rings only Anna
    assert ["PJSIP/102", "PJSIP/101", "PJSIP/101"] == rung


async def test_a_member_is_not_offered_a_call_during_its_wrapuptime(tmp_path: Path) -> None:
    wrapup = shipped_queue("support")
    scale = 0.5
    async with shipped_pbx(tmp_path, [ANNA], SUPPORT, time_scale=scale) as shipped:
        shipped.pbx.queues.add_member("support", "PJSIP/101", "Anna")
        first = await shipped.pbx.place_call(DID, "79161112233", "Live Caller", dtmf="2")
        await shipped.ami.wait_event("AgentConnect", timeout=10, Channel=first.channel)
        second = await shipped.pbx.place_call(DID, "79161112244", "Next Caller", dtmf="2")
        await shipped.ami.wait_event("QueueCallerJoin", timeout=10, Channel=second.channel)
        await shipped.pbx.hangup_caller(first)
        freed = await shipped.ami.wait_event(
            "QueueMemberStatus", timeout=10, Interface="PJSIP/101", CallsTaken="1", InCall="0"
        )
        offered = await shipped.ami.wait_event("AgentCalled", timeout=10, Channel=second.channel)
        await shipped.pbx.hangup_caller(second)
        await wait_for(lambda: not shipped.pbx.channels, 5)

    assert 3.0 == wrapup  # what deploy/asterisk/queues.conf ships
    # the second caller waited out Anna's wrap-up (a lower bound: a slow machine only adds)
    assert float(offered["Timestamp"]) - float(freed["Timestamp"]) >= wrapup * scale
