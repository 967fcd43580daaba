"""The operator in her call's conference room (issue 18) and who is in the room (issue 19), on
the real Asterisk 22 capture of a console conference (27, e4_rec_conf: caller and operator
moved into ConfBridge 8360, the caller hangs up, the operator is alone in it until kicked)."""

from __future__ import annotations

from contact_center.ami.parser import Frame
from contact_center.ami.tracker import CallTracker
from contact_center.calls import events as ev
from tests.unit.test_ami_tracker import FIXTURES, frames_of

CALL = "1796589648.35"
PHONE = "PJSIP/101-00000020"
ROOM = "8360"


def _feed_until(tracker: CallTracker, frames: list[Frame], last: Frame) -> list[ev.DomainEvent]:
    out: list[ev.DomainEvent] = []
    for frame in frames:
        out.extend(tracker.feed(frame))
        if frame is last:
            break
    return out


def _named(frames: list[Frame], name: str, **headers: str) -> list[Frame]:
    return [f for f in frames if f.name == name and all(f.get(k) == v for k, v in headers.items())]


def _queue_log_talk() -> int:
    lines = (FIXTURES / "27-live-pjsip-deploy.queue_log").read_text().splitlines()
    [talk] = [int(x.split("|")[6]) for x in lines if f"|{CALL}|" in x and "COMPLETE" in x]
    return talk


def test_asterisk_completes_the_queue_call_only_when_someone_hangs_up_in_the_room() -> None:
    """What Asterisk 22 sends, in order: both ConfbridgeJoins, and the queue's AgentComplete
    only at the caller's HangupRequest in the room (Reason caller, Context conference)."""
    frames = frames_of("27-live-pjsip-deploy")
    mine = [
        f.name
        for f in frames
        if f.get("Linkedid") == CALL and f.name in ("ConfbridgeJoin", "AgentComplete", "Hangup")
    ]
    assert ["ConfbridgeJoin", "ConfbridgeJoin", "AgentComplete", "Hangup", "Hangup"] == mine
    [complete] = _named(frames, "AgentComplete", Linkedid=CALL)
    assert ("caller", "conference") == (complete.get("Reason"), complete.get("Context"))


def test_in_the_room_the_operator_holds_the_call_and_everyone_is_named() -> None:
    frames = frames_of("27-live-pjsip-deploy")
    tracker = CallTracker("pbx1")
    joined = _named(frames, "ConfbridgeJoin", Channel=PHONE)[0]
    events = _feed_until(tracker, frames, joined)

    live = tracker.live_channels(CALL)
    assert live is not None
    assert (PHONE, "PJSIP/101") == (live.operator_channel, live.operator_interface)
    assert ROOM == live.room  # she is in the room: she may invite someone more into it
    joins = [
        e for e in events if isinstance(e, ev.ConferenceParticipantJoined) and e.call_id == CALL
    ]
    assert [("customer", "Live Caller", "79035550009"), ("operator", "Anna", "")] == [
        (e.role, e.name, e.number) for e in joins
    ]
    assert all(e.call_id == CALL and e.conference == ROOM for e in joins)
    # each join says who is in the room now
    assert [["customer"], ["customer", "operator"]] == [
        [p["role"] for p in e.participants] for e in joins
    ]
    assert ["Live Caller", "Anna"] == [p.name for p in tracker.conference_participants(CALL)]

    # the caller hangs up: he leaves the list; her part ends once, the call ends
    rest = frames[frames.index(joined) + 1 :]
    events = tracker.feed_all(rest)
    left = [e for e in events if isinstance(e, ev.ConferenceParticipantLeft)]
    assert [("customer", "Live Caller", ["operator"])] == [
        (e.role, e.name, [p["role"] for p in e.participants]) for e in left if e.call_id == CALL
    ]
    gone = [e for e in events if isinstance(e, ev.OperatorLeft) and e.call_id == CALL]
    assert [("PJSIP/101", "caller")] == [(e.interface, e.reason) for e in gone]
    [ended] = [e for e in events if isinstance(e, ev.CallEnded) and e.call_id == CALL]
    assert abs(_queue_log_talk() - ended.talk_seconds) < 1.0


def test_the_room_is_hers_to_invite_into_only_once_her_phone_is_in_it() -> None:
    """Issue 19: the connector lets the operator invite into the room her channel is in;
    before the Redirect, and while only the caller has joined, there is none."""
    frames = frames_of("27-live-pjsip-deploy")
    tracker = CallTracker("pbx1")
    first = _named(frames, "ConfbridgeJoin", Linkedid=CALL)[0]
    assert PHONE != first.get("Channel")  # the caller entered first
    before = frames[frames.index(first) - 1]
    _feed_until(tracker, frames, before)
    live = tracker.live_channels(CALL)
    assert live is not None and PHONE == live.operator_channel and "" == live.room
    tracker.feed(first)
    live = tracker.live_channels(CALL)
    assert live is not None and "" == live.room
    _feed_until(
        tracker,
        frames[frames.index(first) + 1 :],
        _named(frames, "ConfbridgeJoin", Channel=PHONE)[0],
    )
    live = tracker.live_channels(CALL)
    assert live is not None and ROOM == live.room


def _completed_at_the_redirect(frames: list[Frame]) -> list[Frame]:
    """The same call as a PBX that completes the queue call as the Redirect breaks its
    bridge (before the joins, Reason caller; the simulator did so before issue 18)."""
    [complete] = _named(frames, "AgentComplete", Linkedid=CALL)
    first = _named(frames, "ConfbridgeJoin", Linkedid=CALL)[0]
    at = f"{first.timestamp - 0.002:.6f}"
    early = complete._replace(headers={**complete.headers, "Timestamp": at, "TalkTime": "11"})
    out = [f for f in frames if f is not complete]
    out.insert(out.index(first), early)
    return out


def test_a_part_ended_as_she_went_into_the_room_goes_on_there() -> None:
    frames = _completed_at_the_redirect(frames_of("27-live-pjsip-deploy"))
    tracker = CallTracker("pbx1")
    joined = _named(frames, "ConfbridgeJoin", Channel=PHONE)[0]
    events = _feed_until(tracker, frames, joined)
    first = [e for e in events if isinstance(e, ev.OperatorLeft) and e.call_id == CALL]
    assert ["PJSIP/101"] == [e.interface for e in first]  # the completion ended her part …

    live = tracker.live_channels(CALL)  # … and in the room she holds the call again
    assert live is not None
    assert (PHONE, "PJSIP/101") == (live.operator_channel, live.operator_interface)
    assert ("operator", "Anna") in {
        (e.role, e.name) for e in events if isinstance(e, ev.ConferenceParticipantJoined)
    }

    events = tracker.feed_all(frames[frames.index(joined) + 1 :])
    [again] = [e for e in events if isinstance(e, ev.OperatorLeft) and e.call_id == CALL]
    assert again.key != first[0].key  # a fact of its own, not a duplicate to drop
    assert again.operator_leg_id == first[0].operator_leg_id  # one leg, one timeline row
    assert again.answered_at == first[0].answered_at
    # the two parts make her whole talk, which the call's talk is
    [ended] = [e for e in events if isinstance(e, ev.CallEnded) and e.call_id == CALL]
    assert again.leg_talk_seconds is not None
    assert abs(first[0].talk_seconds + again.talk_seconds - again.leg_talk_seconds) < 1e-6
    assert abs(again.leg_talk_seconds - ended.talk_seconds) < 1e-6
    # her way into the room (3 s of ConfBridge prompts between the completion and her join
    # in this capture) is no talk: the queue_log's 29 s count it
    [join] = _named(frames, "ConfbridgeJoin", Channel=PHONE)
    [early] = _named(frames, "AgentComplete", Linkedid=CALL)
    way = join.timestamp - early.timestamp
    assert abs(_queue_log_talk() - way - ended.talk_seconds) < 1.0
    assert "caller" == ended.hung_up_by


def test_leaving_the_room_ends_her_part() -> None:
    """Her channel leaves the room (Leave) before anything completes her part."""
    frames = _completed_at_the_redirect(frames_of("27-live-pjsip-deploy"))
    tracker = CallTracker("pbx1")
    joined = _named(frames, "ConfbridgeJoin", Channel=PHONE)[0]
    _feed_until(tracker, frames, joined)
    leave = joined._replace(
        name="ConfbridgeLeave",
        headers={**joined.headers, "Event": "ConfbridgeLeave", "Timestamp": "1796589690.000000"},
    )
    events = tracker.feed(leave)
    [gone] = [e for e in events if isinstance(e, ev.OperatorLeft)]
    assert ("PJSIP/101", "operator") == (gone.interface, gone.reason)
    [left] = [e for e in events if isinstance(e, ev.ConferenceParticipantLeft)]
    assert ("Anna", ["customer"]) == (left.name, [p["role"] for p in left.participants])
    live = tracker.live_channels(CALL)
    assert live is not None and ("", "") == (live.operator_channel, live.room)


def test_completed_after_she_joined_the_room_she_still_holds_the_call() -> None:
    """A PBX that completes the queue call once both are in the room (the caller still
    there): the connector still acts on her channel in the room (Leave, Hang up)."""
    frames = frames_of("27-live-pjsip-deploy")
    [complete] = _named(frames, "AgentComplete", Linkedid=CALL)
    joined = _named(frames, "ConfbridgeJoin", Channel=PHONE)[0]
    tracker = CallTracker("pbx1")
    _feed_until(tracker, frames, joined)
    early = complete._replace(headers={**complete.headers, "Timestamp": "1796589681.000000"})
    gone = [e for e in tracker.feed(early) if isinstance(e, ev.OperatorLeft)]
    assert ["PJSIP/101"] == [e.interface for e in gone]
    live = tracker.live_channels(CALL)
    assert live is not None
    assert (PHONE, "PJSIP/101") == (live.operator_channel, live.operator_interface)
