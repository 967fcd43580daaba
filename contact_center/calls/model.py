"""Snapshots of live calls (frozen): what the tracker knows about a call at one moment.

A call is Asterisk's ``Linkedid`` on one server; a leg is one channel (``Uniqueid``). The
tracker keeps its own mutable working state and hands out these immutable copies, so a consumer
can hold a snapshot without seeing it change underneath.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

OUTCOMES = (
    "answered",
    "abandoned",
    "ivr_only",
    "unanswered",
    "voicemail",  # the caller reached VoiceMail() (and no operator)
    "supervision",  # a supervisor's ChanSpy call: not a customer's call
    # outbound calls (click-to-call, callbacks): what the customer's leg came to
    "no_answer",
    "busy",
    "failed",
    "operator_no_answer",  # the operator's own phone never answered: the customer was not dialled
)
# How an operator came to ring for a call: a queue offered it, the dialplan dialled the
# operator directly (sticky, internal), the call was transferred to them (blind, attended,
# redirect), or the operator placed the call (click-to-call, callback).
VIAS = ("queue", "direct", "transfer", "outbound")


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
class OperatorLegState:
    """One operator's part of a call: rung, answered, talked to the customer, left."""

    leg_id: str  # the operator's channel bridged to the customer (Uniqueid)
    interface: str  # PJSIP/101, Local/101@agents
    member_name: str  # queue member name ("" when the operator was not a member)
    via: str  # queue | direct | transfer | outbound
    queue: str = ""  # the queue that offered the call ("" outside queues)
    offered_at: float = 0.0
    answered_at: float | None = None  # when the operator started talking to the customer
    ended_at: float | None = None
    talk_seconds: float | None = None  # this operator's own talk with the customer
    hold_seconds: float | None = None  # time in the queue before this operator (queue legs)
    reason: str = ""  # caller | operator | transfer | ended: how the operator's part ended
    recordings: tuple[str, ...] = ()  # files recording while this operator talked

    def as_record(self) -> dict[str, Any]:
        return {
            "agent": self.member_name or self.interface,
            "interface": self.interface,
            "via": self.via,
            "queue": self.queue or None,
            "answered_at": iso_utc(self.answered_at),
            "talk_seconds": _round(self.talk_seconds),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class TransferState:
    kind: str  # blind | attended | redirect
    target: str  # extension, queue or interface the call went to
    by: str = ""  # the interface of the operator who transferred ("" for a redirect)


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
    direction: str = "inbound"  # inbound | outbound | internal | supervisor (ChanSpy)
    operators: tuple[OperatorLegState, ...] = ()  # every operator who rang, in order
    transfer_log: tuple[TransferState, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()  # CC_* variables set on the call's first channel

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
            "transfers": [{"kind": t.kind, "target": t.target} for t in self.transfer_log],
            "operators": [o.as_record() for o in self.operators if o.answered_at is not None],
            "conference": bool(self.conference),
            "recording": self.recording or None,
            "talk_seconds": _round(self.talk_seconds),
            "hangup_cause": self.hangup_cause,
            "direction": self.direction,
        }


def iso_utc(epoch: float | None) -> str | None:
    """Epoch seconds → ISO 8601 UTC with milliseconds (``2026-11-22T10:48:32.794Z``)."""
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
