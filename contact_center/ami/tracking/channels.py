"""Channels: a call's legs appear, get a caller, run the IVR, and hang up."""

from __future__ import annotations

from bisect import insort

from contact_center.ami.parser import Frame
from contact_center.ami.tracking.core import NEW, TrackerCore, handles
from contact_center.ami.tracking.state import (
    AGI_APPLICATIONS,
    ANSWERING,
    IVR_APPLICATIONS,
    ORIGINATE_CONTEXT,
    OUTBOUND_ID_PREFIX,
    PLACED_ID_PREFIX,
    SUPERVISOR_CONTEXT,
    Call,
    device_of,
    to_int,
)
from contact_center.calls import events as ev

VOICEMAIL_APPLICATIONS = ("VoiceMail",)


class ChannelEvents(TrackerCore):
    @handles("Newchannel")
    def _on_newchannel(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_or_new(frame)
        if call is None:
            return
        h = frame.headers
        is_root = h.get("Uniqueid", "") == call.call_id
        if is_root:
            placed_by_us = call.call_id.startswith(OUTBOUND_ID_PREFIX)
            # Local/<number>@cc-originate
            dials_out = h.get("Context", "") == ORIGINATE_CONTEXT
            if (placed_by_us or dials_out) and not call.arrived:
                call.direction = "outbound"
                call.did = ""  # guessed from a leg seen first; ours is the customer's number
            elif h.get("Context", "") == SUPERVISOR_CONTEXT:
                call.direction = "supervisor"  # Local/listen@supervisor
            elif not call.call_id.startswith(PLACED_ID_PREFIX) and self._is_operator_device(
                device_of(h.get("Channel", ""))
            ):
                call.direction = "internal"  # an operator's phone calls someone
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        self._update_leg(call, leg, frame)
        if is_root:
            at = self._time(frame)
            call.started_at = min(call.started_at, at) if call.started_at else at
            if call.direction in ANSWERING or h.get("Context", "") == ORIGINATE_CONTEXT:
                call.did = h.get("Exten", "")
        elif not call.did and call.direction in ANSWERING:
            call.did = h.get("Exten", "")
        if leg.number and leg.role != "operator":
            self._ensure_arrived(call, frame, out, force=False)

    @handles("NewCallerid")
    def _on_newcallerid(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_or_new(frame)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        self._update_leg(call, leg, frame)
        if leg.role != "operator":
            self._ensure_arrived(call, frame, out, force=False)
        elif leg.leg_id == call.call_id:
            self._ring_placed_call(call, out)  # our Originate's CallerID names the customer

    @handles("Newstate")
    def _on_newstate(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_or_new(frame)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is not None:
            self._update_leg(call, leg, frame)

    @handles("Newexten")
    def _on_newexten(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        if h.get("Context", "") == ORIGINATE_CONTEXT:
            self._on_originate_exten(frame, out)
            return
        app = h.get("Application", "")
        if app not in IVR_APPLICATIONS and app not in VOICEMAIL_APPLICATIONS:
            return
        call = self._call_or_new(frame)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None or leg.role == "operator":
            return
        self._update_leg(call, leg, frame)
        if app in VOICEMAIL_APPLICATIONS:
            call.voicemail = True
            return
        if app in AGI_APPLICATIONS:
            call.in_agi = True
        self._ensure_arrived(call, frame, out, force=True)
        if call.phase == "arrived":
            call.phase = "ivr"
        stamp = h.get("Timestamp", "")
        base = self._base(call.call_id, leg.leg_id, ev.IvrStep.kind, stamp)
        out.append(
            NEW.IvrStep(
                base, menu=h.get("Context", ""), node=h.get("Exten", ""), result=app.lower()
            )
        )

    def _on_originate_exten(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        """A call that starts in ``cc-originate`` is one we placed: outbound to ``Exten``.

        A call that already arrived (an inbound call transferred to an outside number passes
        through the same context) keeps its direction."""
        h = frame.headers
        call = self._call_or_new(frame)
        if call is None or call.arrived:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        self._update_leg(call, leg, frame)
        call.direction = "outbound"
        call.did = h.get("Exten", "")
        self._ensure_arrived(call, frame, out, force=True)

    @handles("DTMFEnd")
    def _on_dtmf(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        if h.get("Direction", "") != "Received":
            return
        call = self._call_for(frame)
        if call is None or call.phase not in ("arrived", "ivr"):
            return  # digits pressed while queued or talking are not IVR input
        leg = self._leg_for(call, frame)
        if leg is None or leg.role == "operator":
            return
        digit = h.get("Digit", "")
        # in Asterisk's order, even when two key presses arrive swapped
        insort(call.dtmf, (self._time(frame), digit))
        call.ivr_digits = "".join(pressed for _at, pressed in call.dtmf)
        self._ensure_arrived(call, frame, out, force=True)
        if call.in_agi:
            return  # the FastAGI IVR reads these digits and records its own step with them
        base = self._base(call.call_id, leg.leg_id, ev.IvrStep.kind, h.get("Timestamp", ""))
        out.append(
            NEW.IvrStep(
                base,
                menu=h.get("Context", ""),
                node=h.get("Exten", ""),
                digits=digit,
                result="digit",
            )
        )

    @handles("ChanSpyStart")
    def _on_chanspy(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        """The spying channel's call is a supervisor's, not a customer's."""
        h = frame.headers
        call_id = h.get("SpyerLinkedid", "")
        call = self._calls.get(call_id) if call_id else None
        if call is None or call.direction == "outbound":
            return
        call.direction = "supervisor"  # also a supervisor's own phone first seen as internal
        self._ensure_arrived(call, frame, out, force=True)

    @handles("Hangup")
    def _on_hangup(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_or_new(frame)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None or leg.ended_at is not None:
            return
        self._update_leg(call, leg, frame)
        h = frame.headers
        at = self._time(frame)
        leg.ended_at = at
        leg.cause = to_int(h.get("Cause", ""))
        if not call.first_hangup_role:
            call.first_hangup_role = leg.role if leg.role != "other" else "system"
        if leg.leg_id == call.call_id or call.cause is None:
            call.cause = leg.cause
            call.cause_txt = h.get("Cause-txt", "")
        op = call.operators.get(leg.leg_id)
        if op is not None and op.ended_at is None and op.consulting:
            self._consultation_over(call, op, frame, out)  # the consulted operator left
        if op is not None and op.ended_at is None:
            # The operator's leg is gone: they hung up on the customer, or the customer
            # (whose leg went first) on them. A redirect looks like the former.
            reason = "caller" if self._customer_gone(call) else "operator"
            self._stop_operator(call, op, at, h.get("Timestamp", ""), out, reason=reason)
        # The call is over when every leg is gone — including its first channel (Uniqueid ==
        # Linkedid), so a Hangup overtaking a Newchannel cannot end a call early.
        root = call.legs.get(call.call_id)
        if root is not None and root.ended_at is not None and nobody_left(call):
            self._ensure_arrived(call, frame, out, force=True)
            self._end(call, at, h.get("Timestamp", ""), out, source="ami")


def nobody_left(call: Call) -> bool:
    """Every leg has hung up — or only operators are left, alone in a ConfBridge room: with
    one user profile for every party, Asterisk keeps an operator in the room after the last
    customer left (capture 27, e4_rec_conf: 23 s "In use" with music), and the customer's
    call is over when the customer is gone."""
    for leg in call.legs.values():
        if leg.ended_at is None and (leg.role != "operator" or not leg.in_conference):
            return False
    return True
