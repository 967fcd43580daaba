"""Resync rules: which calls a reconnect may close, durable-record parsing, saved offsets."""

from __future__ import annotations

from pathlib import Path

from contact_center.ami.parser import EVENT, Frame
from contact_center.ami.resync import OffsetStore, Resyncer, parse_cdr_csv
from contact_center.ami.tracker import CallTracker
from contact_center.calls import events as ev

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
