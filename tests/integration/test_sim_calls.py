"""Calls through the simulator: queues, operators, recordings, durable records."""

from __future__ import annotations

import csv
import wave
from pathlib import Path

from contact_center.sim.config import Operator, QueueConfig
from contact_center.testing import AmiClient, EventLog, running_pbx

CALLER = ("+74951234567", "Ivan Petrov")


def size_of(path: str) -> int:
    return Path(path).stat().st_size


OP101 = Operator("Local/101@agents", "Operator 101", answer_after=0.5)


async def test_answered_call_writes_recording_queue_log_and_cdr(tmp_path: Path) -> None:
    async with running_pbx(tmp_path, operators=[OP101]) as pbx:
        log = EventLog(pbx)
        pbx.queues.add_member("support", OP101.interface, OP101.name)
        call = await pbx.place_call("4951110004", *CALLER)
        connect = await log.wait("AgentConnect")
        operator_phone = connect.get("DestChannel")[:-1] + "2"
        await log.wait("Newexten", Channel=operator_phone, Application="Wait")  # talking

        await pbx.hangup(call.phone)
        complete = await log.wait("AgentComplete")
        await log.wait("Hangup", Channel=call.channel)

    assert "caller" == complete.get("Reason")
    filename = log.named("VarSet", Variable="MIXMONITOR_FILENAME")[0].get("Value")
    with wave.open(filename) as wav:
        assert (1, 2, 8000) == (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
        assert wav.getnframes() > 0
    events = [line.split("|")[4] for line in (tmp_path / "queue_log").read_text().splitlines()]
    assert ["ADDMEMBER", "ENTERQUEUE", "CONNECT", "COMPLETECALLER"] == events
    rows = list(csv.reader((tmp_path / "cdr-csv" / "Master.csv").open()))
    assert {"Queue", "Wait", "Return"} <= {row[7] for row in rows}
    assert all(row[19] == call.linkedid for row in rows)  # linkedid column: one call


async def test_abandoned_call_leaves_a_header_only_recording(tmp_path: Path) -> None:
    async with running_pbx(tmp_path) as pbx:
        log = EventLog(pbx)
        call = await pbx.place_call("4951110004", *CALLER)
        await log.wait("QueueCallerJoin")

        await pbx.hangup(call.phone)
        abandon = await log.wait("QueueCallerAbandon")
        await log.wait("Hangup", Channel=call.channel)

    assert "1" == abandon.get("Position")
    filename = log.named("VarSet", Variable="MIXMONITOR_FILENAME")[0].get("Value")
    assert 44 == size_of(filename)
    assert "ABANDON" in (tmp_path / "queue_log").read_text()


async def test_manual_operator_answers_and_hangs_up(tmp_path: Path) -> None:
    person = Operator("Local/104@agents", "Operator 104", manual=True)
    async with running_pbx(tmp_path, operators=[person]) as pbx:
        log = EventLog(pbx)
        pbx.queues.add_member("support", person.interface, person.name)
        await pbx.place_call("4951110004", *CALLER)
        await log.wait("DialState", DialStatus="RINGING")

        await pbx.answer(person.interface)
        await log.wait("AgentConnect")
        await pbx.hangup_operator(person.interface)
        complete = await log.wait("AgentComplete")

    assert ("agent", "Operator 104") == (complete.get("Reason"), complete.get("MemberName"))
    assert "COMPLETEAGENT" in (tmp_path / "queue_log").read_text()


async def test_ring_no_answer_then_next_operator(tmp_path: Path) -> None:
    silent = Operator("Local/102@agents", "Operator 102", answer_after=None)
    async with running_pbx(tmp_path, operators=[silent, OP101]) as pbx:
        log = EventLog(pbx)
        pbx.queues.add_member("support", silent.interface, silent.name)
        pbx.queues.add_member("support", OP101.interface, OP101.name)
        await pbx.place_call("4951110004", *CALLER)

        missed = await log.wait("AgentRingNoAnswer")
        connect = await log.wait("AgentConnect")

    assert "Operator 102" == missed.get("MemberName")
    assert "Operator 101" == connect.get("MemberName")
    assert "RINGNOANSWER" in (tmp_path / "queue_log").read_text()


async def test_ringall_rings_everyone_and_cancels_the_rest(tmp_path: Path) -> None:
    fast = Operator("Local/101@agents", "Operator 101", answer_after=0.2)
    slow = Operator("Local/103@agents", "Operator 103", answer_after=3.0)
    queues = (QueueConfig("support", strategy="ringall", timeout=8.0),)
    async with running_pbx(tmp_path, operators=[fast, slow], queues=queues) as pbx:
        log = EventLog(pbx)
        pbx.queues.add_member("support", slow.interface, slow.name)
        pbx.queues.add_member("support", fast.interface, fast.name)
        await pbx.place_call("4951110004", *CALLER)

        connect = await log.wait("AgentConnect")
        cancel = await log.wait("DialEnd", DialStatus="CANCEL")

    assert 2 == len(log.named("AgentCalled"))
    assert "Operator 101" == connect.get("MemberName")
    assert cancel.get("DestChannel").startswith("Local/103@agents-")


async def call_twice(tmp_path: Path, strategy: str, members: list[tuple[str, int]]) -> list[str]:
    """Two calls one after the other; who answered each."""
    ops = [Operator(i, f"Op {i[6:9]}", answer_after=0.1, talk=0.2) for i, _ in members]
    queues = (QueueConfig("support", strategy=strategy, timeout=4.0),)
    async with running_pbx(tmp_path, operators=ops, queues=queues) as pbx:
        log = EventLog(pbx)
        for interface, penalty in members:
            pbx.queues.add_member("support", interface, f"Op {interface[6:9]}", penalty=penalty)
        for _ in range(2):
            call = await pbx.place_call("4951110004", *CALLER)
            await log.wait("AgentComplete")
            await log.wait("Hangup", Channel=call.channel)  # the operator is free again
            log.events.clear()
        return [line.split("|")[3] for line in (tmp_path / "queue_log").read_text().splitlines()
                if "|CONNECT|" in line]  # fmt: skip


async def test_rrmemory_takes_turns(tmp_path: Path) -> None:
    members = [("Local/101@agents", 0), ("Local/103@agents", 0)]

    assert ["Op 101", "Op 103"] == await call_twice(tmp_path, "rrmemory", members)


async def test_penalty_prefers_the_lower_tier(tmp_path: Path) -> None:
    members = [("Local/101@agents", 2), ("Local/103@agents", 0)]

    assert ["Op 103", "Op 103"] == await call_twice(tmp_path, "rrmemory", members)


async def test_leastrecent_picks_who_waited_longest(tmp_path: Path) -> None:
    members = [("Local/101@agents", 0), ("Local/103@agents", 0)]

    assert ["Op 101", "Op 103"] == await call_twice(tmp_path, "leastrecent", members)


async def test_paused_operator_is_not_rung(tmp_path: Path) -> None:
    async with running_pbx(tmp_path, operators=[OP101]) as pbx:
        log = EventLog(pbx)
        pbx.queues.add_member("support", OP101.interface, OP101.name)
        pbx.queues.pause_member("support", OP101.interface, True, "lunch")
        await pbx.place_call("4951110004", *CALLER)
        await log.wait("QueueCallerJoin")
        waited = await log.wait("MusicOnHoldStart")
        assert [] == log.named("AgentCalled")

        pbx.queues.pause_member("support", OP101.interface, False)
        await log.wait("AgentConnect")

    assert waited is not None
    assert "PAUSE|lunch" in (tmp_path / "queue_log").read_text()


async def test_ivr_digit_routes_to_sales(tmp_path: Path) -> None:
    op = Operator("Local/103@agents", "Operator 103", answer_after=0.2)
    async with running_pbx(tmp_path, operators=[op]) as pbx:
        log = EventLog(pbx)
        pbx.queues.add_member("sales", op.interface, op.name)
        call = await pbx.place_call("4951110001", *CALLER)
        await log.wait("Newexten", Application="BackGround")

        await pbx.send_dtmf(call.phone, "1")
        join = await log.wait("QueueCallerJoin")

    assert "sales" == join.get("Queue")
    assert "1" == log.named("VarSet", Variable="__CC_IVR_CHOICE")[0].get("Value")


async def test_redirect_moves_a_waiting_caller_to_another_queue(tmp_path: Path) -> None:
    async with running_pbx(tmp_path) as pbx:
        log = EventLog(pbx)
        ami = await AmiClient.connect(pbx.host, pbx.port)
        await ami.login()
        call = await pbx.place_call("4951110004", *CALLER)
        await log.wait("QueueCallerJoin", Queue="support")

        reply = await ami.action("Redirect", Channel=call.channel, Context="transfer-targets",
                                 Exten="sales", Priority="1")  # fmt: skip
        join = await log.wait("QueueCallerJoin", Queue="sales")
        await ami.close()

    assert "Redirect successful" == reply["Message"]
    assert call.channel == join.get("Channel")


async def test_conference_and_chanspy(tmp_path: Path) -> None:
    async with running_pbx(tmp_path, operators=[OP101]) as pbx:
        log = EventLog(pbx)
        ami = await AmiClient.connect(pbx.host, pbx.port)
        await ami.login()
        pbx.queues.add_member("support", OP101.interface, OP101.name)
        await pbx.place_call("4951110004", *CALLER)
        await log.wait("AgentConnect")
        await ami.action("Originate", Channel="Local/barge@supervisor", Context="callersim",
                         Exten="hold", Priority="1", CallerID='"Supervisor" <900>', Async="true",
                         Variable="CHANSPY_TARGET=Local/101@agents")  # fmt: skip
        spy = await log.wait("ChanSpyStart")
        for who in ("+74951111111", "+74952222222"):
            await ami.action("Originate", Channel="Local/8000@conference", Context="callersim",
                             Exten="hold", Priority="1", CallerID=f'"P" <{who}>',
                             Async="true")  # fmt: skip
        await log.wait("ConfbridgeJoin")
        rooms = await ami.action("ConfbridgeListRooms")
        await ami.close()

    assert spy.get("SpyeeChannel").startswith("Local/101@agents-")
    assert "Confbridge conferences will follow" == rooms["Message"]
