"""``contact-center recordings process | retention | erase`` end to end on SQLite."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from contact_center.cli import main
from contact_center.store.db import utcnow
from contact_center.store.models import AuditLog, Recording
from tests.integration.recording_support import add_recording, database
from tests.unit.recording_audio import silence, tone, write_wav


async def _prepare(url: str) -> None:
    old = utcnow() - timedelta(days=400)
    async with database(url) as sessions:
        await add_recording(sessions, "a.wav")
        await add_recording(sessions, "b.wav")
        await add_recording(sessions, "broken.wav")
        await add_recording(sessions, "old.wav", status="done", started_at=old)


async def _statuses(url: str) -> tuple[dict[str, str], list[str]]:
    async with database(url) as sessions, sessions() as session:
        recs = (await session.scalars(select(Recording))).all()
        audit = (await session.scalars(select(AuditLog.action))).all()
    return {r.file_name: r.status for r in recs}, list(audit)


def test_process_backlog_then_retention(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    write_wav(spool / "a.wav", [tone(1), silence(1)])
    write_wav(spool / "b.wav", [tone(2)])
    (spool / "broken.wav").write_bytes(b"RIFF")
    (spool / "old.wav").write_bytes(b"x")
    monkeypatch.setenv("CC_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CC_RECORDING_SPOOL_DIR", str(spool))
    asyncio.run(_prepare(sqlite_url))

    code = main(["recordings", "process", "--workers", "2"])

    err = capsys.readouterr().err
    assert 3 == code  # some recordings failed: a cron job should notice
    assert "processed 3: 2 done, 1 failed" in err
    assert ["[1/3]", "[2/3]", "[3/3]"] == [line.split()[0] for line in err.splitlines()[:3]]

    assert 3 == main(["recordings", "process", "--retry-failed"])
    assert "processed 1: 0 done, 1 failed" in capsys.readouterr().err

    assert 0 == main(["recordings", "retention", "--days", "365"])
    assert "retention: 1 recordings, 1 files" in capsys.readouterr().err
    assert (
        {"a.wav": "done", "b.wav": "done", "broken.wav": "failed", "old.wav": "deleted"},
        ["recording.deleted"],
    ) == asyncio.run(_statuses(sqlite_url))
    assert ["a.mp3", "b.mp3", "broken.wav"] == sorted(p.name for p in spool.iterdir())
