"""Capture 27 (the shipped deploy on a real Asterisk) played as a live Asterisk would: its
frames pushed over TCP up to a replay time, Master.csv and queue_log written as Asterisk
wrote them by that time, and the list actions (CoreShowChannels, Status, QueueStatus)
answered with the state the frames describe at that time — or "Permission denied", as
Asterisk answers an AMI user without the write class."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from contact_center.ami.replay import capture_reads
from tests.integration.test_ami_connection import FakeAsterisk, ami


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    at: float
    raw: bytes
    headers: dict[str, str]

    @property
    def name(self) -> str:
        return self.headers.get("Event", "")

    def get(self, header: str) -> str:
        return self.headers.get(header, "")


def captured_frames(path: Path) -> list[CapturedFrame]:
    """Every event of the capture (one frame a record in 27), with its Asterisk timestamp."""
    out: list[CapturedFrame] = []
    for _conn, data in capture_reads(path):
        for block in data.split(b"\r\n\r\n"):
            if not block.startswith(b"Event: "):
                continue
            headers: dict[str, str] = {}
            for line in block.decode().split("\r\n"):
                name, _, value = line.partition(": ")
                headers.setdefault(name, value)
            if "Timestamp" in headers:
                out.append(CapturedFrame(float(headers["Timestamp"]), block + b"\r\n\r\n", headers))
    return out


def cdr_end(row: list[str]) -> float:
    return datetime.strptime(row[11], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


@dataclass
class AsteriskState:
    """Channels, queue members and waiting callers as the frames up to ``now`` leave them."""

    channels: dict[str, dict[str, str]] = field(default_factory=dict)
    created: dict[str, float] = field(default_factory=dict)
    members: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    joined: dict[str, float] = field(default_factory=dict)

    def apply(self, frame: CapturedFrame) -> None:
        h, name = frame.headers, frame.name
        uid = h.get("Uniqueid", "")
        if name == "Newchannel":
            self.channels[uid] = dict(h)
            self.created[uid] = frame.at
        elif name in ("Newstate", "NewCallerid", "NewConnectedLine") and uid in self.channels:
            self.channels[uid].update(h)
        elif name == "Hangup":
            self.channels.pop(uid, None)
        elif name in ("QueueMemberAdded", "QueueMemberStatus", "QueueMemberPause"):
            self.members.setdefault((h["Queue"], h["Interface"]), {}).update(h)
        elif name == "QueueMemberRemoved":
            self.members.pop((h["Queue"], h["Interface"]), None)
        elif name == "QueueCallerJoin":
            self.entries[uid] = dict(h)
            self.joined[uid] = frame.at
        elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
            self.entries.pop(uid, None)

    def core_show_channels(self, now: float) -> list[dict[str, str]]:
        out = []
        for uid, h in self.channels.items():
            seconds = int(now - self.created[uid])
            hms = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            out.append(
                {
                    **_channel_fields(h),
                    "Application": "",
                    "ApplicationData": "",
                    "Duration": hms,
                    "BridgeId": "",
                }
            )
        return out

    def status(self, now: float) -> list[dict[str, str]]:
        return [
            {**_channel_fields(h), "Seconds": str(int(now - self.created[uid]))}
            for uid, h in self.channels.items()
        ]

    def queue_status(self, now: float) -> list[tuple[str, dict[str, str]]]:
        items: list[tuple[str, dict[str, str]]] = []
        for (queue, interface), h in self.members.items():
            items.append(
                (
                    "QueueMember",
                    {
                        "Queue": queue,
                        "Name": h.get("MemberName", ""),
                        "Location": interface,
                        "StateInterface": h.get("StateInterface", interface),
                        "Membership": h.get("Membership", "dynamic"),
                        "Penalty": h.get("Penalty", "0"),
                        "CallsTaken": h.get("CallsTaken", "0"),
                        "LastCall": h.get("LastCall", "0"),
                        "LastPause": h.get("LastPause", "0"),
                        "LoginTime": h.get("LoginTime", "0"),
                        "InCall": h.get("InCall", "0"),
                        "Status": h.get("Status", "1"),
                        "Paused": h.get("Paused", "0"),
                        "PausedReason": h.get("PausedReason", ""),
                        "Wrapuptime": h.get("Wrapuptime", "0"),
                    },
                )
            )
        for uid, h in self.entries.items():
            entry = {k: h[k] for k in ("Queue", "Position", "Channel", "Uniqueid") if k in h}
            entry |= {
                "CallerIDNum": h.get("CallerIDNum", ""),
                "CallerIDName": h.get("CallerIDName", ""),
                "Wait": str(int(now - self.joined[uid])),
                "Priority": h.get("Priority", "0"),
                "Linkedid": h.get("Linkedid", ""),
            }
            items.append(("QueueEntry", entry))
        return items


def _channel_fields(h: dict[str, str]) -> dict[str, str]:
    keys = (
        "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
        "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode", "Context", "Exten",
        "Priority", "Uniqueid", "Linkedid",
    )  # fmt: skip
    return {k: h.get(k, "") for k in keys}


def denied(aid: str, _action: dict[str, str]) -> bytes:
    return ami("Response: Error", f"ActionID: {aid}", "Message: Permission denied")


class CapturePbx:
    """Plays one capture on a :class:`FakeAsterisk`, keeping Asterisk's files in step."""

    def __init__(
        self, pbx: FakeAsterisk, frames: list[CapturedFrame], queue_log: Path, cdr: Path
    ) -> None:
        self.pbx = pbx
        self.frames = frames
        self.next = 0
        self.now = frames[0].at
        self.state = AsteriskState()
        self.denied: set[str] = set()
        self._queue_log_lines: list[tuple[int, str]] = []
        self._cdr_rows: list[tuple[float, str]] = []
        self.queue_log = queue_log
        self.cdr = cdr
        self.queue_log.write_text("")
        self.cdr.write_text("")
        pbx.replies["CoreShowChannels"] = self._core_show_channels
        pbx.replies["Status"] = self._status
        pbx.replies["QueueStatus"] = self._queue_status

    def load_records(self, queue_log_text: str, cdr_text: str) -> None:
        for line in queue_log_text.splitlines(keepends=True):
            self._queue_log_lines.append((int(line.split("|", 1)[0]), line))
        rows = list(csv.reader(io.StringIO(cdr_text)))
        # Asterisk posts a channel's records together when that channel is gone; the file
        # shows whole seconds only, so a record is due a second after its last end.
        chain_end: dict[str, float] = {}
        for row in rows:
            chain_end[row[16]] = max(chain_end.get(row[16], 0.0), cdr_end(row))
        for row in rows:
            out = io.StringIO()
            csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(row)
            self._cdr_rows.append((chain_end[row[16]] + 1.0, out.getvalue()))
        self._write_records()

    def advance(self, until: float, *, deliver: bool) -> None:
        """Let Asterisk's time run to ``until``; push the frames when ``deliver``."""
        chunk = bytearray()
        while self.next < len(self.frames) and self.frames[self.next].at <= until:
            frame = self.frames[self.next]
            self.state.apply(frame)
            if deliver:
                chunk += frame.raw
            self.next += 1
        self.now = until
        self._write_records()
        if chunk:
            self.pbx.push(bytes(chunk))

    def done(self) -> bool:
        return self.next >= len(self.frames)

    def _write_records(self) -> None:
        due = [line for at, line in self._queue_log_lines if at <= self.now]
        self._queue_log_lines = [(at, line) for at, line in self._queue_log_lines if at > self.now]
        if due:
            with self.queue_log.open("a") as handle:
                handle.writelines(due)
        rows = [row for at, row in self._cdr_rows if at <= self.now]
        self._cdr_rows = [(at, row) for at, row in self._cdr_rows if at > self.now]
        if rows:
            with self.cdr.open("a") as handle:
                handle.writelines(rows)

    def _list(self, aid: str, item: str, rows: list[tuple[str, dict[str, str]]]) -> bytes:
        out = ami("Response: Success", f"ActionID: {aid}", "EventList: start")
        for name, row in rows:
            out += ami(f"Event: {name}", f"ActionID: {aid}", *(f"{k}: {v}" for k, v in row.items()))
        out += ami(
            f"Event: {item}Complete",
            f"ActionID: {aid}",
            "EventList: Complete",
            f"ListItems: {len(rows)}",
        )
        return out

    def _core_show_channels(self, aid: str, action: dict[str, str]) -> bytes:
        if "CoreShowChannels" in self.denied:
            return denied(aid, action)
        rows = [("CoreShowChannel", r) for r in self.state.core_show_channels(self.now)]
        return self._list(aid, "CoreShowChannels", rows)

    def _status(self, aid: str, action: dict[str, str]) -> bytes:
        if "Status" in self.denied:
            return denied(aid, action)
        return self._list(aid, "Status", [("Status", r) for r in self.state.status(self.now)])

    def _queue_status(self, aid: str, action: dict[str, str]) -> bytes:
        return self._list(aid, "QueueStatus", self.state.queue_status(self.now))
