"""Dropping a frame Asterisk (or a resync, or a reconnect) delivered twice."""

from __future__ import annotations

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
    those of the same timestamp, kept as the tuple itself (a list only for a timestamp
    several frames share). The oldest fingerprint leaves through a ring of the timestamps
    (popping the front of a dict costs a scan over the holes earlier pops left behind; a
    list indexed in turn costs less than a deque's append, length and pop). Only the
    fingerprints are kept, not the frames: holding thousands of frames' header dicts costs
    more (memory the next frames cannot reuse) than reading the identities at once."""

    __slots__ = ("_at", "_by_stamp", "_order", "_window")

    def __init__(self, window: int = RECENT_FRAMES) -> None:
        self._window = max(1, window)
        # timestamp → the fingerprint remembered with it (nearly always one), or the list of
        # them, oldest first, when frames of one timestamp differ
        self._by_stamp: dict[str, tuple[str, ...] | list[tuple[str, ...]]] = {}
        # each remembered fingerprint's timestamp, in a ring: ``_at`` is the oldest (None
        # while the window is not yet full)
        self._order: list[str | None] = [None] * self._window
        self._at = 0

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
            by_stamp[stamp] = fingerprint
        elif isinstance(same, tuple):
            if same == fingerprint:
                return True
            by_stamp[stamp] = [same, fingerprint]
        elif fingerprint in same:
            return True
        else:
            same.append(fingerprint)
        order = self._order
        at = self._at
        oldest = order[at]
        order[at] = stamp
        at += 1
        self._at = at if at < self._window else 0
        if oldest is not None:
            remembered = by_stamp[oldest]
            if isinstance(remembered, tuple):
                del by_stamp[oldest]
            elif len(remembered) == 2:
                by_stamp[oldest] = remembered[1]
            else:
                del remembered[0]
        return False
