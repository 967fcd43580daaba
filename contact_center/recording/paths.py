"""Where recording files live: names from Asterisk, resolved inside the spool only.

File names come from Asterisk (``MIXMONITOR_FILENAME``), never from a request, but they are
still checked here: a name is one plain path component, and the resolved file (symlinks
followed) must stay inside the spool directory.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from contact_center.recording.errors import RecordingMissing, UnsafePath

# One component, starting with an alphanumeric: no separators, no "..", no hidden files.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def file_name_from_asterisk(path: str) -> str:
    """The spool-relative name of a file Asterisk reports (a full path or a bare name)."""
    name = PurePosixPath(path.strip()).name
    check_name(name)
    return name


def check_name(name: str) -> str:
    """``name`` if it is a safe single file name, else UnsafePath."""
    if not _SAFE_NAME.match(name) or ".." in name:
        raise UnsafePath(f"unsafe recording file name {name!r}")
    return name


def resolve_in_spool(spool_dir: str | Path, name: str, *, must_exist: bool = True) -> Path:
    """The absolute path of ``name`` inside the spool; refuses anything that leaves it."""
    check_name(name)
    root = Path(spool_dir).resolve()
    candidate = root / name
    if not must_exist and not candidate.exists():
        return candidate
    try:
        resolved = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise RecordingMissing(f"missing: recording file {name!r} is not in the spool") from None
    except (OSError, RuntimeError) as exc:  # symlink loops end up here
        raise UnsafePath(f"recording file {name!r} cannot be resolved: {exc}") from None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        raise UnsafePath(f"recording file {name!r} points outside the spool")
    return resolved
