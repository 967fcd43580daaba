"""What every concern of the tracker shares: the event bases and keys, finding a frame's call
and leg, the call's arrival, each operator leg's offer, answer and departure, transfers, and
the end of a call. The state it works on is in ``state``."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from contact_center.ami.parser import Frame
from contact_center.ami.tracking.state import (
    ANSWERING,
    PLACED_ID_PREFIX,
    RECENT_ENDED,
    UNKNOWN,
    VOICEMAIL_CONTEXT,
    Call,
    Leg,
    OperatorLeg,
    QueueProgress,
    TransferState,
    device_of,
    identity,
    outbound_outcome,
    pair_of,
)
from contact_center.calls import events as ev

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


# The headers a leg's update reads, per side of the frame ("" or "Dest"): built once, not per
# frame.
_LEG_KEYS = {
    prefix: tuple(
        prefix + key
        for key in ("ChannelStateDesc", "CallerIDNum", "CallerIDName", "Context", "Exten")
    )
    for prefix in ("", "Dest")
}
_LEG_ID_KEYS = {prefix: (prefix + "Uniqueid", prefix + "Channel") for prefix in ("", "Dest")}


# The fields of ``DomainEvent``, in the order ``TrackerCore._base`` gives them.
Base = tuple[str, str, float, int, str, str]
BASE_FIELDS = ("server", "call_id", "at", "seq", "key", "leg_id")


def event_builder(cls: type[ev.DomainEvent]) -> Callable[..., Any]:
    """A constructor of the domain event ``cls`` for the tracker, which builds thousands of
    them: ``build(base, **own_fields)`` — the fields every event has as the tuple ``_base``
    gives, the event's own as keywords (the same names and defaults as the dataclass's).
    The object is the one the dataclass's ``__init__`` makes — each field set with
    ``object.__setattr__``, a default factory called when its field is not given — without
    the type call's keyword dict (the call costs a third of the ``__init__``'s own work)."""
    # what the dataclass's __init__ does besides setting its fields must be nothing
    if hasattr(cls, "__post_init__") or not all(f.init for f in dataclasses.fields(cls)):
        raise TypeError(f"{cls.__name__}: its __init__ does more than set its fields")
    own = [f for f in dataclasses.fields(cls) if f.name not in BASE_FIELDS]
    namespace: dict[str, Any] = {
        "_cls": cls, "_new": object.__new__, "_set": object.__setattr__,
        "_MISSING": dataclasses.MISSING,
    }  # fmt: skip
    params, lines = [], []
    for f in own:
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            lines.append(f"    if {f.name} is _MISSING:\n        {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
    lines += [
        f"    _set(self, {name!r}, {name})" for name in (*BASE_FIELDS, *(f.name for f in own))
    ]
    star = ", *, " + ", ".join(params) if params else ""
    source = (
        f"def build(base{star}):\n"
        f"    {', '.join(BASE_FIELDS)} = base\n"
        "    self = _new(_cls)\n" + "\n".join(lines) + "\n    return self\n"
    )
    exec(source, namespace)  # built from the dataclass's own field names
    build: Callable[..., Any] = namespace["build"]
    build.__qualname__ = build.__name__ = f"new_{cls.__name__}"
    return build


class _Builders:
    """``NEW.CallOffered(base, queue=…, …)``: the builder of each domain event type."""

    def __init__(self) -> None:
        for name, cls in vars(ev).items():
            if (
                isinstance(cls, type)
                and issubclass(cls, ev.DomainEvent)
                and cls is not ev.DomainEvent
                and dataclasses.is_dataclass(cls)
            ):
                setattr(self, name, event_builder(cls))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        raise AttributeError(name)  # typed access for mypy: every builder is a callable


NEW = _Builders()


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
        self._rooms: dict[str, str] = {}  # ConfBridge room -> the live call it belongs to
        # consultation legs queued by an attended transfer into a queue: leg → queue
        self._consultations: dict[str, str] = {}
        self._seq = 0
        # The last ``Timestamp`` parsed and its value: one frame's time is asked for several
        # times (its call, its leg, the handler, each event it causes), and a 17-digit
        # timestamp costs float() a slow exact parse. The same string parses to the same float.
        self._stamp = ""
        self._stamp_at = 0.0

    def _time(self, frame: Frame) -> float:
        """The frame's time, as ``frame.timestamp``: Asterisk's ``Timestamp`` (epoch seconds),
        0.0 when absent or unreadable."""
        stamp = frame.headers.get("Timestamp", "")
        if stamp == self._stamp:
            return self._stamp_at
        return self._parse_time(stamp)

    def _parse_time(self, stamp: str) -> float:
        try:
            at = float(stamp)
        except ValueError:
            at = 0.0  # like to_float; "" (absent) too
        self._stamp, self._stamp_at = stamp, at
        return at

    # --- events -------------------------------------------------------------------------

    def _base(
        self, call_id: str, leg_id: str, kind: str, stamp: str, *extra: str, once: bool = False
    ) -> Base:
        """The fields every domain event has, for a builder of :data:`NEW`."""
        # ``once``: the fact happens once per call (arrival, end) whatever the source says
        # about its time — so a call closed by resync and by the live stream has one key.
        # runs for every domain event: the sequence and the time without calls of their own
        server = self.server_id
        seq = self._seq = self._seq + 1
        at = self._stamp_at if stamp == self._stamp else self._parse_time(stamp)
        key = (
            ev.make_key(server, call_id, leg_id, kind, *extra)
            if once
            else ev.make_key(server, call_id, leg_id, kind, stamp, *extra)
        )
        return server, call_id, at, seq, key, leg_id

    # --- calls and legs -----------------------------------------------------------------

    def _call_for(self, frame: Frame) -> Call | None:
        """The live call of the frame (None when it is unknown or ended)."""
        h = frame.headers
        call_id = (
            h.get("Linkedid")
            or self._leg_call.get(h.get("Uniqueid", ""), "")
            or h.get("DestLinkedid", "")  # an AgentComplete may carry only the Dest* side
        )
        # a live call is never among the ended ones (``_end`` moves it there; nothing makes
        # an ended call live again): the live calls first, the ended ones only for the rest
        return self._calls.get(call_id) if call_id else None

    def _call_or_new(self, frame: Frame) -> Call | None:
        """The live call of the frame, created when unknown (None when it ended)."""
        h = frame.headers
        call_id = (
            h.get("Linkedid")
            or self._leg_call.get(h.get("Uniqueid", ""), "")
            or h.get("DestLinkedid", "")
        )
        if not call_id:
            return None
        call = self._calls.get(call_id)
        if call is None and call_id not in self._ended:
            call = Call(call_id, self._time(frame))
            self._calls[call_id] = call
        return call

    def _leg_for(self, call: Call, frame: Frame, prefix: str = "") -> Leg | None:
        h = frame.headers
        id_key, channel_key = _LEG_ID_KEYS[prefix]
        leg_id = h.get(id_key, "")
        if not leg_id:
            return None
        leg = call.legs.get(leg_id)
        if leg is None:
            leg = Leg(leg_id, h.get(channel_key, ""), self._time(frame))
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
        state_key, number_key, name_key, context_key, exten_key = _LEG_KEYS[prefix]
        state = h.get(state_key)
        if state and leg.ended_at is None:
            leg.state = state
            if state == "Up" and leg.role != "operator":
                call.pbx_answered = True
        number = h.get(number_key, "")
        if number and number != UNKNOWN:
            leg.number = number
            name = h.get(name_key, "")
            leg.name = name if name != UNKNOWN else ""  # clean
        leg.context = h.get(context_key, leg.context)
        leg.exten = h.get(exten_key, leg.exten)
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
        if not number:
            number = call.tags.get("NUMBER", "")  # a customer we dialled first (campaigns)
        call.number_raw = number
        call.number = self.normalize(number) if number else ""
        channel = root.channel if root is not None else ""
        interface = device_of(channel) if call.direction == "outbound" else ""
        base = self._base(
            call.call_id, call.call_id, ev.CallArrived.kind, f"{call.started_at:.6f}", once=True
        )
        out.append(
            NEW.CallArrived(
                base,
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
            op.picked_up_at = op.picked_up_at or self._time(frame)

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
        h = frame.headers
        leg = self._leg_for(call, frame, prefix="Dest")
        if leg is None:
            return None
        leg.role = "operator"
        op = call.operators.get(leg.leg_id)
        if op is not None:
            return op
        op = OperatorLeg(
            leg.leg_id, leg.channel or h.get("DestChannel", ""), interface, member_name,
            self._time(frame),
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
            call.call_id, h.get("Uniqueid", ""), ev.CallOffered.kind, h.get("Timestamp", ""),
            interface,
        )  # fmt: skip
        out.append(
            NEW.CallOffered(
                base,
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
        h = frame.headers
        if op.answered_at is not None:
            return
        at = self._time(frame)
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
            call.call_id, h.get("Uniqueid", ""), ev.CallAnswered.kind, h.get("Timestamp", ""),
            op.interface,
        )  # fmt: skip
        out.append(
            NEW.CallAnswered(
                base,
                queue=op.queue,
                interface=op.interface,
                member_name=op.member_name,
                hold_seconds=hold,
                ring_seconds=ring,
                operator_leg_id=op.leg_id,
                via=op.via,
            )
        )

    def _consultation(
        self,
        call: Call,
        target: OperatorLeg,
        state: str,
        frame: Frame,
        out: list[ev.DomainEvent],
    ) -> None:
        """Where the attended transfer to ``target`` stands now (once per change)."""
        h = frame.headers
        if call.consult_state == state:
            return
        call.consult_state = "" if state in ("completed", "cancelled") else state
        holder = call.operators.get(call.current)
        by = holder.interface if holder is not None else ""
        base = self._base(
            call.call_id, target.leg_id, ev.ConsultationChanged.kind, h.get("Timestamp", ""),
            state,
        )  # fmt: skip
        out.append(
            NEW.ConsultationChanged(
                base,
                state=state,
                by_interface=by,
                by_name=holder.member_name if holder is not None else "",
                target_interface=target.interface,
                target_name=target.member_name,
            )
        )

    def _consultation_over(
        self, call: Call, op: OperatorLeg, frame: Frame, out: list[ev.DomainEvent]
    ) -> None:
        """The consulted ``op`` is gone before the customer reached them: cancelled (no
        transfer event says so — capture 19)."""
        if not op.consulting:
            return
        op.consulting = False
        self._consultation(call, op, "cancelled", frame, out)

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
        since = op.rejoined_at if op.rejoined_at is not None else op.answered_at
        part = talk if talk is not None else max(0.0, at - since)
        op.talk = op.earlier_talk + part
        op.reason = reason
        op.recordings = self._recordings_during(call, op.answered_at, at)
        if call.current == op.leg_id:
            call.current = ""
        if reason in ("caller", "operator"):
            call.hung_up_by = reason
        # the customer stays without a transfer event: a Redirect (its AgentComplete may say
        # "caller" at once, or only at the very end — capture 18); their next ring tells
        call.pending_move = (
            reason != "transfer"
            and not self._customer_gone(call)
            and not self._customer_in_conference(call)
        )
        # a part after she talked on in a conference room is a fact of its own
        again = (f"rejoin{op.rejoins}",) if op.rejoins else ()
        base = self._base(call.call_id, op.leg_id, ev.OperatorLeft.kind, stamp, *again, once=True)
        out.append(
            NEW.OperatorLeft(
                base,
                interface=op.interface,
                member_name=op.member_name,
                via=op.via,
                queue=op.queue,
                answered_at=op.answered_at,
                talk_seconds=part,
                reason=reason,
                operator_leg_id=op.leg_id,
                recordings=list(op.recordings),
                leg_talk_seconds=op.talk if op.rejoins else None,
            )
        )

    def _customer_in_conference(self, call: Call) -> bool:
        return any(
            leg.in_conference and leg.ended_at is None and self._customer_side(call, leg)
            for leg in call.legs.values()
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
        h = frame.headers
        call.transfer_log.append(transfer)
        call.pending_move = False
        base = self._base(
            call.call_id, "", ev.CallTransferred.kind, h.get("Timestamp", ""), transfer.target
        )
        out.append(
            NEW.CallTransferred(
                base,
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
                    NEW.CallLeftQueue(
                        base, queue=call.queue, reason="exit", hold_seconds=call.wait or 0.0
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
            NEW.CallEnded(
                base,
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
