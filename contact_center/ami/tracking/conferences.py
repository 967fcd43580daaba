"""ConfBridge: a call's parties in a conference room.

The room belongs to the call whose channel entered it first (the console moves caller and
operator in with one Redirect); a colleague or an outside number invited into it is a call
of its own (our Originate), whose joins are reported as participants of the room's call too.
Each join and leave is a ``ConferenceParticipant*`` event naming the person and everyone in
the room then; the first join and leave keep their ``ConferenceJoined``/``ConferenceLeft``.

The operator who moved her call into the room still holds it there: in Asterisk 22 the
queue's ``AgentComplete`` comes only when the caller or she hangs up (capture 27,
e4_rec_conf). Should it come as the Redirect breaks the queue's bridge instead, her part,
just ended, goes on when her channel joins the room; her leaving the room ends it.
"""

from __future__ import annotations

from contact_center.ami.parser import Frame
from contact_center.ami.tracking.core import NEW, TrackerCore, handles
from contact_center.ami.tracking.legs import TRANSFER_CONTEXT
from contact_center.ami.tracking.state import (
    ORIGINATE_CONTEXT,
    Call,
    Leg,
    OperatorLeg,
    Participant,
    device_of,
    pair_of,
)
from contact_center.calls import events as ev


class ConferenceEvents(TrackerCore):
    def conference_participants(self, call_id: str) -> list[Participant]:
        """Who is in the live call's conference room now, in the order they joined."""
        call = self._calls.get(call_id)
        return list(call.participants.values()) if call is not None else []

    def _room_call(self, call: Call, room: str) -> Call:
        """The live call the room belongs to (``call`` itself when it is the first there)."""
        rooms = self._rooms
        owner = self._calls.get(rooms.get(room, ""))
        if owner is None:
            rooms[room] = call.call_id
            for other, owner_id in list(rooms.items()):
                if owner_id not in self._calls and other != room:
                    del rooms[other]  # rooms of calls that ended
            return call
        return owner

    @handles("ConfbridgeJoin")
    def _on_conf_join(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_or_new(frame)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        self._update_leg(call, leg, frame)
        leg.in_conference = True
        self._ensure_arrived(call, frame, out, force=True)
        room = h.get("Conference", "")
        owner = self._room_call(call, room)
        op = call.operators.get(leg.leg_id) if owner is call else None
        if op is not None:
            self._rejoin(call, op, leg, frame, out)
        self._participant_joined(owner, call, leg, op, frame, out)
        if call.conf_joined_at is not None:
            return
        at = self._time(frame)
        call.conference = room
        call.conf_joined_at = at
        if call.answered_at is None:
            call.answered_at = at
        if call.connected_at is None:
            call.connected_at = at
        call.phase = "connected"
        base = self._base(
            call.call_id, leg.leg_id, ev.ConferenceJoined.kind, h.get("Timestamp", "")
        )
        out.append(
            NEW.ConferenceJoined(
                base,
                conference=call.conference,
                channel=h.get("Channel", ""),
                caller_number=leg.number,
                caller_name=leg.name,
            )
        )

    @handles("ConfbridgeLeave")
    def _on_conf_leave(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_for(frame)
        if call is None:
            return
        leg = call.legs.get(h.get("Uniqueid", ""))
        if leg is not None:
            leg.in_conference = False
        room = h.get("Conference", "")
        owner = self._room_call(call, room)
        self._participant_left(owner, frame, out)
        op = call.operators.get(h.get("Uniqueid", "")) if owner is call else None
        if op is not None and op.talking and not self._customer_gone(call):
            # she left the room (Leave from the console, her phone's menu): her part is over
            self._stop_operator(
                call, op, self._time(frame), h.get("Timestamp", ""), out, reason="operator"
            )
        if call.conf_joined_at is None or call.conf_talk is not None:
            return
        call.conf_talk = self._time(frame) - call.conf_joined_at
        base = self._base(
            call.call_id, h.get("Uniqueid", ""), ev.ConferenceLeft.kind, h.get("Timestamp", "")
        )
        out.append(NEW.ConferenceLeft(base, conference=room, channel=h.get("Channel", "")))

    # --- the operator in the room ---------------------------------------------------------

    def _rejoin(
        self, call: Call, op: OperatorLeg, leg: Leg, frame: Frame, out: list[ev.DomainEvent]
    ) -> None:
        """Her channel entered the room: she holds the call there. If her part was ended
        just before (the queue's completion as the Redirect broke its bridge), it goes on."""
        if op.answered_at is None or leg.ended_at is not None:
            return
        if op.ended_at is None:
            call.current = call.current or op.leg_id
            return
        if op.reason == "transfer" or self._customer_gone(call):
            return
        op.earlier_talk = op.talk or 0.0
        op.ended_at = None
        op.talk = None
        op.reason = ""
        op.rejoined_at = self._time(frame)
        op.rejoins += 1
        call.current = op.leg_id
        call.pending_move = False
        call.hung_up_by = ""  # the completion's "caller" was the Redirect, not a hang-up

    # --- participants ---------------------------------------------------------------------

    def _participant_joined(
        self,
        owner: Call,
        call: Call,
        leg: Leg,
        op: OperatorLeg | None,
        frame: Frame,
        out: list[ev.DomainEvent],
    ) -> None:
        h = frame.headers
        if leg.leg_id in owner.participants:
            return
        who = self._who(owner, call, leg, op)
        owner.participants[leg.leg_id] = who
        base = self._base(
            owner.call_id, leg.leg_id, ev.ConferenceParticipantJoined.kind,
            h.get("Timestamp", ""),
        )  # fmt: skip
        out.append(
            NEW.ConferenceParticipantJoined(
                base,
                conference=h.get("Conference", ""),
                channel=leg.channel,
                role=who.role,
                name=who.name,
                number=who.number,
                interface=who.interface,
                participants=[p.to_dict() for p in owner.participants.values()],
            )
        )

    def _participant_left(self, owner: Call, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        who = owner.participants.pop(h.get("Uniqueid", ""), None)
        if who is None:
            return
        base = self._base(
            owner.call_id, who.leg_id, ev.ConferenceParticipantLeft.kind,
            h.get("Timestamp", ""),
        )  # fmt: skip
        out.append(
            NEW.ConferenceParticipantLeft(
                base,
                conference=h.get("Conference", ""),
                channel=who.channel,
                role=who.role,
                name=who.name,
                number=who.number,
                interface=who.interface,
                participants=[p.to_dict() for p in owner.participants.values()],
            )
        )

    def _who(self, owner: Call, call: Call, leg: Leg, op: OperatorLeg | None) -> Participant:
        """The person on ``leg``: an operator (by her member name), the customer (by caller
        ID name, else number), or someone invited (a colleague's extension, a number)."""
        channel = leg.channel
        if op is not None or (call is owner and leg.role == "operator"):
            interface = op.interface if op is not None else device_of(channel)
            name = (op.member_name if op is not None else "") or self._member_name(interface)
            return Participant(leg.leg_id, channel, "operator", name or interface, "", interface)
        if call is owner and self._customer_side(call, leg):
            number = call.number or leg.number
            return Participant(
                leg.leg_id, channel, "customer", call.name or leg.name or number, number
            )
        if call is owner and call.direction == "outbound" and leg.leg_id == call.customer_leg:
            return Participant(leg.leg_id, channel, "customer", call.did, call.did)
        # An invitation: ``Local/<exten>@<context>-…;1`` (our Originate) — a colleague's
        # extension (transfer-targets: Dial(PJSIP/<exten>)) or an outside number.
        exten, _, context = pair_of(channel).removeprefix("Local/").partition("@")
        context = context.rsplit("-", 1)[0]
        if channel.startswith("Local/") and context == TRANSFER_CONTEXT:
            for rung in reversed(list(call.operators.values())):  # the phone it dialled
                if rung.answered_at is not None or rung.picked_up_at is not None:
                    name = rung.member_name or self._member_name(rung.interface) or exten
                    return Participant(leg.leg_id, channel, "operator", name, exten, rung.interface)
            for interface in (f"PJSIP/{exten}", f"SIP/{exten}", f"Local/{exten}@agents"):
                name = self._member_name(interface)
                if name:
                    return Participant(leg.leg_id, channel, "operator", name, exten, interface)
            return Participant(leg.leg_id, channel, "external", exten, exten)
        if channel.startswith("Local/") and context == ORIGINATE_CONTEXT:
            number = self.normalize(exten)
            return Participant(leg.leg_id, channel, "external", number, number)
        interface = device_of(channel)
        name = self._member_name(interface)
        if name:
            return Participant(leg.leg_id, channel, "operator", name, "", interface)
        number = self.normalize(leg.number) if leg.number else ""
        return Participant(leg.leg_id, channel, "external", leg.name or number or channel, number)
