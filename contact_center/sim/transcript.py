"""jsonl-v1 transcripts (the captures' format): read them, write them, compare AMI streams.

Comparison rules (see README.md): per connection, the responses and list items keep their
exact order; events are grouped by the thing they are about (a channel, a device, a queue
member, a bridge, a CDR's channel) and each group keeps its order, because Asterisk's threads
interleave groups differently from run to run. Within a group, messages must have the same
name and the same header names in the same order. Values may differ, but their format is
checked for the identity fields.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from contact_center.sim.dialplan import reports_varset

# Events the simulator does not emit at all (README.md says why).
NOT_EMITTED = frozenset({"CEL"})

# Adjacent events of one channel whose order depends on Asterisk's thread scheduling.
RACY_PAIRS = frozenset(
    {
        frozenset({"BridgeLeave", "AgentComplete"}),
        frozenset({"ConfbridgeLeave", "BridgeLeave"}),
        frozenset({"Newstate", "Newexten"}),
        frozenset({"NewConnectedLine", "Newexten"}),
        frozenset({"ConfbridgeLeave", "Hangup"}),
        frozenset({"ConfbridgeLeave", "SoftHangupRequest"}),
        frozenset({"ConfbridgeLeave", "MusicOnHoldStop"}),
        frozenset({"DialEnd", "OriginateResponse"}),
        frozenset({"Newexten", "OriginateResponse"}),
    }
)

FORMATS: dict[str, re.Pattern[str]] = {
    "Uniqueid": re.compile(r"^\d{10}\.\d+$"),
    "Linkedid": re.compile(r"^\d{10}\.\d+$"),
    "DestUniqueid": re.compile(r"^\d{10}\.\d+$"),
    "DestLinkedid": re.compile(r"^\d{10}\.\d+$"),
    "UniqueID": re.compile(r"^\d{10}\.\d+$"),
    "Timestamp": re.compile(r"^\d{10}\.\d{6}$"),
    "BridgeUniqueid": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    "Channel": re.compile(r"^(Local/[^@]+@[a-z-]+(-[0-9a-f]{8};[12])?|)$"),
    "DestChannel": re.compile(r"^Local/[^@]+@[a-z-]+-[0-9a-f]{8};[12]$"),
    "StartTime": re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"),
    "EndTime": re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"),
    "AnswerTime": re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)?$"),
    "EventTV": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$"),
    "SessionID": re.compile(r"^0x[0-9a-f]+$"),
}

Message = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One transcript line."""

    t: float
    data: dict[str, Any]


def read_records(path: str | Path) -> list[Record]:
    with open(path, encoding="utf-8") as fh:
        return [Record(float(rec.get("t", 0.0)), rec) for rec in map(json.loads, fh) if rec]


def split_messages(stream: str) -> list[Message]:
    """An AMI byte stream (as text) → messages; the banner line is skipped."""
    if stream.startswith("Asterisk Call Manager"):
        stream = stream.split("\r\n", 1)[1]
    out: list[Message] = []
    for block in stream.split("\r\n\r\n"):
        if not block:
            continue
        headers = []
        for line in block.split("\r\n"):
            key, _, value = line.partition(": ")
            headers.append((key.rstrip(":"), value))
        out.append(tuple(headers))
    return out


def incoming_messages(records: Iterable[Record]) -> dict[str, list[Message]]:
    """Per AMI connection, the messages the PBX sent."""
    streams: dict[str, str] = {}
    for rec in records:
        d = rec.data
        if d.get("proto") == "ami" and d.get("dir") == "in" and "data" in d:
            streams[d["conn"]] = streams.get(d["conn"], "") + d["data"]
    return {conn: split_messages(text) for conn, text in streams.items()}


def _get(msg: Message, key: str) -> str:
    for k, v in msg:
        if k == key:
            return v
    return ""


def comparable(msg: Message) -> bool:
    """False for events the simulator deliberately leaves out."""
    kind, name = msg[0]
    if kind != "Event":
        return True
    if name in NOT_EMITTED:
        return False
    if name == "VarSet":
        return reports_varset(_get(msg, "Variable"))
    return True


@dataclass
class _Names:
    seen: dict[str, int] = field(default_factory=dict)

    def norm(self, name: str) -> str:
        def repl(match: re.Match[str]) -> str:
            key = match.group(1)
            index = self.seen.setdefault(key, len(self.seen))
            return f"-#{index};"

        return re.sub(r"-([0-9a-f]{8});", repl, name)


def group_of(msg: Message, names: _Names) -> str:
    """Which ordered group a message belongs to (see the module docstring)."""
    kind, name = msg[0]
    if kind != "Event" or (len(msg) > 1 and msg[1][0] != "Privilege"):
        return "responses"
    if name == "OriginateResponse":
        return "originate"  # sent when the originate thread gets to it, racing the channel
    if name == "Cdr":
        return "cdr:" + names.norm(_get(msg, "Channel"))
    if name == "DeviceStateChange":
        return "device:" + _get(msg, "Device")
    if name.startswith("QueueMember"):
        return f"member:{_get(msg, 'Queue')}:{_get(msg, 'Interface')}"
    for key in ("Channel", "LocalOneChannel", "SpyerChannel", "DestChannel"):
        value = _get(msg, key)
        if value:
            return "chan:" + names.norm(value)
    if name.startswith(("Bridge", "Confbridge")):
        return "bridge"
    return "other:" + name


def signature(msg: Message) -> str:
    kind, name = msg[0]
    keys = [k for k, _ in msg[1:] if not (kind == "Event" and k == "Variable" and name == "Status")]
    label = name if kind == "Event" else f"{kind}:{name}"
    return label + "(" + ",".join(keys) + ")"


def _canonical(seq: list[str]) -> list[str]:
    out = list(seq)
    changed = True
    while changed:
        changed = False
        for i in range(len(out) - 1):
            a, b = out[i].split("(", 1)[0], out[i + 1].split("(", 1)[0]
            if frozenset({a, b}) in RACY_PAIRS and a > b:
                out[i], out[i + 1] = out[i + 1], out[i]
                changed = True
    return out


def grouped(messages: Iterable[Message]) -> dict[str, list[str]]:
    names = _Names()
    groups: dict[str, list[str]] = {}
    for msg in messages:
        if comparable(msg):
            groups.setdefault(group_of(msg, names), []).append(signature(msg))
    out = {key: _canonical(seq) for key, seq in groups.items()}
    if "responses" in out:
        # how many items a list holds is a value (it depends on what the PBX went through),
        # so a run of identical list items counts once
        seq = out["responses"]
        out["responses"] = [s for i, s in enumerate(seq) if i == 0 or seq[i - 1] != s]
    return out


def compare_streams(expected: list[Message], actual: list[Message]) -> list[str]:
    """Differences between a captured and a simulated AMI stream (empty list: equivalent)."""
    problems: list[str] = []
    want, got = grouped(expected), grouped(actual)
    for key in sorted(set(want) | set(got)):
        a, b = want.get(key, []), got.get(key, [])
        if a != b:
            problems.append(_diff(key, a, b))
    problems.extend(check_formats(actual))
    return problems


def _diff(key: str, want: list[str], got: list[str]) -> str:
    for i, (x, y) in enumerate(zip(want, got, strict=False)):
        if x != y:
            return f"{key}: item {i}: expected {x}\n   got {y}"
    if len(want) > len(got):
        return f"{key}: missing {want[len(got) :]}"
    return f"{key}: unexpected {got[len(want) :]}"


def check_formats(messages: Iterable[Message]) -> list[str]:
    problems = []
    for msg in messages:
        for key, value in msg:
            pattern = FORMATS.get(key)
            if pattern is not None and value != "<unknown>" and not pattern.match(value):
                problems.append(f"{msg[0][1]}: {key}={value!r} has the wrong format")
    return problems


class TranscriptWriter:
    """Writes a jsonl-v1 transcript of the simulator's own AMI/AGI traffic."""

    def __init__(self, path: str | Path, scenario: str, description: str = "") -> None:
        self._fh: IO[str] = open(path, "w", encoding="utf-8")  # closed in close()
        self._write({"kind": "meta", "scenario": scenario, "description": description,
                     "format": "jsonl-v1"})  # fmt: skip

    def _write(self, rec: dict[str, Any]) -> None:
        self._fh.write(json.dumps({"t": round(time.time(), 6), **rec}) + "\n")
        self._fh.flush()

    def data(self, proto: str, conn: str, direction: str, data: bytes) -> None:
        try:
            self._write({"proto": proto, "conn": conn, "dir": direction, "data": data.decode()})
        except UnicodeDecodeError:
            import base64

            b64 = base64.b64encode(data).decode()
            self._write({"proto": proto, "conn": conn, "dir": direction, "data_b64": b64})

    def conn(self, proto: str, conn: str, event: str) -> None:
        self._write({"kind": "conn", "proto": proto, "conn": conn, "event": event})

    def note(self, text: str) -> None:
        self._write({"kind": "note", "text": text})

    def close(self) -> None:
        self._fh.close()


def out_records(records: Iterable[Record]) -> Iterator[Record]:
    """The client side of a capture: what was sent, with notes and connection events."""
    for rec in records:
        d = rec.data
        if d.get("dir") == "out" or d.get("kind") in {"conn", "note"}:
            yield rec
