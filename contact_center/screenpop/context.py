"""What happened so far in each live call, folded from its domain events (no I/O).

The card of a transferred or re-queued call shows this to the next operator: the IVR path and
digits, the queues with their waits, who had the call before and how it was passed on.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from contact_center.calls import events as ev

MASK = "•••"  # shown instead of digits the IVR marked sensitive (card numbers, PINs)


@dataclass(frozen=True, slots=True)
class IvrStepView:
    menu: str
    node: str
    digits: str
    result: str


@dataclass(frozen=True, slots=True)
class QueueVisit:
    queue: str
    joined_at: float
    position: int


@dataclass(frozen=True, slots=True)
class TransferView:
    transfer_type: str
    target: str
    by_interface: str


@dataclass
class CallContext:
    """Mutable per-call state owned by one :class:`CallContexts` (one consumer, in order)."""

    server: str
    call_id: str
    started_at: float = 0.0
    caller_number: str = ""
    caller_number_raw: str = ""
    caller_name: str = ""
    did: str = ""
    # Its CallArrived was seen here (else the caller is read from the calls table: a worker
    # that took the screen pop over mid-call, a restart).
    arrived: bool = False
    ivr: list[IvrStepView] = field(default_factory=list)
    queues: list[QueueVisit] = field(default_factory=list)
    identified_customer_id: int | None = None
    identified_by: str = ""
    offered: set[str] = field(default_factory=set)  # interfaces ringing or holding a pop
    popped: set[str] = field(default_factory=set)  # interfaces a pop was published to
    # The offer card rendered ahead (when the caller queued): (inputs it used, found, html).
    prerendered: tuple[tuple[Any, ...], Any, str] | None = None

    def rendered_inputs(self) -> tuple[Any, ...]:
        """What the card frame shows of this call, but the stage, interface and wait."""
        return (
            self.caller_number,
            self.caller_number_raw,
            self.caller_name,
            self.did,
            len(self.ivr),
            len(self.queues),
            len(self.transfers),
            len(self.operators),
            len(self.notes),
            self.identified_customer_id,
        )

    direction: str = "inbound"  # inbound | outbound | internal | supervisor
    kind: str = ""  # the Originate's CC_KIND of a call we place (callback …)
    via: dict[str, str] = field(default_factory=dict)  # interface -> how its ring came
    answered_by: str = ""
    operators: list[str] = field(default_factory=list)  # interfaces that answered, in order
    transfers: list[TransferView] = field(default_factory=list)
    # Notes operators typed on this call so far (user, text): a transfer note travels with it.
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def queue(self) -> str:
        return self.queues[-1].queue if self.queues else ""

    def waited(self, now: float) -> float:
        """Seconds in the current queue until ``now`` (0 outside a queue)."""
        if not self.queues:
            return 0.0
        return max(0.0, now - self.queues[-1].joined_at)

    def previous_operator(self, interface: str) -> str:
        """The last other operator who had this call (for a transfer / re-queue)."""
        for other in reversed(self.operators):
            if other != interface:
                return other
        for transfer in reversed(self.transfers):
            if transfer.by_interface and transfer.by_interface != interface:
                return transfer.by_interface
        return ""

    def path(self, interface: str) -> str:
        """How this call reached ``interface``: queue | direct (a sticky or internal ring) |
        transfer | callback | outbound (a click-to-call); "" when not known."""
        via = self.via.get(interface) or ("queue" if self.queues else "")
        if via == "outbound" or self.direction == "outbound":
            return "callback" if self.kind == "callback" else "outbound"
        return via if via in ("queue", "direct", "transfer") else ""

    @property
    def ivr_digits(self) -> str:
        """Each digit once: a FastAGI IVR's own steps carry the digits it read, which Asterisk
        also reported key by key (DTMF steps, result "digit"); those count only without."""
        own = [s for s in self.ivr if s.result != "digit"]
        steps = own if any(s.digits for s in own) else [s for s in self.ivr if s.digits]
        return "".join(MASK if s.digits == MASK else s.digits for s in steps)


class CallContexts:
    """The contexts of live calls, bounded: calls whose end we never saw age out."""

    def __init__(self, max_calls: int = 50_000) -> None:
        self.max_calls = max_calls
        self._calls: OrderedDict[tuple[str, str], CallContext] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def get(self, server: str, call_id: str) -> CallContext | None:
        return self._calls.get((server, call_id))

    def of(self, event: ev.DomainEvent) -> CallContext:
        key = (event.server, event.call_id)
        ctx = self._calls.get(key)
        if ctx is None:
            ctx = self._calls[key] = CallContext(event.server, event.call_id, event.at)
            while len(self._calls) > self.max_calls:
                self._calls.popitem(last=False)
        return ctx

    def end(self, event: ev.DomainEvent) -> CallContext | None:
        return self._calls.pop((event.server, event.call_id), None)

    def apply(self, event: ev.DomainEvent) -> CallContext | None:
        """Fold one event into its call's context; None for events of no call."""
        if not event.call_id:
            return None
        ctx = self.of(event)
        match event:
            case ev.CallArrived():
                ctx.arrived = True
                ctx.started_at = event.at
                ctx.caller_number = event.caller_number
                ctx.caller_number_raw = event.caller_number_raw
                ctx.caller_name = event.caller_name
                ctx.did = event.did
                ctx.direction = event.direction
                ctx.kind = event.tags.get("KIND", "")
            case ev.IvrStep():
                digits = MASK if event.sensitive and event.digits else event.digits
                ctx.ivr.append(IvrStepView(event.menu, event.node, digits, event.result))
            case ev.CallQueued():
                ctx.queues.append(QueueVisit(event.queue, event.at, event.position))
            case ev.CallerIdentified():
                ctx.identified_customer_id = event.customer_id
                ctx.identified_by = event.method
            case ev.CallOffered():
                ctx.offered.add(event.interface)
                ctx.via[event.interface] = event.via
                if event.queue and event.queue != ctx.queue:
                    # Offered from a queue we never saw joined (we started mid-call).
                    ctx.queues.append(QueueVisit(event.queue, event.at, 0))
            case ev.CallRingNoAnswer():
                ctx.offered.discard(event.interface)
            case ev.CallAnswered():
                ctx.offered.add(event.interface)
                ctx.answered_by = event.interface
                if not ctx.operators or ctx.operators[-1] != event.interface:
                    ctx.operators.append(event.interface)
            case ev.OperatorFound() if event.interface not in ctx.offered:
                # answered while no connector listened: as if offered and answered (the card
                # is popped by the service, which sees it is not in ``popped``)
                if event.queue and event.queue != ctx.queue:
                    ctx.queues.append(QueueVisit(event.queue, event.rang_at, 0))
                ctx.offered.add(event.interface)
                ctx.answered_by = ctx.answered_by or event.interface
                if not ctx.operators or ctx.operators[-1] != event.interface:
                    ctx.operators.append(event.interface)
            case ev.CallTransferred():
                by = event.by_interface or ctx.answered_by
                ctx.transfers.append(TransferView(event.transfer_type, event.target, by))
            case ev.OperatorAction(action="note"):
                text = str(event.detail.get("text", "")).strip()
                if text:
                    ctx.notes.append((event.user, text))
            case _:
                pass
        return ctx
