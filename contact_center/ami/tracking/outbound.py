"""Calls we place (click-to-call, callbacks): the operator's phone first, then the customer.

Our Originate names the first channel ``cc-out-<hex>`` (``ChannelId``) — the operator's phone
— and, once it answers, ``cc-originate`` dials the customer (capture 21; 27's click-to-call).
The operator's ring is the offer (the pop shows the customer's card while it rings); the
customer's ``DialEnd DialStatus`` is the outcome (``core.outbound_outcome``). Asterisk's own
``DialBegin``/``DialEnd`` of the originated leg have no ``Channel`` (only ``Dest*``), and the
``OriginateResponse`` may come after the dialplan already dialled the customer.
"""

from __future__ import annotations

from contact_center.ami.parser import Frame
from contact_center.ami.tracking.core import NEW, TrackerCore, handles
from contact_center.ami.tracking.state import (
    ORIGINATE_CONTEXT,
    PLACED_ID_PREFIX,
    SUPERVISOR_CONTEXT,
    TAG_PREFIX,
)
from contact_center.calls import events as ev

# Variables of our Originates (set on both halves of the first channel): what the call is.
TAG_VARIABLES = frozenset(
    {"CC_KIND", "CC_CALLBACK_ID", "CC_CUSTOMER_ID", "CC_OPERATOR", "CC_NUMBER"}
)


class OutboundEvents(TrackerCore):
    @handles("VarSet")
    def _on_tag(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        variable = h.get("Variable", "")
        if variable not in TAG_VARIABLES:
            return
        call = self._call_or_new(frame)
        if call is None or h.get("Uniqueid", "") != call.call_id:
            return  # only the call's first channel speaks for the call
        call.tags[variable.removeprefix(TAG_PREFIX)] = h.get("Value", "")
        if variable == "CC_NUMBER" and call.direction == "outbound":
            call.did = call.did or h.get("Value", "")
            self._ring_placed_call(call, out)

    @handles("DialBegin")
    def _on_outbound_dial_begin(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_or_new(frame)
        if call is None or call.direction != "outbound":
            return
        dest_id = h.get("DestUniqueid", "")
        if not h.get("Channel", ""):
            if dest_id == call.call_id:
                call.held_ring = frame
                self._ring_placed_call(call, out)
            return
        if h.get("Context", "") != ORIGINATE_CONTEXT:
            return
        # cc-originate dials the customer: Exten is the number
        if not call.arrived or not call.did:
            call.did = h.get("Exten", "")
        self._ring_placed_call(call, out)
        self._ensure_arrived(call, frame, out, force=True)
        customer = self._leg_for(call, frame, prefix="Dest")
        if customer is not None:
            customer.role = "caller"
            call.customer_leg = call.caller_leg = customer.leg_id

    @handles("DialEnd")
    def _on_outbound_dial_end(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_for(frame)
        if call is None or call.direction != "outbound":
            return
        at = self._time(frame)
        status = h.get("DialStatus", "")
        if not h.get("Channel", ""):
            op = call.operators.get(h.get("DestUniqueid", ""))
            if op is None or op.picked_up_at is not None or op.ended_at is not None:
                return
            if status == "ANSWER":
                op.picked_up_at = at  # the operator's phone; the customer is dialled next
                return
            op.ended_at = at
            base = self._base(
                call.call_id, "", ev.CallRingNoAnswer.kind, h.get("Timestamp", ""), op.interface
            )
            out.append(
                NEW.CallRingNoAnswer(
                    base,
                    queue="",
                    interface=op.interface,
                    member_name=op.member_name,
                    ring_seconds=at - op.offered_at,
                    via="outbound",
                )
            )
            return
        if not call.customer_leg and h.get("Context", "") == ORIGINATE_CONTEXT:
            # the end of the customer's ring overtook its DialBegin (frames reordered)
            customer = self._leg_for(call, frame, prefix="Dest")
            if customer is not None:
                customer.role = "caller"
                call.customer_leg = call.caller_leg = customer.leg_id
        if h.get("DestUniqueid", "") != call.customer_leg or call.customer_status:
            return
        call.customer_status = status
        op = call.operators.get(call.call_id)
        if status == "ANSWER" and op is not None:
            customer = call.legs.get(call.customer_leg)
            ring = at - customer.started_at if customer is not None else 0.0
            self._connect_operator(call, op, frame, out, hold=0.0, ring=ring)

    @handles("OriginateResponse")
    def _on_originate_response(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        """What an Originate of ours became: a supervisor's ChanSpy, or an operator's phone
        that never answered (``Response: Failure``)."""
        h = frame.headers
        call = self._calls.get(self._leg_call.get(h.get("Uniqueid", ""), ""))
        if call is None or not call.call_id.startswith(PLACED_ID_PREFIX):
            # Asterisk tells every AMI session of every Originate. Another client's (a CRM's
            # click-to-dial, a panel) is any call to us: its channel events announce it. Its
            # OriginateResponse may overtake the caller ID's NewCallerid (a real Asterisk
            # 22.10.1 delivered it first about one call in five), so forcing the arrival
            # here announced such calls without a number: no customer on the pop.
            return
        if h.get("Context", "") == SUPERVISOR_CONTEXT and call.direction != "outbound":
            call.direction = "supervisor"
        if call.direction == "outbound" and not call.did:
            call.did = h.get("Exten", "")
            self._ring_placed_call(call, out)
        if h.get("Response", "") == "Success":
            self._ensure_arrived(call, frame, out, force=True)
