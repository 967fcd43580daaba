"""An attended transfer's consultation as the tracker follows it, from real Asterisk 22 bytes:
capture 17 (104 consults 103, hangs up: completed) and 19 (101 consults 102, the consultation
leg is hung up while 102 rings: cancelled, no transfer event at all)."""

from __future__ import annotations

from contact_center.ami.tracker import CallTracker
from contact_center.calls import events as ev
from tests.unit.test_ami_tracker import frames_of


def consultation(name: str) -> list[tuple[str, str, str]]:
    tracker = CallTracker("pbx1")
    return [
        (e.state, e.by_interface, e.target_interface)
        for e in tracker.feed_all(frames_of(name))
        if isinstance(e, ev.ConsultationChanged)
    ]


def test_a_completed_consultation_rings_talks_then_completes() -> None:
    by, target = "Local/104@agents", "Local/103@agents"
    assert [("ringing", by, target), ("talking", by, target), ("completed", by, target)] == (
        consultation("17-transfer-chain")
    )


def test_a_consultation_whose_leg_hangs_up_is_cancelled() -> None:
    by, target = "Local/101@agents", "Local/102@agents"
    assert [("ringing", by, target), ("cancelled", by, target)] == consultation(
        "19-attended-cancel-then-queue"
    )


def test_the_live_call_names_who_is_consulted_until_the_transfer() -> None:
    """What the console's Complete / Cancel / Swap act on: the transferring operator's leg,
    while ``consulting`` names the consulted operator (only then are they allowed)."""
    tracker = CallTracker("pbx1")
    frames = frames_of("17-transfer-chain")
    seen: list[tuple[str, str]] = []
    call_id = ""
    for frame in frames:
        for event in tracker.feed(frame):
            call_id = call_id or event.call_id
        live = tracker.live_channels(call_id) if call_id else None
        now = (live.operator_interface, live.consulting) if live is not None else None
        if now is not None and (not seen or seen[-1] != now):
            seen.append(now)
    assert [
        ("", ""),  # ringing in the queue
        ("Local/101@agents", ""),  # 101 answered
        ("", ""),  # 101 blind-transferred to 104, who rings
        ("Local/104@agents", ""),  # 104 answered
        ("Local/104@agents", "Local/103@agents"),  # 104 consults 103 (from its ring on)
        ("Local/103@agents", ""),  # transferred: 103 holds the call, nothing to complete
        ("", ""),  # the caller hung up
    ] == seen
