"""Snapshots of live calls (frozen): what the tracker knows about a call at one moment.

A call is Asterisk's ``Linkedid`` on one server; a leg is one channel (``Uniqueid``). The
tracker keeps its own mutable working state and hands out these immutable copies, so a consumer
can hold a snapshot without seeing it change underneath.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

OUTCOMES = ("answered", "abandoned", "ivr_only", "unanswered")


@dataclass(frozen=True, slots=True)
class LegState:
    leg_id: str  # Uniqueid
    channel: str
    role: str  # caller | operator | other
    state: str  # Asterisk ChannelStateDesc (Down, Ring, Ringing, Up …) or "Hungup"
    caller_number: str = ""
    caller_name: str = ""
    started_at: float = 0.0
    ended_at: float | None = None
    cause: int | None = None


@dataclass(frozen=True, slots=True)
class CallState:
    server: str
    call_id: str  # Linkedid
    phase: str  # arrived | ivr | queued | offered | connected | held | ended
    caller_number: str  # normalised (E.164 or the raw extension)
    caller_number_raw: str
    caller_name: str
    did: str
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    queue: str = ""
    queued_at: float | None = None
    wait_seconds: float | None = None
    agent: str = ""  # member name, or interface when the member has no name
    agent_interface: str = ""
    offered_to: tuple[str, ...] = ()  # interfaces rung for this call, in order
    outcome: str = ""  # answered | abandoned | ivr_only | unanswered (set at the end)
    ivr_digits: str = ""
    transfers: tuple[str, ...] = ()
    conference: str = ""  # conference name ("" when none)
    recording: str = ""  # first recording file of the call
    recordings: tuple[str, ...] = ()
    talk_seconds: float | None = None
    hangup_cause: int | None = None
    hung_up_by: str = ""
    held: bool = False
    legs: tuple[LegState, ...] = ()

    def as_record(self) -> dict[str, Any]:
        """The call as one flat JSON-ready record (what ``contact-center replay`` prints)."""
        return {
            "call_id": self.call_id,
            "server": self.server,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "started_at": iso_utc(self.started_at),
            "answered_at": iso_utc(self.answered_at),
            "ended_at": iso_utc(self.ended_at),
            "queue": self.queue or None,
            "wait_seconds": _round(self.wait_seconds),
            "agent": self.agent or None,
            "outcome": self.outcome,
            "ivr_digits": self.ivr_digits,
            "transfers": list(self.transfers),
            "conference": bool(self.conference),
            "recording": self.recording or None,
            "talk_seconds": _round(self.talk_seconds),
            "hangup_cause": self.hangup_cause,
        }


def iso_utc(epoch: float | None) -> str | None:
    """Epoch seconds → ISO 8601 UTC with milliseconds (``2026-11-22T10:48:32.794Z``)."""
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
