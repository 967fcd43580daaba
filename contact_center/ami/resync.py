"""After a (re)connect: rebuild live state and close what ended while we were away — once.

0. Asterisk's durable records — ``cdr_csv`` Master.csv and the ``queue_log`` file on a volume
   shared with Asterisk — are read *from a saved offset*. A call still in a queue (ENTERQUEUE,
   CONNECT, no end yet) tells a connector that restarted mid-call what the stream no longer
   shows: the queue, who answered and when (so the call ends as answered, with its talk time).
1. ``CoreShowChannels`` lists the channels alive now: legs we do not know are adopted (a call
   that started in the gap appears, with its caller), so live views converge. It needs the
   ``reporting`` (or ``system``) write class; without it we ask ``Status``, which ``call``
   allows (Asterisk's manager.c registers it for system|call|reporting).
2. ``QueueStatus`` gives operators (``QueueMember``) and waiting callers (``QueueEntry``).
3. Calls we track that have no live channel any more ended in the gap: the records close them
   with real times, queue, operator and outcome; calls that began and ended inside the gap are
   announced and closed from them too. The tracker drops a call once it is closed and its
   ``CallEnded`` key does not depend on the source, so each call is closed exactly once,
   whichever path sees the end first.
4. When no channel list could be had, absence proves nothing: a tracked call is closed only
   when Master.csv has its first channel's record, and :meth:`Resyncer.recheck` (run
   periodically by the connector) reads the files again for calls that end later. What could
   not be done is said in the log, with the calls left waiting.

The ``queue_log`` offset saved is the start of the oldest call still in a queue, so a restart
re-reads its ENTERQUEUE/CONNECT; Master.csv rows are written once a call is over, so its
offset is the end of what was read.

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
from typing import TYPE_CHECKING

from contact_center.ami import queue_log
from contact_center.ami.errors import AmiError, AmiPermissionDenied
from contact_center.ami.parser import EVENT, Frame
from contact_center.ami.tracker import CallTracker, QueueProgress, RecordedCall
from contact_center.calls.events import DomainEvent, OperatorFound, make_key

if TYPE_CHECKING:
    from contact_center.ami.actions import AmiActions

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


def read_queue_log(
    path: str | Path, offset: int
) -> tuple[list[tuple[int, queue_log.QueueLogLine]], int]:
    """Complete queue_log lines from ``offset``, each with the offset it starts at."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    out: list[tuple[int, queue_log.QueueLogLine]] = []
    position = offset
    for raw in data[: end + 1].splitlines(keepends=True):
        parsed = queue_log.parse_line(raw.decode("utf-8", "replace"))
        if parsed is None:
            if raw.strip():
                log.warning("queue_log line not understood: %.120r", raw)
        else:
            out.append((position, parsed))
        position += len(raw)
    return out, offset + end + 1


@dataclass(frozen=True, slots=True)
class Records:
    """What the durable files added since the saved offsets."""

    cdrs: dict[str, list[CdrRecord]]  # by linkedid
    queued: dict[str, queue_log.QueueCall]  # by queue leg (queue_log callid)
    offsets: dict[str, int]  # to save once these records are applied

    def ended(self, call_id: str, legs: set[str]) -> bool:
        """Master.csv has the call's first channel and no leg of it is still in a queue:
        Asterisk is done with it."""
        if not any(r.uniqueid == call_id for r in self.cdrs.get(call_id, ())):
            return False
        in_queue = legs | {call_id} | {r.uniqueid for r in self.cdrs[call_id]}
        return not any(leg in self.queued and not self.queued[leg].outcome for leg in in_queue)


@dataclass(frozen=True, slots=True)
class Lists:
    """The list actions' answers; ``channels`` is None when no channel list could be had."""

    channels: list[Frame] | None
    queue_items: list[Frame]
    missing: tuple[str, ...] = ()  # what could not be asked, for the log


async def ask_lists(actions: AmiActions, server_id: str) -> Lists:
    """CoreShowChannels (or Status when it is denied) and QueueStatus — whatever the AMI user
    may ask; each refusal is logged with the right that is missing."""
    channels: list[Frame] | None = None
    missing: list[str] = []
    try:
        channels = await actions.core_show_channels()
    except AmiPermissionDenied:
        missing.append("CoreShowChannels (write class 'reporting' or 'system')")
        try:
            channels = [f for f in await actions.channel_status() if f.name == "Status"]
            log.warning(
                "AMI %s: CoreShowChannels denied (needs write 'reporting'); "
                "live channels taken from Status instead",
                server_id,
            )
        except AmiError as exc:
            missing.append(f"Status ({exc})")
    except AmiError as exc:
        missing.append(f"CoreShowChannels ({exc})")
    queue_items: list[Frame] = []
    try:
        queue_items = await actions.queue_status()
    except AmiError as exc:
        missing.append(f"QueueStatus ({exc})")
        log.warning("AMI %s: resync QueueStatus failed: %s", server_id, exc)
    return Lists(channels, queue_items, tuple(missing))


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
        settle_seconds: float = 5.0,
    ) -> None:
        self.tracker = tracker
        self.cdr_csv_path = cdr_csv_path
        self.queue_log_path = queue_log_path
        self.offsets = offsets
        self.clock = clock
        # A record this fresh may belong to a call whose last frames are still on their way.
        self.settle_seconds = settle_seconds
        self.listed = True  # did the last resync get a channel list?
        self.doubtful: set[str] = set()  # live calls a resync without a list could not judge
        self._saved: dict[str, int] | None = None

    def start_offsets(self) -> dict[str, int]:
        """Saved offsets; on the very first start, the files' current ends (no old history)."""
        if self._saved is not None:
            return dict(self._saved)
        saved = self.offsets.load() if self.offsets else None
        if saved is None:
            saved = {"cdr": _size(self.cdr_csv_path), "queue_log": _size(self.queue_log_path)}
            self._save(saved)
        self._saved = dict(saved)
        return dict(saved)

    def _save(self, offsets: dict[str, int]) -> None:
        if offsets == self._saved:
            return
        self._saved = dict(offsets)
        if self.offsets:
            self.offsets.save(offsets)

    def read_records(self) -> Records:
        offsets = self.start_offsets()
        cdrs: list[CdrRecord] = []
        lines: list[tuple[int, queue_log.QueueLogLine]] = []
        try:
            if self.cdr_csv_path and os.path.exists(self.cdr_csv_path):
                cdrs, offsets["cdr"] = read_cdr(self.cdr_csv_path, offsets.get("cdr", 0))
            if self.queue_log_path and os.path.exists(self.queue_log_path):
                lines, offsets["queue_log"] = read_queue_log(
                    self.queue_log_path, offsets.get("queue_log", 0)
                )
        except OSError as exc:  # e.g. the shared volume's permissions: said, then retried
            log.warning("Asterisk's records unreadable (%s); read again later", exc)
            return Records({}, {}, self.start_offsets())
        queued = queue_log.queue_calls([line for _at, line in lines])
        # Keep the oldest call still in a queue readable for the next restart.
        first_line: dict[str, int] = {}
        for at, line in lines:
            first_line.setdefault(line.callid, at)
        still_open = [first_line[c] for c, q in queued.items() if not q.outcome]
        if still_open:
            offsets["queue_log"] = min(still_open)
        by_call: dict[str, list[CdrRecord]] = {}
        for record in cdrs:
            by_call.setdefault(record.linkedid, []).append(record)
        return Records(by_call, queued, offsets)

    async def run(
        self, actions: AmiActions, server_id: str, known_before: set[str] | None = None
    ) -> list[DomainEvent]:
        """Ask Asterisk what is live, then :meth:`rebuild`."""
        if known_before is None:
            known_before = self.tracker.live_call_ids()
        lists = await ask_lists(actions, server_id)
        out = self.rebuild(lists.channels, lists.queue_items, known_before)
        if lists.missing:
            waiting = sorted(self.tracker.live_call_ids())
            log.warning(
                "AMI %s: resync could not ask %s; calls ended in the gap were closed from "
                "Master.csv/queue_log only; %d call(s) left open until their hang-up or records "
                "arrive: %s",
                server_id,
                "; ".join(lists.missing),
                len(waiting),
                ", ".join(waiting[:20]) or "none",
            )
        return out

    def rebuild(
        self,
        channels: Iterable[Frame] | None,
        queue_items: Iterable[Frame],
        known_before: set[str] | None = None,
    ) -> list[DomainEvent]:
        """Apply the records' queue progress, CoreShowChannels (or Status) and QueueStatus
        items, then close calls that ended in the gap. ``channels`` None: no list could be had.

        ``known_before``: the live call ids taken *before* the list was asked for. Only those
        can be judged gone by their absence from the list — a call whose events arrived while
        the lists were on their way is simply newer than the list."""
        now = self.clock()
        if known_before is None:
            known_before = self.tracker.live_call_ids()
        records = self.read_records()
        out: list[DomainEvent] = []
        for leg_id, entry in records.queued.items():
            if not entry.outcome:
                out.extend(self.tracker.note_queue_progress(_progress(leg_id, entry)))
        listed = channels is not None
        live_calls: set[str] = set()
        for item in channels or ():
            if item.name not in ("CoreShowChannel", "Status"):
                continue
            live_calls.add(item.get("Linkedid"))
            out.extend(self.tracker.feed(_as_newchannel(item, now)))
        if listed:
            self.tracker.assume_roots_gone(now)
        queue_items = list(queue_items)
        for item in queue_items:
            if item.name == "QueueMember":
                out.extend(self.tracker.feed(item))
            elif item.name == "QueueEntry":
                out.extend(self.tracker.feed(_as_queue_join(item, now)))
        for frame in _ringing_members(channels or (), queue_items, now):
            # a phone that began ringing while nobody listened (a connector taking over, a
            # reconnect): its AgentCalled is gone, the list shows it — offered now, so the
            # operator gets the pop (the tracker offers a leg it already knows only once)
            out.extend(self.tracker.feed(frame))
        # operators found talking to a caller: answered while nobody listened, so they got no
        # card (the screen pop pops it unless it did; nothing else counts these)
        out.extend(_answered_members(channels or (), queue_items, now, self.tracker.server_id))
        live_now = self.tracker.live_call_ids()
        if listed:
            gone = sorted(cid for cid in known_before & live_now if cid not in live_calls)
            self.doubtful = set()
        else:
            gone = sorted(cid for cid in live_now if records.ended(cid, self._legs(cid)))
            # absence proves nothing without a list: these wait for a hang-up or a record
            self.doubtful = (known_before & live_now) - set(gone)
        # calls seen only in the records began and ended inside the gap
        unseen = [cid for cid in records.cdrs if cid not in live_calls and cid not in live_now]
        out.extend(self._close(gone + unseen, records, now))
        self.listed = listed
        self._save(records.offsets)
        return out

    def recheck(self) -> list[DomainEvent]:
        """Read what the files added since the last look and close the calls they say are
        over — the tracker's own, whose hang-up the stream did not bring (a resync without a
        channel list), and calls it never saw. A record younger than ``settle_seconds`` waits:
        the live stream may still be bringing that call's end with exact times."""
        now = self.clock()
        records = self.read_records()
        live_now = self.tracker.live_call_ids()
        self.doubtful &= live_now
        done = [
            cid
            for cid in sorted(records.cdrs)
            if (cid not in live_now and not self.tracker.is_ended(cid))
            or (cid in self.doubtful and records.ended(cid, self._legs(cid)))
        ]
        fresh = [cid for cid in done if _last_end(records.cdrs[cid]) > now - self.settle_seconds]
        if fresh:
            return []  # look again next time, from the same offsets
        out = self._close(done, records, now)
        self._save(records.offsets)
        return out

    def _legs(self, call_id: str) -> set[str]:
        state = self.tracker.call(call_id)
        return {leg.leg_id for leg in state.legs} if state else set()

    def _close(self, call_ids: list[str], records: Records, now: float) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        for call_id in call_ids:
            state = self.tracker.call(call_id)
            legs = {leg.leg_id for leg in state.legs} if state else set()
            recorded = _recorded(call_id, records.cdrs.get(call_id, []), records.queued, legs, now)
            out.extend(self.tracker.close_from_records(recorded))
        return out


def _last_end(records: list[CdrRecord]) -> float:
    return max((r.end for r in records if r.end is not None), default=0.0)


def _progress(leg_id: str, entry: queue_log.QueueCall) -> QueueProgress:
    connected_at = None
    if entry.agent and entry.connected_at is not None:
        connected_at = float(entry.connected_at)
    return QueueProgress(
        leg_id=leg_id,
        queue=entry.queue,
        entered_at=float(entry.entered_at),
        member_name=entry.agent,
        connected_at=connected_at,
        hold_seconds=float(entry.hold_seconds) if entry.hold_seconds is not None else None,
    )


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


def _age(item: Frame) -> float:
    """How long the listed channel has existed: CoreShowChannel ``Duration`` (HH:MM:SS) or
    Status ``Seconds``."""
    if item.name == "Status":
        try:
            return float(item.get("Seconds") or 0)
        except ValueError:
            return 0.0
    return _duration(item.get("Duration"))


def _as_newchannel(item: Frame, now: float) -> Frame:
    started = now - _age(item)
    headers = dict(item.headers)
    headers["Timestamp"] = f"{started:.6f}"
    return Frame(EVENT, "Newchannel", headers)


def _ringing_members(
    channels: Iterable[Frame], queue_items: Iterable[Frame], now: float
) -> list[Frame]:
    """An ``AgentCalled`` for each queue member's phone the lists show ringing for a caller
    still waiting in a queue: a channel ``AppQueue`` dialled (``(Outgoing Line)``) that is in
    no bridge yet, of the call (Linkedid) of a ``QueueEntry``. Its interface is the member's
    of that queue whose device the channel is (``Local/101@agents-0000001f;1`` →
    ``Local/101@agents``)."""
    from contact_center.ami.tracking.state import device_of

    linked = {}  # Uniqueid -> Linkedid of every listed channel
    ringing: list[Frame] = []
    for item in channels:
        if item.name not in ("CoreShowChannel", "Status"):
            continue
        linked[item.get("Uniqueid")] = item.get("Linkedid")
        app = item.get("Application")
        bridged = item.get("BridgeId") or item.get("BridgeID")
        if app == "AppQueue" and not bridged and item.get("Linkedid"):
            ringing.append(item)
    if not ringing:
        return []
    queue_items = list(queue_items)
    waiting = _waiting(queue_items, linked)
    members = _members(queue_items)
    out: list[Frame] = []
    for item in ringing:
        entry = waiting.get(item.get("Linkedid"))
        if entry is None:
            continue  # answered meanwhile, or not a queue's ring
        queue, device = entry.get("Queue"), device_of(item.get("Channel"))
        interface, name = _member_identity(members.get((queue, device)), device)
        headers = {
            "Timestamp": f"{now - _age(item):.6f}",
            "Channel": entry.get("Channel"),
            "Uniqueid": entry.get("Uniqueid"),
            "Linkedid": item.get("Linkedid"),
            "DestChannel": item.get("Channel"),
            "DestUniqueid": item.get("Uniqueid"),
            "DestLinkedid": item.get("Linkedid"),
            "Queue": queue,
            "Interface": interface,
            "MemberName": name,
        }
        out.append(Frame(EVENT, "AgentCalled", headers))
    return out


def _waiting(queue_items: list[Frame], linked: dict[str, str]) -> dict[str, Frame]:
    """Linkedid -> its ``QueueEntry`` (a caller waiting in a queue); ``linked`` maps the
    listed channels' Uniqueid to their Linkedid, for entries that do not carry it."""
    waiting: dict[str, Frame] = {}
    for item in queue_items:
        if item.name == "QueueEntry":
            call_id = item.get("Linkedid") or linked.get(item.get("Uniqueid"), "")
            if call_id:
                waiting.setdefault(call_id, item)
    return waiting


def _members(queue_items: list[Frame]) -> dict[tuple[str, str], Frame]:
    """(queue, device) -> its ``QueueMember``, by its interface and its state interface."""
    members: dict[tuple[str, str], Frame] = {}
    for item in queue_items:
        if item.name == "QueueMember":
            interface = item.get("Location") or item.get("Interface")
            for device in {interface, item.get("StateInterface")} - {""}:
                members.setdefault((item.get("Queue"), device), item)
    return members


def _member_identity(member: Frame | None, device: str) -> tuple[str, str]:
    """The interface and name a ring or an answer is reported under: the member's, else the
    channel's device with no name."""
    if member is None:
        return device, ""
    interface = member.get("Location") or member.get("Interface") or device
    return interface, member.get("Name") or member.get("MemberName")


def _answered_members(
    channels: Iterable[Frame], queue_items: Iterable[Frame], now: float, server: str
) -> list[OperatorFound]:
    """An ``OperatorFound`` for each queue member's channel the lists show bridged to its
    caller: a channel ``AppQueue`` dialled, in a bridge, of a call no longer waiting in a
    queue. Its queue is the one the call's ``Queue()`` channel runs (its application data),
    its interface the member's of that queue whose device the channel is, as for a ring."""
    from contact_center.ami.tracking.state import device_of

    listed = [item for item in channels if item.name in ("CoreShowChannel", "Status")]
    linked = {item.get("Uniqueid"): item.get("Linkedid") for item in listed}
    queue_items = list(queue_items)
    waiting = _waiting(queue_items, linked)
    by_device: dict[str, list[tuple[str, Frame]]] = {}  # device -> (queue, QueueMember)
    for (queue, device), listed_member in _members(queue_items).items():
        by_device.setdefault(device, []).append((queue, listed_member))
    queue_of = {  # Linkedid -> the queue its caller's channel is in
        item.get("Linkedid"): item.get("ApplicationData", item.get("Data")).split(",")[0]
        for item in listed
        if item.get("Application") == "Queue"
    }
    out: list[OperatorFound] = []
    for item in listed:
        call_id, leg_id = item.get("Linkedid"), item.get("Uniqueid")
        bridged = item.get("BridgeId") or item.get("BridgeID")
        if item.get("Application") != "AppQueue" or not bridged or not call_id or not leg_id:
            continue
        if call_id in waiting:
            continue  # another member's phone of a call still waiting: not this one's
        queue = queue_of.get(call_id, "")
        device = device_of(item.get("Channel"))
        memberships = sorted(by_device.get(device, []), key=lambda qm: (qm[0] != queue, qm[0]))
        member: Frame | None = None
        if memberships:
            member_queue, member = memberships[0]
            queue = queue or member_queue
        interface, name = _member_identity(member, device)
        out.append(
            OperatorFound(
                server=server,
                call_id=call_id,
                at=now,
                leg_id=leg_id,
                # the same fact whichever resync finds it: once per operator leg
                key=make_key(server, call_id, leg_id, OperatorFound.kind),
                queue=queue,
                interface=interface,
                member_name=name,
                operator_leg_id=leg_id,
                rang_at=now - _age(item),
            )
        )
    return out


def _as_queue_join(item: Frame, now: float) -> Frame:
    headers = dict(item.headers)
    wait = float(item.get("Wait") or 0)
    headers["Timestamp"] = f"{now - wait:.6f}"
    return Frame(EVENT, "QueueCallerJoin", headers)
