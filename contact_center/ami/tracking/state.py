"""The tracker's working state: calls, their legs and operator legs (mutable, owned by one
tracker), the snapshots they hand out, and the few facts of our dialplan the tracker relies on.

A call (``Call``) is a Linkedid; its channels are ``Leg``s; each operator who rings for it has
an ``OperatorLeg`` — offered, answered (talking to the customer), left — whatever brought them
(a queue, a plain ``Dial()``, a transfer, a consultation, a call they placed). The call's talk
is the customer's talk across its operators; each operator leg has its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from contact_center.ami.parser import Frame
from contact_center.calls.model import CallState, LegState, OperatorLegState, TransferState

UNKNOWN = "<unknown>"
IVR_APPLICATIONS = ("BackGround", "Background", "Read", "WaitExten", "AGI", "EAGI")
AGI_APPLICATIONS = ("AGI", "EAGI")
# Calls we originate to a customer (click-to-call, callbacks) run this dialplan context; its
# ``Dial`` step names the dialled number. Our Originate tags the first channel's Uniqueid with
# OUTBOUND_ID_PREFIX (``ChannelId``), so the call is known to be outbound from its Newchannel.
ORIGINATE_CONTEXT = "cc-originate"
OUTBOUND_ID_PREFIX = "cc-out-"
# Any other call we originate (a supervisor's ChanSpy, a conference invitation) starts with
# this prefix: what it is shows only once its dialplan runs, so it is announced then.
PLACED_ID_PREFIX = "cc-"
SUPERVISOR_CONTEXT = "supervisor"  # deploy/asterisk/extensions.conf [supervisor]: ChanSpy
VOICEMAIL_CONTEXT = "voicemail"  # deploy/asterisk/extensions.conf [voicemail]: VoiceMail()
TAG_PREFIX = "CC_"  # channel variables we carry on the call (CC_KIND, CC_CALLBACK_ID …)
RECENT_ENDED = 10_000  # ended calls kept for late frames and for replay
# Calls someone calls in: a customer (inbound) or an operator's own phone (internal); the
# operators they ring are operator legs.
ANSWERING = ("inbound", "internal")


@dataclass(frozen=True, slots=True)
class LiveChannels:
    """The channels of a live call that actions act on (transfer, hang-up, conference)."""

    call_id: str
    caller_channel: str  # the leg the PBX runs the call on (the one that ran Queue())
    operator_channel: str  # the operator leg bridged to it now ("" while nobody holds it)
    operator_interface: str  # the operator who holds the call now, or the originated device
    queue: str
    direction: str  # inbound | outbound | supervisor
    consulting: str = ""  # the operator an attended transfer consults now ("" when none)
    room: str = ""  # the ConfBridge room the operator's channel is in now ("" when none)


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """A finished call as Asterisk's durable records (cdr_csv, queue_log) tell it."""

    call_id: str
    started_at: float
    ended_at: float
    source: str  # cdr_csv | queue_log | resync
    caller_number: str = ""
    caller_name: str = ""
    did: str = ""
    queue: str = ""
    agent: str = ""
    answered_at: float | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    outcome: str = ""
    cause: int = 0


@dataclass(frozen=True, slots=True)
class QueueProgress:
    """How far a call still in a queue got, as the ``queue_log`` file tells it (ENTERQUEUE,
    CONNECT): what a tracker that started mid-call cannot learn from the event stream."""

    leg_id: str  # queue_log callid: the Uniqueid of the channel that ran Queue()
    queue: str
    entered_at: float
    member_name: str = ""  # the operator who answered ("" while still waiting)
    connected_at: float | None = None
    hold_seconds: float | None = None


def identity(raw: str) -> str:
    return raw


def clean(value: str) -> str:
    return "" if value == UNKNOWN else value


def to_float(value: str, default: float = 0.0) -> float:
    try:
        return float(value)
    except ValueError:
        return default


def to_int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def device_of(channel: str) -> str:
    """``PJSIP/101-0000002a`` → ``PJSIP/101``; ``Local/101@agents-00000001;1`` →
    ``Local/101@agents`` (the interface an Originate or a queue member names)."""
    name = channel.split(";", 1)[0]
    head, sep, tail = name.rpartition("-")
    # a tail of lowercase hex digits only: nothing left once they are stripped
    return head if sep and tail and not tail.lstrip("0123456789abcdef") else name


def pair_of(channel: str) -> str:
    """The Local channel pair a half belongs to (``Local/x@ctx-00000003;2`` → without
    ``;2``); any other channel is its own pair."""
    return channel.split(";", 1)[0]


@dataclass(frozen=True, slots=True)
class Participant:
    """One person in a call's conference room."""

    leg_id: str
    channel: str
    role: str  # operator | customer | external
    name: str
    number: str = ""
    interface: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "leg_id": self.leg_id,
            "role": self.role,
            "name": self.name,
            "number": self.number,
            "interface": self.interface,
        }


class Leg:
    __slots__ = (
        "awaiting_recording",
        "cause",
        "channel",
        "context",
        "ended_at",
        "exten",
        "in_conference",
        "leg_id",
        "name",
        "number",
        "pending_recording",
        "role",
        "started_at",
        "state",
    )  # fmt: skip

    def __init__(self, leg_id: str, channel: str, at: float) -> None:
        self.leg_id = leg_id
        self.channel = channel
        self.role = "other"  # caller (the customer's side) | operator | other
        self.state = "Down"
        self.number = ""
        self.name = ""
        self.context = ""
        self.exten = ""
        self.started_at = at
        self.ended_at: float | None = None
        self.cause: int | None = None
        self.pending_recording = ""
        self.awaiting_recording = False  # MixMonitorStart came before its VarSet
        self.in_conference = False

    def snapshot(self) -> LegState:
        return LegState(
            leg_id=self.leg_id,
            channel=self.channel,
            role=self.role,
            state="Hungup" if self.ended_at is not None else self.state,
            caller_number=self.number,
            caller_name=self.name,
            started_at=self.started_at,
            ended_at=self.ended_at,
            cause=self.cause,
        )


class OperatorLeg:
    """One operator's part of a call, from the ring to the moment they left the customer."""

    __slots__ = (
        "answered_at",
        "channel",
        "consult_pair",
        "consulting",
        "earlier_talk",
        "ended_at",
        "from_records",
        "hold",
        "interface",
        "leg_id",
        "member_name",
        "offered_at",
        "picked_up_at",
        "queue",
        "reason",
        "recordings",
        "rejoined_at",
        "rejoins",
        "talk",
        "via",
    )  # fmt: skip

    def __init__(
        self, leg_id: str, channel: str, interface: str, member_name: str, at: float
    ) -> None:
        self.leg_id = leg_id
        self.channel = channel
        self.interface = interface
        self.member_name = member_name
        self.queue = ""
        self.via = "queue"
        self.offered_at = at
        self.picked_up_at: float | None = None  # the phone answered (maybe not the customer)
        self.answered_at: float | None = None  # started talking to the customer
        self.ended_at: float | None = None
        self.talk: float | None = None
        self.hold: float | None = None
        self.reason = ""
        self.recordings: list[str] = []
        # A consultation: the Local pair (``Local/103@transfer-targets-…``) that dialled (or
        # queued for) this operator for the transferring one; the customer joins at the
        # AttendedTransfer, until then ``consulting``.
        self.consult_pair = ""
        self.consulting = False
        self.from_records = False  # learnt from queue_log: whole seconds, talk from Asterisk
        # Her part was ended (the queue's AgentComplete as both went into a conference room)
        # and she talks on in the room: from when, how often, and her talk before.
        self.rejoined_at: float | None = None
        self.rejoins = 0
        self.earlier_talk = 0.0

    @property
    def talking(self) -> bool:
        return self.answered_at is not None and self.ended_at is None

    def snapshot(self) -> OperatorLegState:
        return OperatorLegState(
            leg_id=self.leg_id,
            interface=self.interface,
            member_name=self.member_name,
            via=self.via,
            queue=self.queue,
            offered_at=self.offered_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            talk_seconds=self.talk,
            hold_seconds=self.hold,
            reason=self.reason,
            recordings=tuple(self.recordings),
        )


class Call:
    __slots__ = (
        "abandoned",
        "agent",
        "agent_interface",
        "answered_at",
        "arrived",
        "call_id",
        "caller_leg",
        "cause",
        "cause_txt",
        "conf_joined_at",
        "conf_talk",
        "conference",
        "connected_at",
        "consult_state",
        "current",
        "customer_leg",
        "customer_status",
        "did",
        "direction",
        "dtmf",
        "ended_at",
        "first_hangup_role",
        "held",
        "held_ring",
        "home_bridge",
        "hung_up_by",
        "in_agi",
        "ivr_digits",
        "left_queue_at",
        "legs",
        "name",
        "number",
        "number_raw",
        "offered_to",
        "operator_leg",
        "operators",
        "outcome",
        "participants",
        "pbx_answered",
        "pending_move",
        "phase",
        "queue",
        "queue_answered",
        "queued_at",
        "recording_spans",
        "recordings",
        "started_at",
        "tags",
        "talk",
        "transfer_log",
        "voicemail",
        "wait",
    )  # fmt: skip

    def __init__(self, call_id: str, at: float) -> None:
        self.call_id = call_id
        self.started_at = at
        self.legs: dict[str, Leg] = {}
        self.arrived = False
        self.number_raw = ""
        self.number = ""
        self.name = ""
        self.did = ""
        self.direction = "inbound"
        self.caller_leg = ""  # Uniqueid of the customer's leg the PBX runs (Queue(), Dial())
        self.operator_leg = ""  # Uniqueid of the first operator leg that answered
        self.current = ""  # the operator leg talking to the customer now
        self.operators: dict[str, OperatorLeg] = {}  # by the operator leg's Uniqueid
        self.phase = "arrived"
        self.pbx_answered = False
        self.queue = ""
        self.queued_at: float | None = None
        self.left_queue_at: float | None = None
        self.queue_answered = False  # the current queue visit reached an operator
        self.abandoned = False
        self.wait: float | None = None
        self.offered_to: list[str] = []
        # How the call was taken: its queue, the first operator who answered and the wait
        # until then; each operator's own part is in ``operators``.
        self.agent = ""
        self.agent_interface = ""
        self.answered_at: float | None = None
        self.connected_at: float | None = None
        self.talk: float | None = None
        self.conf_talk: float | None = None
        self.ivr_digits = ""
        self.dtmf: list[tuple[float, str]] = []  # (Asterisk time, digit) of the IVR's keys
        self.in_agi = False  # a FastAGI IVR reads the digits (and records them itself)
        self.transfer_log: list[TransferState] = []
        # An operator left while the customer stayed and no transfer event said why (an AMI
        # Redirect says nothing): the customer's next ring or queue is that redirect's target.
        self.pending_move = False
        self.conference = ""
        self.conf_joined_at: float | None = None
        # who is in the call's conference room now, by leg (guests' legs too), in join order
        self.participants: dict[str, Participant] = {}
        self.recordings: list[str] = []
        self.recording_spans: dict[str, list[float | None]] = {}  # file → [start, stop]
        self.cause: int | None = None
        self.cause_txt = ""
        self.first_hangup_role = ""
        self.hung_up_by = ""
        self.held = False
        # the bridge the customer is in (BridgeEnter), and where an attended transfer's
        # consultation stands for the transferring operator ("" when none)
        self.home_bridge = ""
        self.consult_state = ""
        self.ended_at: float | None = None
        self.outcome = ""
        self.voicemail = False
        self.tags: dict[str, str] = {}
        self.customer_leg = ""  # outbound: the customer's channel we dialled
        self.customer_status = ""  # outbound: DialEnd DialStatus of the customer's leg
        # outbound: the operator's phone rings before we know whom they will call (our
        # Originate's CallerID or CC_NUMBER names the customer): the offer waits for it
        self.held_ring: Frame | None = None

    @property
    def transfers(self) -> list[str]:
        return [t.target for t in self.transfer_log]

    def talked(self) -> list[OperatorLeg]:
        return [op for op in self.operators.values() if op.answered_at is not None]

    def snapshot(self, server: str) -> CallState:
        return CallState(
            server=server,
            call_id=self.call_id,
            phase=self.phase,
            caller_number=self.number,
            caller_number_raw=self.number_raw,
            caller_name=self.name,
            did=self.did,
            started_at=self.started_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            queue=self.queue,
            queued_at=self.queued_at,
            wait_seconds=self.wait,
            agent=self.agent,
            agent_interface=self.agent_interface,
            offered_to=tuple(self.offered_to),
            outcome=self.outcome,
            ivr_digits=self.ivr_digits,
            transfers=tuple(self.transfers),
            conference=self.conference,
            recording=self.recordings[0] if self.recordings else "",
            recordings=tuple(self.recordings),
            talk_seconds=self.talk,
            hangup_cause=self.cause,
            hung_up_by=self.hung_up_by,
            held=self.held,
            legs=tuple(leg.snapshot() for leg in self.legs.values()),
            direction=self.direction,
            operators=tuple(op.snapshot() for op in self.operators.values()),
            transfer_log=tuple(self.transfer_log),
            tags=tuple(sorted(self.tags.items())),
        )


def consulted_by(call: Call) -> OperatorLeg | None:
    """The operator an attended transfer is consulting now (ringing or talking to the
    transferring operator, not yet to the customer)."""
    for op in reversed(list(call.operators.values())):
        if op.consulting and op.ended_at is None:
            return op
    return None


# The customer leg's DialEnd DialStatus → the outcome of a call we placed.
OUTBOUND_OUTCOMES = {
    "ANSWER": "answered",
    "NOANSWER": "no_answer",
    "CANCEL": "no_answer",  # the operator gave up while the customer's phone rang
    "BUSY": "busy",
    "CHANUNAVAIL": "failed",
    "CONGESTION": "failed",
}


def outbound_outcome(call: Call) -> str:
    """answered | no_answer | busy | failed | operator_no_answer (the contract of CallEnded
    for click-to-call and callbacks)."""
    if call.connected_at is not None:
        return "answered"
    if call.customer_status:
        return OUTBOUND_OUTCOMES.get(call.customer_status, "failed")
    operator = call.operators.get(call.call_id)
    if operator is None or operator.picked_up_at is None:
        return "operator_no_answer"
    return "failed"  # the operator answered but the customer was never dialled
