"""Real Asterisk captures through the same tracker used live, then index and worker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from contact_center.ami.replay import replay_events
from contact_center.config import RecordingSettings
from contact_center.recording.index import RecordingIndexer
from contact_center.recording.worker import RecordingWorker
from contact_center.store.models import Recording
from tests.conftest import FIXTURES
from tests.integration.recording_support import database


async def index_capture(sessions, name: str) -> None:  # type: ignore[no-untyped-def]
    indexer = RecordingIndexer(sessions)
    for event in replay_events(FIXTURES / f"{name}.jsonl"):
        await indexer.handle(event)


async def recordings(sessions) -> list[Recording]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return list((await session.scalars(select(Recording).order_by(Recording.id))).all())


async def test_answered_and_abandoned_calls_are_indexed_and_processed(
    db_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "monitor"
    spool.mkdir()
    shutil.copy(
        FIXTURES / "02-inbound-ivr-queue-answered.recording.wav",
        spool / "20261122-104833-1795344512.1.wav",
    )
    shutil.copy(
        FIXTURES / "03-queue-abandon.recording.wav", spool / "20261122-104848-1795344528.9.wav"
    )
    async with database(db_url) as sessions:
        await index_capture(sessions, "02-inbound-ivr-queue-answered")
        await index_capture(sessions, "03-queue-abandon")

        async with RecordingWorker(sessions, RecordingSettings(spool_dir=str(spool))) as worker:
            await worker.process_backlog()

        answered, abandoned = await recordings(sessions)
        assert (
            "1795344512.0",
            "20261122-104833-1795344512.1.wav",
            "support",
            "Local/101@agents",
            "answered",
            "done",
            5.98,
            "20261122-104833-1795344512.1.mp3",
        ) == (
            answered.call_linkedid,
            answered.file_name,
            answered.queue,
            answered.operator_interface,
            answered.outcome,
            answered.status,
            answered.duration_seconds,
            answered.compact_name,
        )
        assert (
            "1795344528.8",
            "abandoned",
            "empty",
            "empty: WAV header only, no audio (the call was never bridged)",
        ) == (abandoned.call_linkedid, abandoned.outcome, abandoned.status, abandoned.failure)


async def test_mute_and_stop_mixmonitor_from_the_actions_capture(db_url: str) -> None:
    async with database(db_url) as sessions:
        await index_capture(sessions, "07-actions")

        rows = await recordings(sessions)
        by_name = {r.file_name: r for r in rows}
        queue_rec = by_name["20261122-105028-1795344628.83.wav"]
        # MixMonitorMute State 1 at +1.006 s after the bridge, State 0 half a second later.
        assert [[1.006, 1.508, "muted"]] == queue_rec.pauses["gaps"]
        assert "stopped" == queue_rec.status
        assert "stopped" == by_name["ami-started-recording.wav"].status
        assert 3 == len(rows)
        assert {"answered"} == {r.outcome for r in rows}


@pytest.mark.parametrize("capture", ["02-inbound-ivr-queue-answered", "07-actions"])
async def test_replaying_a_capture_twice_changes_nothing(sqlite_url: str, capture: str) -> None:
    async with database(sqlite_url) as sessions:
        await index_capture(sessions, capture)
        first = [(r.file_name, r.status, r.pauses, r.outcome) for r in await recordings(sessions)]

        await index_capture(sessions, capture)

        again = [(r.file_name, r.status, r.pauses, r.outcome) for r in await recordings(sessions)]
        assert first == again


async def test_each_recording_of_a_transferred_call_belongs_to_its_operator(db_url: str) -> None:
    """19: a blind transfer into sales re-runs [to-queue]: a second MixMonitor file. The first
    is 101's (support), the second 103's (sales) — not both the first operator's."""
    from contact_center.calls import events as ev
    from contact_center.history.writer import HistoryWriter

    events = replay_events(FIXTURES / "19-attended-cancel-then-queue.jsonl")
    left = [e for e in events if isinstance(e, ev.OperatorLeft)]
    async with database(db_url) as sessions:
        # history runs beside the index, as in the worker: the call row names 101 by then
        writer = HistoryWriter(sessions)
        indexer = RecordingIndexer(sessions)
        for event in events:
            if not isinstance(event, ev.OperatorState):
                await writer.handle(event)
            if isinstance(event, ev.RecordingStarted):
                await writer.flush()
            await indexer.handle(event)
        await writer.flush()
        first, second = await recordings(sessions)
    assert [e.interface for e in left] == [first.operator_interface, second.operator_interface]
    assert ["Local/101@agents", "Local/103@agents"] == [e.interface for e in left]
    # each operator's own leg names the files that heard them
    assert first.file_name in left[0].recordings[0]
    assert second.file_name in left[1].recordings[-1]
