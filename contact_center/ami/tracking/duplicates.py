"""Dropping a frame Asterisk (or a resync, or a reconnect) delivered twice."""

from __future__ import annotations

from collections import deque
from itertools import repeat

from contact_center.ami.parser import Frame

RECENT_FRAMES = 4096  # duplicate-detection window

# The identities of a frame besides its event name and timestamp ("" when absent).
IDENTITY_HEADERS = (
    "Uniqueid", "Channel", "Queue", "Interface", "DestUniqueid", "Variable",
    "BridgeUniqueid",  # two bridges' events of one channel in the same instant differ
)  # fmt: skip
_BLANKS = tuple(repeat("", len(IDENTITY_HEADERS)))


class DuplicateFilter:
    """Remembers the identities of the last frames: a frame with the same event, Asterisk
    timestamp and identities as one of them is a duplicate. Frames without a timestamp (list
    items) are never duplicates: they repeat state on purpose.

    Runs for every tracked frame: the fingerprint is read in C (``map`` over the headers'
    ``get``), and the oldest fingerprint leaves through a deque — popping the front of a dict
    costs a scan over the holes earlier pops left behind."""

    __slots__ = ("_order", "_recent", "_window")

    def __init__(self, window: int = RECENT_FRAMES) -> None:
        self._window = window
        self._recent: set[tuple[str, ...]] = set()
        self._order: deque[tuple[str, ...]] = deque()

    def seen_before(self, frame: Frame) -> bool:
        h = frame.headers
        ts = h.get("Timestamp")
        if not ts:
            return False
        fingerprint = (frame.name, ts, *map(h.get, IDENTITY_HEADERS, _BLANKS))
        recent = self._recent
        if fingerprint in recent:
            return True
        recent.add(fingerprint)
        order = self._order
        order.append(fingerprint)
        if len(order) > self._window:
            recent.discard(order.popleft())
        return False
