"""Operators rung outside a queue: a plain ``Dial()`` from the customer's leg (the sticky
``Dial(PJSIP/101)`` before the queue, an internal call, a blind-transfer or redirect target) or
from a consultation (an attended transfer's Local channel dialling the next operator).

No queue event tells of these (captures 17, 18, 20, 27): ``DialBegin`` is the ring (the pop),
``DialEnd ANSWER`` the answer. A queue's own legs are left to ``AgentCalled``/``AgentConnect``
(their ``DialBegin`` follows the ``AgentCalled`` that already offered them)."""

from __future__ import annotations

from contact_center.ami.parser import Frame
from contact_center.ami.tracking.core import NEW, TrackerCore, handles
from contact_center.ami.tracking.state import (
    ANSWERING,
    ORIGINATE_CONTEXT,
    TransferState,
    device_of,
    pair_of,
)
from contact_center.calls import events as ev

# A Dial towards the provider is a customer, not an operator (deploy: PJSIP/<number>@trunk).
EXTERNAL_DIAL_MARK = "@trunk"
# Transfers run through this dialplan context (deploy and captures: [transfer-targets]): a
# Local channel into it is plumbing, not a person.
TRANSFER_CONTEXT = "transfer-targets"


class LegEvents(TrackerCore):
    @handles("DialBegin")
    def _on_dial_begin(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        if not h.get("Channel", "") or h.get("Context", "") == ORIGINATE_CONTEXT:
            return  # an Originate's first leg, or a call we place (see outbound)
        call = self._call_or_new(frame)
        if call is None or call.direction not in ANSWERING:
            return
        dest_id = h.get("DestUniqueid", "")
        if not dest_id or dest_id in call.operators:
            return  # a queue member's leg: AgentCalled offered it
        if EXTERNAL_DIAL_MARK in h.get("DialString", ""):
            return
        if f"@{TRANSFER_CONTEXT}-" in h.get("DestChannel", ""):
            return  # a consultation's own Local channel; the person is who it dials next
        dialler = self._leg_for(call, frame)
        if dialler is None:
            return
        self._update_leg(call, dialler, frame)
        interface = device_of(h.get("DestChannel", ""))
        member = self._member_name(interface)
        if self._customer_side(call, dialler):
            call.caller_leg = call.caller_leg or dialler.leg_id
            talked = call.talked()
            if call.pending_move and talked:
                # an operator left, the customer stayed, and is now dialled elsewhere: a
                # Redirect (no transfer event says so)
                redirect = TransferState("redirect", h.get("Exten", ""), talked[-1].interface)
                self._record_transfer(call, frame, out, redirect, h.get("Context", ""))
            via = "transfer" if talked or call.transfer_log else "direct"
            self._open_operator(call, frame, out, interface=interface, member_name=member, via=via)
            return
        # Someone else's channel dials an operator: a consultation of an attended transfer
        # (the Local/<exten>@transfer-targets pair, or the transferring operator's phone).
        op = self._open_operator(
            call, frame, out, interface=interface, member_name=member, via="transfer"
        )
        if op is not None and op.answered_at is None:
            op.consult_pair = pair_of(dialler.channel)
            op.consulting = True
            call.consult_state = ""
            self._consultation(call, op, "ringing", frame, out)

    @handles("DialEnd")
    def _on_dial_end(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        if not h.get("Channel", "") or h.get("Context", "") == ORIGINATE_CONTEXT:
            return
        call = self._call_for(frame)
        if call is None or call.direction not in ANSWERING:
            return
        op = call.operators.get(h.get("DestUniqueid", ""))
        if op is None or op.via == "queue" or op.ended_at is not None:
            return  # not an operator, or a queue's leg (AgentConnect, AgentRingNoAnswer)
        at = self._time(frame)
        if h.get("DialStatus", "") == "ANSWER":
            op.picked_up_at = at
            if op.consulting:
                # talks to the transferring operator until the transfer completes (unless
                # they swapped back to the customer while it rang)
                back = call.consult_state == "with_caller"
                self._consultation(call, op, "with_caller" if back else "talking", frame, out)
                return
            self._ensure_arrived(call, frame, out, force=True)
            self._connect_operator(call, op, frame, out, hold=0.0, ring=at - op.offered_at)
            return
        op.ended_at = at
        self._consultation_over(call, op, frame, out)
        base = self._base(
            call.call_id, h.get("Uniqueid", ""), ev.CallRingNoAnswer.kind,
            h.get("Timestamp", ""), op.interface,
        )  # fmt: skip
        out.append(
            NEW.CallRingNoAnswer(
                base,
                queue="",
                interface=op.interface,
                member_name=op.member_name,
                ring_seconds=at - op.offered_at,
                via=op.via,
            )
        )
