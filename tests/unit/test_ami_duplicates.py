"""The duplicate filter of the call tracker: what makes a frame the same as an earlier one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contact_center.ami.parser import EVENT, Frame
from contact_center.ami.tracking.duplicates import IDENTITY_HEADERS, DuplicateFilter


def event(name: str, **headers: str) -> Frame:
    return Frame(EVENT, name, {"Event": name, **headers})


def test_a_duplicate_is_the_same_event_timestamp_and_identities() -> None:
    identities = {key: f"{key}-1" for key in IDENTITY_HEADERS}
    first = event("Newstate", Timestamp="1.5", Context="a", **identities)
    seen = DuplicateFilter().seen_before
    assert not seen(first)
    assert seen(first)
    assert seen(event("Newstate", Timestamp="1.5", Context="b", **identities))  # not an identity
    assert not seen(event("Hangup", Timestamp="1.5", **identities))
    assert not seen(event("Newstate", Timestamp="1.6", **identities))
    for key in IDENTITY_HEADERS:  # each identity tells frames apart, absent or not
        assert not seen(event("Newstate", Timestamp="1.5", **{**identities, key: "other"}))
        others = {k: v for k, v in identities.items() if k != key}
        assert not seen(event("Newstate", Timestamp="1.5", **others))
        assert seen(event("Newstate", Timestamp="1.5", **others))
    assert not seen(event("QueueMember", Queue="q"))  # no timestamp: never a duplicate
    assert not seen(event("QueueMember", Queue="q"))


def test_the_duplicate_window_forgets_the_oldest_frames() -> None:
    seen = DuplicateFilter(window=3).seen_before
    frames = [event("Newstate", Timestamp=str(i), Uniqueid="u") for i in range(4)]
    assert not any(seen(f) for f in frames)
    assert not seen(frames[0])  # forgotten: the window holds the last 3
    assert seen(frames[2]) and seen(frames[3])


def test_fingerprints_kept_by_timestamp_answer_as_a_set_of_fingerprints() -> None:
    # The filter keeps the fingerprints by their timestamp and compares a frame only with
    # those of its timestamp: on seeded random frames (few timestamps, so they collide;
    # windows small enough to forget), it answers as the plain model — a set of the last
    # ``window`` new fingerprints.
    import random
    from collections import deque

    rng = random.Random(25)
    for window in (1, 2, 3, 5, 50):
        seen = DuplicateFilter(window=window).seen_before
        recent: set[tuple[str, ...]] = set()
        order: deque[tuple[str, ...]] = deque()
        for _ in range(3_000):
            headers = {
                key: rng.choice(["a", "b", ""])
                for key in rng.sample(IDENTITY_HEADERS, rng.randint(0, 3))
            }
            stamp = rng.choice(["", "1.5", "1.6", "2.0", "2.5"])
            if stamp:
                headers["Timestamp"] = stamp
            frame = event(rng.choice(["Newstate", "Hangup"]), **headers)
            known = (frame.name, stamp, *(headers.get(k, "") for k in IDENTITY_HEADERS))
            if not stamp:
                expected = False
            elif known in recent:
                expected = True
            else:
                expected = False
                recent.add(known)
                order.append(known)
                if len(order) > window:
                    recent.discard(order.popleft())
            assert seen(frame) == expected


def test_an_events_handlers_run_in_turn_as_one_callable() -> None:
    # the tracker dispatches each event to one callable: the handler itself, or one that
    # calls the event's handlers in the order of the table (base classes first)
    from contact_center.ami.tracker import _in_turn

    calls: list[tuple[str, str]] = []

    def handler(tag: str) -> Callable[[Frame, list[Any]], None]:
        return lambda frame, out: calls.append((tag, frame.name))

    one = handler("a")
    assert _in_turn((one,)) is one
    frame = event("VarSet")
    for count in (2, 3):
        calls.clear()
        _in_turn(tuple(handler(str(i)) for i in range(count)))(frame, [])
        assert calls == [(str(i), "VarSet") for i in range(count)]
