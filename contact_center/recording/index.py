"""The recording index: one ``recordings`` row per file Asterisk writes, linked to its call.

A consumer of domain events (``async handle(event)``, or ``handle_many(events)`` a batch in
one transaction), fed in order per call:

- ``RecordingStarted`` creates the row keyed by Asterisk's file name (never user input);
- ``CallAnswered`` / ``CallerIdentified`` link the operator, queue and customer (a file
  belongs to the operator talking when it started, else to the next one who answers: each
  recording of a transferred call has its own operator);
- ``RecordingMuted`` opens and closes gaps (card payments), as offsets into the audio;
- ``RecordingStopped`` (StopMixMonitor) or ``CallEnded`` finishes the row — Asterisk sends no
  ``MixMonitorStop`` when a call simply hangs up — and wakes the post-processing worker.

Every transition is conditional on the current state, so a replayed or duplicated event
changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls.events import (
    CallAnswered,
    CallEnded,
    CallerIdentified,
    DomainEvent,
    RecordingMuted,
    RecordingStarted,
    RecordingStopped,
)
from contact_center.recording.errors import UnsafePath
from contact_center.recording.paths import file_name_from_asterisk
from contact_center.store.db import from_epoch
from contact_center.store.models import Call, Recording

log = logging.getLogger(__name__)


RELEVANT = (
    RecordingStarted,
    CallAnswered,
    CallerIdentified,
    RecordingMuted,
    RecordingStopped,
    CallEnded,
)


@dataclass
class _Rows:
    """What a batch of events touches, loaded in one go: the calls' recordings (in ``id``
    order, new ones appended), their ``calls`` rows, and which file names are indexed."""

    recordings: dict[tuple[str, str], list[Recording]]
    calls: dict[tuple[str, str], Call]
    names: set[str]


class RecordingIndexer:
    """Keeps ``recordings`` rows in step with the calls' recording events.

    :meth:`handle_many` takes a batch of events in one transaction (two or three queries for
    the whole batch, however many calls it holds): on SQLite one transaction per event was
    what held the recording consumer seconds behind at 25 new calls/s. :meth:`handle` is the
    same for one event.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_stopped: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_stopped = on_stopped  # e.g. RecordingWorker.notify

    async def handle(self, event: DomainEvent) -> None:
        try:
            await self.handle_many([event])
        except IntegrityError:  # the same file indexed concurrently
            log.info("recording of call %s already indexed", event.call_id)

    async def handle_many(self, events: Sequence[DomainEvent]) -> None:
        """Apply ``events`` in order, in one transaction; raises ``IntegrityError`` (nothing
        written) when another indexer wrote one of the batch's files meanwhile."""
        todo = [e for e in events if isinstance(e, RELEVANT)]
        if not todo:
            return
        finished = False
        async with self._sessions() as session, session.begin():
            rows = await _load(session, todo)
            for event in todo:
                finished = self._apply(session, rows, event) or finished
            await _write_changes(session, rows)
        if finished:
            self._wake_worker()

    # --- handlers -------------------------------------------------------------------------

    def _apply(self, session: AsyncSession, rows: _Rows, event: DomainEvent) -> bool:
        """One event on the loaded rows; True when it finished a recording."""
        key = (event.server, event.call_id)
        recordings = rows.recordings.setdefault(key, [])
        if isinstance(event, RecordingStarted):
            self._started(session, rows, event, recordings)
        elif isinstance(event, CallAnswered):
            _answered(event, recordings)
        elif isinstance(event, CallerIdentified):
            for rec in recordings:
                rec.customer_id = event.customer_id
        elif isinstance(event, RecordingMuted):
            _muted(event, [r for r in recordings if r.status == "recording"])
        elif isinstance(event, RecordingStopped):
            live = [r for r in recordings if r.status == "recording"]
            name = _safe_name(event.file)
            chosen = [r for r in live if r.file_name == name] if name else live[-1:]
            for rec in chosen:
                _finish(rec, event.at)
            return bool(chosen)
        elif isinstance(event, CallEnded):
            return _ended(event, recordings, rows.calls.get(key))
        return False

    def _started(
        self, session: AsyncSession, rows: _Rows, event: RecordingStarted, recs: list[Recording]
    ) -> None:
        try:
            name = file_name_from_asterisk(event.file)
        except UnsafePath as exc:
            log.warning("recording of call %s ignored: %s", event.call_id, exc)
            return
        if name in rows.names:
            return  # replayed event
        call = rows.calls.get((event.server, event.call_id))
        rec = Recording(
            server=event.server,
            call_linkedid=event.call_id,
            file_name=name,
            status="recording",
            started_at=from_epoch(event.at),
            customer_id=call.customer_id if call else None,
            queue=call.queue if call else "",
            # the operator talking when it started; one started before any operator
            # (MixMonitor before Queue, or re-queued after a transfer) belongs to the
            # next one who answers
            operator_interface=event.interface,
            pauses={"gaps": [], "origin": event.at, "channel": event.channel},
        )
        session.add(rec)
        recs.append(rec)
        rows.names.add(name)

    def _wake_worker(self) -> None:
        if self._on_stopped is not None:
            self._on_stopped()


async def _load(session: AsyncSession, events: Sequence[DomainEvent]) -> _Rows:
    by_server: dict[str, set[str]] = {}
    for event in events:
        by_server.setdefault(event.server, set()).add(event.call_id)
    recordings: dict[tuple[str, str], list[Recording]] = {}
    for server, ids in by_server.items():
        of_calls = select(Recording).where(
            Recording.call_linkedid.in_(sorted(ids)), Recording.server == server
        )
        for rec in await session.scalars(of_calls.order_by(Recording.id)):
            recordings.setdefault((rec.server, rec.call_linkedid), []).append(rec)
    # the calls rows: for a file started (its customer and queue so far) and for the end
    # of a call with a file (what the history consumer resolved meanwhile)
    wanted: dict[str, set[str]] = {}
    for event in events:
        key = (event.server, event.call_id)
        if isinstance(event, RecordingStarted) or (
            isinstance(event, CallEnded) and key in recordings
        ):
            wanted.setdefault(event.server, set()).add(event.call_id)
    calls: dict[tuple[str, str], Call] = {}
    for server, ids in wanted.items():
        rows = select(Call).where(Call.server == server, Call.linkedid.in_(sorted(ids)))
        for call in await session.scalars(rows):
            calls[(call.server, call.linkedid)] = call
    files = {_safe_name(e.file) for e in events if isinstance(e, RecordingStarted)} - {""}
    names: set[str] = set()
    if files:
        indexed = select(Recording.file_name).where(Recording.file_name.in_(sorted(files)))
        names = set(await session.scalars(indexed))
    return _Rows(recordings, calls, names)


async def _write_changes(session: AsyncSession, rows: _Rows) -> None:
    """The batch's changes to existing rows as one UPDATE per set of changed columns
    (``executemany``), not one statement per row: on SQLite every statement is a round trip
    through the event loop to the connection's thread, and a loop busy with a thousand live
    calls turns a few hundred of them into seconds. Only the columns this batch changed are
    written (the recording worker writes others meanwhile). New rows are inserted by the
    flush at commit, in one statement."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for recordings in rows.recordings.values():
        for rec in recordings:
            state = inspect(rec)
            if state.pending or not state.modified:
                continue
            changed = {a.key: a.value for a in state.attrs if a.history.has_changes()}
            if not changed:
                continue
            session.expunge(rec)  # written below, not again by the flush
            groups.setdefault(tuple(sorted(changed)), []).append({"id": rec.id, **changed})
    for values in groups.values():
        await session.execute(update(Recording), values)


def _answered(event: CallAnswered, recordings: list[Recording]) -> None:
    for rec in recordings:
        rec.queue = rec.queue or event.queue
        if rec.operator_interface:
            continue  # a later operator of a transferred call: not this file's
        rec.operator_interface = event.interface
        if rec.status == "recording":
            # MixMonitor runs with "b" before Queue: audio starts at the bridge.
            pauses = dict(rec.pauses or {})
            pauses["origin"] = max(float(pauses.get("origin") or 0.0), event.at)
            rec.pauses = pauses


def _muted(event: RecordingMuted, live: list[Recording]) -> None:
    if not live:
        return
    rec = live[-1]
    pauses = dict(rec.pauses or {})
    gaps = [list(g) for g in pauses.get("gaps", [])]
    offset = _offset(pauses, event.at)
    is_open = bool(gaps) and gaps[-1][1] is None
    if event.muted and not is_open:
        gaps.append([offset, None, event.reason or "muted"])
    elif not event.muted and is_open:
        gaps[-1][1] = max(gaps[-1][0], offset)
    pauses["gaps"] = gaps
    rec.pauses = pauses


def _ended(event: CallEnded, recordings: list[Recording], call: Call | None) -> bool:
    finished = False
    for rec in recordings:
        if event.outcome:
            rec.outcome = event.outcome
        if call is not None:
            _link_from_call(rec, call)
        if rec.status == "recording":
            _finish(rec, event.at)
            finished = True
    return finished


# --- helpers ------------------------------------------------------------------------------


def _safe_name(path: str) -> str:
    if not path:
        return ""
    try:
        return file_name_from_asterisk(path)
    except UnsafePath:
        return ""


def _offset(pauses: dict[str, Any], at: float) -> float:
    return round(max(0.0, at - float(pauses.get("origin") or at)), 3)


def _finish(rec: Recording, at: float) -> None:
    """Stop a live recording: close an open gap at the stop time, queue it for processing."""
    pauses = dict(rec.pauses or {})
    gaps = [list(g) for g in pauses.get("gaps", [])]
    if gaps and gaps[-1][1] is None:
        gaps[-1][1] = max(gaps[-1][0], _offset(pauses, at))
    pauses["gaps"] = gaps
    rec.pauses = pauses
    rec.stopped_at = _later(rec.started_at, from_epoch(at))
    rec.status = "stopped"


def _later(a: datetime, b: datetime) -> datetime:
    if a.tzinfo is None:  # SQLite hands back naive datetimes
        a = a.replace(tzinfo=b.tzinfo)
    return max(a, b)


def _link_from_call(rec: Recording, call: Call) -> None:
    # The history consumer may have resolved the customer and operator meanwhile.
    if rec.customer_id is None and call.customer_id is not None:
        rec.customer_id = call.customer_id
    rec.queue = rec.queue or call.queue
    rec.operator_interface = rec.operator_interface or call.operator_interface
