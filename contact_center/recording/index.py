"""The recording index: one ``recordings`` row per file Asterisk writes, linked to its call.

A consumer of domain events (``async handle(event)``), fed in order per call:

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
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
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


class RecordingIndexer:
    """Keeps ``recordings`` rows in step with the calls' recording events."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_stopped: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_stopped = on_stopped  # e.g. RecordingWorker.notify

    async def handle(self, event: DomainEvent) -> None:
        if isinstance(event, RecordingStarted):
            await self._started(event)
        elif isinstance(event, CallAnswered):
            await self._answered(event)
        elif isinstance(event, CallerIdentified):
            await self._identified(event)
        elif isinstance(event, RecordingMuted):
            await self._muted(event)
        elif isinstance(event, RecordingStopped):
            await self._stopped(event)
        elif isinstance(event, CallEnded):
            await self._ended(event)

    # --- handlers -------------------------------------------------------------------------

    async def _started(self, event: RecordingStarted) -> None:
        try:
            name = file_name_from_asterisk(event.file)
        except UnsafePath as exc:
            log.warning("recording of call %s ignored: %s", event.call_id, exc)
            return
        async with self._sessions() as session:
            if await session.scalar(select(Recording.id).where(Recording.file_name == name)):
                return  # replayed event
            call = await _call_of(session, event.server, event.call_id)
            session.add(
                Recording(
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
            )
            try:
                await session.commit()
            except IntegrityError:  # the same file indexed concurrently
                await session.rollback()

    async def _answered(self, event: CallAnswered) -> None:
        async with self._sessions() as session, session.begin():
            for rec in await _recordings_of(session, event, live_only=False):
                rec.queue = rec.queue or event.queue
                if rec.operator_interface:
                    continue  # a later operator of a transferred call: not this file's
                rec.operator_interface = event.interface
                if rec.status == "recording":
                    # MixMonitor runs with "b" before Queue: audio starts at the bridge.
                    pauses = dict(rec.pauses or {})
                    pauses["origin"] = max(float(pauses.get("origin") or 0.0), event.at)
                    rec.pauses = pauses

    async def _identified(self, event: CallerIdentified) -> None:
        async with self._sessions() as session, session.begin():
            for rec in await _recordings_of(session, event, live_only=False):
                rec.customer_id = event.customer_id

    async def _muted(self, event: RecordingMuted) -> None:
        async with self._sessions() as session, session.begin():
            live = await _recordings_of(session, event, live_only=True)
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

    async def _stopped(self, event: RecordingStopped) -> None:
        async with self._sessions() as session, session.begin():
            live = await _recordings_of(session, event, live_only=True)
            name = _safe_name(event.file)
            chosen = [r for r in live if r.file_name == name] if name else live[-1:]
            for rec in chosen:
                _finish(rec, event.at)
        if chosen:
            self._wake_worker()

    async def _ended(self, event: CallEnded) -> None:
        finished = False
        async with self._sessions() as session, session.begin():
            call = await _call_of(session, event.server, event.call_id)
            for rec in await _recordings_of(session, event, live_only=False):
                if event.outcome:
                    rec.outcome = event.outcome
                if call is not None:
                    _link_from_call(rec, call)
                if rec.status == "recording":
                    _finish(rec, event.at)
                    finished = True
        if finished:
            self._wake_worker()

    def _wake_worker(self) -> None:
        if self._on_stopped is not None:
            self._on_stopped()


# --- helpers ------------------------------------------------------------------------------


async def _call_of(session: AsyncSession, server: str, linkedid: str) -> Call | None:
    query = select(Call).where(Call.server == server, Call.linkedid == linkedid)
    return (await session.scalars(query)).first()


async def _recordings_of(
    session: AsyncSession, event: DomainEvent, *, live_only: bool
) -> list[Recording]:
    query = select(Recording).where(
        Recording.server == event.server, Recording.call_linkedid == event.call_id
    )
    if live_only:
        query = query.where(Recording.status == "recording")
    return list((await session.scalars(query.order_by(Recording.id))).all())


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
