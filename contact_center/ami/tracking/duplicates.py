"""Dropping a frame Asterisk (or a resync, or a reconnect) delivered twice."""

from __future__ import annotations

from contact_center.ami.parser import Frame

RECENT_FRAMES = 4096  # duplicate-detection window


class DuplicateFilter:
    """Remembers the identities of the last frames: a frame with the same event, Asterisk
    timestamp and identities as one of them is a duplicate. Frames without a timestamp (list
    items) are never duplicates: they repeat state on purpose."""

    def __init__(self, window: int = RECENT_FRAMES) -> None:
        self._window = window
        self._recent: dict[tuple[str, ...], None] = {}

    def seen_before(self, frame: Frame) -> bool:
        h = frame.headers
        ts = h.get("Timestamp")
        if not ts:
            return False
        fingerprint = (
            frame.name, ts, h.get("Uniqueid", ""), h.get("Channel", ""), h.get("Queue", ""),
            h.get("Interface", ""), h.get("DestUniqueid", ""), h.get("Variable", ""),
            h.get("BridgeUniqueid", ""),
        )  # fmt: skip
        recent = self._recent
        if fingerprint in recent:
            return True
        recent[fingerprint] = None
        if len(recent) > self._window:
            del recent[next(iter(recent))]
        return False
