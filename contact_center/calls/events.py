"""Typed, immutable domain events: the only thing consumers see of Asterisk.

Every event carries the Asterisk server id, the call id (Asterisk's ``Linkedid``), the leg id
(a channel's ``Uniqueid``) where one applies, the Asterisk timestamp ``at`` (epoch seconds), a
per-connection sequence number ``seq`` and an idempotency ``key``. The key is derived from
stable Asterisk identities (server, linkedid, uniqueid, event type, Asterisk timestamp), so the
same fact seen twice — a duplicated frame, a replay, a resync — carries the same key and is
written once.

Events travel over the bus as JSON: :func:`to_dict` / :func:`from_dict` round-trip them.
Decoding validates: each kind's fields are checked against their annotations by ``msgspec``
(a compiled decoder per type, no reflection per event), so a malformed message is a
:class:`MalformedEvent` naming the field, never a half-built event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec

EVENT_TYPES: dict[str, type[DomainEvent]] = {}
# A bus entry that could not even be read (not JSON, no payload) carries this key with the
# reason instead of an event; :func:`from_dict` refuses it, so consumers log and skip it.
MALFORMED = "_malformed"


class MalformedEvent(ValueError):
    """A bus message is not a valid domain event (unknown kind, missing or mistyped field,
    unreadable payload); the message says which."""


# An empty 12-byte blake2b: a key's hash starts as a copy of it (copying the state costs less
# than a new hash object whose digest size is read from a keyword argument).
_KEY_HASH = hashlib.blake2b(digest_size=12)


def make_key(*parts: object) -> str:
    """A short stable idempotency key from the identities of one fact."""
    # runs for every domain event: nearly always all strings, joined as they are (a str
    # subclass joins as its value: StrEnum, the only one we have, prints as its value too)
    try:
        raw = "|".join(parts)  # type: ignore[arg-type]
    except TypeError:
        # a list, not a generator: join sizes it once
        raw = "|".join([p if type(p) is str else "" if p is None else str(p) for p in parts])
    digest = _KEY_HASH.copy()
    digest.update(raw.encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Base of all domain events."""

    kind: ClassVar[str] = "event"
    server: str
    call_id: str  # Asterisk Linkedid; "" for events that belong to no call
    at: float  # Asterisk timestamp, epoch seconds
    seq: int = 0  # per-connection sequence number (0 when not from a live connection)
    key: str = ""  # idempotency key; filled by the producer with make_key(...)
    leg_id: str = ""  # channel Uniqueid where relevant


# --- call lifecycle -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallArrived(DomainEvent):
    """A new call reached the PBX (first channel of a Linkedid with a caller)."""

    kind: ClassVar[str] = "call.arrived"
    caller_number: str  # E.164 when it normalises, else the raw number/extension ("" if none)
    caller_number_raw: str  # exactly as Asterisk reported it (as dialled)
    caller_name: str
    did: str = ""  # number dialled (the inbound extension; the customer's number outbound)
    channel: str = ""
    direction: str = "inbound"  # inbound | outbound | internal | supervisor (ChanSpy)
    # Outbound calls: the operator who placed it (their phone is the call's first channel).
    operator_interface: str = ""
    operator_name: str = ""
    # ``CC_*`` channel variables set on the call's first channel (an Originate's Variable:
    # CC_KIND=callback, CC_CALLBACK_ID=…), without the prefix: {"KIND": "callback", …}.
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerIdentified(DomainEvent):
    """The caller identified themselves (IVR account number / PIN): pop as this customer."""

    kind: ClassVar[str] = "call.identified"
    customer_id: int
    method: str  # account | pin | operator


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrStep(DomainEvent):
    """One step of the caller in the IVR: a menu/node entered and what was pressed."""

    kind: ClassVar[str] = "call.ivr_step"
    menu: str  # menu file / dialplan context
    node: str  # node id / extension
    digits: str = ""  # digits entered at this step ("" for none)
    result: str = ""  # ok | invalid | timeout | hangup | lookup result name ...
    sensitive: bool = False  # digits were masked (card number, PIN)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallQueued(DomainEvent):
    kind: ClassVar[str] = "call.queued"
    queue: str
    position: int
    priority: int = 0
    count: int = 0  # callers in the queue including this one


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOffered(DomainEvent):
    """An operator's device starts ringing for this call: the moment to pop. A queue's
    AgentCalled, a plain Dial() of an operator (sticky, internal, a transfer target, a
    consultation), or the operator's own phone of a call they place (click-to-call)."""

    kind: ClassVar[str] = "call.offered"
    queue: str  # the queue that offers it; "" outside a queue
    interface: str  # queue member interface, e.g. PJSIP/101 or Local/101@agents
    member_name: str
    operator_leg_id: str = ""
    via: str = "queue"  # queue | direct | transfer | outbound
    # Operators who talked to the customer before this one, in order (interfaces).
    previous_operators: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRingNoAnswer(DomainEvent):
    kind: ClassVar[str] = "call.ring_no_answer"
    queue: str
    interface: str
    member_name: str
    ring_seconds: float
    via: str = "queue"  # queue | direct | transfer | outbound (see CallOffered)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered(DomainEvent):
    """An operator answered (AgentConnect, or a bridge to an operator outside a queue)."""

    kind: ClassVar[str] = "call.answered"
    queue: str
    interface: str
    member_name: str
    hold_seconds: float  # time waited in queue
    ring_seconds: float
    operator_leg_id: str = ""
    via: str = "queue"  # queue | direct | transfer | outbound (see CallOffered)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorFound(DomainEvent):
    """A resync found an operator talking to the caller: answered while no connector listened
    (a connector taking over), or before this one started. For the screen pop only (her card
    shows now if it was not shown): the call's figures and history come from its answer,
    announced by the connector that saw it, or from its end (``CallEnded`` carries who
    answered), so this counts nothing."""

    kind: ClassVar[str] = "call.operator_found"
    queue: str  # the queue the caller was in ("" when the lists do not say)
    interface: str
    member_name: str
    operator_leg_id: str
    rang_at: float  # when her phone began ringing (the listed channel's age)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorLeft(DomainEvent):
    """One operator's part of the call is over (they transferred it, hung up, or the caller
    did): their own talk time. A transferred call has one per operator who talked."""

    kind: ClassVar[str] = "call.operator_left"
    interface: str
    member_name: str
    via: str  # queue | direct | transfer | outbound
    queue: str = ""
    answered_at: float | None = None  # when this operator started talking to the customer
    talk_seconds: float = 0.0
    reason: str = ""  # caller | operator | transfer | ended
    operator_leg_id: str = ""
    recordings: list[str] = field(default_factory=list)  # files recording this operator
    # The leg's whole talk when it is more than ``talk_seconds``: an operator whose part the
    # queue ended as she went into a conference room, who then talked on there — this event
    # tells the part in the room, an earlier one the part before.
    leg_talk_seconds: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAbandoned(DomainEvent):
    kind: ClassVar[str] = "call.abandoned"
    queue: str
    position: int
    original_position: int
    hold_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallLeftQueue(DomainEvent):
    """The caller left a queue without an operator (timeout, exit key, leave-when-empty)."""

    kind: ClassVar[str] = "call.left_queue"
    queue: str
    reason: str  # timeout | exitempty | exitwithkey | ...
    hold_seconds: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CallHeld(DomainEvent):
    kind: ClassVar[str] = "call.held"
    held: bool  # True: put on hold, False: taken off hold
    channel: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsultationChanged(DomainEvent):
    """An attended transfer's consultation, as the transferring operator lives it: the
    consulted operator rings (``ringing``), talks to them with the caller on hold
    (``talking``), the transferring operator swapped back to the caller with the consulted
    one on hold (``with_caller``), then ``completed`` (the caller is theirs) or
    ``cancelled`` (the consulted operator is gone, the caller stays)."""

    kind: ClassVar[str] = "call.consultation"
    state: str  # ringing | talking | with_caller | completed | cancelled
    by_interface: str  # the transferring operator
    target_interface: str  # the consulted operator
    by_name: str = ""
    target_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTransferred(DomainEvent):
    kind: ClassVar[str] = "call.transferred"
    transfer_type: str  # blind | attended | redirect
    target: str  # extension, queue or interface the call went to
    by_interface: str = ""  # the operator who transferred
    target_context: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConferenceJoined(DomainEvent):
    kind: ClassVar[str] = "call.conference_joined"
    conference: str
    channel: str
    caller_number: str = ""
    caller_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConferenceLeft(DomainEvent):
    kind: ClassVar[str] = "call.conference_left"
    conference: str
    channel: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConferenceParticipantJoined(DomainEvent):
    """Someone entered the call's ConfBridge room (each participant, each time): the
    operator, the customer, a colleague or an outside number someone invited.

    ``participants``: everyone in the room now, this one included, as dicts with
    leg_id, role, name, number and interface (see :class:`ConferenceParticipantLeft`)."""

    kind: ClassVar[str] = "call.conference_participant_joined"
    conference: str
    channel: str
    role: str  # operator | customer | external
    name: str  # the operator's name, the customer's caller ID name, else the number
    number: str = ""
    interface: str = ""  # an operator's phone
    participants: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConferenceParticipantLeft(DomainEvent):
    """Someone left the call's room; ``participants``: who is still in it."""

    kind: ClassVar[str] = "call.conference_participant_left"
    conference: str
    channel: str
    role: str
    name: str
    number: str = ""
    interface: str = ""
    participants: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted(DomainEvent):
    kind: ClassVar[str] = "call.recording_started"
    file: str  # as Asterisk names it (MIXMONITOR_FILENAME), never user input
    channel: str = ""
    interface: str = ""  # the operator talking to the customer when it started ("" if none)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingMuted(DomainEvent):
    """Recording paused (muted) or resumed, e.g. while card data is spoken."""

    kind: ClassVar[str] = "call.recording_muted"
    muted: bool
    direction: str = "both"
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStopped(DomainEvent):
    kind: ClassVar[str] = "call.recording_stopped"
    file: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCompleted(DomainEvent):
    """The operator's part of a queue call ended (AgentComplete)."""

    kind: ClassVar[str] = "call.agent_completed"
    queue: str
    interface: str
    member_name: str
    hold_seconds: float
    talk_seconds: float
    reason: str  # caller | agent | transfer


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(DomainEvent):
    """The last channel of the call hung up: the call is over."""

    kind: ClassVar[str] = "call.ended"
    cause: int
    cause_txt: str = ""
    hung_up_by: str = ""  # caller | operator | system | ""
    outcome: str = ""  # answered | abandoned | ivr_only | unanswered | voicemail | supervision …
    talk_seconds: float = 0.0  # the customer's talk across every operator
    source: str = "ami"  # ami | cdr_csv | queue_log (closed from durable records after a gap)
    # What the call came to, so a consumer that missed the earlier events (the call was
    # answered while the connector was away) still records who took it and when.
    queue: str = ""
    interface: str = ""
    member_name: str = ""
    answered_at: float | None = None
    hold_seconds: float | None = None
    # Who the call was: outbound calls (click-to-call, callbacks) end with ``outcome`` one of
    # answered | no_answer | busy | failed | operator_no_answer; ``dialled`` is the
    # customer's number; ``tags`` the CC_* variables of the Originate (see CallArrived).
    direction: str = "inbound"  # inbound | outbound | internal | supervisor (ChanSpy)
    dialled: str = ""
    tags: dict[str, str] = field(default_factory=dict)


# --- operators (queue members) --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorState(DomainEvent):
    """A queue member's state in one queue (QueueMemberAdded/Status/Pause/Removed)."""

    kind: ClassVar[str] = "operator.state"
    queue: str
    interface: str
    member_name: str
    logged_in: bool
    paused: bool
    pause_reason: str = ""
    device_status: int = 0  # Asterisk device state number: 1 not in use, 2 in use, 6 ringing …
    in_call: bool = False
    calls_taken: int = 0
    penalty: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSnapshot(DomainEvent):
    """A queue's live state as Asterisk reports it (QueueStatus after a (re)connect).

    ``members``: one dict per QueueMember — interface, member_name, paused, pause_reason,
    in_call, calls_taken. ``entries``: one dict per QueueEntry — call_id (Linkedid), position,
    wait_seconds. Consumers replace their live view of the queue with it (stats rebuild).
    """

    kind: ClassVar[str] = "queue.snapshot"
    queue: str
    members: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)


# --- non-AMI facts that join the same stream --------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorAction(DomainEvent):
    """Something an operator or supervisor did (note, disposition, transfer click, pause…)."""

    kind: ClassVar[str] = "operator.action"
    user: str
    action: str
    detail: dict[str, Any] = field(default_factory=dict)
    customer_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorCommand(DomainEvent):
    """A request from the console or wallboard that only the connector can carry out
    (it holds the AMI connection): state changes, transfers, conference, supervision.

    What was actually done is logged afterwards as an :class:`OperatorAction`.
    """

    kind: ClassVar[str] = "operator.command"
    user: str
    role: str
    interface: str
    command: str  # available | pause | offline | blind_transfer | attended_transfer | ...
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRequested(DomainEvent):
    kind: ClassVar[str] = "call.callback_requested"
    number: str
    queue: str = ""
    customer_id: int | None = None
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingDecided(DomainEvent):
    kind: ClassVar[str] = "call.routing_decided"
    queue: str
    priority: int
    reason: str
    preferred_interface: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCharged(DomainEvent):
    """A finished call was rated (added by integrations: billing publishes it for webhooks).

    The charge row is already stored by billing; history consumers may skip this event.
    """

    kind: ClassVar[str] = "call.charged"
    amount: str  # Decimal as a string: no precision lost in JSON
    currency: str
    plan: str = ""
    billed_seconds: int = 0
    customer_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingReady(DomainEvent):
    """A call's recording was post-processed and can be played (added by integrations)."""

    kind: ClassVar[str] = "recording.ready"
    recording_id: int
    duration_seconds: float = 0.0
    format: str = ""


def _register(namespace: dict[str, Any]) -> None:
    # slots=True dataclasses are re-created classes, so __init_subclass__ would see the
    # pre-slots class; registering the module's final names avoids that.
    for obj in list(namespace.values()):
        if isinstance(obj, type) and issubclass(obj, DomainEvent) and obj is not DomainEvent:
            if obj.kind in EVENT_TYPES:
                raise TypeError(f"duplicate domain event kind {obj.kind!r}")
            EVENT_TYPES[obj.kind] = obj


_register(globals())


def to_dict(event: DomainEvent) -> dict[str, Any]:
    """A JSON-ready dict with the event kind under ``"kind"``."""
    data: dict[str, Any] = msgspec.to_builtins(event)
    data["kind"] = event.kind
    return data


def from_dict(data: dict[str, Any]) -> DomainEvent:
    """Rebuild an event from :func:`to_dict` output, validated; unknown fields are ignored.

    Raises :class:`MalformedEvent` for an unknown kind or a missing or mistyped field."""
    if not isinstance(data, dict):
        raise MalformedEvent(f"a domain event is a JSON object, not {type(data).__name__}")
    kind = data.get("kind")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        if MALFORMED in data:
            raise MalformedEvent(str(data[MALFORMED]))
        raise MalformedEvent(f"unknown domain event kind {kind!r}")
    try:
        return msgspec.convert(data, cls)
    except msgspec.ValidationError as exc:
        raise MalformedEvent(f"{kind}: {exc}") from None
