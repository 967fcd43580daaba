"""Retention and erasure remove the audio, keep the row, and leave an audit trail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from contact_center.recording.errors import RecordingError
from contact_center.recording.retention import apply_retention, erase_customer
from contact_center.store.db import utcnow
from contact_center.store.models import AuditLog, Customer, Recording
from tests.integration.recording_support import add_recording, database


async def state(sessions) -> tuple[dict[str, str], list[tuple[str, str, str]]]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        recs = (await session.scalars(select(Recording))).all()
        audit = (await session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    names = {r.id: r.file_name for r in recs}
    return (
        {r.file_name: r.status for r in recs},
        [(a.user_login, a.action, names[int(a.target.split(":")[1])]) for a in audit],
    )


@pytest.mark.parametrize("mode", ["delete", "archive"])
async def test_old_recordings_are_removed_after_n_days(
    db_url: str, tmp_path: Path, mode: str
) -> None:
    spool, archive = tmp_path / "spool", tmp_path / "archive"
    spool.mkdir()
    for name in ("old.wav", "old.mp3", "new.mp3", "oldlive.wav"):
        (spool / name).write_bytes(b"x")
    old = utcnow() - timedelta(days=40)
    async with database(db_url) as sessions:
        await add_recording(
            sessions, "old.wav", status="done", started_at=old, compact_name="old.mp3"
        )
        await add_recording(sessions, "new.wav", status="done", compact_name="new.mp3")
        await add_recording(sessions, "oldlive.wav", status="recording", started_at=old)

        result = await apply_retention(
            sessions, spool_dir=spool, days=30, mode=mode, archive_dir=archive
        )

        status = "deleted" if mode == "delete" else "archived"
        assert (1, 2) == (result.recordings, result.files)
        assert (
            {"old.wav": status, "new.wav": "done", "oldlive.wav": "recording"},
            [("retention", f"recording.{status}", "old.wav")],
        ) == await state(sessions)
        assert ["new.mp3", "oldlive.wav"] == sorted(p.name for p in spool.iterdir())
        if mode == "archive":
            assert ["old.mp3", "old.wav"] == sorted(p.name for p in archive.iterdir())
        else:
            assert not archive.exists()


async def test_customer_erasure(db_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    for name in ("a.mp3", "b.wav", "c.mp3"):
        (spool / name).write_bytes(b"x")
    async with database(db_url) as sessions:
        async with sessions() as session, session.begin():
            ivan = Customer(name="Ivan", created_at=utcnow(), updated_at=utcnow())
            maria = Customer(name="Maria", created_at=utcnow(), updated_at=utcnow())
            session.add_all([ivan, maria])
            await session.flush()
            ivan_id, maria_id = ivan.id, maria.id
        await add_recording(
            sessions,
            "a.wav",
            status="done",
            compact_name="a.mp3",
            customer_id=ivan_id,
            peaks={"values": [0.5]},
        )
        await add_recording(sessions, "b.wav", status="failed", customer_id=ivan_id)
        await add_recording(
            sessions, "c.wav", status="done", compact_name="c.mp3", customer_id=maria_id
        )

        result = await erase_customer(sessions, spool_dir=spool, customer_id=ivan_id, by="dpo")

        assert (2, 2) == (result.recordings, result.files)
        assert (
            {"a.wav": "erased", "b.wav": "erased", "c.wav": "done"},
            [("dpo", "recording.erased", "a.wav"), ("dpo", "recording.erased", "b.wav")],
        ) == await state(sessions)
        assert ["c.mp3"] == sorted(p.name for p in spool.iterdir())
        async with sessions() as session:
            erased = await session.scalar(select(Recording).where(Recording.file_name == "a.wav"))
        assert erased is not None and {} == erased.peaks


async def test_archive_without_a_directory_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    async with database(sqlite_url) as sessions:
        with pytest.raises(RecordingError, match=r"needs recording\.archive_dir"):
            await apply_retention(sessions, spool_dir=tmp_path, days=30, mode="archive")
