"""The tracker's working state and what every concern shares.

A call (``Call``) is a Linkedid; its channels are ``Leg``s; each operator who rings for it has
an ``OperatorLeg`` — offered, answered (talking to the customer), left — whatever brought them
(a queue, a plain ``Dial()``, a transfer, a consultation, a call they placed). The call's talk
is the customer's talk across its operators; each operator leg has its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from contact_center.ami.parser import Frame
from contact_center.calls import events as ev
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

Handler = Callable[[Any, Frame, list[ev.DomainEvent]], None]
F = TypeVar("F", bound=Callable[..., None])


def handles(*names: str) -> Callable[[F], F]:
    """Mark a tracker method as the handler of these AMI events (see ``handler_table``)."""

    def mark(method: F) -> F:
        method.__tracked_events__ = names  # type: ignore[attr-defined]
        return method

    return mark


def handler_table(cls: type) -> dict[str, tuple[str, ...]]:
    """Event name → the names of the methods that handle it, base classes first."""
    table: dict[str, list[str]] = {}
    for klass in reversed(cls.__mro__):
        for name, member in vars(klass).items():
            for event in getattr(member, "__tracked_events__", ()):
                if name not in table.setdefault(event, []):
                    table[event].append(name)
    return {event: tuple(names) for event, names in table.items()}


@dataclass(frozen=True, slots=True)
class LiveChannels:
    """The channels of a live call that actions act on (transfer, hang-up, conference)."""

    call_id: str
    caller_channel: str  # the leg the PBX runs the call on (the one that ran Queue())
    operator_channel: str  # the operator leg bridged to it now ("" while nobody holds it)
    operator_interface: str  # the operator who holds the call now, or the originated device
    queue: str
    direction: str  # inbound | outbound | supervisor


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
    return head if sep and tail and all(c in "0123456789abcdef" for c in tail) else name


def pair_of(channel: str) -> str:
    """The Local channel pair a half belongs to (``Local/x@ctx-00000003;2`` → without
    ``;2``); any other channel is its own pair."""
    return channel.split(";", 1)[0]


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
        "current",
        "customer_leg",
        "customer_status",
        "did",
        "direction",
        "ended_at",
        "first_hangup_role",
        "held",
        "held_ring",
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
        self.in_agi = False  # a FastAGI IVR reads the digits (and records them itself)
        self.transfer_log: list[TransferState] = []
        # An operator left while the customer stayed and no transfer event said why (an AMI
        # Redirect says nothing): the customer's next ring or queue is that redirect's target.
        self.pending_move = False
        self.conference = ""
        self.conf_joined_at: float | None = None
        self.recordings: list[str] = []
        self.recording_spans: dict[str, list[float | None]] = {}  # file → [start, stop]
        self.cause: int | None = None
        self.cause_txt = ""
        self.first_hangup_role = ""
        self.hung_up_by = ""
        self.held = False
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


class TrackerCore:
    """State and plumbing shared by every concern of the tracker."""

    def __init__(self, server_id: str, normalize: Callable[[str], str] = identity) -> None:
        self.server_id = server_id
        self.normalize = normalize
        self._calls: dict[str, Call] = {}
        self._ended: OrderedDict[str, Call] = OrderedDict()
        self._leg_call: dict[str, str] = {}  # Uniqueid -> Linkedid
        self._members: dict[tuple[str, str], ev.OperatorState] = {}
        self._member_names: dict[str, str] = {}  # interface → name, kept after removal
        self._queue_progress: dict[str, QueueProgress] = {}  # by queue leg, not yet applied
        self._rooms_left_to_operators: list[str] = []
        # consultation legs queued by an attended transfer into a queue: leg → queue
        self._consultations: dict[str, str] = {}
        self._seq = 0

    # --- events -------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _base(
        self, call_id: str, leg_id: str, kind: str, stamp: str, *extra: str, once: bool = False
    ) -> dict[str, Any]:
        # ``once``: the fact happens once per call (arrival, end) whatever the source says
        # about its time — so a call closed by resync and by the live stream has one key.
        key_parts = extra if once else (stamp, *extra)
        return {
            "server": self.server_id,
            "call_id": call_id,
            "leg_id": leg_id,
            "at": to_float(stamp),
            "seq": self._next_seq(),
            "key": ev.make_key(self.server_id, call_id, leg_id, kind, *key_parts),
        }

    # --- calls and legs -----------------------------------------------------------------

    def _call_for(self, frame: Frame, create: bool = False) -> Call | None:
        h = frame.headers
        call_id = (
            h.get("Linkedid")
            or self._leg_call.get(h.get("Uniqueid", ""), "")
            or h.get("DestLinkedid", "")  # an AgentComplete may carry only the Dest* side
        )
        if not call_id or call_id in self._ended:
            return None
        call = self._calls.get(call_id)
        if call is None and create:
            call = Call(call_id, frame.timestamp)
            self._calls[call_id] = call
        return call

    def _leg_for(self, call: Call, frame: Frame, prefix: str = "") -> Leg | None:
        h = frame.headers
        leg_id = h.get(prefix + "Uniqueid", "")
        if not leg_id:
            return None
        leg = call.legs.get(leg_id)
        if leg is None:
            leg = Leg(leg_id, h.get(prefix + "Channel", ""), frame.timestamp)
            if leg_id == call.call_id:
                leg.role = "operator" if call.direction == "outbound" else "caller"
            call.legs[leg_id] = leg
            self._leg_call[leg_id] = call.call_id
            progress = self._queue_progress.pop(leg_id, None)
            if progress is not None:
                self._apply_progress(call, progress)
        return leg

    def _apply_progress(self, call: Call, progress: QueueProgress) -> None:
        raise NotImplementedError  # records.RecordEvents

    def _update_leg(self, call: Call, leg: Leg, frame: Frame, prefix: str = "") -> None:
        h = frame.headers
        state = h.get(prefix + "ChannelStateDesc")
        if state and leg.ended_at is None:
            leg.state = state
            if state == "Up" and leg.role != "operator":
                call.pbx_answered = True
        number = clean(h.get(prefix + "CallerIDNum", ""))
        if number:
            leg.number = number
            leg.name = clean(h.get(prefix + "CallerIDName", ""))
        leg.context = h.get(prefix + "Context", leg.context)
        leg.exten = h.get(prefix + "Exten", leg.exten)
        if leg.context == VOICEMAIL_CONTEXT and self._customer_side(call, leg):
            call.voicemail = True

    @staticmethod
    def _customer_side(call: Call, leg: Leg) -> bool:
        """The customer's own leg, or the PBX half of the customer's Local channel (the one
        that runs the dialplan: Queue(), Dial())."""
        if leg.role == "caller" or leg.leg_id == call.caller_leg:
            return True
        root = call.legs.get(call.call_id)
        return (
            call.direction in ANSWERING
            and root is not None
            and bool(leg.channel)
            and pair_of(leg.channel) == pair_of(root.channel)
        )

    @staticmethod
    def _customer_gone(call: Call) -> bool:
        return any(leg.ended_at is not None for leg in call.legs.values() if leg.role == "caller")

    def _ensure_arrived(
        self, call: Call, frame: Frame, out: list[ev.DomainEvent], force: bool
    ) -> None:
        if call.arrived:
            return
        if call.direction == "outbound" and not call.did and not force:
            return  # wait for the dialplan (or our tags) to name the dialled number
        placed = call.call_id.startswith(PLACED_ID_PREFIX) and call.direction in ANSWERING
        if placed and not force:
            return  # one of our own Originates: what it is shows when its dialplan runs
        root = call.legs.get(call.call_id)
        source = root if root is not None and root.number else None
        if source is None:
            source = next(
                (leg for leg in call.legs.values() if leg.number and leg.role != "operator"), None
            )
        if source is None and not force:
            return
        call.arrived = True
        number = ""
        if call.direction == "outbound":
            number = call.did  # the customer's; our Originate's own legs tell nothing else
        elif source is not None:
            number = source.number
            call.name = source.name
        call.number_raw = number
        call.number = self.normalize(number) if number else ""
        channel = root.channel if root is not None else ""
        interface = device_of(channel) if call.direction == "outbound" else ""
        base = self._base(
            call.call_id, call.call_id, ev.CallArrived.kind, f"{call.started_at:.6f}", once=True
        )
        out.append(
            ev.CallArrived(
                **base,
                caller_number=call.number,
                caller_number_raw=call.number_raw,
                caller_name=call.name,
                did=call.did,
                channel=channel,
                direction=call.direction,
                operator_interface=interface,
                operator_name=self._member_name(interface) if interface else "",
                tags=dict(call.tags),
            )
        )

    def _is_operator_device(self, interface: str) -> bool:
        """A queue member's phone (now, or earlier in this process)."""
        return interface in self._member_names or any(
            member_interface == interface for (_queue, member_interface) in self._members
        )

    def _member_name(self, interface: str) -> str:
        """The operator's queue member name (also outside queues: a direct ring, a transfer)."""
        for (_queue, member_interface), member in self._members.items():
            if member_interface == interface and member.member_name:
                return member.member_name
        return self._member_names.get(interface, "")

    # --- operator legs ------------------------------------------------------------------

    def _ring_placed_call(self, call: Call, out: list[ev.DomainEvent]) -> None:
        """A call we placed: the operator's phone rings — offer it once the customer's
        number is known, so the pop shows the customer's card while the phone rings."""
        frame = call.held_ring
        if frame is None or call.direction != "outbound":
            return
        if not call.did:
            root = call.legs.get(call.call_id)
            call.did = call.tags.get("NUMBER") or (root.number if root is not None else "")
        if not call.did:
            return
        call.held_ring = None
        self._ensure_arrived(call, frame, out, force=True)
        interface = device_of(frame.get("DestChannel"))
        op = self._open_operator(
            call, frame, out, interface=interface, member_name=self._member_name(interface),
            via="outbound",
        )  # fmt: skip
        if op is not None and call.customer_leg:
            op.picked_up_at = op.picked_up_at or frame.timestamp

    def _open_operator(
        self,
        call: Call,
        frame: Frame,
        out: list[ev.DomainEvent],
        *,
        interface: str,
        member_name: str,
        via: str,
        queue: str = "",
    ) -> OperatorLeg | None:
        """The operator leg ``Dest*`` of ``frame`` rings: offer the call (the pop's moment)."""
        leg = self._leg_for(call, frame, prefix="Dest")
        if leg is None:
            return None
        leg.role = "operator"
        op = call.operators.get(leg.leg_id)
        if op is not None:
            return op
        op = OperatorLeg(
            leg.leg_id, leg.channel or frame.get("DestChannel"), interface, member_name,
            frame.timestamp,
        )  # fmt: skip
        op.via = via
        op.queue = queue
        previous = [o.interface for o in call.talked()]
        call.operators[leg.leg_id] = op
        call.offered_to.append(interface)
        self._ensure_arrived(call, frame, out, force=True)
        if call.phase in ("arrived", "ivr", "queued"):
            call.phase = "offered"
        base = self._base(
            call.call_id, frame.get("Uniqueid"), ev.CallOffered.kind, frame.get("Timestamp"),
            interface,
        )  # fmt: skip
        out.append(
            ev.CallOffered(
                **base,
                queue=queue,
                interface=interface,
                member_name=member_name,
                operator_leg_id=leg.leg_id,
                via=via,
                previous_operators=previous,
            )
        )
        return op

    def _connect_operator(
        self,
        call: Call,
        op: OperatorLeg,
        frame: Frame,
        out: list[ev.DomainEvent],
        *,
        hold: float,
        ring: float,
    ) -> None:
        """The customer now talks to ``op`` (answered, or joined by a transfer)."""
        if op.answered_at is not None:
            return
        at = frame.timestamp
        op.answered_at = at
        op.hold = hold
        first = call.connected_at is None
        call.current = op.leg_id
        if first:
            call.connected_at = at
            call.agent = op.member_name or op.interface
            call.agent_interface = op.interface
            call.operator_leg = op.leg_id
            call.wait = hold if op.via == "queue" else call.wait
        if call.answered_at is None:
            call.answered_at = at
        if op.via == "queue":
            call.queue_answered = True
            if first:
                call.queue = op.queue or call.queue
        call.phase = "connected"
        base = self._base(
            call.call_id, frame.get("Uniqueid"), ev.CallAnswered.kind, frame.get("Timestamp"),
            op.interface,
        )  # fmt: skip
        out.append(
            ev.CallAnswered(
                **base,
                queue=op.queue,
                interface=op.interface,
                member_name=op.member_name,
                hold_seconds=hold,
                ring_seconds=ring,
                operator_leg_id=op.leg_id,
                via=op.via,
            )
        )

    def _stop_operator(
        self,
        call: Call,
        op: OperatorLeg,
        at: float,
        stamp: str,
        out: list[ev.DomainEvent],
        *,
        reason: str,
        talk: float | None = None,
    ) -> None:
        """``op`` no longer talks to the customer (or stopped ringing): their own talk."""
        if op.ended_at is not None:
            return
        op.ended_at = at
        if op.answered_at is None:
            return
        op.talk = talk if talk is not None else max(0.0, at - op.answered_at)
        op.reason = reason
        op.recordings = self._recordings_during(call, op.answered_at, at)
        if call.current == op.leg_id:
            call.current = ""
        if reason in ("caller", "operator"):
            call.hung_up_by = reason
        # the customer stays without a transfer event: a Redirect (its AgentComplete may say
        # "caller" at once, or only at the very end — capture 18); their next ring tells
        call.pending_move = reason != "transfer" and not self._customer_gone(call)
        base = self._base(call.call_id, op.leg_id, ev.OperatorLeft.kind, stamp, once=True)
        out.append(
            ev.OperatorLeft(
                **base,
                interface=op.interface,
                member_name=op.member_name,
                via=op.via,
                queue=op.queue,
                answered_at=op.answered_at,
                talk_seconds=op.talk,
                reason=reason,
                operator_leg_id=op.leg_id,
                recordings=list(op.recordings),
            )
        )

    @staticmethod
    def _recordings_during(call: Call, start: float, stop: float) -> list[str]:
        return [
            file
            for file, (began, ended) in call.recording_spans.items()
            if began is not None and began <= stop and (ended is None or ended >= start)
        ]

    def _operator_by_channel(
        self, call: Call, channel: str, leg_id: str = ""
    ) -> OperatorLeg | None:
        if leg_id and leg_id in call.operators:
            return call.operators[leg_id]
        for op in reversed(list(call.operators.values())):
            if channel and op.channel == channel:
                return op
        return None

    def _record_transfer(
        self,
        call: Call,
        frame: Frame,
        out: list[ev.DomainEvent],
        transfer: TransferState,
        context: str,
    ) -> None:
        call.transfer_log.append(transfer)
        call.pending_move = False
        base = self._base(
            call.call_id, "", ev.CallTransferred.kind, frame.get("Timestamp"), transfer.target
        )
        out.append(
            ev.CallTransferred(
                **base,
                transfer_type=transfer.kind,
                target=transfer.target,
                target_context=context,
                by_interface=transfer.by,
            )
        )

    # --- the end ------------------------------------------------------------------------

    def _end(
        self,
        call: Call,
        at: float,
        stamp: str,
        out: list[ev.DomainEvent],
        *,
        source: str,
        outcome: str = "",
    ) -> None:
        call.ended_at = at
        call.phase = "ended"
        if call.agent and not call.agent_interface:
            # learnt from queue_log (MemberName) before QueueStatus named the members
            call.agent_interface = self._interface_of(call.queue, call.agent)
        if call.queued_at is not None and call.connected_at is None and not call.abandoned:
            if call.left_queue_at is None:
                call.abandoned = True  # the caller hung up while still waiting
                call.wait = at - call.queued_at
            else:
                base = self._base(call.call_id, "", ev.CallLeftQueue.kind, stamp)
                out.append(
                    ev.CallLeftQueue(
                        **base, queue=call.queue, reason="exit", hold_seconds=call.wait or 0.0
                    )
                )
        for op in list(call.operators.values()):
            if op.talking:
                reason = "caller" if self._customer_gone(call) else "ended"
                self._stop_operator(call, op, at, stamp, out, reason=reason)
        if call.talk is None:
            talks = [op.talk for op in call.talked() if op.talk is not None]
            if talks:
                call.talk = sum(talks)
            elif call.conf_talk is not None:
                call.talk = call.conf_talk
            elif call.connected_at is not None:
                call.talk = max(0.0, at - call.connected_at)
        call.outcome = outcome or self._outcome(call)
        if not call.hung_up_by:
            call.hung_up_by = call.first_hangup_role or "system"
        base = self._base(call.call_id, "", ev.CallEnded.kind, stamp, once=True)
        out.append(
            ev.CallEnded(
                **base,
                cause=call.cause if call.cause is not None else 0,
                cause_txt=call.cause_txt,
                hung_up_by=call.hung_up_by,
                outcome=call.outcome,
                talk_seconds=call.talk or 0.0,
                source=source,
                queue=call.queue,
                interface=call.agent_interface,
                member_name=call.agent if call.connected_at is not None else "",
                answered_at=call.answered_at,
                hold_seconds=call.wait,
                direction=call.direction,
                dialled=call.did if call.direction == "outbound" else "",
                tags=dict(call.tags),
            )
        )
        if call.conference and any(
            leg.ended_at is None and leg.in_conference for leg in call.legs.values()
        ):
            self._rooms_left_to_operators.append(call.conference)
        del self._calls[call.call_id]
        for leg_id in call.legs:
            self._leg_call.pop(leg_id, None)
            self._consultations.pop(leg_id, None)
        self._ended[call.call_id] = call
        if len(self._ended) > RECENT_ENDED:
            self._ended.popitem(last=False)

    @staticmethod
    def _outcome(call: Call) -> str:
        if call.direction == "supervisor":
            return "supervision"
        if call.direction == "outbound":
            return outbound_outcome(call)
        if call.connected_at is not None:
            return "answered"
        if call.voicemail:
            return "voicemail"
        if call.abandoned:
            return "abandoned"
        if call.queued_at is not None:
            return "unanswered"  # left the queue without an operator (timeout, exit)
        if call.pbx_answered:
            return "ivr_only"
        return "unanswered"

    def _interface_of(self, queue: str, member_name: str) -> str:
        """queue_log names the operator by MemberName; the interface is what we key on."""
        for (member_queue, interface), state in self._members.items():
            if state.member_name == member_name and member_queue == queue:
                return interface
        for (_queue, interface), state in self._members.items():
            if state.member_name == member_name:
                return interface
        return ""


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
