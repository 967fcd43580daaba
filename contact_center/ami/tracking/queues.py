"""A call in a queue: joined, offered to members, answered, completed, abandoned.

A call may visit several queues (a blind transfer into another queue re-runs ``[to-queue]`` on
the same channel); each visit's operator is its own operator leg. ``AgentComplete`` may lack
either side's headers (capture 20: only ``Dest*``; 18: no ``Dest*``): it is keyed on the call
(``Linkedid`` or ``DestLinkedid``) and the member (``Interface`` + ``Queue``)."""

from __future__ import annotations

from contact_center.ami.parser import Frame
from contact_center.ami.tracking.core import NEW, TrackerCore, handles
from contact_center.ami.tracking.state import (
    Call,
    OperatorLeg,
    TransferState,
    pair_of,
    to_float,
    to_int,
)
from contact_center.calls import events as ev

# AgentComplete Reason → how the operator's part ended
COMPLETE_REASONS = {"caller": "caller", "agent": "operator", "transfer": "transfer"}


class QueueEvents(TrackerCore):
    @handles("QueueCallerJoin")
    def _on_queue_join(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_or_new(frame)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        queue = h.get("Queue", "")
        already_waiting = call.queued_at is not None and call.left_queue_at is None
        if leg is None or (call.queue == queue and already_waiting):
            return
        self._update_leg(call, leg, frame)
        self._ensure_arrived(call, frame, out, force=True)
        if call.talked() and not self._customer_side(call, leg):
            # an attended transfer's consultation queues for the next operator: the
            # customer stays with the transferring one until the transfer completes
            self._consultations[leg.leg_id] = queue
            return
        if call.pending_move and call.talked():
            # an operator left, the customer stayed, and now joins a queue: a Redirect
            last = call.talked()[-1]
            self._record_transfer(
                call, frame, out, TransferState("redirect", queue, last.interface),
                h.get("Context", ""),
            )  # fmt: skip
        call.caller_leg = leg.leg_id
        if call.connected_at is None:
            call.queue = queue  # the call's queue: the one that took it (see core.Call)
        call.queued_at = self._time(frame)
        call.left_queue_at = None
        call.queue_answered = False
        if call.current == "":
            call.phase = "queued"
        base = self._base(
            call.call_id, leg.leg_id, ev.CallQueued.kind, h.get("Timestamp", ""), queue
        )
        out.append(
            NEW.CallQueued(
                base,
                queue=queue,
                position=to_int(h.get("Position", "")),
                priority=to_int(h.get("Priority", "")),
                count=to_int(h.get("Count", "")),
            )
        )

    @handles("QueueCallerLeave")
    def _on_queue_leave(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame)
        if call is None or call.left_queue_at is not None:
            return
        call.left_queue_at = self._time(frame)
        if call.queued_at is not None and call.connected_at is None:
            call.wait = self._time(frame) - call.queued_at

    @handles("QueueCallerAbandon")
    def _on_queue_abandon(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_for(frame)
        if call is None or call.queue_answered:
            return
        hold = (
            self._time(frame) - call.queued_at
            if call.queued_at is not None
            else to_float(h.get("HoldTime", ""))
        )
        if call.connected_at is None:
            if call.abandoned:
                return
            call.abandoned = True
            call.wait = hold
        base = self._base(
            call.call_id, h.get("Uniqueid", ""), ev.CallAbandoned.kind, h.get("Timestamp", "")
        )
        out.append(
            NEW.CallAbandoned(
                base,
                queue=h.get("Queue", ""),
                position=to_int(h.get("Position", "")),
                original_position=to_int(h.get("OriginalPosition", "")),
                hold_seconds=hold,
            )
        )

    @handles("AgentCalled")
    def _on_agent_called(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_or_new(frame)
        if call is None:
            return
        op = call.operators.get(h.get("DestUniqueid", ""))
        if op is not None:
            op.via, op.queue = "queue", h.get("Queue", "")  # its Dial came first
            return
        op = self._open_operator(
            call,
            frame,
            out,
            interface=h.get("Interface", ""),
            member_name=h.get("MemberName", ""),
            via="queue",
            queue=h.get("Queue", ""),
        )
        if op is not None and h.get("Uniqueid", "") in self._consultations:
            op.consult_pair = pair_of(h.get("Channel", ""))
            op.consulting = True

    @handles("AgentRingNoAnswer")
    def _on_ring_no_answer(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_for(frame)
        if call is None:
            return
        interface = h.get("Interface", "")
        if call.phase == "offered":
            call.phase = "queued"
        base = self._base(
            call.call_id, h.get("Uniqueid", ""), ev.CallRingNoAnswer.kind,
            h.get("Timestamp", ""), interface,
        )  # fmt: skip
        out.append(
            NEW.CallRingNoAnswer(
                base,
                queue=h.get("Queue", ""),
                interface=interface,
                member_name=h.get("MemberName", ""),
                ring_seconds=to_float(h.get("RingTime", "")) / 1000.0,  # app_queue gives ms
            )
        )

    @handles("AgentConnect")
    def _on_agent_connect(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_or_new(frame)
        if call is None:
            return
        op = call.operators.get(h.get("DestUniqueid", ""))
        if op is None:
            if self._records_operator(call, h.get("Interface", "")) is not None:
                return  # queue_log already told us of this answer (a restart mid-call)
            # AgentCalled missed (the connector started mid-ring): the answer is the offer
            op = self._open_operator(
                call, frame, out, interface=h.get("Interface", ""),
                member_name=h.get("MemberName", ""), via="queue", queue=h.get("Queue", ""),
            )  # fmt: skip
            if op is None:
                return
        if op.answered_at is not None:
            return
        self._ensure_arrived(call, frame, out, force=True)
        at = self._time(frame)
        op.queue = h.get("Queue", "") or op.queue
        if op.consulting:
            op.picked_up_at = at  # talks to the transferring operator for now
            op.hold = to_float(h.get("HoldTime", ""))
            return
        if call.queued_at is not None:
            hold = (call.left_queue_at or at) - call.queued_at
        else:
            hold = to_float(h.get("HoldTime", ""))
        self._connect_operator(
            call, op, frame, out, hold=hold, ring=to_float(h.get("RingTime", ""))
        )

    def _records_operator(self, call: Call, interface: str) -> OperatorLeg | None:
        return next(
            (
                op
                for op in reversed(list(call.operators.values()))
                if op.from_records and op.interface in (interface, "")
            ),
            None,
        )

    @handles("AgentComplete")
    def _on_agent_complete(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_or_new(frame)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is not None:
            self._update_leg(call, leg, frame)
        interface = h.get("Interface", "")
        op = call.operators.get(h.get("DestUniqueid", "")) or self._queue_operator(
            call, interface, h.get("Queue", ""), h.get("MemberName", "")
        )
        if op is None:
            op = self._adopt_answer(call, frame)
            self._ensure_arrived(call, frame, out, force=True)
        reason = h.get("Reason", "")
        talk_seconds = to_float(h.get("TalkTime", ""))
        ended_consultation = bool(op.consult_pair) and op.consult_pair == pair_of(
            h.get("Channel", "")
        )
        if op.talking and not ended_consultation:
            self._stop_operator(
                call, op, self._time(frame), h.get("Timestamp", ""), out,
                reason=COMPLETE_REASONS.get(reason, "ended"),
                talk=talk_seconds if op.from_records else None,
            )  # fmt: skip
        base = self._base(
            call.call_id, h.get("Uniqueid", ""), ev.AgentCompleted.kind, h.get("Timestamp", "")
        )
        out.append(
            NEW.AgentCompleted(
                base,
                queue=h.get("Queue", ""),
                interface=interface,
                member_name=h.get("MemberName", ""),
                hold_seconds=to_float(h.get("HoldTime", "")),
                talk_seconds=op.talk if op.talk is not None else talk_seconds,
                reason=reason,
            )
        )

    @staticmethod
    def _queue_operator(call: Call, interface: str, queue: str, member: str) -> OperatorLeg | None:
        """The member's leg of this queue visit (the newest one of that member)."""
        for op in reversed(list(call.operators.values())):
            if op.via != "queue" or op.queue not in (queue, ""):
                continue
            if op.interface == interface or (op.from_records and op.member_name == member):
                return op
        return None

    def _adopt_answer(self, call: Call, frame: Frame) -> OperatorLeg:
        """An ``AgentComplete`` for a call whose answer we never saw (the connector started
        mid-call, and neither queue_log nor the lists told us): it says who took the call,
        how long the caller waited and how long they talked."""
        h = frame.headers
        talk = to_float(h.get("TalkTime", ""))
        hold = to_float(h.get("HoldTime", ""))
        at = self._time(frame) - talk
        interface = h.get("Interface", "")
        leg_id = h.get("DestUniqueid", "") or f"agentcomplete:{interface}:{h.get('Queue', '')}"
        op = OperatorLeg(leg_id, h.get("DestChannel", ""), interface, "", at)
        op.member_name = h.get("MemberName", "") or interface
        op.queue = h.get("Queue", "")
        op.from_records = True
        op.answered_at = at
        op.hold = hold
        call.operators[leg_id] = op
        call.queue = op.queue or call.queue
        if call.connected_at is None:
            call.agent = op.member_name
            call.agent_interface = interface
            call.connected_at = at
            call.wait = hold
        call.left_queue_at = call.left_queue_at or at
        if call.queued_at is None:
            call.queued_at = at - hold
        if call.answered_at is None:
            call.answered_at = at
        return op
