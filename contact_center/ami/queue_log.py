"""Asterisk's ``queue_log`` file: ``epoch|callid|queue|agent|EVENT|data1|data2…`` lines.

``callid`` is the Uniqueid of the channel that ran ``Queue()`` (not the Linkedid), ``MANAGER``
or ``NONE`` for member events. We read it to check the tracker against Asterisk's own record
and to close calls that ended while the AMI connection was down (see ``resync.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

OUTCOME_EVENTS = {
    "COMPLETECALLER": "answered",
    "COMPLETEAGENT": "answered",
    "BLINDTRANSFER": "answered",
    "ATTENDEDTRANSFER": "answered",
    "ABANDON": "abandoned",
    "EXITWITHTIMEOUT": "unanswered",
    "EXITEMPTY": "unanswered",
    "EXITWITHKEY": "unanswered",
}


@dataclass(frozen=True, slots=True)
class QueueLogLine:
    time: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]

    def field(self, index: int) -> str:
        return self.data[index] if index < len(self.data) else ""


@dataclass(frozen=True, slots=True)
class QueueCall:
    """One queued call as queue_log tells it (keyed by the queue channel's Uniqueid)."""

    callid: str
    queue: str
    entered_at: int
    agent: str = ""
    outcome: str = ""  # answered | abandoned | unanswered | "" (still waiting / talking)
    hold_seconds: int | None = None
    talk_seconds: int | None = None
    ended_at: int | None = None
    connected_at: int | None = None  # the CONNECT line's time
    transfers: tuple[str, ...] = ()
    ring_no_answer: tuple[str, ...] = field(default=())


def parse_line(line: str) -> QueueLogLine | None:
    parts = line.rstrip("\r\n").split("|")
    if len(parts) < 5 or not parts[0].isdigit():
        return None
    return QueueLogLine(int(parts[0]), parts[1], parts[2], parts[3], parts[4], tuple(parts[5:]))


def read_lines(path: str | Path, offset: int = 0) -> tuple[list[QueueLogLine], int]:
    """Complete lines from ``offset``; returns them and the offset after the last full line."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    lines = []
    for raw in data[: end + 1].decode("utf-8", "replace").splitlines():
        parsed = parse_line(raw)
        if parsed is None:
            if raw.strip():
                log.warning("queue_log line not understood: %.120r", raw)
            continue
        lines.append(parsed)
    return lines, offset + end + 1


def queue_calls(lines: list[QueueLogLine]) -> dict[str, QueueCall]:
    """Fold lines into one :class:`QueueCall` per callid (member events are ignored)."""
    calls: dict[str, QueueCall] = {}
    for line in lines:
        if line.callid in ("MANAGER", "NONE", "REALTIME", ""):
            continue
        call = calls.get(line.callid)
        if line.event == "ENTERQUEUE":
            calls[line.callid] = QueueCall(line.callid, line.queue, line.time)
            continue
        if call is None:
            call = QueueCall(line.callid, line.queue, line.time)
        calls[line.callid] = _apply(call, line)
    return calls


def queue_visits(lines: list[QueueLogLine]) -> list[QueueCall]:
    """One :class:`QueueCall` per visit of a queue, in order: a call transferred into another
    queue re-enters under the same callid (ENTERQUEUE again), and each visit has its own
    CONNECT and COMPLETE*/BLINDTRANSFER — its own operator, hold and talk."""
    visits: list[QueueCall] = []
    open_visit: dict[str, int] = {}  # callid → index of its current visit
    for line in lines:
        if line.callid in ("MANAGER", "NONE", "REALTIME", ""):
            continue
        if line.event == "ENTERQUEUE" or line.callid not in open_visit:
            open_visit[line.callid] = len(visits)
            visits.append(QueueCall(line.callid, line.queue, line.time))
            if line.event == "ENTERQUEUE":
                continue
        index = open_visit[line.callid]
        visits[index] = _apply(visits[index], line)
    return visits


def _apply(call: QueueCall, line: QueueLogLine) -> QueueCall:
    from dataclasses import replace

    event = line.event
    if event == "CONNECT":
        return replace(
            call, agent=line.agent, hold_seconds=_int(line.field(0)), connected_at=line.time
        )
    if event == "RINGNOANSWER":
        return replace(call, ring_no_answer=(*call.ring_no_answer, line.agent))
    if event in ("COMPLETECALLER", "COMPLETEAGENT"):
        return replace(
            call,
            agent=line.agent,
            outcome="answered",
            hold_seconds=_int(line.field(0)),
            talk_seconds=_int(line.field(1)),
            ended_at=line.time,
        )
    if event in ("BLINDTRANSFER", "ATTENDEDTRANSFER"):
        # BLINDTRANSFER|exten|context|hold|talk|pos ; ATTENDEDTRANSFER|method|target|hold|talk|pos
        target = line.field(0) if event == "BLINDTRANSFER" else line.field(1)
        return replace(
            call,
            agent=line.agent,
            outcome="answered",
            hold_seconds=_int(line.field(2)),
            talk_seconds=_int(line.field(3)),
            transfers=(*call.transfers, target),
            ended_at=line.time,
        )
    if event == "ABANDON":
        return replace(
            call, outcome="abandoned", hold_seconds=_int(line.field(2)), ended_at=line.time
        )
    if event in OUTCOME_EVENTS:
        return replace(call, outcome=OUTCOME_EVENTS[event], ended_at=line.time)
    return call


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
