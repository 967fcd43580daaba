"""Resync rules: which calls a reconnect may close, durable-record parsing, saved offsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from contact_center.ami.parser import EVENT, Frame, parse
from contact_center.ami.replay import capture_reads, capture_stream
from contact_center.ami.resync import OffsetStore, Resyncer, parse_cdr_csv
from contact_center.ami.tracker import TRACKER_FILTER, CallTracker
from contact_center.calls import events as ev

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

ROW = (
    '"","+74951234567","4951110004","inbound","""Ivan Petrov"" <+74951234567>",'
    '"Local/4951110004@inbound-00000002;1","","Wait","600","2026-11-22 10:48:48",'
    '"2026-11-22 10:48:48","2026-11-22 10:48:58","10","10","ANSWERED","DOCUMENTATION",'
    '"1795344528.8","","","1795344528.8","3"\n'
)


def newchannel(uniqueid: str, linkedid: str, at: str) -> Frame:
    return Frame(
        EVENT,
        "Newchannel",
        {"Event": "Newchannel", "Timestamp": at, "Uniqueid": uniqueid, "Linkedid": linkedid},
    )


def test_master_csv_row() -> None:
    [record] = parse_cdr_csv(ROW)
    assert ("1795344528.8", "1795344528.8", "+74951234567", "ANSWERED") == (
        record.linkedid,
        record.uniqueid,
        record.src,
        record.disposition,
    )
    assert (1795344528.0, 1795344538.0) == (record.start, record.end)


def test_only_calls_known_before_the_listing_can_be_judged_gone(tmp_path: Path) -> None:
    tracker = CallTracker("pbx1")
    tracker.feed(newchannel("1.0", "1.0", "1.0"))
    known_before = tracker.live_call_ids()
    tracker.feed(newchannel("2.0", "2.0", "2.0"))  # arrived while CoreShowChannels was answered
    resyncer = Resyncer(tracker, offsets=OffsetStore(tmp_path / "offsets.json"), clock=lambda: 9.0)
    out = resyncer.rebuild([], [], known_before)
    ended = [(e.call_id, e.source, e.at) for e in out if isinstance(e, ev.CallEnded)]
    assert [("1.0", "resync", 9.0)] == ended
    assert {"2.0"} == tracker.live_call_ids()
    assert [] == resyncer.rebuild([], [], {"1.0"})  # closed once


def test_first_start_skips_old_records_then_reads_from_the_saved_offset(tmp_path: Path) -> None:
    master = tmp_path / "Master.csv"
    master.write_text(ROW)
    offsets = OffsetStore(tmp_path / "offsets.json")
    tracker = CallTracker("pbx1")
    resyncer = Resyncer(tracker, cdr_csv_path=str(master), offsets=offsets)
    assert [] == resyncer.rebuild([], [])
    assert {"cdr": len(ROW), "queue_log": 0} == offsets.load()
    with master.open("a") as handle:
        handle.write(ROW.replace("1795344528.8", "1795344600.1"))
    out = resyncer.rebuild([], [])
    assert [("call.arrived", "1795344600.1"), ("call.ended", "1795344600.1")] == [
        (e.kind, e.call_id) for e in out
    ]
    arrived = out[0]
    assert isinstance(arrived, ev.CallArrived)
    assert ("+74951234567", "Ivan Petrov", "4951110004") == (
        arrived.caller_number,
        arrived.caller_name,
        arrived.did,
    )
    assert [] == resyncer.rebuild([], [])


# --- capture 27: a connector that starts mid-call, with and without a channel list ----------

CAPTURE_27 = FIXTURES / "27-live-pjsip-deploy.jsonl"
QUEUE_LOG_27 = FIXTURES / "27-live-pjsip-deploy.queue_log"
R3_CALL = "1796589956.43"  # r3_connrestart_rights: answered by Boris, COMPLETECALLER 3|20


def frames_27() -> list[Frame]:
    out: list[Frame] = []
    rest = b""
    for _conn, data in capture_reads(CAPTURE_27):
        frames, rest = parse(rest + data, TRACKER_FILTER)
        out.extend(frames)
    return out


def queue_log_until(tmp_path: Path, until: float) -> Path:
    path = tmp_path / "queue_log"
    lines = QUEUE_LOG_27.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if int(line.split("|")[0]) <= until))
    return path


def asterisk_27(call_id: str) -> tuple[str, float, float]:
    """(operator, hold, talk) of one call as 27's queue_log says."""
    for line in QUEUE_LOG_27.read_text().splitlines():
        _at, callid, _queue, agent, event, *data = line.split("|")
        if callid == call_id and event == "COMPLETECALLER":
            return agent, float(data[0]), float(data[1])
    raise AssertionError(f"{call_id} not completed in queue_log")


def restart_at(at: float, tmp_path: Path, *, queue_log: bool) -> tuple[CallTracker, Resyncer]:
    """A fresh tracker (a restarted connector) whose resync had no channel list."""
    tracker = CallTracker("pbx1")
    offsets = OffsetStore(tmp_path / "offsets.json")
    offsets.save({"cdr": 0, "queue_log": 0})
    path = queue_log_until(tmp_path, at) if queue_log else tmp_path / "absent"
    resyncer = Resyncer(tracker, queue_log_path=str(path), offsets=offsets, clock=lambda: at)
    resyncer.rebuild(None, [], set())
    return tracker, resyncer


def ended_after(tracker: CallTracker, frames: list[Frame], at: float, call_id: str) -> ev.CallEnded:
    events = tracker.feed_all(f for f in frames if f.timestamp > at)
    [ended] = [e for e in events if isinstance(e, ev.CallEnded) and e.call_id == call_id]
    return ended


@pytest.mark.parametrize("queue_log", [True, False], ids=["queue_log", "stream-only"])
def test_restarted_mid_call_without_lists_the_call_ends_answered_with_its_talk(
    tmp_path: Path, queue_log: bool
) -> None:
    frames = frames_27()
    connect = next(f for f in frames if f.name == "AgentConnect" and f.get("Linkedid") == R3_CALL)
    restart = connect.timestamp + 5.0
    tracker, _ = restart_at(restart, tmp_path, queue_log=queue_log)
    ended = ended_after(tracker, frames, restart, R3_CALL)
    operator, hold, talk = asterisk_27(R3_CALL)
    assert ("answered", operator) == (ended.outcome, ended.member_name)
    assert abs(talk - ended.talk_seconds) < 1.0
    assert ended.hold_seconds is not None and abs(hold - ended.hold_seconds) < 1.0
    assert "support" == ended.queue


def test_the_saved_queue_log_offset_keeps_a_call_still_in_a_queue_readable(
    tmp_path: Path,
) -> None:
    operator, _hold, _talk = asterisk_27(R3_CALL)
    lines = QUEUE_LOG_27.read_text().splitlines(keepends=True)
    enter = next(i for i, line in enumerate(lines) if f"|{R3_CALL}|support|NONE|ENTERQUEUE" in line)
    connect_at = int(lines[enter + 1].split("|")[0])
    restart_at(connect_at, tmp_path, queue_log=True)
    saved = OffsetStore(tmp_path / "offsets.json").load()
    assert saved is not None
    assert len("".join(lines[:enter])) == saved["queue_log"]  # re-read from its ENTERQUEUE
    # and the next restart, from that offset, still knows who answered
    again = CallTracker("pbx1")
    Resyncer(
        again,
        queue_log_path=str(tmp_path / "queue_log"),
        offsets=OffsetStore(tmp_path / "offsets.json"),
        clock=lambda: connect_at + 1.0,
    ).rebuild(None, [], set())
    frames = frames_27()
    ended = ended_after(again, frames, connect_at + 1.0, R3_CALL)
    assert ("answered", operator) == (ended.outcome, ended.member_name)


def test_without_a_list_a_call_waits_for_its_record_then_the_recheck_closes_it(
    tmp_path: Path,
) -> None:
    master = tmp_path / "Master.csv"
    master.write_text("")
    tracker = CallTracker("pbx1")
    tracker.feed(newchannel("1795344528.8", "1795344528.8", "1795344528.0"))
    resyncer = Resyncer(
        tracker,
        cdr_csv_path=str(master),
        offsets=OffsetStore(tmp_path / "offsets.json"),
        clock=lambda: 1795344600.0,
    )
    assert [] == resyncer.rebuild(None, [], tracker.live_call_ids())  # no proof it ended
    assert {"1795344528.8"} == tracker.live_call_ids()
    master.write_text(ROW)  # Asterisk writes its record later
    out = resyncer.recheck()
    assert [("call.ended", "cdr_csv", 1795344538.0)] == [
        (e.kind, e.source, e.at) for e in out if isinstance(e, ev.CallEnded)
    ]
    assert [] == resyncer.recheck()


def test_a_fresh_record_of_a_call_the_stream_closed_does_not_hold_the_offset_back(
    tmp_path: Path,
) -> None:
    master = tmp_path / "Master.csv"
    master.write_text("")
    offsets = OffsetStore(tmp_path / "offsets.json")
    tracker = CallTracker("pbx1")
    resyncer = Resyncer(
        tracker, cdr_csv_path=str(master), offsets=offsets, clock=lambda: 1795344539.0
    )
    resyncer.rebuild([], [])
    tracker.feed(newchannel("1795344528.8", "1795344528.8", "1795344528.0"))
    hangup = {"Event": "Hangup", "Timestamp": "1795344538.5", "Cause": "16"}
    ended = tracker.feed(
        Frame(EVENT, "Hangup", {**hangup, "Uniqueid": "1795344528.8", "Linkedid": "1795344528.8"})
    )
    assert ["call.ended"] == [e.kind for e in ended if isinstance(e, ev.CallEnded)]
    master.write_text(ROW)  # written a second ago: fresh, but its call is closed already
    assert [] == resyncer.recheck()
    saved = offsets.load()
    assert saved is not None and len(ROW) == saved["cdr"]


def listed(capture: str, action_id: str) -> list[Frame]:
    """The list items a capture's action got back (CoreShowChannel, QueueMember …)."""
    frames, _ = parse(capture_stream(FIXTURES / f"{capture}.jsonl"))
    return [f for f in frames if f.get("ActionID") == action_id and f.kind == EVENT]


def test_an_operator_the_lists_show_talking_is_found_once_per_leg(tmp_path: Path) -> None:
    # capture 07: Ivan's call answered by Local/101@agents (CoreShowChannels ami-main-25),
    # the queue's members just before (QueueStatus ami-main-24)
    channels = listed("07-actions", "ami-main-25")
    members = listed("07-actions", "ami-main-24")
    assert {"AppQueue", "Queue"} <= {c.get("Application") for c in channels}
    tracker = CallTracker("pbx1")
    now = 1795344700.0
    resyncer = Resyncer(tracker, offsets=OffsetStore(tmp_path / "offsets.json"), clock=lambda: now)
    out = resyncer.rebuild(channels, members, set())
    [found] = [e for e in out if isinstance(e, ev.OperatorFound)]
    [member] = [m for m in members if m.get("Location", m.get("Interface")) == found.interface]
    assert (
        "1795344628.82", "support", "Local/101@agents", "1795344631.84", member.get("Name")
    ) == (
        found.call_id, found.queue, found.interface, found.operator_leg_id, found.member_name
    )  # fmt: skip
    assert now - 2.0 == found.rang_at  # the operator's channel is 2 s old
    # announced after the call itself (the screen pop needs the call first)
    assert out.index(found) > min(i for i, e in enumerate(out) if isinstance(e, ev.CallArrived))
    # the next resync finds the same fact: the same key, so consumers drop it
    again = resyncer.rebuild(channels, members, tracker.live_call_ids())
    assert [found.key] == [e.key for e in again if isinstance(e, ev.OperatorFound)]


def test_a_phone_not_answered_yet_is_not_found_talking(tmp_path: Path) -> None:
    channels = listed("07-actions", "ami-main-25")
    ringing = [
        Frame(EVENT, c.name, {**c.headers, "BridgeId": ""})
        if c.get("Application") == "AppQueue"
        else c
        for c in channels
    ]
    tracker = CallTracker("pbx1")
    resyncer = Resyncer(tracker, offsets=OffsetStore(tmp_path / "o.json"), clock=lambda: 9e9)
    out = resyncer.rebuild(ringing, listed("07-actions", "ami-main-24"), set())
    assert [] == [e for e in out if isinstance(e, ev.OperatorFound)]


def test_a_pjsip_phone_found_talking_is_its_members_interface(tmp_path: Path) -> None:
    """The shipped deploy's members are PJSIP phones (capture 27): the bridged channel
    ``PJSIP/101-0000002a`` is member ``PJSIP/101`` of the caller's queue."""

    def pjsip(frame: Frame) -> Frame:
        headers = dict(frame.headers)
        for key in ("Channel", "Location", "Interface", "StateInterface"):
            if headers.get(key, "").startswith("Local/101@agents"):
                tail = "-0000002a" if key == "Channel" else ""
                headers[key] = "PJSIP/101" + tail
        return Frame(frame.kind, frame.name, headers)

    channels = [pjsip(c) for c in listed("07-actions", "ami-main-25")]
    members = [pjsip(m) for m in listed("07-actions", "ami-main-24")]
    resyncer = Resyncer(
        CallTracker("pbx1"), offsets=OffsetStore(tmp_path / "o.json"), clock=lambda: 9e9
    )
    [found] = [
        e for e in resyncer.rebuild(channels, members, set()) if isinstance(e, ev.OperatorFound)
    ]
    [member] = [m for m in members if m.get("StateInterface") == "PJSIP/101"]
    assert ("PJSIP/101", "support", member.get("Name")) == (
        found.interface,
        found.queue,
        found.member_name,
    )
    assert found.member_name  # named from the member, not just the channel's device
