"""Dropping a frame Asterisk (or a resync, or a reconnect) delivered twice."""

from __future__ import annotations

from collections import deque

from contact_center.ami.parser import Frame

RECENT_FRAMES = 4096  # duplicate-detection window

# The identities of a frame besides its event name and timestamp ("" when absent) — read in
# this order by ``DuplicateFilter.seen_before``.
IDENTITY_HEADERS = (
    "Uniqueid", "Channel", "Queue", "Interface", "DestUniqueid", "Variable",
    "BridgeUniqueid",  # two bridges' events of one channel in the same instant differ
)  # fmt: skip


class DuplicateFilter:
    """Remembers the identities of the last frames: a frame with the same event, Asterisk
    timestamp and identities as one of them is a duplicate. Frames without a timestamp (list
    items) are never duplicates: they repeat state on purpose.

    Runs for every tracked frame, and nearly every frame's timestamp (microseconds) is one
    no frame in the window had: the last frames are remembered by their timestamp — one
    hash of one short string — and a frame's identities are read (``fingerprint``) only when
    a remembered frame has its very timestamp, for both. The oldest frame leaves through a
    deque of the timestamps (popping the front of a dict costs a scan over the holes earlier
    pops left behind). The window holds the frames themselves: the tracker never changes a
    frame's headers."""

    __slots__ = ("_by_stamp", "_order", "_window")

    def __init__(self, window: int = RECENT_FRAMES) -> None:
        self._window = window
        # timestamp → the remembered frames with it, oldest first (nearly always one)
        self._by_stamp: dict[str, list[Frame]] = {}
        self._order: deque[str] = deque()  # each remembered frame's timestamp, oldest first

    def seen_before(self, frame: Frame) -> bool:
        stamp = frame.headers.get("Timestamp")
        if not stamp:
            return False
        by_stamp = self._by_stamp
        same = by_stamp.get(stamp)
        if same is None:
            by_stamp[stamp] = [frame]
        else:
            mine = fingerprint(frame)
            if any(fingerprint(other) == mine for other in same):
                return True
            same.append(frame)
        order = self._order
        order.append(stamp)
        if len(order) > self._window:
            oldest = order.popleft()
            remembered = by_stamp[oldest]
            if len(remembered) == 1:
                del by_stamp[oldest]
            else:
                del remembered[0]
        return False


def fingerprint(frame: Frame) -> tuple[str, ...]:
    """What makes a frame the same as another: its event, timestamp and identities."""
    get = frame.headers.get
    # IDENTITY_HEADERS, spelt out
    return (
        frame.name, get("Timestamp", ""), get("Uniqueid", ""), get("Channel", ""),
        get("Queue", ""), get("Interface", ""), get("DestUniqueid", ""), get("Variable", ""),
        get("BridgeUniqueid", ""),
    )  # fmt: skip
