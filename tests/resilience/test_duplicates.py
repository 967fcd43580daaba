"""Duplicate and out-of-order input: Asterisk frames seen twice (a reconnect that re-reads,
a proxy that repeats) and events redelivered out of order (a consumer restarted mid-batch)."""

from __future__ import annotations

import random
from pathlib import Path

from contact_center.ami.parser import parse
from contact_center.ami.replay import capture_stream, default_normalize, replay_events
from contact_center.ami.tracker import TRACKER_FILTER, CallTracker
from contact_center.calls import events as ev
from contact_center.history.writer import HistoryWriter
from contact_center.store import models
from tests.conftest import FIXTURES
from tests.integration.history_support import count, database
from tests.integration.test_history_replay import snapshot

CAPTURES = sorted(FIXTURES.glob("*.jsonl"))


def frames_of(path: Path) -> list[bytes]:
    raw = capture_stream(path)
    return [p + b"\r\n\r\n" for p in raw.split(b"\r\n\r\n") if p.startswith(b"Event: ")]


def history_events(events: list[ev.DomainEvent]) -> list[ev.DomainEvent]:
    return [e for e in events if not isinstance(e, ev.OperatorState)]


async def test_every_frame_twice_gives_one_history_row_per_event(
    postgres_url: str, tmp_path: Path
) -> None:
    """Property: every AMI frame delivered twice in a row produces the same history as
    once — one InteractionEvent row per event key, same calls (stale transitions ignored)."""
    clean = history_events([e for path in CAPTURES for e in replay_events(path)])
    expected_keys = {e.key for e in clean}

    doubled: list[ev.DomainEvent] = []
    for path in CAPTURES:
        tracker = CallTracker("pbx1", default_normalize())
        for frame_bytes in frames_of(path):
            for _ in range(2):
                frames, leftover = parse(frame_bytes, TRACKER_FILTER)
                assert b"" == leftover
                for frame in frames:
                    doubled.extend(tracker.feed(frame))
    doubled = history_events(doubled)

    async with database(postgres_url) as once_db:
        writer = HistoryWriter(once_db, spill_dir=tmp_path / "a", batch_size=16)
        async with writer:
            for event in clean:
                await writer.handle(event)
        once = await snapshot(once_db)
    async with database(postgres_url) as sessions:
        # same schema: wipe and write the doubled stream
        async with sessions() as db, db.begin():
            for table in reversed(models.Base.metadata.sorted_tables):
                await db.execute(table.delete())
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "b", batch_size=16)
        async with writer:
            for event in doubled:
                await writer.handle(event)
        twice = await snapshot(sessions)
        rows = await count(sessions, models.InteractionEvent)

    assert len(expected_keys) == rows
    assert once["events"] == twice["events"]
    assert once["calls"] == twice["calls"]


async def test_redelivery_out_of_order_writes_nothing_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    """Property: the whole event stream redelivered after it was written — shuffled, as a
    restarted consumer with a lost ack might — changes no row and adds none."""
    events = history_events([e for path in CAPTURES for e in replay_events(path)])
    async with database(postgres_url) as sessions:
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill", batch_size=16)
        async with writer:
            for event in events:
                await writer.handle(event)
            await writer.flush()
            first = await snapshot(sessions)
            again = list(events)
            random.Random(12).shuffle(again)
            for event in again:
                await writer.handle(event)
            await writer.flush()
        second = await snapshot(sessions)
    assert len({e.key for e in events}) == len(first["events"])
    assert first == second
