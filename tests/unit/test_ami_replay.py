"""Replaying the real captures gives the right calls, field by field, and agrees with
Asterisk's own queue_log for every queued call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from contact_center.ami import queue_log
from contact_center.ami.replay import replay_calls, replay_events
from contact_center.calls import events as ev

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REC = "/var/spool/asterisk/monitor/"


def call(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "server": "pbx1",
        "caller_number": "+74951234567",
        "caller_name": "Ivan Petrov",
        "answered_at": None,
        "queue": None,
        "wait_seconds": None,
        "agent": None,
        "ivr_digits": "",
        "transfers": [],
        "conference": False,
        "recording": None,
        "talk_seconds": None,
        "direction": "inbound",
    }
    record.update(fields)
    if "operators" not in record:
        record["operators"] = queue_operator(record)
    return record


def queue_operator(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The one operator of a plain queue call: the queue's member (``Operator 101`` is
    ``Local/101@agents`` in these captures), who talked the whole talk until the caller hung
    up (``AgentComplete Reason: caller`` in each of them)."""
    if record["agent"] is None or record["queue"] is None:
        return []
    return [
        {
            "agent": record["agent"],
            "interface": f"Local/{record['agent'].split()[-1]}@agents",
            "via": "queue",
            "queue": record["queue"],
            "answered_at": record["answered_at"],
            "talk_seconds": record["talk_seconds"],
            "reason": "caller",
        }
    ]


EXPECTED: dict[str, list[dict[str, Any]]] = {
    "01-login": [],
    "02-inbound-ivr-queue-answered": [
        call(
            call_id="1795344512.0",
            started_at="2026-11-22T10:48:32.794Z",
            answered_at="2026-11-22T10:48:34.942Z",
            ended_at="2026-11-22T10:48:40.955Z",
            queue="support",
            wait_seconds=1.003,
            agent="Operator 101",
            outcome="answered",
            ivr_digits="2",
            recording=REC + "20261122-104833-1795344512.1.wav",
            talk_seconds=6.01,
            hangup_cause=16,
        )
    ],
    "03-queue-abandon": [
        call(
            call_id="1795344528.8",
            started_at="2026-11-22T10:48:48.441Z",
            ended_at="2026-11-22T10:48:58.446Z",
            queue="support",
            wait_seconds=9.98,
            outcome="abandoned",
            recording=REC + "20261122-104848-1795344528.9.wav",
            hangup_cause=16,
        )
    ],
    "06-conference": [
        call(
            call_id="1795344606.67",
            started_at="2026-11-22T10:50:06.983Z",
            answered_at="2026-11-22T10:50:10.163Z",
            ended_at="2026-11-22T10:50:22.372Z",
            outcome="answered",
            conference=True,
            talk_seconds=11.821,
            hangup_cause=16,
        ),
        call(
            call_id="1795344608.71",
            caller_number="101",
            caller_name="Operator 101",
            started_at="2026-11-22T10:50:08.485Z",
            answered_at="2026-11-22T10:50:08.506Z",
            ended_at="2026-11-22T10:50:21.487Z",
            outcome="answered",
            conference=True,
            talk_seconds=12.98,
            hangup_cause=16,
        ),
        call(
            call_id="1795344609.73",
            caller_number="+74997654321",
            caller_name="Maria Sidorova",
            started_at="2026-11-22T10:50:09.987Z",
            answered_at="2026-11-22T10:50:10.008Z",
            ended_at="2026-11-22T10:50:19.989Z",
            outcome="answered",
            conference=True,
            talk_seconds=9.98,
            hangup_cause=16,
        ),
    ],
    "07-actions": [
        call(
            call_id="1795344628.82",
            started_at="2026-11-22T10:50:28.185Z",
            answered_at="2026-11-22T10:50:32.212Z",
            ended_at="2026-11-22T10:50:35.728Z",
            queue="support",
            wait_seconds=4.006,
            agent="Operator 101",
            outcome="answered",
            recording=REC + "20261122-105028-1795344628.83.wav",
            talk_seconds=3.515,
            hangup_cause=0,
        ),
        call(  # Originate to Application Wait: answered by the PBX, no queue
            call_id="1795344637.90",
            started_at="2026-11-22T10:50:37.936Z",
            ended_at="2026-11-22T10:50:39.938Z",
            outcome="ivr_only",
            hangup_cause=0,
        ),
        call(  # Originate into a context that does not exist: never answered
            call_id="1795344637.92",
            caller_number="",
            caller_name="",
            started_at="2026-11-22T10:50:37.938Z",
            ended_at="2026-11-22T10:50:37.938Z",
            outcome="unanswered",
            hangup_cause=0,
        ),
        call(
            call_id="1795344637.96",
            started_at="2026-11-22T10:50:37.939Z",
            answered_at="2026-11-22T10:50:38.964Z",
            ended_at="2026-11-22T10:50:39.944Z",
            queue="support",
            wait_seconds=1.003,
            agent="Operator 101",
            outcome="answered",
            recording=REC + "20261122-105037-1795344637.97.wav",
            talk_seconds=0.978,
            hangup_cause=0,
        ),
    ],
    "08-fastagi": [
        call(
            call_id="1795344647.106",
            started_at="2026-11-22T10:50:47.004Z",
            ended_at="2026-11-22T10:50:58.601Z",
            outcome="ivr_only",
            ivr_digits="142#7",
            hangup_cause=0,
        ),
        call(
            call_id="1795344661.110",
            started_at="2026-11-22T10:51:01.809Z",
            ended_at="2026-11-22T10:51:06.209Z",
            outcome="ivr_only",
            ivr_digits="1",
            hangup_cause=0,
        ),
        call(
            call_id="1795344669.114",
            started_at="2026-11-22T10:51:09.418Z",
            answered_at="2026-11-22T10:51:15.352Z",
            ended_at="2026-11-22T10:51:18.359Z",
            queue="sales",
            wait_seconds=2.002,
            agent="Operator 103",
            outcome="answered",
            ivr_digits="1",
            recording=REC + "20261122-105113-1795344669.115.wav",
            talk_seconds=3.006,
            hangup_cause=0,
        ),
    ],
    "10-supervisor-chanspy": [
        call(
            call_id="1795344684.122",
            started_at="2026-11-22T10:51:24.881Z",
            answered_at="2026-11-22T10:51:25.904Z",
            ended_at="2026-11-22T10:51:42.707Z",
            queue="support",
            wait_seconds=1.001,
            agent="Operator 101",
            outcome="answered",
            recording=REC + "20261122-105124-1795344684.123.wav",
            talk_seconds=16.802,
            hangup_cause=0,
        ),
        *(
            call(
                call_id=call_id,
                caller_number="900",
                caller_name="Supervisor",
                started_at=started,
                ended_at=ended,
                outcome="supervision",  # the supervisor's own ChanSpy call, not a customer's
                direction="supervisor",
                hangup_cause=0,
            )
            for call_id, started, ended in (
                ("1795344687.126", "2026-11-22T10:51:27.910Z", "2026-11-22T10:51:31.042Z"),
                ("1795344692.130", "2026-11-22T10:51:32.842Z", "2026-11-22T10:51:35.982Z"),
                ("1795344697.134", "2026-11-22T10:51:37.775Z", "2026-11-22T10:51:40.902Z"),
            )
        ),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_replay_gives_every_call_field_by_field(name: str) -> None:
    assert EXPECTED[name] == replay_calls(FIXTURES / f"{name}.jsonl")


QUEUE_LOGS = sorted(p.stem for p in FIXTURES.glob("*.queue_log"))


@pytest.mark.parametrize("name", QUEUE_LOGS)
def test_replay_agrees_with_asterisk_queue_log(name: str) -> None:
    """Each queue visit Asterisk logged (ENTERQUEUE … CONNECT … COMPLETE*/BLINDTRANSFER/
    ABANDON) is the call's queue operator leg in replay: same queue, operator, hold, and talk
    (a transfer ends that operator's own talk; a COMPLETE* counts until the call left that
    Queue(), through any redirect); queue_log's transfers are those its operators made; and
    replay invents no queue leg Asterisk did not log."""
    lines, _ = queue_log.read_lines(FIXTURES / f"{name}.queue_log")
    visits = queue_log.queue_visits(lines)
    states = _tracker_states(name)
    assert states, "every capture beside a queue_log has calls"
    answered_visits = [v for v in visits if v.agent]
    queue_legs = [o for s in states for o in s.operators if o.via == "queue" and o.answered_at]
    assert len(answered_visits) == len(queue_legs)
    if not visits:
        # Asterisk logged no queued call (21: calls we placed): replay shows no queue at all
        assert [] == [s.call_id for s in states if s.queue or s.wait_seconds is not None]
        return
    by_queue_leg = {leg.leg_id: s for s in states for leg in s.legs}
    for callid in dict.fromkeys(v.callid for v in visits):
        state = by_queue_leg[callid]  # queue_log's callid is the queue channel's Uniqueid
        call_visits = [v for v in visits if v.callid == callid]
        answered = [v for v in call_visits if v.agent]
        legs = [o for o in state.operators if o.via == "queue" and o.answered_at is not None]
        assert [(v.queue, v.agent) for v in answered] == [(o.queue, o.member_name) for o in legs]
        for visit, leg in zip(answered, legs, strict=True):
            assert visit.hold_seconds is not None and leg.hold_seconds is not None
            assert abs(visit.hold_seconds - leg.hold_seconds) < 1.0
            assert visit.talk_seconds is not None
            talk = leg.talk_seconds if visit.transfers else _until_queue_left(state, leg)
            assert talk is not None and abs(visit.talk_seconds - talk) < 1.0
        first = call_visits[0]
        assert first.hold_seconds is not None and state.wait_seconds is not None
        assert abs(first.hold_seconds - state.wait_seconds) < 1.0
        outcome = "answered" if answered else call_visits[-1].outcome
        assert outcome == state.outcome
        assert call_visits[0].queue == state.queue or answered  # a transferred call moves on
        by_queue_operator = {o.interface for o in legs}
        made = [t.target for t in state.transfer_log if t.kind != "redirect"]
        made_by_queue = [
            t.target
            for t in state.transfer_log
            if t.kind != "redirect" and t.by in by_queue_operator
        ]
        logged = [target for v in call_visits for target in v.transfers]
        assert logged == made_by_queue and set(logged) <= set(made)


def _until_queue_left(state: Any, leg: Any) -> float | None:
    """Talk from this queue operator's answer until the call left that Queue(): the end of
    the last operator leg before the call's next queue leg (app_queue's TalkTime)."""
    operators = [o for o in state.operators if o.answered_at is not None]
    after = operators[operators.index(leg) :]
    until: list[Any] = [leg]
    for other in after[1:]:
        if other.via == "queue":
            break
        until.append(other)
    end = max(o.ended_at for o in until if o.ended_at is not None)
    return end - leg.answered_at if end is not None else None


def _tracker_states(name: str) -> list[Any]:
    from contact_center.ami.parser import parse
    from contact_center.ami.replay import capture_reads
    from contact_center.ami.tracker import TRACKER_FILTER, CallTracker

    tracker = CallTracker("pbx1")
    rest = b""
    for _conn, data in capture_reads(FIXTURES / f"{name}.jsonl"):
        frames, rest = parse(rest + data, TRACKER_FILTER)
        tracker.feed_all(frames)
    return tracker.ended_calls


def test_event_keys_are_stable_across_replays_and_unique() -> None:
    path = FIXTURES / "02-inbound-ivr-queue-answered.jsonl"
    first = replay_events(path)
    second = replay_events(path)
    assert [e.key for e in first] == [e.key for e in second]
    assert len({e.key for e in first}) == len(first)


def test_domain_event_story_of_the_answered_call() -> None:
    events = replay_events(FIXTURES / "02-inbound-ivr-queue-answered.jsonl")
    story = [e.kind for e in events if e.call_id]
    assert [
        "call.arrived",
        "call.ivr_step",  # BackGround(hello-world)
        "call.ivr_step",  # digit 2
        "call.recording_started",
        "call.queued",
        "call.offered",
        "call.answered",
        "call.operator_left",  # 101's own part: 6 s of talk, the caller hung up
        "call.agent_completed",
        "call.ended",
    ] == story
    ended = next(e for e in events if isinstance(e, ev.CallEnded))
    assert ("caller", "answered", 16, "ami") == (
        ended.hung_up_by,
        ended.outcome,
        ended.cause,
        ended.source,
    )
    offered = next(e for e in events if isinstance(e, ev.CallOffered))
    assert ("support", "Local/101@agents", "Operator 101", "1795344513.2") == (
        offered.queue,
        offered.interface,
        offered.member_name,
        offered.operator_leg_id,
    )
    operators = [e for e in events if isinstance(e, ev.OperatorState)]
    assert [(True, 1), (True, 2), (True, 1), (False, 1)] == [
        (o.logged_in, o.device_status) for o in operators
    ]


def test_who_hung_up_in_each_scenario() -> None:
    def ended(name: str) -> list[str]:
        return [
            e.hung_up_by
            for e in replay_events(FIXTURES / f"{name}.jsonl")
            if isinstance(e, ev.CallEnded)
        ]

    assert ["caller"] == ended("03-queue-abandon")
    assert ["system", "caller", "caller"] == ended("08-fastagi")  # AGI HANGUP, then callers


def test_cli_replay_prints_one_json_line_per_call() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "contact_center.cli",
            "replay",
            str(FIXTURES / "06-conference.jsonl"),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert EXPECTED["06-conference"] == lines
