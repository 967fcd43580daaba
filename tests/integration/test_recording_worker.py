"""The post-processing worker: stopped rows in, measured compact recordings out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from contact_center.config import RecordingSettings
from contact_center.recording.worker import RecordingWorker
from contact_center.store.models import Recording
from tests.conftest import FIXTURES
from tests.integration.recording_support import add_recording, database
from tests.unit.recording_audio import silence, tone, write_wav


def settings(spool: Path, **values: object) -> RecordingSettings:
    return RecordingSettings(spool_dir=str(spool), **values)  # type: ignore[arg-type]


async def rows(sessions) -> dict[str, Recording]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return {r.file_name: r for r in (await session.scalars(select(Recording))).all()}


async def test_backlog_is_processed_and_broken_files_fail_with_reasons(
    db_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    write_wav(spool / "good.wav", [tone(2), silence(6), tone(2)])
    shutil.copy(FIXTURES / "03-queue-abandon.recording.wav", spool / "abandon.wav")
    (spool / "cut.wav").write_bytes(
        (FIXTURES / "02-inbound-ivr-queue-answered.recording.wav").read_bytes()[:3000]
    )
    async with database(db_url) as sessions:
        for name in ("good.wav", "abandon.wav", "cut.wav", "gone.wav"):
            await add_recording(sessions, name)
        await add_recording(sessions, "live.wav", status="recording")
        seen: list[tuple[int, int, str]] = []

        async with RecordingWorker(sessions, settings(spool, workers=2)) as worker:
            summary = await worker.process_backlog(
                progress=lambda done, total, row, status: seen.append((done, total, status))
            )

        # the abandoned call's header-only WAV is empty, not a failure
        assert (1, 2, 1) == (summary.done, summary.failed, summary.empty)
        assert [4, 4, 4, 4] == [total for _, total, _ in seen]
        assert [1, 2, 3, 4] == [done for done, _, _ in seen]
        by_name = await rows(sessions)
        good = by_name["good.wav"]
        assert ("done", "good.mp3", 10.0, 0.6, 6.0) == (
            good.status,
            good.compact_name,
            good.duration_seconds,
            good.silence_share,
            good.longest_silence_seconds,
        )
        assert good.peaks["values"] and good.peaks["seconds_per_peak"] > 0
        assert {
            "abandon.wav": (
                "empty",
                "empty: WAV header only, no audio (the call was never bridged)",
            ),
            "cut.wav": (
                "failed",
                "truncated: WAV header declares 95680 bytes of audio, the file holds 2956",
            ),
            "gone.wav": ("failed", "missing: recording file 'gone.wav' is not in the spool"),
            "live.wav": ("recording", ""),
        } == {n: (r.status, r.failure) for n, r in by_name.items() if n != "good.wav"}
        # The original goes once the compact copy is saved; broken originals stay for a look.
        assert ["abandon.wav", "cut.wav", "good.mp3"] == sorted(p.name for p in spool.iterdir())


async def test_keep_original_and_huge_files(sqlite_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    write_wav(spool / "small.wav", [tone(1)])
    write_wav(spool / "huge.wav", [tone(5)])
    async with database(sqlite_url) as sessions:
        await add_recording(sessions, "small.wav")
        await add_recording(sessions, "huge.wav")

        config = settings(spool, keep_original=True, max_bytes=50_000, output_format="opus")
        async with RecordingWorker(sessions, config) as worker:
            await worker.process_backlog()

        by_name = await rows(sessions)
        assert ("done", "small.opus") == (
            by_name["small.wav"].status,
            by_name["small.wav"].compact_name,
        )
        assert "failed" == by_name["huge.wav"].status
        assert by_name["huge.wav"].failure.startswith("too large: 80044 bytes")
        assert ["huge.wav", "small.opus", "small.wav"] == sorted(p.name for p in spool.iterdir())


async def test_run_wakes_up_when_notified(sqlite_url: str, tmp_path: Path) -> None:
    import asyncio

    from tests.conftest import wait_for

    async with database(sqlite_url) as sessions:
        async with RecordingWorker(sessions, settings(tmp_path), poll_seconds=3600) as worker:
            task = asyncio.create_task(worker.run())
            try:
                write_wav(tmp_path / "late.wav", [tone(1)])
                await add_recording(sessions, "late.wav")
                worker.notify()

                async def processed() -> bool:
                    return (await rows(sessions))["late.wav"].status == "done"

                await wait_for(processed, timeout=20)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task


async def test_card_payment_pause_does_not_count_as_dead_air(
    sqlite_url: str, tmp_path: Path
) -> None:
    write_wav(tmp_path / "paid.wav", [tone(2), silence(6), tone(2)])
    async with database(sqlite_url) as sessions:
        await add_recording(sessions, "paid.wav", pauses={"gaps": [[2.0, 8.0, "muted"]]})

        async with RecordingWorker(sessions, settings(tmp_path)) as worker:
            await worker.process_backlog()

        paid = (await rows(sessions))["paid.wav"]
        assert ("done", 0.0, 0.0) == (paid.status, paid.silence_share, paid.longest_silence_seconds)


async def test_publishes_recording_ready_once_done_is_committed(
    db_url: str, tmp_path: Path
) -> None:
    from contact_center.calls import events as ev

    write_wav(tmp_path / "good.wav", [tone(2), silence(1)])
    write_wav(tmp_path / "empty.wav", [])
    async with database(db_url) as sessions:
        good_id = await add_recording(sessions, "good.wav")
        await add_recording(sessions, "empty.wav")
        published: list[ev.DomainEvent] = []
        status_when_published: list[str] = []

        async def publish(event: ev.DomainEvent) -> None:
            status_when_published.append((await rows(sessions))["good.wav"].status)
            published.append(event)

        async with RecordingWorker(sessions, settings(tmp_path), publish=publish) as worker:
            summary = await worker.process_backlog()

        assert (1, 0, 1) == (summary.done, summary.failed, summary.empty)
        assert [("recording.ready", "pbx1", "good", good_id, 3.0, "mp3")] == [
            (e.kind, e.server, e.call_id, e.recording_id, e.duration_seconds, e.format)
            for e in published
            if isinstance(e, ev.RecordingReady)
        ]
        assert ["done"] == status_when_published
        assert published[0].key == ev.make_key("pbx1", "good", "recording.ready", good_id)


async def test_a_failing_publish_does_not_fail_the_recording(
    sqlite_url: str, tmp_path: Path
) -> None:
    from contact_center.calls import events as ev

    write_wav(tmp_path / "one.wav", [tone(1)])
    write_wav(tmp_path / "two.wav", [tone(1)])
    async with database(sqlite_url) as sessions:
        await add_recording(sessions, "one.wav")
        await add_recording(sessions, "two.wav")

        async def bus_down(event: ev.DomainEvent) -> None:
            raise ConnectionError("bus down")

        async with RecordingWorker(sessions, settings(tmp_path), publish=bus_down) as worker:
            summary = await worker.process_backlog()

        assert (2, 0) == (summary.done, summary.failed)
        assert {"one.wav": "done", "two.wav": "done"} == {
            n: r.status for n, r in (await rows(sessions)).items()
        }


async def test_a_failed_pydub_conversion_marks_the_row_failed_and_keeps_the_original(
    sqlite_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    write_wav(spool / "call.wav", [tone(1)])
    async with database(sqlite_url) as sessions:
        await add_recording(sessions, "call.wav")

        async with RecordingWorker(sessions, settings(spool, bitrate="bogus")) as worker:
            summary = await worker.process_backlog()

        row = (await rows(sessions))["call.wav"]
        assert (0, 1) == (summary.done, summary.failed)
        assert "failed" == row.status
        assert row.failure.startswith("conversion failed: "), row.failure
        assert ["call.wav"] == [p.name for p in spool.iterdir()]


async def test_a_spool_file_with_the_output_extension_is_not_lost(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A recording Asterisk saved as ``x.mp3`` (the output format's own extension): the
    compact copy gets a name of its own, so the original is neither overwritten nor deleted
    as "the original" after being replaced (issue 21, item 8)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    write_wav(spool / "call.mp3", [tone(2), silence(1)])
    original = (spool / "call.mp3").read_bytes()
    async with database(sqlite_url) as sessions:
        await add_recording(sessions, "call.mp3")
        async with RecordingWorker(sessions, settings(spool)) as worker:
            summary = await worker.process_backlog()
        assert 1 == summary.done
        row = (await rows(sessions))["call.mp3"]
        assert "done" == row.status
        assert "call.mp3" != row.compact_name
        compact = spool / row.compact_name
        assert compact.is_file() and compact.stat().st_size > 0
        assert compact.read_bytes() != original
