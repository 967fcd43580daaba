"""The spill buffer: FIFO across memory and disk, bounded, resumable after a restart."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from contact_center.history.buffer import BufferFull, SpillBuffer


def items(n: int, start: int = 0) -> list[dict[str, int]]:
    return [{"n": i} for i in range(start, start + n)]


def drain(buffer: SpillBuffer, step: int = 3) -> list[dict[str, int]]:
    out = []
    while len(buffer):
        batch = buffer.peek(step)
        out.extend(batch)
        buffer.commit(len(batch))
    return out


def test_fifo_across_memory_and_disk(tmp_path: Path) -> None:
    buffer = SpillBuffer(tmp_path, memory_events=4, max_events=100)
    for item in items(10):
        buffer.put(item)
    assert (10, 8) == (len(buffer), buffer.on_disk)  # memory spilled twice
    assert items(10) == drain(buffer)
    assert [] == list(tmp_path.iterdir())  # all written: the files are gone


def test_a_restart_resumes_where_the_last_commit_left(tmp_path: Path) -> None:
    first = SpillBuffer(tmp_path, memory_events=100)
    for item in items(7):
        first.put(item)
    first.spill()
    first.commit(len(first.peek(3)))
    second = SpillBuffer(tmp_path)
    assert items(4, start=3) == drain(second)


def test_a_half_written_last_line_is_dropped_on_restart(tmp_path: Path) -> None:
    first = SpillBuffer(tmp_path)
    for item in items(2):
        first.put(item)
    first.spill()
    with (tmp_path / SpillBuffer.FILE).open("a") as fh:
        fh.write('{"n": 99')  # the process died mid-write
    assert items(2) == drain(SpillBuffer(tmp_path))


def test_full_buffer_refuses_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    levels: list[tuple[int, int]] = []
    buffer = SpillBuffer(
        tmp_path, max_events=5, memory_events=2, on_level=lambda *a: levels.append(a)
    )
    with caplog.at_level(logging.WARNING):
        for item in items(5):
            buffer.put(item)
        with pytest.raises(BufferFull, match="history buffer full \\(5 events pending"):
            buffer.put({"n": 5})
    assert "history buffer 80% full (4 of 5 events)" in caplog.text
    assert (5, 5) == levels[-1]
    assert items(5) == drain(buffer)


def test_spill_while_a_peek_is_in_flight(tmp_path: Path) -> None:
    buffer = SpillBuffer(tmp_path, memory_events=3)
    for item in items(2):
        buffer.put(item)
    in_flight = buffer.peek(10)
    buffer.put({"n": 2})
    buffer.put({"n": 3})  # memory full: everything, the peeked two included, goes to disk
    buffer.commit(len(in_flight))
    assert items(2, start=2) == drain(buffer)
