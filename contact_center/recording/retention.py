"""Retention: delete or archive recordings after N days; erase one customer's recordings.

Both remove the audio files (original and compact copy) and keep the row with its new status
(``deleted``, ``archived`` or ``erased``) so reports still count the call; every removal is
written to the audit log with who asked for it.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.recording.audit import audit
from contact_center.recording.errors import RecordingError, RecordingMissing, UnsafePath
from contact_center.recording.paths import resolve_in_spool
from contact_center.store.db import utcnow
from contact_center.store.models import Recording

log = logging.getLogger(__name__)

GONE = frozenset({"deleted", "archived", "erased"})
LIVE = frozenset({"recording", "processing"})  # never touched while a file is being written


@dataclass(frozen=True, slots=True)
class RetentionResult:
    recordings: int
    files: int


def recording_files(spool_dir: str | Path, rec: Recording) -> list[Path]:
    """The files of a recording that exist in the spool (original and compact copy)."""
    found = []
    for name in (rec.file_name, rec.compact_name):
        if not name:
            continue
        try:
            found.append(resolve_in_spool(spool_dir, name))
        except RecordingMissing:
            continue
        except UnsafePath as exc:
            log.warning("recording %s: %s", rec.id, exc)
    return found


async def apply_retention(
    sessions: async_sessionmaker[AsyncSession],
    *,
    spool_dir: str | Path,
    days: int,
    mode: str = "delete",
    archive_dir: str | Path = "",
    by: str = "retention",
    now: datetime | None = None,
) -> RetentionResult:
    """Delete (or move to ``archive_dir``) recordings started more than ``days`` ago."""
    if mode not in {"delete", "archive"}:
        raise RecordingError(f"retention mode must be delete or archive, got {mode!r}")
    if mode == "archive" and not archive_dir:
        raise RecordingError("retention mode 'archive' needs recording.archive_dir")
    if days < 1:
        raise RecordingError(f"retention needs at least 1 day, got {days}")
    cutoff = (now or utcnow()) - timedelta(days=days)
    query = select(Recording).where(
        Recording.started_at < cutoff, Recording.status.not_in(GONE | LIVE)
    )
    status = "deleted" if mode == "delete" else "archived"
    return await _remove(
        sessions, query, spool_dir, status, archive_dir, by, reason=f"older than {days} days"
    )


async def erase_customer(
    sessions: async_sessionmaker[AsyncSession],
    *,
    spool_dir: str | Path,
    customer_id: int,
    by: str,
) -> RetentionResult:
    """Right to erasure: remove every recording of one customer (files gone for good)."""
    query = select(Recording).where(
        Recording.customer_id == customer_id, Recording.status.not_in(GONE)
    )
    return await _remove(
        sessions,
        query,
        spool_dir,
        "erased",
        "",
        by,
        reason=f"erasure request for customer {customer_id}",
    )


async def _remove(
    sessions: async_sessionmaker[AsyncSession],
    query: object,
    spool_dir: str | Path,
    status: str,
    archive_dir: str | Path,
    by: str,
    *,
    reason: str,
) -> RetentionResult:
    recordings = files = 0
    async with sessions() as session:
        rows = list((await session.scalars(query)).all())  # type: ignore[call-overload]
        for rec in rows:
            paths = recording_files(spool_dir, rec)
            for path in paths:
                _move_or_delete(path, archive_dir if status == "archived" else "")
            files += len(paths)
            recordings += 1
            rec.status = status
            if status == "erased":
                rec.peaks = {}  # the waveform is derived from the voice: erase it too
            audit(
                session,
                by,
                f"recording.{status}",
                f"recording:{rec.id}",
                reason=reason,
                files=[p.name for p in paths],
                call=rec.call_linkedid,
            )
            # One commit per recording: a crash midway leaves rows and files in step.
            await session.commit()
    return RetentionResult(recordings=recordings, files=files)


def _move_or_delete(path: Path, archive_dir: str | Path) -> None:
    if archive_dir:
        target = Path(archive_dir)
        target.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target / path.name)
    else:
        path.unlink(missing_ok=True)
