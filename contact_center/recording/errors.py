"""The recording package's errors: one small hierarchy with messages a person can act on."""

from __future__ import annotations


class RecordingError(Exception):
    """Base of every error raised by contact_center.recording."""


class AudioRejected(RecordingError):
    """A recording file cannot be processed; ``reason`` is stored on the row as its failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def empty(self) -> bool:
        """No audio at all (a call never bridged): nothing to process, nothing to review."""
        return self.reason.startswith("empty:")


class UnsafePath(RecordingError):
    """A file name would leave the recording spool (traversal, symlink, odd characters)."""


class RecordingMissing(RecordingError):
    """The recording's file is not in the spool (never written, moved or erased)."""


class FormInvalid(RecordingError):
    """A QA form definition or a set of answers does not fit the form."""


class ReviewExists(RecordingError):
    """A reviewer already scored this recording with this form; reviews are frozen."""


class BadFilter(RecordingError):
    """A search parameter cannot be understood."""
