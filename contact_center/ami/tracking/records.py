"""Asterisk's durable records (Master.csv, queue_log) after an AMI gap or a restart: close the
calls that ended meanwhile, learn how far a call still in a queue got."""

from __future__ import annotations

from contact_center.ami.tracking.core import NEW, TrackerCore
from contact_center.ami.tracking.state import Call, Leg, OperatorLeg, QueueProgress, RecordedCall
from contact_center.calls import events as ev


class RecordEvents(TrackerCore):
    def close_from_records(self, record: RecordedCall) -> list[ev.DomainEvent]:
        """End a call from Asterisk's durable records after an AMI gap — exactly once.

        A live call is closed with what the records add; a call never seen (it began and ended
        inside the gap) is announced and closed; an already ended call yields nothing."""
        if record.call_id in self._ended:
            return []
        out: list[ev.DomainEvent] = []
        call = self._calls.get(record.call_id)
        if call is None:
            call = Call(record.call_id, record.started_at)
            self._calls[record.call_id] = call
            call.did = record.did
            call.number_raw = record.caller_number
            call.number = self.normalize(record.caller_number) if record.caller_number else ""
            call.name = record.caller_name
            call.arrived = True
            stamp = f"{record.started_at:.6f}"
            base = self._base(call.call_id, call.call_id, ev.CallArrived.kind, stamp, once=True)
            out.append(
                NEW.CallArrived(
                    base,
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

    def _apply_progress(self, call: Call, progress: QueueProgress) -> None:
        if call.queued_at is None:
            call.queue = call.queue or progress.queue
            call.queued_at = progress.entered_at
            call.caller_leg = call.caller_leg or progress.leg_id
            if call.phase in ("arrived", "ivr"):
                call.phase = "queued"
        if progress.member_name and call.connected_at is None and progress.connected_at:
            call.queue = progress.queue or call.queue
            interface = self._interface_of(call.queue, progress.member_name)
            # queue_log does not name the operator's channel: a leg of its own, matched to
            # the member's AgentComplete by name
            leg_id = f"queue_log:{progress.leg_id}:{progress.member_name}"
            op = OperatorLeg(leg_id, "", interface, progress.member_name, progress.entered_at)
            op.queue = call.queue
            op.from_records = True
            op.answered_at = progress.connected_at
            op.hold = progress.hold_seconds
            call.operators[leg_id] = op
            call.agent = progress.member_name
            call.agent_interface = interface
            call.connected_at = progress.connected_at
            call.left_queue_at = progress.connected_at
            call.queue_answered = True
            if call.answered_at is None:
                call.answered_at = progress.connected_at
            call.wait = progress.hold_seconds
            call.phase = "connected"

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
                root = Leg(call.call_id, "", call.started_at)
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
