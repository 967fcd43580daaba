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
    no frame in the window had: the fingerprints are kept by their timestamp — a lookup
    hashes one short string, not the eight of a whole fingerprint — and compared only with
    those of the same timestamp. The oldest fingerprint leaves through a deque of the
    timestamps (popping the front of a dict costs a scan over the holes earlier pops left
    behind). Only the fingerprints are kept, not the frames: holding thousands of frames'
    header dicts costs more (memory the next frames cannot reuse) than reading the
    identities at once."""

    __slots__ = ("_by_stamp", "_order", "_window")

    def __init__(self, window: int = RECENT_FRAMES) -> None:
        self._window = window
        # timestamp → the fingerprints remembered with it, oldest first (nearly always one)
        self._by_stamp: dict[str, list[tuple[str, ...]]] = {}
        self._order: deque[str] = deque()  # each remembered fingerprint's timestamp

    def seen_before(self, frame: Frame) -> bool:
        get = frame.headers.get
        stamp = get("Timestamp")
        if not stamp:
            return False
        # the event and IDENTITY_HEADERS, spelt out (the timestamp is the key it is kept by)
        fingerprint = (
            frame.name, get("Uniqueid", ""), get("Channel", ""), get("Queue", ""),
            get("Interface", ""), get("DestUniqueid", ""), get("Variable", ""),
            get("BridgeUniqueid", ""),
        )  # fmt: skip
        by_stamp = self._by_stamp
        same = by_stamp.get(stamp)
        if same is None:
            by_stamp[stamp] = [fingerprint]
        elif fingerprint in same:
            return True
        else:
            same.append(fingerprint)
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
