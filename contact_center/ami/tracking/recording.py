"""MixMonitor: the files recording a call, and when each ran (to attribute it to operators)."""

from __future__ import annotations

from contact_center.ami.parser import Frame
from contact_center.ami.tracking.core import NEW, TrackerCore, handles
from contact_center.ami.tracking.state import Call
from contact_center.calls import events as ev

RECORDING_VARIABLE = "MIXMONITOR_FILENAME"


class RecordingEvents(TrackerCore):
    @handles("VarSet")
    def _on_recording_name(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        if h.get("Variable", "") != RECORDING_VARIABLE:
            return
        call = self._call_or_new(frame)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        if leg.awaiting_recording:
            leg.awaiting_recording = False
            _add_recording(call, h.get("Value", ""), self._time(frame))
        else:
            leg.pending_recording = h.get("Value", "")

    @handles("MixMonitorStart")
    def _on_mixmonitor_start(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_or_new(frame)
        if call is None:
            return
        leg = self._leg_for(call, frame)
        if leg is None:
            return
        file = leg.pending_recording
        leg.pending_recording = ""
        if file:
            _add_recording(call, file, self._time(frame))
        else:
            leg.awaiting_recording = True
        base = self._base(
            call.call_id, leg.leg_id, ev.RecordingStarted.kind, h.get("Timestamp", "")
        )
        holder = call.operators.get(call.current)
        interface = holder.interface if holder is not None and holder.talking else ""
        out.append(
            NEW.RecordingStarted(base, file=file, channel=h.get("Channel", ""), interface=interface)
        )

    @handles("MixMonitorStop")
    def _on_mixmonitor_stop(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_for(frame)
        if call is None:
            return
        file = call.recordings[-1] if call.recordings else ""
        if file in call.recording_spans:
            call.recording_spans[file][1] = self._time(frame)
        base = self._base(
            call.call_id, h.get("Uniqueid", ""), ev.RecordingStopped.kind, h.get("Timestamp", "")
        )
        out.append(NEW.RecordingStopped(base, file=file))

    @handles("MixMonitorMute")
    def _on_mixmonitor_mute(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        call = self._call_for(frame)
        if call is None:
            return
        base = self._base(
            call.call_id, h.get("Uniqueid", ""), ev.RecordingMuted.kind, h.get("Timestamp", "")
        )
        out.append(
            NEW.RecordingMuted(
                base, muted=h.get("State", "") == "1", direction=h.get("Direction", "both")
            )
        )


def _add_recording(call: Call, file: str, at: float) -> None:
    call.recordings.append(file)
    call.recording_spans.setdefault(file, [at, None])
