"""Sending the ``call.outcome`` payload (:mod:`.payloads`) when a call's outcome is complete.

The parts of an outcome arrive from different consumers at different times: the call ends
(history), the operator saves a disposition, billing rates the cost, the recording worker
finishes the file, a reviewer scores it days later. So the dispatcher notes the calls whose
events it sees (:meth:`OutcomeSender.note`: call ended, disposition, charged, recording
ready) and :meth:`OutcomeSender.sweep` reads each noted call back from the database:

* **complete** — ended; a disposition saved (answered calls only: nobody disposes of an
  abandoned one); the cost rated; every recording of the call processed (or none) — the
  outcome is recorded for every ``call.outcome`` subscription, once (delivery key
  ``<outcome key>:complete``);
* not complete ``grace_seconds`` after it ended (no tariff covers it, nobody disposed of it)
  — sent with what there is, so a CRM is never left without the call;
* each **QA review** saved later sends the outcome again with its score (delivery key
  ``<outcome key>:qa:<review id>``); the payload's ``key`` stays the call's, so the CRM
  updates its one record.

Noted calls live in memory: a worker restarted between a call's end and its completeness
picks it up again at its next event (a QA review is found by id in the table).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls import events as ev
from contact_center.store.db import utcnow
from contact_center.store.models import QaReview, Recording
from contact_center.webhooks.payloads import (
    OUTCOME_KIND,
    CallOutcome,
    call_outcome_payload,
    load_call_outcome,
    outcome_key,
)
from contact_center.webhooks.repository import WebhookStore

log = logging.getLogger(__name__)

# Recording states that will still change (the file is being written or processed).
UNFINISHED_RECORDING = frozenset({"recording", "stopped", "processing", "pending"})
TRIGGERS = frozenset({"call.ended", "call.charged", "recording.ready"})


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def missing_parts(outcome: CallOutcome, recordings: list[str]) -> list[str]:
    """What the outcome still waits for ([] when complete)."""
    missing = []
    if outcome.ended_at is None:
        missing.append("end")
    if outcome.answered_at is not None and not outcome.disposition:
        missing.append("disposition")
    if outcome.cost is None:
        missing.append("cost")
    if any(status in UNFINISHED_RECORDING for status in recordings):
        missing.append("recording")
    return missing


class OutcomeSender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: WebhookStore,
        *,
        public_url: str = "",
        grace_seconds: float = 300.0,
        clock: Callable[[], datetime] = utcnow,
        interval: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.public_url = public_url
        self.grace = timedelta(seconds=grace_seconds)
        self.clock = clock
        self.interval = interval
        self.pending: set[tuple[str, str]] = set()
        self._qa_after: int | None = None  # reviews with a larger id are new
        self._last = 0.0
        self.recorded = 0  # deliveries recorded (for tests and metrics)

    def note(self, event: ev.DomainEvent) -> None:
        """Remember the call of an event that may complete its outcome."""
        kind = event.kind
        if isinstance(event, ev.OperatorAction):
            if event.action != "disposition":
                return
        elif kind not in TRIGGERS:
            return
        if event.call_id:
            self.pending.add((event.server, event.call_id))

    async def maybe_sweep(self) -> int:
        """:meth:`sweep` at most every ``interval`` seconds (called by the delivery loop)."""
        now = time.monotonic()
        if now - self._last < self.interval:
            return 0
        self._last = now
        return await self.sweep()

    async def sweep(self) -> int:
        """Record the outcomes that are complete (or overdue) and the new QA scores; returns
        the deliveries recorded."""
        subscribers = await self.store.subscribers(OUTCOME_KIND)
        added = await self._qa_reviews(subscribers)
        for server, call_id in sorted(self.pending):
            async with self.sessions() as db:
                outcome = await load_call_outcome(db, server, call_id, public_url=self.public_url)
                recordings = list(
                    await db.scalars(
                        select(Recording.status).where(
                            Recording.server == server, Recording.call_linkedid == call_id
                        )
                    )
                )
            if outcome is None or outcome.ended_at is None:
                continue  # the history writer has not written its end yet
            missing = missing_parts(outcome, recordings)
            if missing and self.clock() - _aware(outcome.ended_at) < self.grace:
                continue
            if missing:
                log.info("call %s/%s outcome sent without %s", server, call_id, ", ".join(missing))
            self.pending.discard((server, call_id))
            added += await self._record(subscribers, outcome, "complete")
        return added

    async def _qa_reviews(self, subscribers: list[int]) -> int:
        async with self.sessions() as db:
            if self._qa_after is None:  # start: only reviews saved from now on
                self._qa_after = int(await db.scalar(select(func.max(QaReview.id))) or 0)
                return 0
            rows = (
                await db.execute(
                    select(QaReview.id, Recording.server, Recording.call_linkedid)
                    .join(Recording, Recording.id == QaReview.recording_id)
                    .where(QaReview.id > self._qa_after)
                    .order_by(QaReview.id)
                    .limit(200)
                )
            ).all()
        added = 0
        for review_id, server, call_id in rows:
            self._qa_after = max(self._qa_after, int(review_id))
            async with self.sessions() as db:
                outcome = await load_call_outcome(db, server, call_id, public_url=self.public_url)
            if outcome is not None:
                added += await self._record(subscribers, outcome, f"qa:{review_id}")
        return added

    async def _record(self, subscribers: list[int], outcome: CallOutcome, stage: str) -> int:
        if not subscribers:
            return 0
        payload = call_outcome_payload(outcome)
        added = await self.store.record(
            subscribers,
            event_key=f"{outcome_key(outcome.server, outcome.call_id)}:{stage}",
            event_kind=OUTCOME_KIND,
            payload=payload,
            now=self.clock(),
        )
        self.recorded += added
        return added
