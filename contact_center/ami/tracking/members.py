"""Queue members: each operator's state in each queue (added, paused, in use, removed)."""

from __future__ import annotations

from contact_center.ami.parser import Frame
from contact_center.ami.tracking.core import NEW, TrackerCore, handles
from contact_center.ami.tracking.state import to_int
from contact_center.calls import events as ev

MEMBER_EVENTS = (
    "QueueMemberAdded",
    "QueueMemberStatus",
    "QueueMemberPause",
    "QueueMemberPenalty",
    "QueueMemberRinginuse",
    "QueueMemberRemoved",
    "QueueMember",  # QueueStatus list item (resync)
)


class MemberEvents(TrackerCore):
    @handles(*MEMBER_EVENTS)
    def _on_member(self, frame: Frame, out: list[ev.DomainEvent]) -> None:
        h = frame.headers
        queue = h.get("Queue", "")
        interface = h.get("Interface") or h.get("Location", "")
        if not queue or not interface:
            return
        removed = frame.name == "QueueMemberRemoved"
        stamp = h.get("Timestamp") or f"list:{h.get('ActionID', '')}"
        base = self._base("", "", ev.OperatorState.kind, stamp, queue, interface, frame.name)
        state = NEW.OperatorState(
            base,
            queue=queue,
            interface=interface,
            member_name=h.get("MemberName") or h.get("Name", ""),
            logged_in=not removed,
            paused=h.get("Paused") == "1",
            pause_reason=h.get("PausedReason", ""),
            device_status=to_int(h.get("Status", "0")),
            in_call=h.get("InCall") == "1",
            calls_taken=to_int(h.get("CallsTaken", "0")),
            penalty=to_int(h.get("Penalty", "0")),
        )
        previous = self._members.get((queue, interface))
        # the name stays known after removal: a transfer to this operator later still says
        # who it is, and a call from their phone is internal
        self._member_names[interface] = state.member_name
        if removed:
            self._members.pop((queue, interface), None)
        else:
            self._members[(queue, interface)] = state
        if previous is not None and not removed and same_member_state(previous, state):
            return  # e.g. a QueueStatus after resync repeating what we know
        out.append(state)


def same_member_state(a: ev.OperatorState, b: ev.OperatorState) -> bool:
    return (
        a.member_name, a.logged_in, a.paused, a.pause_reason, a.device_status, a.in_call,
        a.penalty,
    ) == (
        b.member_name, b.logged_in, b.paused, b.pause_reason, b.device_status, b.in_call,
        b.penalty,
    )  # fmt: skip
