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

    Runs for every tracked frame: the fingerprint is read with the headers' bound ``get``
    (one call per header, no intermediate list), a set's size tells in one hashing whether it
    was there, and the oldest fingerprint leaves through a deque — popping the front of a
    dict costs a scan over the holes earlier pops left behind."""

    __slots__ = ("_order", "_recent", "_window")

    def __init__(self, window: int = RECENT_FRAMES) -> None:
        self._window = window
        self._recent: set[tuple[str, ...]] = set()
        self._order: deque[tuple[str, ...]] = deque()

    def seen_before(self, frame: Frame) -> bool:
        get = frame.headers.get
        ts = get("Timestamp")
        if not ts:
            return False
        # IDENTITY_HEADERS, spelt out
        fingerprint = (
            frame.name, ts, get("Uniqueid", ""), get("Channel", ""), get("Queue", ""),
            get("Interface", ""), get("DestUniqueid", ""), get("Variable", ""),
            get("BridgeUniqueid", ""),
        )  # fmt: skip
        recent = self._recent
        known = len(recent)
        recent.add(fingerprint)
        if len(recent) == known:
            return True
        order = self._order
        order.append(fingerprint)
        if len(order) > self._window:
            recent.discard(order.popleft())
        return False
