"""Call tracker rules that the captures do not show directly: duplicates, disorder, late
frames, transfers, hold, ring-no-answer, and several servers at once."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from contact_center.ami.parser import EVENT, Frame, parse
from contact_center.ami.replay import capture_reads
from contact_center.ami.tracker import TRACKER_FILTER, CallTracker
from contact_center.calls import events as ev

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CORE = ("call_id", "caller_number", "queue", "agent", "outcome", "ivr_digits", "recording")


def frames_of(name: str) -> list[Frame]:
    out: list[Frame] = []
    rest = b""
    for _conn, data in capture_reads(FIXTURES / f"{name}.jsonl"):
        frames, rest = parse(rest + data, TRACKER_FILTER)
        out.extend(frames)
    return out


def run(frames: list[Frame], server: str = "pbx1") -> tuple[CallTracker, list[ev.DomainEvent]]:
    tracker = CallTracker(server)
    return tracker, tracker.feed_all(frames)


def core(tracker: CallTracker) -> list[tuple[object, ...]]:
    records = [s.as_record() for s in tracker.ended_calls]
    return [tuple(r[k] for k in CORE) for r in records]


def event(name: str, **headers: str) -> Frame:
    return Frame(EVENT, name, {"Event": name, **headers})


@pytest.mark.parametrize(
    "name",
    [
        "02-inbound-ivr-queue-answered", "03-queue-abandon", "07-actions", "17-transfer-chain",
        "18-redirect-to-person", "19-attended-cancel-then-queue", "20-direct-sticky",
        "21-callback-and-click-to-call",
    ],
)  # fmt: skip
def test_every_frame_twice_changes_nothing(name: str) -> None:
    frames = frames_of(name)
    once_tracker, once = run(frames)
    twice_tracker, twice = run([f for f in frames for _ in (0, 1)])
    assert once, "the capture produced no events: the comparison below would prove nothing"
    assert once_tracker.ended_calls, "no call ended: the comparison below would prove nothing"
    assert [e.key for e in once] == [e.key for e in twice]
    assert [s.as_record() for s in once_tracker.ended_calls] == [
        s.as_record() for s in twice_tracker.ended_calls
    ]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    "name",
    [
        "02-inbound-ivr-queue-answered", "08-fastagi", "10-supervisor-chanspy",
        "17-transfer-chain", "19-attended-cancel-then-queue", "20-direct-sticky",
        "21-callback-and-click-to-call",
    ],
)  # fmt: skip
def test_neighbouring_frames_swapped_keep_the_story(name: str, seed: int) -> None:
    frames = frames_of(name)
    expected = core(run(frames)[0])
    assert expected, "no call ended in order: the comparison below would prove nothing"
    shuffled = list(frames)
    rng = random.Random(seed)
    for _ in range(len(shuffled) // 4):
        i = rng.randrange(len(shuffled) - 1)
        shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    tracker, events = run(shuffled)
    assert expected == core(tracker)
    assert len({e.key for e in events}) == len(events)


def test_late_frames_do_not_resurrect_an_ended_call() -> None:
    frames = frames_of("02-inbound-ivr-queue-answered")
    tracker, _ = run(frames)
    assert tracker.ended_calls, "the call did not end: nothing to resurrect"
    late = [f for f in frames if f.name in ("Newchannel", "AgentConnect", "QueueCallerJoin")]
    assert late, "no late frames to feed: the test would prove nothing"
    stale = [f._replace(headers={**f.headers, "Timestamp": "1795344600.0"}) for f in late]
    assert [] == tracker.feed_all(stale)
    assert {} == tracker.calls


def test_hangup_before_newchannel_leaves_the_leg_hung_up() -> None:
    tracker = CallTracker("pbx1")
    tracker.feed(event("Hangup", Timestamp="10.2", Uniqueid="10.1", Linkedid="10.0", Cause="16"))
    tracker.feed(
        event("Newchannel", Timestamp="10.0", Uniqueid="10.0", Linkedid="10.0", Channel="PJSIP/t-1")
    )
    out = tracker.feed(
        event("Newchannel", Timestamp="10.1", Uniqueid="10.1", Linkedid="10.0", Channel="PJSIP/t-2")
    )
    assert [] == out
    state = tracker.calls[("pbx1", "10.0")]
    assert {"10.0": "Down", "10.1": "Hungup"} == {leg.leg_id: leg.state for leg in state.legs}
    ended = tracker.feed(
        event("Hangup", Timestamp="10.3", Uniqueid="10.0", Linkedid="10.0", Cause="16")
    )
    assert ["call.arrived", "call.ended"] == [e.kind for e in ended]


def answered_call(tracker: CallTracker) -> None:
    common = {"Linkedid": "20.0", "Queue": "support", "Interface": "PJSIP/101", "MemberName": "Ann"}
    caller = {"Uniqueid": "20.0", "Channel": "PJSIP/trunk-1", "CallerIDNum": "+74951234567"}
    tracker.feed(
        event(
            "Newchannel",
            Timestamp="20.0",
            ChannelStateDesc="Ring",
            **{**caller, "Linkedid": "20.0"},
        )
    )
    tracker.feed(
        event("QueueCallerJoin", Timestamp="20.1", Position="1", Count="1", **caller, **common)
    )
    for ts, dest in (("20.2", "20.1"), ("26.0", "20.2")):
        tracker.feed(event("AgentCalled", Timestamp=ts, DestUniqueid=dest, **caller, **common))
        if dest == "20.1":
            tracker.feed(
                event("AgentRingNoAnswer", Timestamp="25.0", RingTime="4800", **caller, **common)
            )
    tracker.feed(event("QueueCallerLeave", Timestamp="27.0", **caller, **common))
    tracker.feed(
        event(
            "AgentConnect",
            Timestamp="27.0",
            DestUniqueid="20.2",
            HoldTime="7",
            RingTime="1",
            **caller,
            **common,
        )
    )


def test_ring_no_answer_then_answer_then_hold_and_blind_transfer() -> None:
    tracker = CallTracker("pbx1")
    answered_call(tracker)
    held = tracker.feed(
        event("Hold", Timestamp="30.0", Uniqueid="20.0", Linkedid="20.0", Channel="PJSIP/trunk-1")
    )
    assert [(True,)] == [(e.held,) for e in held if isinstance(e, ev.CallHeld)]
    assert "held" == tracker.calls[("pbx1", "20.0")].phase
    assert [] == tracker.feed(
        event("Hold", Timestamp="30.5", Uniqueid="20.0", Linkedid="20.0")
    )  # no change
    tracker.feed(event("Unhold", Timestamp="31.0", Uniqueid="20.0", Linkedid="20.0"))
    moved = tracker.feed(
        event(
            "BlindTransfer",
            Timestamp="32.0",
            Result="Success",
            TransfererChannel="PJSIP/101-2",
            TransfererLinkedid="20.0",
            TransfereeLinkedid="20.0",
            Context="transfers",
            Extension="2002",
        )
    )
    # by: the transferring operator's interface (what the console and the stats key on)
    assert [("blind", "2002", "transfers", "PJSIP/101")] == [
        (e.transfer_type, e.target, e.target_context, e.by_interface)
        for e in moved
        if isinstance(e, ev.CallTransferred)
    ]
    state = tracker.calls[("pbx1", "20.0")]
    assert (("PJSIP/101", "PJSIP/101"), ("2002",), "Ann", "connected") == (
        state.offered_to,
        state.transfers,
        state.agent,
        state.phase,
    )
    assert 6.9 == pytest.approx(state.wait_seconds)


def test_ring_no_answer_reports_seconds() -> None:
    tracker = CallTracker("pbx1")
    caller = {"Uniqueid": "20.0", "Linkedid": "20.0", "Queue": "support", "Interface": "PJSIP/101"}
    tracker.feed(event("Newchannel", Timestamp="20.0", **caller))
    rna = tracker.feed(
        event("AgentRingNoAnswer", Timestamp="25.0", RingTime="4800", MemberName="Ann", **caller)
    )
    assert [4.8] == [e.ring_seconds for e in rna if isinstance(e, ev.CallRingNoAnswer)]


def test_attended_transfer_is_recorded_on_the_callers_call() -> None:
    tracker = CallTracker("pbx1")
    answered_call(tracker)
    out = tracker.feed(
        event(
            "AttendedTransfer",
            Timestamp="40.0",
            Result="Success",
            OrigTransfererChannel="PJSIP/101-2",
            OrigTransfererLinkedid="20.0",
            SecondTransfererContext="internal",
            SecondTransfererExten="2003",
            TransferTargetCallerIDNum="2003",
        )
    )
    assert ["attended"] == [e.transfer_type for e in out if isinstance(e, ev.CallTransferred)]
    assert ("2003",) == tracker.calls[("pbx1", "20.0")].transfers


def test_failed_transfer_is_not_a_transfer() -> None:
    tracker = CallTracker("pbx1")
    answered_call(tracker)
    out = tracker.feed(
        event(
            "BlindTransfer",
            Timestamp="32.0",
            Result="Fail",
            TransfereeLinkedid="20.0",
            Extension="9",
        )
    )
    assert [] == out


def test_two_servers_keep_separate_calls_and_keys() -> None:
    frames = frames_of("03-queue-abandon")
    one, events_one = run(frames, "pbx1")
    two, events_two = run(frames, "pbx2")
    assert [("pbx1", "1795344528.8")] == list(one.calls) + [
        (s.server, s.call_id) for s in one.ended_calls
    ]
    assert [("pbx2", "1795344528.8")] == [(s.server, s.call_id) for s in two.ended_calls]
    assert not {e.key for e in events_one} & {e.key for e in events_two}


def test_caller_number_goes_through_the_injected_normaliser() -> None:
    tracker = CallTracker("pbx1", normalize=lambda raw: "E164:" + raw)
    events = tracker.feed_all(frames_of("03-queue-abandon"))
    arrived = next(e for e in events if isinstance(e, ev.CallArrived))
    assert ("E164:+74951234567", "+74951234567", "Ivan Petrov", "4951110004") == (
        arrived.caller_number,
        arrived.caller_number_raw,
        arrived.caller_name,
        arrived.did,
    )


def test_each_frame_has_its_own_time_whatever_was_parsed_before() -> None:
    """The tracker remembers the last Timestamp it parsed (one frame's time is asked for
    several times): a frame without one, or with an unreadable one, is still at 0.0, and the
    next stamp is read anew."""
    tracker = CallTracker("pbx1")
    times = []
    for n, stamp in enumerate(("10.5", "", "not-a-time", "10.5", "11.25", "11.25")):
        # another operator each time: no frame is the duplicate of another
        headers = {"Timestamp": stamp} if stamp else {"ActionID": "list-1"}
        member = {"Queue": "support", "Interface": f"PJSIP/10{n}", "MemberName": f"Op {n}"}
        (state,) = tracker.feed(event("QueueMemberStatus", Status="1", **member, **headers))
        times.append(state.at)
    assert [10.5, 0.0, 0.0, 10.5, 11.25, 11.25] == times
    tracker.feed(event("Newchannel", Timestamp="12.75", Uniqueid="1.0", Linkedid="1.0"))
    tracker.feed(event("Newstate", Uniqueid="1.0", Linkedid="1.0", ChannelStateDesc="Up"))
    call = tracker.call("1.0")
    assert call is not None and call.started_at == 12.75
    assert [12.75] == [leg.started_at for leg in call.legs]


def test_operator_states_from_pause_and_queue_status() -> None:
    tracker, events = run(frames_of("03-queue-abandon"))
    states = [
        (e.paused, e.pause_reason, e.logged_in) for e in events if isinstance(e, ev.OperatorState)
    ]
    # added, paused (lunch), [QueueStatus repeats what we know: nothing], unpaused, removed
    assert [
        (False, "", True),
        (True, "lunch", True),
        (False, "", True),
        (False, "", False),
    ] == states
    assert {} == tracker.operators


def test_the_call_ends_when_the_customer_leaves_the_conference_not_the_operator() -> None:
    """Capture 27, e4_rec_conf: caller and operator moved into ConfBridge 8360; the caller
    hangs up; Asterisk keeps the operator alone in the room for 23 s more ("In use"). The
    customer's call is over when the customer's channel is."""
    frames = frames_of("27-live-pjsip-deploy")
    call_id = "1796589648.35"
    joins = [f for f in frames if f.name == "ConfbridgeJoin" and f.get("Linkedid") == call_id]
    assert 2 == len(joins)  # the customer and the operator were in the room
    customer_gone = next(
        f.timestamp for f in frames if f.name == "Hangup" and f.get("Uniqueid") == call_id
    )
    operator_gone = max(
        f.timestamp for f in frames if f.name == "Hangup" and f.get("Linkedid") == call_id
    )
    assert operator_gone - customer_gone > 20  # what Asterisk did
    _, events = run(frames)
    [ended] = [e for e in events if isinstance(e, ev.CallEnded) and e.call_id == call_id]
    assert (customer_gone, "answered") == (ended.at, ended.outcome)
    queue_log = (FIXTURES / "27-live-pjsip-deploy.queue_log").read_text().splitlines()
    [talk] = [int(x.split("|")[6]) for x in queue_log if f"|{call_id}|" in x and "COMPLETE" in x]
    assert abs(talk - ended.talk_seconds) < 1.0
    assert 1 == sum(1 for e in events if isinstance(e, ev.CallEnded) and e.call_id == call_id)
