"""ConfBridge: a call's parties in a conference room."""

from __future__ import annotations

from contact_center.ami.parser import Frame
from contact_center.ami.tracking.core import TrackerCore, handles
from contact_center.calls import events as ev


class ConferenceEvents(TrackerCore):
    @handles("ConfbridgeJoin")
    def _on_conf_join(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame, create=True)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        self._update_leg(call, leg, frame)
        leg.in_conference = True
        self._ensure_arrived(call, frame, out, force=True)
        if call.conf_joined_at is not None:
            return
        at = frame.timestamp
        call.conference = frame.get("Conference")
        call.conf_joined_at = at
        if call.answered_at is None:
            call.answered_at = at
        if call.connected_at is None:
            call.connected_at = at
        call.phase = "connected"
        base = self._base(
            call.call_id, leg.leg_id, ev.ConferenceJoined.kind, frame.get("Timestamp")
        )
        out.append(
            ev.ConferenceJoined(
                **base,
                conference=call.conference,
                channel=frame.get("Channel"),
                caller_number=leg.number,
                caller_name=leg.name,
            )
        )

    @handles("ConfbridgeLeave")
    def _on_conf_leave(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        call = self._call_for(frame)
        if call is None:
            return
        leg = call.legs.get(frame.get("Uniqueid"))
        if leg is not None:
            leg.in_conference = False
        if call.conf_joined_at is None or call.conf_talk is not None:
            return
        call.conf_talk = frame.timestamp - call.conf_joined_at
        base = self._base(
            call.call_id, frame.get("Uniqueid"), ev.ConferenceLeft.kind, frame.get("Timestamp")
        )
        out.append(
            ev.ConferenceLeft(
                **base, conference=frame.get("Conference"), channel=frame.get("Channel")
            )
        )
