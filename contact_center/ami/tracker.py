"""AMI frames → the lifecycle of every call on one Asterisk server, as typed domain events.

A call is keyed by (server, ``Linkedid``); its legs by ``Uniqueid``. The tracker is pure and
synchronous: ``feed(frame)`` returns the domain events that frame caused. The same tracker runs
live (connector) and offline (``contact-center replay``), so a capture replayed gives the very
events — with the very idempotency keys — that the live service produced.

Robustness rules, because the AMI stream is not a clean log:
- a duplicated frame (same event, Asterisk timestamp and identities) is dropped;
- a frame for a call that already ended is ignored (it must not resurrect the call);
- a leg hung up before its ``Newchannel`` arrived stays hung up;
- state transitions are idempotent (a second ``AgentConnect`` for the same operator leg, a second
  ``Hangup`` for a leg, … change nothing and emit nothing).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from contact_center.ami.parser import EVENT, Frame, FrameFilter
from contact_center.calls import events as ev
from contact_center.calls.model import CallState, LegState

log = logging.getLogger(__name__)

UNKNOWN = "<unknown>"
IVR_APPLICATIONS = ("BackGround", "Background", "Read", "WaitExten", "AGI", "EAGI")
# Calls we originate to a customer (click-to-call, callbacks) run this dialplan context; its
# ``Dial`` step names the dialled number. Our Originate tags the first channel's Uniqueid with
# OUTBOUND_ID_PREFIX (``ChannelId``), so the call is known to be outbound from its Newchannel.
ORIGINATE_CONTEXT = "cc-originate"
OUTBOUND_ID_PREFIX = "cc-out-"
RECENT_FRAMES = 4096  # duplicate-detection window
RECENT_ENDED = 10_000  # ended calls kept for late frames and for replay

Handler = Callable[[Frame, list[ev.DomainEvent]], None]


@dataclass(frozen=True, slots=True)
class LiveChannels:
    """The channels of a live call that actions act on (transfer, hang-up, conference)."""

    call_id: str
    caller_channel: str  # the leg the PBX runs the call on (the one that ran Queue())
    operator_channel: str  # the operator leg bridged to it ("" before an operator answers)
    operator_interface: str  # queue member interface, or the originated device
    queue: str
    direction: str  # inbound | outbound


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


def _identity(raw: str) -> str:
    return raw


def _clean(value: str) -> str:
    return "" if value == UNKNOWN else value


def _float(value: str, default: float = 0.0) -> float:
    try:
        return float(value)
    except ValueError:
        return default


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except ValueError:
        return default


class _Leg:
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
        self.role = "other"
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


class _Call:
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
        "conference",
        "connected_at",
        "connected_from_records",
        "did",
        "direction",
        "ended_at",
        "first_hangup_role",
        "held",
        "hung_up_by",
        "ivr_digits",
        "left_queue_at",
        "legs",
        "name",
        "number",
        "number_raw",
        "offered_to",
        "operator_leg",
        "operator_legs",
        "outcome",
        "pbx_answered",
        "phase",
        "queue",
        "queued_at",
        "recordings",
        "started_at",
        "talk",
        "transfers",
        "wait",
    )  # fmt: skip

    def __init__(self, call_id: str, at: float) -> None:
        self.call_id = call_id
        self.started_at = at
        self.legs: dict[str, _Leg] = {}
        self.arrived = False
        self.number_raw = ""
        self.number = ""
        self.name = ""
        self.did = ""
        self.direction = "inbound"
        self.caller_leg = ""  # Uniqueid of the leg that joined the queue
        self.operator_leg = ""  # Uniqueid of the operator leg that answered
        self.phase = "arrived"
        self.pbx_answered = False
        self.queue = ""
        self.queued_at: float | None = None
        self.left_queue_at: float | None = None
        self.abandoned = False
        self.wait: float | None = None
        self.offered_to: list[str] = []
        self.operator_legs: set[str] = set()
        self.agent = ""
        self.agent_interface = ""
        self.answered_at: float | None = None
        self.connected_at: float | None = None
        self.connected_from_records = False  # queue_log's whole seconds, not a frame's time
        self.talk: float | None = None
        self.ivr_digits = ""
        self.transfers: list[str] = []
        self.conference = ""
        self.conf_joined_at: float | None = None
        self.recordings: list[str] = []
        self.cause: int | None = None
        self.cause_txt = ""
        self.first_hangup_role = ""
        self.hung_up_by = ""
        self.held = False
        self.ended_at: float | None = None
        self.outcome = ""

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
        )


class CallTracker:
    """Turns the AMI frames of one server into domain events; holds every live call.

    ``normalize`` maps a raw caller number to its stored form (E.164, or the extension as is).
    """

    def __init__(self, server_id: str, normalize: Callable[[str], str] = _identity) -> None:
        self.server_id = server_id
        self.normalize = normalize
        self._calls: dict[str, _Call] = {}
        self._ended: OrderedDict[str, _Call] = OrderedDict()
        self._leg_call: dict[str, str] = {}  # Uniqueid -> Linkedid
        self._recent: dict[tuple[str, ...], None] = {}
        self._members: dict[tuple[str, str], ev.OperatorState] = {}
        self._queue_progress: dict[str, QueueProgress] = {}  # by queue leg, not yet applied
        self._rooms_left_to_operators: list[str] = []
        self._seq = 0
        self._handlers: dict[str, Handler] = {
            "Newchannel": self._on_newchannel,
            "NewCallerid": self._on_newcallerid,
            "Newstate": self._on_newstate,
            "Newexten": self._on_newexten,
            "DTMFEnd": self._on_dtmf,
            "QueueCallerJoin": self._on_queue_join,
            "QueueCallerLeave": self._on_queue_leave,
            "QueueCallerAbandon": self._on_queue_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentRingNoAnswer": self._on_ring_no_answer,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
            "DialEnd": self._on_dial_end,
            "Hold": self._on_hold,
            "Unhold": self._on_hold,
            "BlindTransfer": self._on_blind_transfer,
            "AttendedTransfer": self._on_attended_transfer,
            "ConfbridgeJoin": self._on_conf_join,
            "ConfbridgeLeave": self._on_conf_leave,
            "VarSet": self._on_varset,
            "MixMonitorStart": self._on_mixmonitor_start,
            "MixMonitorStop": self._on_mixmonitor_stop,
            "MixMonitorMute": self._on_mixmonitor_mute,
            "Hangup": self._on_hangup,
            "QueueMemberAdded": self._on_member,
            "QueueMemberStatus": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberPenalty": self._on_member,
            "QueueMemberRinginuse": self._on_member,
            "QueueMemberRemoved": self._on_member,
            "QueueMember": self._on_member,  # QueueStatus list item (resync)
        }

    # --- public -------------------------------------------------------------------------

    @property
    def calls(self) -> dict[tuple[str, str], CallState]:
        """Live calls keyed by (server, linkedid), as immutable snapshots."""
        return {(self.server_id, cid): c.snapshot(self.server_id) for cid, c in self._calls.items()}

    @property
    def ended_calls(self) -> list[CallState]:
        """Recently ended calls (bounded), oldest first."""
        return [c.snapshot(self.server_id) for c in self._ended.values()]

    @property
    def operators(self) -> dict[tuple[str, str], ev.OperatorState]:
        """Last known state of each queue member, keyed by (queue, interface)."""
        return dict(self._members)

    def call(self, call_id: str) -> CallState | None:
        found = self._calls.get(call_id) or self._ended.get(call_id)
        return found.snapshot(self.server_id) if found else None

    def live_channels(self, call_id: str) -> LiveChannels | None:
        """Which channels to act on for a live call; None when the call is not live."""
        call = self._calls.get(call_id)
        if call is None:
            return None
        if call.direction == "outbound":
            return self._outbound_channels(call)
        caller = call.legs.get(call.caller_leg) or call.legs.get(call.call_id)
        operator = call.legs.get(call.operator_leg)
        return LiveChannels(
            call_id=call.call_id,
            caller_channel=caller.channel if caller is not None else "",
            operator_channel=operator.channel if operator and operator.ended_at is None else "",
            operator_interface=call.agent_interface,
            queue=call.queue,
            direction=call.direction,
        )

    def is_ended(self, call_id: str) -> bool:
        return call_id in self._ended

    def feed(self, frame: Frame) -> list[ev.DomainEvent]:
        """The domain events caused by one frame (often none)."""
        if frame.kind != EVENT:
            return []
        handler = self._handlers.get(frame.name)
        if handler is None:
            return []
        if self._seen_before(frame):
            return []
        out: list[ev.DomainEvent] = []
        try:
            handler(frame, out)
        except (KeyError, ValueError, TypeError):
            log.exception("AMI %s frame not understood; skipped: %r", frame.name, frame.headers)
        return out

    def feed_all(self, frames: Iterable[Frame]) -> list[ev.DomainEvent]:
        out: list[ev.DomainEvent] = []
        for frame in frames:
            out.extend(self.feed(frame))
        return out

    def frame_filter(self) -> FrameFilter:
        """The parser filter that keeps exactly what this tracker reads (plus action replies)."""
        return TRACKER_FILTER

    def close_from_records(self, record: RecordedCall) -> list[ev.DomainEvent]:
        """End a call from Asterisk's durable records after an AMI gap — exactly once.

        A live call is closed with what the records add; a call never seen (it began and ended
        inside the gap) is announced and closed; an already ended call yields nothing."""
        if record.call_id in self._ended:
            return []
        out: list[ev.DomainEvent] = []
        call = self._calls.get(record.call_id)
        if call is None:
            call = _Call(record.call_id, record.started_at)
            self._calls[record.call_id] = call
            call.did = record.did
            call.number_raw = record.caller_number
            call.number = self.normalize(record.caller_number) if record.caller_number else ""
            call.name = record.caller_name
            call.arrived = True
            stamp = f"{record.started_at:.6f}"
            base = self._base(call.call_id, call.call_id, ev.CallArrived.kind, stamp, once=True)
            out.append(
                ev.CallArrived(
                    **base,
                    caller_number=call.number,
                    caller_number_raw=call.number_raw,
                    caller_name=call.name,
                    did=call.did,
                )
            )
        for leg in call.legs.values():
            if leg.ended_at is None:
                leg.ended_at = record.ended_at
        call.queue = call.queue or record.queue
        if record.agent and not call.agent:
            call.agent = record.agent
            call.agent_interface = self._interface_of(call.queue, record.agent)
        if call.answered_at is None:
            call.answered_at = record.answered_at
        if call.wait is None:
            call.wait = record.wait_seconds
        if record.talk_seconds is not None and call.talk is None:
            call.talk = record.talk_seconds
        if call.cause is None:
            call.cause = record.cause
        outcome = record.outcome or ("answered" if call.connected_at is not None else "")
        if outcome == "answered" and call.connected_at is None:
            call.connected_at = record.answered_at or record.ended_at
        self._end(
            call,
            record.ended_at,
            f"{record.ended_at:.6f}",
            out,
            source=record.source,
            outcome=outcome,
        )
        return out

    def note_queue_progress(self, progress: QueueProgress) -> list[ev.DomainEvent]:
        """Learn from ``queue_log`` how far a call in a queue got (after a restart the stream
        only shows the rest of it): applied now to a live call with that queue leg, or to
        the call whose frames name that leg later. Emits nothing: the earlier process
        announced those steps, and the call's end carries them for anyone who missed them."""
        call_id = self._leg_call.get(progress.leg_id)
        call = self._calls.get(call_id) if call_id else None
        if call is not None:
            self._apply_progress(call, progress)
        elif call_id is None or call_id not in self._ended:
            self._queue_progress[progress.leg_id] = progress
        return []

    def _apply_progress(self, call: _Call, progress: QueueProgress) -> None:
        if call.queued_at is None:
            call.queue = call.queue or progress.queue
            call.queued_at = progress.entered_at
            call.caller_leg = call.caller_leg or progress.leg_id
            if call.phase in ("arrived", "ivr"):
                call.phase = "queued"
        if progress.member_name and call.connected_at is None and progress.connected_at:
            call.queue = progress.queue or call.queue
            call.agent = progress.member_name
            call.agent_interface = self._interface_of(call.queue, progress.member_name)
            call.connected_at = progress.connected_at
            call.connected_from_records = True
            call.left_queue_at = progress.connected_at
            if call.answered_at is None:
                call.answered_at = progress.connected_at
            call.wait = progress.hold_seconds
            call.phase = "connected"

    def _interface_of(self, queue: str, member_name: str) -> str:
        """queue_log names the operator by MemberName; the interface is what we key on."""
        for (member_queue, interface), state in self._members.items():
            if state.member_name == member_name and member_queue == queue:
                return interface
        for (_queue, interface), state in self._members.items():
            if state.member_name == member_name:
                return interface
        return ""

    def rooms_left_to_operators(self) -> list[str]:
        """ConfBridge rooms whose customer left while operators stay in them (taken once):
        the connector ends them, or the operator's phone stays "In use" with music."""
        rooms, self._rooms_left_to_operators = self._rooms_left_to_operators, []
        return rooms

    def pending_queue_legs(self) -> set[str]:
        """Queue legs known from queue_log whose call the stream has not shown yet."""
        return set(self._queue_progress)

    def assume_roots_gone(self, at: float) -> None:
        """After resync: a live call whose first channel was not listed lost it in the gap."""
        for call in self._calls.values():
            if call.call_id not in call.legs:
                root = _Leg(call.call_id, "", call.started_at)
                root.role = "caller"
                root.ended_at = at
                call.legs[call.call_id] = root

    def live_call_ids(self) -> set[str]:
        return set(self._calls)

    def live_leg_ids(self) -> set[str]:
        return {
            leg_id
            for c in self._calls.values()
            for leg_id, leg in c.legs.items()
            if leg.ended_at is None
        }

    # --- plumbing -----------------------------------------------------------------------

    @staticmethod
    def _outbound_channels(call: _Call) -> LiveChannels:
        """Click-to-call: the first channel is the operator's phone; the customer is the
        newest live leg that is not a half of the operator's own (Local) channel."""
        root = call.legs.get(call.call_id)
        root_channel = root.channel if root is not None and root.ended_at is None else ""
        base = _device_of(root.channel) if root is not None else ""
        customer = ""
        for leg in call.legs.values():
            if leg.ended_at is None and leg.channel and _device_of(leg.channel) != base:
                customer = leg.channel
        return LiveChannels(
            call_id=call.call_id,
            caller_channel=customer,
            operator_channel=root_channel,
            operator_interface=base,
            queue=call.queue,
            direction=call.direction,
        )

    def _seen_before(self, frame: Frame) -> bool:
        ts = frame.headers.get("Timestamp")
        if not ts:
            return False
        h = frame.headers
        fingerprint = (
            frame.name, ts, h.get("Uniqueid", ""), h.get("Channel", ""), h.get("Queue", ""),
            h.get("Interface", ""), h.get("DestUniqueid", ""), h.get("Variable", ""),
        )  # fmt: skip
        recent = self._recent
        if fingerprint in recent:
            return True
        recent[fingerprint] = None
        if len(recent) > RECENT_FRAMES:
            del recent[next(iter(recent))]
        return False

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
            "at": _float(stamp),
            "seq": self._next_seq(),
            "key": ev.make_key(self.server_id, call_id, leg_id, kind, *key_parts),
        }

    def _call_for(self, frame: Frame, create: bool = False) -> _Call | None:
        h = frame.headers
        call_id = h.get("Linkedid") or self._leg_call.get(h.get("Uniqueid", ""), "")
        if not call_id or call_id in self._ended:
            return None
        call = self._calls.get(call_id)
        if call is None and create:
            call = _Call(call_id, frame.timestamp)
            self._calls[call_id] = call
        return call

    def _leg_for(self, call: _Call, frame: Frame, prefix: str = "") -> _Leg | None:
        h = frame.headers
        leg_id = h.get(prefix + "Uniqueid", "")
        if not leg_id:
            return None
        leg = call.legs.get(leg_id)
        if leg is None:
            leg = _Leg(leg_id, h.get(prefix + "Channel", ""), frame.timestamp)
            if leg_id == call.call_id:
                leg.role = "caller"
            call.legs[leg_id] = leg
            self._leg_call[leg_id] = call.call_id
            progress = self._queue_progress.pop(leg_id, None)
            if progress is not None:
                self._apply_progress(call, progress)
        return leg

    def _update_leg(self, call: _Call, leg: _Leg, frame: Frame, prefix: str = "") -> None:
        h = frame.headers
        state = h.get(prefix + "ChannelStateDesc")
        if state and leg.ended_at is None:
            leg.state = state
            if state == "Up" and leg.role != "operator":
                call.pbx_answered = True
        number = _clean(h.get(prefix + "CallerIDNum", ""))
        if number:
            leg.number = number
            leg.name = _clean(h.get(prefix + "CallerIDName", ""))
        leg.context = h.get(prefix + "Context", leg.context)
        leg.exten = h.get(prefix + "Exten", leg.exten)

    def _ensure_arrived(
        self, call: _Call, frame: Frame, out: list[ev.DomainEvent], force: bool
    ) -> None:
        if call.arrived:
            return
        if call.direction == "outbound" and not call.did and not force:
            return  # wait for the dialplan to name the dialled number
        root = call.legs.get(call.call_id)
        source = root if root is not None and root.number else None
        if source is None:
            source = next(
                (leg for leg in call.legs.values() if leg.number and leg.role != "operator"), None
            )
        if source is None and not force:
            return
        call.arrived = True
        if source is not None:
            call.number_raw = source.number
            call.name = source.name
            call.number = self.normalize(source.number) if source.number else ""
        channel = root.channel if root is not None else ""
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
            )
        )

    # --- channels -----------------------------------------------------------------------

    def _on_newchannel(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        self._update_leg(call, leg, frame)
        if leg.leg_id == call.call_id:
            call.started_at = (
                min(call.started_at, frame.timestamp) if call.started_at else frame.timestamp
            )
            placed_by_us = leg.leg_id.startswith(OUTBOUND_ID_PREFIX)
            dials_out = frame.get("Context") == ORIGINATE_CONTEXT  # Local/<number>@cc-originate
            if (placed_by_us or dials_out) and not call.arrived:
                call.direction = "outbound"
            if call.direction == "inbound" or dials_out:
                call.did = frame.get("Exten")
        elif not call.did and call.direction == "inbound":
            call.did = frame.get("Exten")
        if leg.number and leg.role != "operator":
            self._ensure_arrived(call, frame, out, force=False)

    def _on_newcallerid(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        self._update_leg(call, leg, frame)
        if leg.role != "operator":
            self._ensure_arrived(call, frame, out, force=False)

    def _on_newstate(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is not None:
            self._update_leg(call, leg, frame)

    def _on_newexten(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        if frame.get("Context") == ORIGINATE_CONTEXT:
            self._on_originate_exten(frame, out)
            return
        app = frame.get("Application")
        if app not in IVR_APPLICATIONS:
            return
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None or leg.role == "operator":
            return
        self._update_leg(call, leg, frame)
        self._ensure_arrived(call, frame, out, force=True)
        if call.phase == "arrived":
            call.phase = "ivr"
        stamp = frame.get("Timestamp")
        base = self._base(call.call_id, leg.leg_id, ev.IvrStep.kind, stamp)
        out.append(
            ev.IvrStep(
                **base, menu=frame.get("Context"), node=frame.get("Exten"), result=app.lower()
            )
        )

    def _on_originate_exten(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        """A call that starts in ``cc-originate`` is one we placed: outbound to ``Exten``.

        A call that already arrived (an inbound call transferred to an outside number passes
        through the same context) keeps its direction."""
        call = self._call_for(frame, create=True)
        if call is None or call.arrived:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        self._update_leg(call, leg, frame)
        call.direction = "outbound"
        call.did = frame.get("Exten")
        self._ensure_arrived(call, frame, out, force=True)

    def _on_dtmf(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        if frame.get("Direction") != "Received":
            return
        call = self._call_for(frame)
        if call is None or call.phase not in ("arrived", "ivr"):
            return  # digits pressed while queued or talking are not IVR input
        leg = self._leg_for(call, frame)
        if leg is None or leg.role == "operator":
            return
        digit = frame.get("Digit")
        call.ivr_digits += digit
        self._ensure_arrived(call, frame, out, force=True)
        base = self._base(call.call_id, leg.leg_id, ev.IvrStep.kind, frame.get("Timestamp"))
        out.append(
            ev.IvrStep(
                **base,
                menu=frame.get("Context"),
                node=frame.get("Exten"),
                digits=digit,
                result="digit",
            )
        )

    # --- queue --------------------------------------------------------------------------

    def _on_queue_join(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        queue = frame.get("Queue")
        already_waiting = call.queued_at is not None and call.left_queue_at is None
        if leg is None or (call.queue == queue and already_waiting):
            return
        self._update_leg(call, leg, frame)
        self._ensure_arrived(call, frame, out, force=True)
        call.caller_leg = leg.leg_id
        call.queue = queue
        call.queued_at = frame.timestamp
        call.left_queue_at = None
        call.phase = "queued"
        base = self._base(
            call.call_id, leg.leg_id, ev.CallQueued.kind, frame.get("Timestamp"), queue
        )
        out.append(
            ev.CallQueued(
                **base,
                queue=queue,
                position=_int(frame.get("Position")),
                priority=_int(frame.get("Priority")),
                count=_int(frame.get("Count")),
            )
        )

    def _on_queue_leave(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame)
        if call is None or call.left_queue_at is not None:
            return
        call.left_queue_at = frame.timestamp
        if call.queued_at is not None:
            call.wait = frame.timestamp - call.queued_at

    def _on_queue_abandon(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame)
        if call is None or call.abandoned or call.connected_at is not None:
            return
        call.abandoned = True
        hold = (
            frame.timestamp - call.queued_at
            if call.queued_at is not None
            else _float(frame.get("HoldTime"))
        )
        call.wait = hold
        base = self._base(
            call.call_id, frame.get("Uniqueid"), ev.CallAbandoned.kind, frame.get("Timestamp")
        )
        out.append(
            ev.CallAbandoned(
                **base,
                queue=frame.get("Queue"),
                position=_int(frame.get("Position")),
                original_position=_int(frame.get("OriginalPosition")),
                hold_seconds=hold,
            )
        )

    def _mark_operator_leg(self, call: _Call, frame: Frame) -> _Leg | None:
        leg = self._leg_for(call, frame, prefix="Dest")
        if leg is None:
            return None
        leg.role = "operator"
        call.operator_legs.add(leg.leg_id)
        return leg

    def _on_agent_called(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._mark_operator_leg(call, frame)
        interface = frame.get("Interface")
        self._ensure_arrived(call, frame, out, force=True)
        call.offered_to.append(interface)
        if call.phase in ("arrived", "ivr", "queued"):
            call.phase = "offered"
        base = self._base(
            call.call_id,
            frame.get("Uniqueid"),
            ev.CallOffered.kind,
            frame.get("Timestamp"),
            interface,
        )
        out.append(
            ev.CallOffered(
                **base,
                queue=frame.get("Queue"),
                interface=interface,
                member_name=frame.get("MemberName"),
                operator_leg_id=leg.leg_id if leg else "",
            )
        )

    def _on_ring_no_answer(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame)
        if call is None:
            return
        interface = frame.get("Interface")
        if call.phase == "offered":
            call.phase = "queued"
        base = self._base(
            call.call_id,
            frame.get("Uniqueid"),
            ev.CallRingNoAnswer.kind,
            frame.get("Timestamp"),
            interface,
        )
        out.append(
            ev.CallRingNoAnswer(
                **base,
                queue=frame.get("Queue"),
                interface=interface,
                member_name=frame.get("MemberName"),
                ring_seconds=_float(frame.get("RingTime")) / 1000.0,  # app_queue reports ms here
            )
        )

    def _on_agent_connect(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._mark_operator_leg(call, frame)
        if call.connected_at is not None and call.agent_interface == frame.get("Interface"):
            return
        self._ensure_arrived(call, frame, out, force=True)
        at = frame.timestamp
        interface = frame.get("Interface")
        member = frame.get("MemberName")
        call.queue = frame.get("Queue") or call.queue
        call.agent = member or interface
        call.agent_interface = interface
        call.operator_leg = leg.leg_id if leg is not None else call.operator_leg
        call.connected_at = at
        if call.answered_at is None:
            call.answered_at = at
        if call.queued_at is not None:
            call.wait = (call.left_queue_at or at) - call.queued_at
        else:
            call.wait = _float(frame.get("HoldTime"))
        call.phase = "connected"
        base = self._base(
            call.call_id,
            frame.get("Uniqueid"),
            ev.CallAnswered.kind,
            frame.get("Timestamp"),
            interface,
        )
        out.append(
            ev.CallAnswered(
                **base,
                queue=call.queue,
                interface=interface,
                member_name=member,
                hold_seconds=call.wait,
                ring_seconds=_float(frame.get("RingTime")),
                operator_leg_id=leg.leg_id if leg else "",
            )
        )

    def _on_agent_complete(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None or call.talk is not None:
            return
        leg = self._leg_for(call, frame)
        if leg is not None:
            self._update_leg(call, leg, frame)
        if call.connected_at is None:
            self._adopt_answer(call, frame)
            self._ensure_arrived(call, frame, out, force=True)
        reason = frame.get("Reason")
        if call.connected_at is not None and not call.connected_from_records:
            call.talk = frame.timestamp - call.connected_at
        else:
            call.talk = _float(frame.get("TalkTime"))
        call.hung_up_by = {"caller": "caller", "agent": "operator", "transfer": "operator"}.get(
            reason, ""
        )
        base = self._base(
            call.call_id, frame.get("Uniqueid"), ev.AgentCompleted.kind, frame.get("Timestamp")
        )
        out.append(
            ev.AgentCompleted(
                **base,
                queue=frame.get("Queue"),
                interface=frame.get("Interface"),
                member_name=frame.get("MemberName"),
                hold_seconds=_float(frame.get("HoldTime")),
                talk_seconds=call.talk,
                reason=reason,
            )
        )

    def _on_dial_end(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        """A plain ``Dial()`` of an operator's phone that answered — the deploy's sticky
        ``Dial(PJSIP/101)`` before the queue (capture 27): no queue event says so, but the
        customer is talking to that operator. Queue legs are left to AgentConnect."""
        if frame.get("DialStatus") != "ANSWER":
            return
        call = self._call_for(frame)
        if call is None or call.connected_at is not None or call.direction != "inbound":
            return
        dest = call.legs.get(frame.get("DestUniqueid"))
        if dest is not None and dest.role == "operator":
            return  # a queue member's leg: AgentConnect follows
        interface = _device_of(frame.get("DestChannel"))
        member = next((m for (_q, i), m in self._members.items() if i == interface), None)
        if member is None:
            return  # not an operator's phone (a transfer target, a customer's number)
        leg = self._mark_operator_leg(call, frame)
        self._ensure_arrived(call, frame, out, force=True)
        at = frame.timestamp
        call.agent = member.member_name or interface
        call.agent_interface = interface
        call.operator_leg = leg.leg_id if leg is not None else call.operator_leg
        call.connected_at = at
        if call.answered_at is None:
            call.answered_at = at
        call.phase = "connected"
        base = self._base(
            call.call_id, frame.get("Uniqueid"), ev.CallAnswered.kind, frame.get("Timestamp"),
            interface,
        )  # fmt: skip
        out.append(
            ev.CallAnswered(
                **base,
                queue=call.queue,
                interface=interface,
                member_name=member.member_name,
                hold_seconds=0.0,
                ring_seconds=0.0,
                operator_leg_id=leg.leg_id if leg else "",
            )
        )

    def _adopt_answer(self, call: _Call, frame: Frame) -> None:
        """An ``AgentComplete`` for a call whose answer we never saw (the connector started
        mid-call, and neither queue_log nor the lists told us): it says who took the call,
        how long the caller waited and how long they talked."""
        talk = _float(frame.get("TalkTime"))
        hold = _float(frame.get("HoldTime"))
        at = frame.timestamp - talk
        call.queue = frame.get("Queue") or call.queue
        call.agent = frame.get("MemberName") or frame.get("Interface")
        call.agent_interface = frame.get("Interface")
        call.connected_at = at
        call.left_queue_at = at
        if call.queued_at is None:
            call.queued_at = at - hold
        if call.answered_at is None:
            call.answered_at = at
        call.wait = hold

    # --- hold, transfer, conference -------------------------------------------------------

    def _on_hold(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame)
        if call is None:
            return
        held = frame.name == "Hold"
        if call.held == held:
            return
        call.held = held
        if call.connected_at is not None:
            call.phase = "held" if held else "connected"
        base = self._base(
            call.call_id, frame.get("Uniqueid"), ev.CallHeld.kind, frame.get("Timestamp")
        )
        out.append(ev.CallHeld(**base, held=held, channel=frame.get("Channel")))

    def _transfer(
        self,
        call_id: str,
        frame: Frame,
        out: list[ev.DomainEvent],
        transfer: tuple[str, str, str, str],
    ) -> None:
        """``transfer`` is (type, target, target_context, by_interface)."""
        call = self._calls.get(call_id)
        if call is None or frame.get("Result", "Success") != "Success":
            return
        transfer_type, target, context, by_interface = transfer
        call.transfers.append(target)
        stamp = frame.get("Timestamp")
        base = self._base(call.call_id, "", ev.CallTransferred.kind, stamp, target)
        out.append(
            ev.CallTransferred(
                **base,
                transfer_type=transfer_type,
                target=target,
                target_context=context,
                by_interface=by_interface,
            )
        )

    def _on_blind_transfer(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call_id = frame.get("TransfereeLinkedid") or frame.get("TransfererLinkedid")
        self._transfer(
            call_id,
            frame,
            out,
            ("blind", frame.get("Extension"), frame.get("Context"), frame.get("TransfererChannel")),
        )

    def _on_attended_transfer(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call_id = frame.get("OrigTransfererLinkedid") or frame.get("TransfereeLinkedid")
        target = (
            frame.get("TransferTargetCallerIDNum")
            or frame.get("SecondTransfererConnectedLineNum")
            or frame.get("SecondTransfererExten")
        )
        self._transfer(
            call_id,
            frame,
            out,
            (
                "attended",
                _clean(target),
                frame.get("SecondTransfererContext"),
                frame.get("OrigTransfererChannel"),
            ),
        )

    def _on_conf_join(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        self._update_leg(call, leg, frame)
        leg.in_conference = True
        self._ensure_arrived(call, frame, out, force=True)
        if call.conf_joined_at is not None:
            return
        at = frame.timestamp
        call.conference = frame.get("Conference")
        call.conf_joined_at = at
        if call.answered_at is None:
            call.answered_at = at
        if call.connected_at is None:
            call.connected_at = at
        call.phase = "connected"
        base = self._base(
            call.call_id, leg.leg_id, ev.ConferenceJoined.kind, frame.get("Timestamp")
        )
        out.append(
            ev.ConferenceJoined(
                **base,
                conference=call.conference,
                channel=frame.get("Channel"),
                caller_number=leg.number,
                caller_name=leg.name,
            )
        )

    def _on_conf_leave(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame)
        if call is None:
            return
        leg = call.legs.get(frame.get("Uniqueid"))
        if leg is not None:
            leg.in_conference = False
        if call.conf_joined_at is None or call.talk is not None:
            return
        call.talk = frame.timestamp - call.conf_joined_at
        base = self._base(
            call.call_id, frame.get("Uniqueid"), ev.ConferenceLeft.kind, frame.get("Timestamp")
        )
        out.append(
            ev.ConferenceLeft(
                **base, conference=frame.get("Conference"), channel=frame.get("Channel")
            )
        )

    # --- recording ----------------------------------------------------------------------

    def _on_varset(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        if frame.get("Variable") != "MIXMONITOR_FILENAME":
            return
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        if leg.awaiting_recording:
            leg.awaiting_recording = False
            call.recordings.append(frame.get("Value"))
        else:
            leg.pending_recording = frame.get("Value")

    def _on_mixmonitor_start(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        file = leg.pending_recording
        leg.pending_recording = ""
        if file:
            call.recordings.append(file)
        else:
            leg.awaiting_recording = True
        base = self._base(
            call.call_id, leg.leg_id, ev.RecordingStarted.kind, frame.get("Timestamp")
        )
        out.append(ev.RecordingStarted(**base, file=file, channel=frame.get("Channel")))

    def _on_mixmonitor_stop(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame)
        if call is None:
            return
        file = call.recordings[-1] if call.recordings else ""
        base = self._base(
            call.call_id, frame.get("Uniqueid"), ev.RecordingStopped.kind, frame.get("Timestamp")
        )
        out.append(ev.RecordingStopped(**base, file=file))

    def _on_mixmonitor_mute(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame)
        if call is None:
            return
        base = self._base(
            call.call_id, frame.get("Uniqueid"), ev.RecordingMuted.kind, frame.get("Timestamp")
        )
        out.append(
            ev.RecordingMuted(
                **base, muted=frame.get("State") == "1", direction=frame.get("Direction", "both")
            )
        )

    # --- hangup -------------------------------------------------------------------------

    def _on_hangup(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None or leg.ended_at is not None:
            return
        self._update_leg(call, leg, frame)
        leg.ended_at = frame.timestamp
        leg.cause = _int(frame.get("Cause"))
        if not call.first_hangup_role:
            call.first_hangup_role = leg.role if leg.role != "other" else "system"
        if leg.leg_id == call.call_id or call.cause is None:
            call.cause = leg.cause
            call.cause_txt = frame.get("Cause-txt")
        # The call is over when every leg is gone — including its first channel (Uniqueid ==
        # Linkedid), so a Hangup overtaking a Newchannel cannot end a call early.
        root = call.legs.get(call.call_id)
        if root is not None and root.ended_at is not None and _nobody_left(call):
            self._ensure_arrived(call, frame, out, force=True)
            self._end(call, frame.timestamp, frame.get("Timestamp"), out, source="ami")

    def _end(
        self,
        call: _Call,
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
        if call.connected_at is not None and call.talk is None:
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
            )
        )
        if call.conference and any(
            leg.ended_at is None and leg.in_conference for leg in call.legs.values()
        ):
            self._rooms_left_to_operators.append(call.conference)
        del self._calls[call.call_id]
        for leg_id in call.legs:
            self._leg_call.pop(leg_id, None)
        self._ended[call.call_id] = call
        if len(self._ended) > RECENT_ENDED:
            self._ended.popitem(last=False)

    @staticmethod
    def _outcome(call: _Call) -> str:
        if call.connected_at is not None:
            return "answered"
        if call.abandoned:
            return "abandoned"
        if call.queued_at is not None:
            return "unanswered"  # left the queue without an operator (timeout, exit)
        if call.pbx_answered:
            return "ivr_only"
        return "unanswered"

    # --- operators ----------------------------------------------------------------------

    def _on_member(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        queue = h.get("Queue", "")
        interface = h.get("Interface") or h.get("Location", "")
        if not queue or not interface:
            return
        removed = frame.name == "QueueMemberRemoved"
        stamp = h.get("Timestamp") or f"list:{h.get('ActionID', '')}"
        base = self._base("", "", ev.OperatorState.kind, stamp, queue, interface, frame.name)
        state = ev.OperatorState(
            **base,
            queue=queue,
            interface=interface,
            member_name=h.get("MemberName") or h.get("Name", ""),
            logged_in=not removed,
            paused=h.get("Paused") == "1",
            pause_reason=h.get("PausedReason", ""),
            device_status=_int(h.get("Status", "0")),
            in_call=h.get("InCall") == "1",
            calls_taken=_int(h.get("CallsTaken", "0")),
            penalty=_int(h.get("Penalty", "0")),
        )
        previous = self._members.get((queue, interface))
        if removed:
            self._members.pop((queue, interface), None)
        else:
            self._members[(queue, interface)] = state
        if previous is not None and not removed and _same_member_state(previous, state):
            return  # e.g. a QueueStatus after resync repeating what we know
        out.append(state)


def _nobody_left(call: _Call) -> bool:
    """Every leg has hung up — or only operators are left, alone in a ConfBridge room: with
    one user profile for every party, Asterisk keeps an operator in the room after the last
    customer left (capture 27, e4_rec_conf: 23 s "In use" with music), and the customer's
    call is over when the customer is gone."""
    live = [leg for leg in call.legs.values() if leg.ended_at is None]
    return all(leg.role == "operator" and leg.in_conference for leg in live)


def _device_of(channel: str) -> str:
    """``PJSIP/101-0000002a`` → ``PJSIP/101``; ``Local/101@agents-00000001;1`` →
    ``Local/101@agents`` (the interface an Originate or a queue member names)."""
    name = channel.split(";", 1)[0]
    head, sep, tail = name.rpartition("-")
    return head if sep and tail and all(c in "0123456789abcdef" for c in tail) else name


def _same_member_state(a: ev.OperatorState, b: ev.OperatorState) -> bool:
    return (
        a.member_name,
        a.logged_in,
        a.paused,
        a.pause_reason,
        a.device_status,
        a.in_call,
        a.penalty,
    ) == (
        b.member_name,
        b.logged_in,
        b.paused,
        b.pause_reason,
        b.device_status,
        b.in_call,
        b.penalty,
    )


TRACKED_EVENTS = frozenset(
    {
        "Newchannel", "NewCallerid", "Newstate", "Newexten", "DTMFEnd", "QueueCallerJoin",
        "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentRingNoAnswer",
        "AgentConnect", "AgentComplete", "DialEnd", "Hold", "Unhold", "BlindTransfer",
        "AttendedTransfer",
        "ConfbridgeJoin", "ConfbridgeLeave", "VarSet", "MixMonitorStart", "MixMonitorStop",
        "MixMonitorMute", "Hangup", "QueueMemberAdded", "QueueMemberStatus", "QueueMemberPause",
        "QueueMemberPenalty", "QueueMemberRinginuse", "QueueMemberRemoved", "QueueMember",
        # connection-level events (OriginateResponse comes as an action reply)
        "FullyBooted", "Shutdown",
    }
)  # fmt: skip

TRACKER_FILTER = FrameFilter(
    events=TRACKED_EVENTS,
    keep_action_replies=False,  # the connection turns replies on while it awaits answers
    only_if={
        "VarSet": ("Variable", frozenset({"MIXMONITOR_FILENAME"})),
        # ``Dial`` too: in cc-originate it names the number an outbound call dials
        "Newexten": ("Application", frozenset((*IVR_APPLICATIONS, "Dial"))),
    },
)
