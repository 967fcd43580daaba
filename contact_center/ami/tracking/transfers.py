"""Hold and transfers: who the customer talks to after a blind or attended transfer.

- ``BlindTransfer`` (17, 19): the transferring operator's leg (``TransfererChannel``) leaves at
  once; the target rings next (a ``Dial`` — see legs — or a queue).
- ``AttendedTransfer`` (17; AMI ``Atxfer`` or the phone's ``*2``): the transferring operator
  (``OrigTransfererChannel``) leaves; the customer joins the operator the consultation rang —
  ``TransferTargetChannel`` is the consultation's Local channel, whose pair dialled that
  operator's leg. ``LocalOptimization*``/``SwapUniqueid`` that follow change nothing we key on:
  the operator's own leg stays the one bridged to the customer.
- An abandoned consultation produces no transfer event at all (19): the consulted operator's
  ring ends (``DialEnd CANCEL``), the transferring operator is back with the customer.
- A ``Redirect`` produces none either (18): see ``pending_move`` (legs, queues).
"""

from __future__ import annotations

from contact_center.ami.parser import Frame
from contact_center.ami.tracking.core import NEW, TrackerCore, handles
from contact_center.ami.tracking.state import (
    TransferState,
    clean,
    consulted_by,
    device_of,
    pair_of,
)
from contact_center.calls import events as ev


class TransferEvents(TrackerCore):
    @handles("Hold", "Unhold")
    def _on_hold(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
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
            call.call_id, h.get("Uniqueid", ""), ev.CallHeld.kind, h.get("Timestamp", "")
        )
        out.append(NEW.CallHeld(base, held=held, channel=h.get("Channel", "")))

    @handles("BridgeEnter")
    def _on_bridge_enter(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        """The customer's bridge, and which side of a consultation the transferring
        operator is on: back in the customer's bridge after a swap (``atxferswap``), or in
        the consultation's bridge with the consulted operator."""
        h = frame.headers
        call = self._call_for(frame)
        if call is None:
            return
        leg = call.legs.get(h.get("Uniqueid", ""))
        bridge = h.get("BridgeUniqueid", "")
        if leg is not None and self._customer_side(call, leg):
            call.home_bridge = bridge
            return
        holder = call.operators.get(call.current)
        if holder is None or holder.leg_id != h.get("Uniqueid", "") or not call.home_bridge:
            return
        target = consulted_by(call)
        if target is None:
            return
        if bridge == call.home_bridge:
            self._consultation(call, target, "with_caller", frame, out)
        else:
            state = "talking" if target.picked_up_at is not None else "ringing"
            self._consultation(call, target, state, frame, out)

    @handles("BlindTransfer")
    def _on_blind_transfer(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        if h.get("Result", "Success") != "Success":
            return
        call = self._calls.get(h.get("TransfereeLinkedid", "") or h.get("TransfererLinkedid", ""))
        if call is None:
            return
        channel = h.get("TransfererChannel", "")
        op = self._operator_by_channel(call, channel, h.get("TransfererUniqueid", ""))
        by = op.interface if op is not None else device_of(channel)
        transfer = TransferState("blind", h.get("Extension", ""), by)
        self._record_transfer(call, frame, out, transfer, h.get("Context", ""))
        if op is not None:
            self._stop_operator(
                call, op, self._time(frame), h.get("Timestamp", ""), out, reason="transfer"
            )

    @handles("AttendedTransfer")
    def _on_attended_transfer(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        if h.get("Result", "Success") != "Success":
            return
        call = self._calls.get(
            h.get("OrigTransfererLinkedid", "") or h.get("TransfereeLinkedid", "")
        )
        if call is None:
            return
        channel = h.get("OrigTransfererChannel", "")
        transferer = self._operator_by_channel(call, channel, h.get("OrigTransfererUniqueid", ""))
        target_channel = h.get("TransferTargetChannel", "")
        target = next(
            (
                op
                for op in reversed(list(call.operators.values()))
                if op.ended_at is None
                and op is not transferer
                and target_channel
                and (op.consult_pair == pair_of(target_channel) or op.channel == target_channel)
            ),
            None,
        )
        exten = (
            h.get("TransferTargetExten", "")
            or (target.interface if target is not None else "")
            or clean(h.get("TransferTargetCallerIDNum", ""))
            or clean(h.get("SecondTransfererConnectedLineNum", ""))
            or h.get("SecondTransfererExten", "")
        )
        by = transferer.interface if transferer is not None else device_of(channel)
        if target is not None and target.consulting:
            self._consultation(call, target, "completed", frame, out)
        transfer = TransferState("attended", exten, by)
        self._record_transfer(call, frame, out, transfer, h.get("TransferTargetContext", ""))
        at, stamp = self._time(frame), h.get("Timestamp", "")
        if transferer is not None:
            self._stop_operator(call, transferer, at, stamp, out, reason="transfer")
        if target is None:
            return
        target.consulting = False  # the customer is theirs now
        if target.picked_up_at is not None:
            ring = target.picked_up_at - target.offered_at
            self._connect_operator(call, target, frame, out, hold=target.hold or 0.0, ring=ring)
        # else: transferred while still ringing — its DialEnd ANSWER connects it
