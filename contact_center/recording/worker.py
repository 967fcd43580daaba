"""The post-processing worker: claims stopped recordings and processes them off the loop.

A recording row moves ``recording`` → ``stopped`` (the indexer) → ``processing`` (claimed here
with a conditional UPDATE, so several workers never take the same row) → ``done`` or
``failed`` (with the reason), or ``empty`` when the file holds no audio at all (a call that
was never bridged: kept for the record, out of QA review). The file work runs in a
ProcessPoolExecutor owned by the worker; the original is deleted only after the ``done`` row
is committed, and never on failure.
With ``publish`` given, a ``RecordingReady`` event goes out once ``done`` is committed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center import aio
from contact_center.calls import events as ev
from contact_center.config import RecordingSettings
from contact_center.recording.errors import AudioRejected, RecordingError
from contact_center.recording.paths import resolve_in_spool
from contact_center.recording.process import ProcessOptions, ProcessResult, process_file
from contact_center.store.db import utcnow
from contact_center.store.models import Recording

log = logging.getLogger(__name__)

Progress = Callable[[int, int, Recording, str], None]  # done, total, row, new status
Publish = Callable[[ev.DomainEvent], Awaitable[None]]
GRACE_SECONDS = 10.0  # on top of max_seconds before the loop gives up on the pool


@dataclass(frozen=True, slots=True)
class BatchSummary:
    done: int
    failed: int
    empty: int = 0

    @property
    def total(self) -> int:
        return self.done + self.failed + self.empty


class RecordingWorker:
    """Processes recordings in a process pool; use ``async with`` to own the pool."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: RecordingSettings,
        *,
        executor: Executor | None = None,
        poll_seconds: float = 30.0,
        publish: Publish | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._options = ProcessOptions.from_settings(settings)
        self._executor = executor
        self._own_executor = executor is None
        self._wake = asyncio.Event()
        self._poll = poll_seconds
        self._publish = publish

    async def __aenter__(self) -> RecordingWorker:
        if self._executor is None:
            self._executor = self._new_pool()
        return self

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver: forking a process that runs an event loop and DB threads is unsafe.
        return ProcessPoolExecutor(
            max_workers=max(1, self._settings.workers),
            mp_context=multiprocessing.get_context("forkserver"),
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def notify(self) -> None:
        """A recording stopped: look for work now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Process the backlog, then whatever stops, until cancelled."""
        while True:
            try:
                await self.process_backlog()
            except RecordingError as exc:
                log.error("recording worker: %s", exc)
            self._wake.clear()
            try:
                await aio.wait_for(self._wake.wait(), timeout=self._poll)
            except TimeoutError:
                pass

    async def count_backlog(self) -> int:
        async with self._sessions() as session:
            query = select(func.count()).where(Recording.status == "stopped")
            return int((await session.execute(query)).scalar_one())

    async def process_backlog(
        self, *, limit: int | None = None, progress: Progress | None = None
    ) -> BatchSummary:
        """Process stopped recordings, oldest first, ``workers`` at a time."""
        total = await self.count_backlog()
        if limit is not None:
            total = min(total, limit)
        done = failed = empty = 0
        while limit is None or done + failed + empty < limit:
            want = max(1, self._settings.workers)
            if limit is not None:
                want = min(want, limit - done - failed - empty)
            batch = await self._claim(want)
            if not batch:
                break
            results = await asyncio.gather(*(self._process_claimed(row) for row in batch))
            for row, status in zip(batch, results, strict=True):
                done += status == "done"
                failed += status == "failed"
                empty += status == "empty"
                if progress is not None:
                    handled = done + failed + empty
                    progress(handled, max(total, handled), row, status)
        return BatchSummary(done=done, failed=failed, empty=empty)

    async def process_one(self, recording_id: int) -> str:
        """Process one recording now, whatever its state except erased; returns the status."""
        async with self._sessions() as session, session.begin():
            row = await session.get(Recording, recording_id)
            if row is None or row.status in {"erased", "deleted", "archived"}:
                raise RecordingError(f"recording {recording_id} cannot be processed")
            row.status = "processing"
        return await self._process_claimed(row)

    async def _claim(self, count: int) -> list[Recording]:
        claimed: list[Recording] = []
        async with self._sessions() as session:
            ids = (
                await session.scalars(
                    select(Recording.id)
                    .where(Recording.status == "stopped")
                    .order_by(Recording.stopped_at, Recording.id)
                    .limit(count * 3)
                )
            ).all()
            for rec_id in ids:
                won = await session.execute(
                    update(Recording)
                    .where(Recording.id == rec_id, Recording.status == "stopped")
                    .values(status="processing")
                )
                await session.commit()
                if won.rowcount == 1:  # type: ignore[attr-defined]
                    row = await session.get(Recording, rec_id, populate_existing=True)
                    if row is not None:
                        claimed.append(row)
                if len(claimed) == count:
                    break
        return claimed

    async def _process_claimed(self, row: Recording) -> str:
        try:
            path = resolve_in_spool(self._settings.spool_dir, row.file_name)
            result = await self._run_in_pool(path, marked_pauses(row))
        except AudioRejected as exc:
            return await self._mark_failed(row.id, exc.reason, "empty" if exc.empty else "failed")
        except BrokenProcessPool:
            # A pool process died (killed, out of memory): the pool is unusable from now on.
            if self._own_executor and self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_pool()
            return await self._mark_failed(row.id, "processing crashed (worker process died)")
        except RecordingError as exc:  # missing file, unsafe name
            return await self._mark_failed(row.id, str(exc))
        except Exception as exc:
            # A crashed pool process or a bug must not stop the backlog: record and move on.
            log.exception("recording %s: processing crashed", row.id)
            return await self._mark_failed(row.id, f"internal error: {type(exc).__name__}: {exc}")
        await self._mark_done(row.id, result)
        if not self._settings.keep_original:
            path.unlink(missing_ok=True)
        await self._announce_ready(row, result)
        return "done"

    async def _announce_ready(self, row: Recording, result: ProcessResult) -> None:
        if self._publish is None:
            return
        try:
            await self._publish(ready_event(row, result, self._options.output_format))
        except Exception:
            # The recording is done and stored; a bus outage must not fail it or stop the
            # backlog (the gather in process_backlog would lose the other results).
            log.exception("recording %s: could not publish recording.ready", row.id)

    async def _run_in_pool(
        self, path: Path, excluded: tuple[tuple[float, float], ...]
    ) -> ProcessResult:
        if self._executor is None:
            raise RecordingError("RecordingWorker used outside 'async with'")
        loop = asyncio.get_running_loop()
        work = functools.partial(process_file, str(path), self._options, excluded=excluded)
        future = loop.run_in_executor(self._executor, work)
        try:
            return await aio.wait_for(future, self._options.max_seconds + GRACE_SECONDS)
        except TimeoutError:
            raise AudioRejected(
                f"timed out: processing took longer than {self._options.max_seconds:g} s"
            ) from None

    async def _mark_done(self, rec_id: int, result: ProcessResult) -> None:
        m = result.metrics
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Recording)
                .where(Recording.id == rec_id)
                .values(
                    status="done",
                    failure="",
                    compact_name=result.compact_name,
                    duration_seconds=m.duration_seconds,
                    loudness_dbfs=m.loudness_dbfs,
                    silence_share=m.silence_share,
                    longest_silence_seconds=m.longest_silence_seconds,
                    clipping_share=m.clipping_share,
                    peaks={"values": list(m.peaks), "seconds_per_peak": m.seconds_per_peak},
                )
            )

    async def _mark_failed(self, rec_id: int, reason: str, status: str = "failed") -> str:
        if status == "failed":
            log.warning("recording %s failed: %s", rec_id, reason)
        else:
            log.info("recording %s is %s: %s", rec_id, status, reason)
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Recording)
                .where(Recording.id == rec_id)
                .values(status=status, failure=reason[:400])
            )
        return status


def ready_event(row: Recording, result: ProcessResult, output_format: str) -> ev.RecordingReady:
    """The event saying this recording can be played; reprocessing it gives the same key."""
    return ev.RecordingReady(
        server=row.server,
        call_id=row.call_linkedid,
        at=utcnow().timestamp(),
        key=ev.make_key(row.server, row.call_linkedid, ev.RecordingReady.kind, row.id),
        recording_id=row.id,
        duration_seconds=result.metrics.duration_seconds,
        format=output_format,
    )


def marked_pauses(row: Recording) -> tuple[tuple[float, float], ...]:
    """The recording's pauses as (start, end) seconds; an open one runs to the end."""
    out = []
    for gap in (row.pauses or {}).get("gaps", []):
        try:
            start = float(gap[0])
            end = float(gap[1]) if gap[1] is not None else float("inf")
        except (TypeError, ValueError, IndexError):
            continue
        out.append((start, end))
    return tuple(out)
