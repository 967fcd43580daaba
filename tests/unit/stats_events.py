"""Hand-built domain event sequences for the stats tests (one call = a few lines)."""

from __future__ import annotations

from contact_center.calls import events as ev

T0 = 1_795_344_000.0  # 2026-11-22 09:00:00 UTC
SERVER = "pbx1"


def login(
    at: float,
    iface: str = "Local/101@agents",
    queue: str = "support",
    *,
    paused: bool = False,
    reason: str = "",
    logged_in: bool = True,
) -> ev.OperatorState:
    name = "Operator " + iface.split("/")[1].split("@")[0]
    return ev.OperatorState(
        server=SERVER,
        call_id="",
        at=at,
        queue=queue,
        interface=iface,
        member_name=name,
        logged_in=logged_in,
        paused=paused,
        pause_reason=reason,
    )


def queued(at: float, call: str, queue: str = "support", position: int = 1) -> ev.CallQueued:
    return ev.CallQueued(server=SERVER, call_id=call, at=at, queue=queue, position=position)


def offered(
    at: float, call: str, iface: str = "Local/101@agents", queue: str = "support"
) -> ev.CallOffered:
    return ev.CallOffered(
        server=SERVER, call_id=call, at=at, queue=queue, interface=iface, member_name=""
    )


def answered(
    at: float, call: str, hold: float, iface: str = "Local/101@agents", queue: str = "support"
) -> ev.CallAnswered:
    return ev.CallAnswered(
        server=SERVER,
        call_id=call,
        at=at,
        queue=queue,
        interface=iface,
        member_name="",
        hold_seconds=hold,
        ring_seconds=1.0,
    )


def completed(
    at: float,
    call: str,
    talk: float,
    hold: float = 0.0,
    reason: str = "caller",
    iface: str = "Local/101@agents",
    queue: str = "support",
) -> ev.AgentCompleted:
    return ev.AgentCompleted(
        server=SERVER,
        call_id=call,
        at=at,
        queue=queue,
        interface=iface,
        member_name="",
        hold_seconds=hold,
        talk_seconds=talk,
        reason=reason,
    )


def abandoned(at: float, call: str, hold: float, queue: str = "support") -> ev.CallAbandoned:
    return ev.CallAbandoned(
        server=SERVER,
        call_id=call,
        at=at,
        queue=queue,
        position=1,
        original_position=1,
        hold_seconds=hold,
    )


def ended(at: float, call: str, outcome: str = "answered") -> ev.CallEnded:
    return ev.CallEnded(server=SERVER, call_id=call, at=at, cause=16, outcome=outcome)


def answered_call(
    start: float,
    call: str,
    hold: float,
    talk: float,
    iface: str = "Local/101@agents",
    queue: str = "support",
) -> list[ev.DomainEvent]:
    """A caller queues at ``start``, waits ``hold`` s, talks ``talk`` s and hangs up."""
    return [
        queued(start, call, queue),
        offered(start + max(0.0, hold - 1), call, iface, queue),
        answered(start + hold, call, hold, iface, queue),
        completed(start + hold + talk, call, talk, hold, iface=iface, queue=queue),
        ended(start + hold + talk, call),
    ]


def abandoned_call(
    start: float, call: str, hold: float, queue: str = "support"
) -> list[ev.DomainEvent]:
    return [
        queued(start, call, queue),
        abandoned(start + hold, call, hold, queue),
        ended(start + hold, call, "abandoned"),
    ]
