"""A bounded FIFO of pending history events: in memory, spilled to disk when needed.

The oldest events live in an append-only JSONL file, the newest in memory. When memory is full,
or when the writer finds the database down, memory is appended to the file with a single fsync
(batched, not one per event). ``peek`` hands out the oldest events, ``commit`` drops them once
they are in the database; the read position is kept in a side file so a restart resumes where
it stopped. Resuming may hand out again an event that was already written but whose commit was
not yet recorded: the writer's idempotent insert makes that harmless, so nothing is lost and
nothing is written twice.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class HistoryError(Exception):
    """Base of history errors."""


class BufferFull(HistoryError):
    """The buffer holds its maximum: the caller must retry later (do not ack the event)."""

    def __init__(self, size: int, directory: Path) -> None:
        super().__init__(
            f"history buffer full ({size} events pending in {directory}); the database has"
            " been unreachable for too long"
        )


Level = Callable[[int, int], None]  # (pending, capacity)


class SpillBuffer:
    """Bounded FIFO of JSON-ready dicts, memory first, overflow and outages on disk."""

    FILE = "pending.jsonl"
    OFFSET = "pending.offset"

    def __init__(
        self,
        directory: str | Path,
        *,
        max_events: int = 1_000_000,
        memory_events: int = 10_000,
        warn_ratio: float = 0.8,
        on_level: Level | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_events = max_events
        self.memory_events = min(memory_events, max_events)
        self.warn_ratio = warn_ratio
        self._on_level = on_level
        self._memory: deque[dict[str, Any]] = deque()
        self._path = self.directory / self.FILE
        self._offset_path = self.directory / self.OFFSET
        self._read_offset = 0
        self._disk_count = 0
        self._peeked_sizes: list[int] = []  # byte sizes of the disk lines last peeked
        self._peeked_memory = 0  # memory items handed out by the last peek
        self._warned = False
        self._recover()

    # --- state -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._disk_count + len(self._memory)

    @property
    def on_disk(self) -> int:
        return self._disk_count

    @property
    def fill_ratio(self) -> float:
        return len(self) / self.max_events

    # --- operations --------------------------------------------------------------------------

    def put(self, item: dict[str, Any]) -> None:
        """Append one item; raises BufferFull at capacity."""
        if len(self) >= self.max_events:
            raise BufferFull(len(self), self.directory)
        if len(self._memory) >= self.memory_events:
            self.spill()
        self._memory.append(item)
        self._report_level()

    def spill(self) -> None:
        """Move everything held in memory to the end of the file (one fsync)."""
        if not self._memory:
            return
        lines = [(json.dumps(item, separators=(",", ":")) + "\n").encode() for item in self._memory]
        with self._path.open("ab") as fh:
            fh.write(b"".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        # Items handed out by a peek still in flight are now on disk: remember their sizes so
        # the coming commit advances the read position over them.
        self._peeked_sizes.extend(len(line) for line in lines[: self._peeked_memory])
        self._peeked_memory = 0
        self._disk_count += len(self._memory)
        self._memory.clear()

    def peek(self, n: int) -> list[dict[str, Any]]:
        """The oldest n items (or fewer), without removing them."""
        items: list[dict[str, Any]] = []
        self._peeked_sizes = []
        if self._disk_count:
            with self._path.open("rb") as fh:
                fh.seek(self._read_offset)
                while len(items) < min(n, self._disk_count):
                    raw = fh.readline()
                    if not raw:
                        break
                    self._peeked_sizes.append(len(raw))
                    items.append(self._decode(raw))
        before = len(items)
        for item in self._memory:
            if len(items) >= n:
                break
            items.append(item)
        self._peeked_memory = len(items) - before
        return items

    def commit(self, n: int) -> None:
        """Drop the n oldest items (they were written), after a ``peek`` of at least n."""
        from_disk = min(n, self._disk_count)
        if from_disk:
            if from_disk > len(self._peeked_sizes):
                raise HistoryError("commit beyond what was peeked from disk")
            self._read_offset += sum(self._peeked_sizes[:from_disk])
            self._peeked_sizes = self._peeked_sizes[from_disk:]
            self._disk_count -= from_disk
            self._save_offset()
        for _ in range(n - from_disk):
            self._memory.popleft()
        self._peeked_memory = max(0, self._peeked_memory - (n - from_disk))
        self._report_level()

    # --- internals ----------------------------------------------------------------------------

    @staticmethod
    def _decode(raw: bytes) -> dict[str, Any]:
        try:
            item = json.loads(raw)
        except ValueError:
            log.error("history buffer: unreadable line skipped: %r", raw[:200])
            return {}
        return item if isinstance(item, dict) else {}

    def _save_offset(self) -> None:
        if self._disk_count == 0:
            # Everything on disk is written: start a fresh file rather than grow forever.
            self._path.unlink(missing_ok=True)
            self._offset_path.unlink(missing_ok=True)
            self._read_offset = 0
            return
        tmp = self._offset_path.with_suffix(".tmp")
        tmp.write_text(str(self._read_offset))
        # No fsync: losing the offset replays written events, which the writer ignores.
        os.replace(tmp, self._offset_path)

    def _recover(self) -> None:
        """Resume after a restart: read position, and drop a half-written last line."""
        if not self._path.exists():
            self._offset_path.unlink(missing_ok=True)
            return
        try:
            self._read_offset = int(self._offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            self._read_offset = 0
        data = self._path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            log.warning("history buffer: dropping a half-written last line in %s", self._path)
            with self._path.open("r+b") as fh:
                fh.truncate(end)
        self._read_offset = min(self._read_offset, end)
        self._disk_count = data.count(b"\n", self._read_offset, end)
        if self._disk_count:
            log.info("history buffer: %d events pending from a previous run", self._disk_count)
        else:
            self._save_offset()

    def _report_level(self) -> None:
        size = len(self)
        if self._on_level is not None:
            self._on_level(size, self.max_events)
        ratio = size / self.max_events
        if ratio >= self.warn_ratio and not self._warned:
            self._warned = True
            log.warning(
                "history buffer %.0f%% full (%d of %d events): the database is not keeping up"
                " or is down; events will be refused when full",
                ratio * 100, size, self.max_events,
            )  # fmt: skip
        elif ratio < self.warn_ratio / 2 and self._warned:
            self._warned = False
            log.info("history buffer back to %d events", size)
