"""AMI frames → the lifecycle of every call on one Asterisk server, as typed domain events.

A call is keyed by (server, ``Linkedid``); its legs by ``Uniqueid``; each operator who rings for
it has an operator leg of their own (queue offers, direct and sticky ``Dial``s, transfer
targets, consultations, the phone of a call we place), with their own talk. The tracker is pure
and synchronous: ``feed(frame)`` returns the domain events that frame caused. The same tracker
runs live (connector) and offline (``contact-center replay``), so a capture replayed gives the
very events — with the very idempotency keys — that the live service produced.

Robustness rules, because the AMI stream is not a clean log:
- a duplicated frame (same event, Asterisk timestamp and identities) is dropped;
- a frame for a call that already ended is ignored (it must not resurrect the call);
- a leg hung up before its ``Newchannel`` arrived stays hung up;
- state transitions are idempotent (a second ``AgentConnect`` for the same operator leg, a second
  ``Hangup`` for a leg, … change nothing and emit nothing).

Each concern lives in its own module under ``ami/tracking/`` (see its package docstring); the
handler table — and so :data:`TRACKED_EVENTS` — is collected from their ``@handles`` marks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from contact_center.ami.parser import EVENT, Frame, FrameFilter
from contact_center.ami.tracking.channels import VOICEMAIL_APPLICATIONS, ChannelEvents
from contact_center.ami.tracking.conferences import ConferenceEvents
from contact_center.ami.tracking.core import handler_table
from contact_center.ami.tracking.duplicates import DuplicateFilter
from contact_center.ami.tracking.legs import LegEvents
from contact_center.ami.tracking.members import MemberEvents
from contact_center.ami.tracking.outbound import TAG_VARIABLES, OutboundEvents
from contact_center.ami.tracking.queues import QueueEvents
from contact_center.ami.tracking.recording import RECORDING_VARIABLE, RecordingEvents
from contact_center.ami.tracking.records import RecordEvents
from contact_center.ami.tracking.state import (
    IVR_APPLICATIONS,
    ORIGINATE_CONTEXT,
    OUTBOUND_ID_PREFIX,
    Call,
    LiveChannels,
    OperatorLeg,
    QueueProgress,
    RecordedCall,
    consulted_by,
    device_of,
    identity,
)
from contact_center.ami.tracking.transfers import TransferEvents
from contact_center.calls import events as ev
from contact_center.calls.model import CallState

__all__ = [
    "ORIGINATE_CONTEXT",
    "OUTBOUND_ID_PREFIX",
    "TRACKED_EVENTS",
    "TRACKER_FILTER",
    "CallTracker",
    "LiveChannels",
    "QueueProgress",
    "RecordedCall",
]

log = logging.getLogger(__name__)

FrameHandler = Callable[[Frame, list[ev.DomainEvent]], None]


class CallTracker(
    ChannelEvents,
    QueueEvents,
    MemberEvents,
    LegEvents,
    TransferEvents,
    ConferenceEvents,
    RecordingEvents,
    OutboundEvents,
    RecordEvents,
):
    """Turns the AMI frames of one server into domain events; holds every live call.

    ``normalize`` maps a raw caller number to its stored form (E.164, or the extension as is).
    """

    def __init__(self, server_id: str, normalize: Callable[[str], str] = identity) -> None:
        super().__init__(server_id, normalize)
        self._duplicates = DuplicateFilter()
        self._seen_before = self._duplicates.seen_before  # bound once: runs for every frame
        # event name → one callable: the bound handler, or the handlers of that event in turn
        self._handlers = {
            event: _in_turn(tuple(getattr(self, name) for name in names))
            for event, names in HANDLERS.items()
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
        """Which channels to act on for a live call — the operator who holds it now (after
        transfers: the last one the customer was connected to); None when not live."""
        call = self._calls.get(call_id)
        if call is None:
            return None
        if call.direction == "outbound":
            return _outbound_channels(call)
        caller = call.legs.get(call.caller_leg) or call.legs.get(call.call_id)
        holder = call.operators.get(call.current)
        holding = holder is not None and holder.talking
        if not holding:
            # an operator still in the call's conference room holds it there, whatever the
            # queue said of her part (a PBX may complete it as she went in)
            in_room = _operator_in_room(call)
            if in_room is not None:
                holder, holding = in_room, True
        consulted = consulted_by(call)
        in_a_room = holder is not None and holding and _leg_in_room(call, holder.leg_id)
        return LiveChannels(
            call_id=call.call_id,
            caller_channel=caller.channel if caller is not None else "",
            operator_channel=holder.channel if holder is not None and holding else "",
            operator_interface=holder.interface if holder is not None and holding else "",
            queue=call.queue,
            direction=call.direction,
            consulting=consulted.interface if consulted is not None and holding else "",
            room=call.conference if in_a_room else "",
        )

    def is_ended(self, call_id: str) -> bool:
        return call_id in self._ended

    def feed(self, frame: Frame) -> list[ev.DomainEvent]:
        """The domain events caused by one frame (often none)."""
        name = frame.name
        handler = self._handlers.get(name)
        if handler is None or frame.kind != EVENT or self._seen_before(frame):
            return []
        out: list[ev.DomainEvent] = []
        try:
            handler(frame, out)
        except (KeyError, ValueError, TypeError):
            log.exception("AMI %s frame not understood; skipped: %r", name, frame.headers)
        return out

    def feed_all(self, frames: Iterable[Frame]) -> list[ev.DomainEvent]:
        out: list[ev.DomainEvent] = []
        for frame in frames:
            out.extend(self.feed(frame))
        return out

    def frame_filter(self) -> FrameFilter:
        """The parser filter that keeps exactly what this tracker reads (plus action replies)."""
        return TRACKER_FILTER


def _in_turn(handlers: tuple[FrameHandler, ...]) -> FrameHandler:
    """One callable for an event's handlers: the handler itself when there is one (most
    events), else a function calling each in turn, base classes' first."""
    if len(handlers) == 1:
        return handlers[0]
    if len(handlers) == 2:
        first, second = handlers

        def both(frame: Frame, out: list[ev.DomainEvent]) -> None:
            first(frame, out)
            second(frame, out)

        return both

    def each(frame: Frame, out: list[ev.DomainEvent]) -> None:
        for handler in handlers:
            handler(frame, out)

    return each


def _operator_in_room(call: Call) -> OperatorLeg | None:
    """The operator who last answered the call and whose channel is in its room now."""
    for op in reversed(list(call.operators.values())):
        leg = call.legs.get(op.leg_id)
        if op.answered_at is not None and leg is not None and leg.in_conference:
            if leg.ended_at is None:
                return op
    return None


def _leg_in_room(call: Call, leg_id: str) -> bool:
    """The leg is live and in the call's ConfBridge room now."""
    leg = call.legs.get(leg_id)
    return leg is not None and leg.in_conference and leg.ended_at is None and bool(call.conference)


def _outbound_channels(call: Call) -> LiveChannels:
    """Click-to-call: the first channel is the operator's phone; the customer is the leg
    cc-originate dialled (else the newest live leg not of the operator's own channel)."""
    root = call.legs.get(call.call_id)
    root_channel = root.channel if root is not None and root.ended_at is None else ""
    base = device_of(root.channel) if root is not None else ""
    customer = ""
    known = call.legs.get(call.customer_leg)
    if known is not None and known.ended_at is None:
        customer = known.channel
    else:
        for leg in call.legs.values():
            if leg.ended_at is None and leg.channel and device_of(leg.channel) != base:
                customer = leg.channel
    return LiveChannels(
        call_id=call.call_id,
        caller_channel=customer,
        operator_channel=root_channel,
        operator_interface=base,
        queue=call.queue,
        direction=call.direction,
        room=call.conference if root is not None and _leg_in_room(call, root.leg_id) else "",
    )


HANDLERS = handler_table(CallTracker)

# Connection-level events the connection itself reads.
CONNECTION_EVENTS = frozenset({"FullyBooted", "Shutdown"})
TRACKED_EVENTS = frozenset(HANDLERS) | CONNECTION_EVENTS

TRACKER_FILTER = FrameFilter(
    events=TRACKED_EVENTS,
    keep_action_replies=False,  # the connection turns replies on while it awaits answers
    only_if={
        "VarSet": ("Variable", frozenset({RECORDING_VARIABLE, *TAG_VARIABLES})),
        # ``Dial`` too: in cc-originate it names the number an outbound call dials
        "Newexten": (
            "Application",
            frozenset((*IVR_APPLICATIONS, *VOICEMAIL_APPLICATIONS, "Dial")),
        ),
    },
)
