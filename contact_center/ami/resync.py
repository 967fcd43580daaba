"""After a (re)connect: rebuild live state and close what ended while we were away — once.

1. ``CoreShowChannels`` lists the channels alive now: legs we do not know are adopted (a call
   that started in the gap appears, with its caller), so live views converge.
2. ``QueueStatus`` gives operators (``QueueMember``) and waiting callers (``QueueEntry``).
3. Calls we track that have no live channel any more ended in the gap. Asterisk's durable
   records — ``cdr_csv`` Master.csv and the ``queue_log`` file on a volume shared with
   Asterisk — are read *from a saved offset* and close them with real times, queue, operator
   and outcome; calls that began and ended inside the gap are announced and closed from them
   too. The tracker drops a call once it is closed and its ``CallEnded`` key does not depend on
   the source, so each call is closed exactly once, whichever path sees the end first.

Master.csv columns (cdr.conf ``[csv]`` with ``loguniqueid=yes``, ``newcdrcolumns=yes``,
``usegmtime=yes``): accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp,
lastdata, start, answer, end, duration, billsec, disposition, amaflags, uniqueid, userfield,
peeraccount, linkedid, sequence.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from contact_center.ami import queue_log
from contact_center.ami.parser import EVENT, Frame
from contact_center.ami.tracker import CallTracker, RecordedCall
from contact_center.calls.events import DomainEvent

log = logging.getLogger(__name__)

CDR_COLUMNS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "userfield", "peeraccount", "linkedid", "sequence",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CdrRecord:
    linkedid: str
    uniqueid: str
    src: str
    clid: str
    dst: str
    channel: str
    lastapp: str
    start: float | None
    answer: float | None
    end: float | None
    billsec: int
    disposition: str


def _cdr_time(text: str) -> float | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def parse_cdr_csv(text: str) -> list[CdrRecord]:
    records = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) < len(CDR_COLUMNS):
            if row:
                log.warning("Master.csv row with %d columns skipped", len(row))
            continue
        data = dict(zip(CDR_COLUMNS, row, strict=False))
        records.append(
            CdrRecord(
                linkedid=data["linkedid"],
                uniqueid=data["uniqueid"],
                src=data["src"],
                clid=data["clid"],
                dst=data["dst"],
                channel=data["channel"],
                lastapp=data["lastapp"],
                start=_cdr_time(data["start"]),
                answer=_cdr_time(data["answer"]),
                end=_cdr_time(data["end"]),
                billsec=int(data["billsec"]) if data["billsec"].isdigit() else 0,
                disposition=data["disposition"],
            )
        )
    return records


def read_cdr(path: str | Path, offset: int) -> tuple[list[CdrRecord], int]:
    """Complete Master.csv rows from ``offset``; returns them and the next offset."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    return parse_cdr_csv(data[: end + 1].decode("utf-8", "replace")), offset + end + 1


class OffsetStore:
    """High-water marks of the durable files, kept in a small JSON file (atomic replace)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, int] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("resync offsets in %s unreadable; starting from the end", self.path)
            return None
        return {str(k): int(v) for k, v in data.items()}

    def save(self, offsets: dict[str, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(offsets))
        os.replace(tmp, self.path)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Resyncer:
    """Rebuilds one tracker after a reconnect (see module docstring)."""

    def __init__(
        self,
        tracker: CallTracker,
        *,
        cdr_csv_path: str = "",
        queue_log_path: str = "",
        offsets: OffsetStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tracker = tracker
        self.cdr_csv_path = cdr_csv_path
        self.queue_log_path = queue_log_path
        self.offsets = offsets
        self.clock = clock

    def start_offsets(self) -> dict[str, int]:
        """Saved offsets; on the very first start, the files' current ends (no old history)."""
        saved = self.offsets.load() if self.offsets else None
        if saved is not None:
            return saved
        fresh = {"cdr": _size(self.cdr_csv_path), "queue_log": _size(self.queue_log_path)}
        if self.offsets:
            self.offsets.save(fresh)
        return fresh

    def rebuild(
        self,
        channels: Iterable[Frame],
        queue_items: Iterable[Frame],
        known_before: set[str] | None = None,
    ) -> list[DomainEvent]:
        """Apply CoreShowChannels + QueueStatus items, then close calls that ended in the gap.

        ``known_before``: the live call ids taken *before* CoreShowChannels was sent. Only those
        can be judged gone by their absence from the list — a call whose events arrived while
        the lists were on their way is simply newer than the list."""
        now = self.clock()
        if known_before is None:
            known_before = self.tracker.live_call_ids()
        out: list[DomainEvent] = []
        live_calls: set[str] = set()
        for item in channels:
            if item.name != "CoreShowChannel":
                continue
            live_calls.add(item.get("Linkedid"))
            out.extend(self.tracker.feed(_as_newchannel(item, now)))
        self.tracker.assume_roots_gone(now)
        for item in queue_items:
            if item.name == "QueueMember":
                out.extend(self.tracker.feed(item))
            elif item.name == "QueueEntry":
                out.extend(self.tracker.feed(_as_queue_join(item, now)))
        out.extend(self._close_gap(live_calls, known_before, now))
        return out

    def _close_gap(
        self, live_calls: set[str], known_before: set[str], now: float
    ) -> list[DomainEvent]:
        offsets = self.start_offsets()
        cdrs: list[CdrRecord] = []
        qlines: list[queue_log.QueueLogLine] = []
        if self.cdr_csv_path and os.path.exists(self.cdr_csv_path):
            cdrs, offsets["cdr"] = read_cdr(self.cdr_csv_path, offsets.get("cdr", 0))
        if self.queue_log_path and os.path.exists(self.queue_log_path):
            qlines, offsets["queue_log"] = queue_log.read_lines(
                self.queue_log_path, offsets.get("queue_log", 0)
            )
        queued = queue_log.queue_calls(qlines)
        by_call: dict[str, list[CdrRecord]] = {}
        for record in cdrs:
            by_call.setdefault(record.linkedid, []).append(record)
        out: list[DomainEvent] = []
        live_now = self.tracker.live_call_ids()
        gone = sorted(cid for cid in known_before & live_now if cid not in live_calls)
        # calls seen only in the records began and ended inside the gap
        unseen = [cid for cid in by_call if cid not in live_calls and cid not in live_now]
        for call_id in gone + unseen:
            state = self.tracker.call(call_id)
            legs = {leg.leg_id for leg in state.legs} if state else set()
            recorded = _recorded(call_id, by_call.get(call_id, []), queued, legs, now)
            out.extend(self.tracker.close_from_records(recorded))
        if self.offsets:
            self.offsets.save(offsets)
        return out


def _recorded(
    call_id: str,
    cdrs: list[CdrRecord],
    queued: dict[str, queue_log.QueueCall],
    legs: set[str],
    now: float,
) -> RecordedCall:
    leg_ids = legs | {r.uniqueid for r in cdrs}
    entry = next((queued[leg] for leg in sorted(leg_ids) if leg in queued), None)
    starts = [r.start for r in cdrs if r.start is not None]
    ends = [r.end for r in cdrs if r.end is not None]
    root = next((r for r in cdrs if r.uniqueid == call_id), cdrs[0] if cdrs else None)
    source = "cdr_csv" if cdrs else ("queue_log" if entry else "resync")
    ended_at = max(ends) if ends else float(entry.ended_at) if entry and entry.ended_at else now
    outcome = entry.outcome if entry else ""
    if not outcome and cdrs:
        outcome = "ivr_only" if any(r.disposition == "ANSWERED" for r in cdrs) else "unanswered"
    answered_at = None
    if entry and entry.outcome == "answered" and entry.hold_seconds is not None:
        answered_at = float(entry.entered_at + entry.hold_seconds)
    return RecordedCall(
        call_id=call_id,
        started_at=min(starts) if starts else ended_at,
        ended_at=ended_at,
        source=source,
        caller_number=root.src if root else "",
        caller_name=_clid_name(root.clid) if root else "",
        did=root.dst if root else "",
        queue=entry.queue if entry else "",
        agent=entry.agent if entry else "",
        answered_at=answered_at,
        wait_seconds=float(entry.hold_seconds)
        if entry and entry.hold_seconds is not None
        else None,
        talk_seconds=float(entry.talk_seconds)
        if entry and entry.talk_seconds is not None
        else None,
        outcome=outcome,
    )


def _clid_name(clid: str) -> str:
    # clid is '"Ivan Petrov" <+74951234567>'
    if clid.startswith('"') and '"' in clid[1:]:
        return clid[1 : clid.index('"', 1)]
    return ""


def _duration(text: str) -> float:
    """CoreShowChannel Duration is HH:MM:SS."""
    try:
        hours, minutes, seconds = (int(part) for part in text.split(":"))
    except ValueError:
        return 0.0
    return hours * 3600.0 + minutes * 60.0 + seconds


def _as_newchannel(item: Frame, now: float) -> Frame:
    started = now - _duration(item.get("Duration"))
    headers = dict(item.headers)
    headers["Timestamp"] = f"{started:.6f}"
    return Frame(EVENT, "Newchannel", headers)


def _as_queue_join(item: Frame, now: float) -> Frame:
    headers = dict(item.headers)
    wait = float(item.get("Wait") or 0)
    headers["Timestamp"] = f"{now - wait:.6f}"
    return Frame(EVENT, "QueueCallerJoin", headers)
