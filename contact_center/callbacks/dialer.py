"""Dialling callbacks back, operator-first, in the connector (the process that holds AMI).

Every ``interval`` seconds the dialer takes the callbacks that are due, within their queue's
business hours (routing.yaml ``hours``), and gives each to a free operator: the one it is
assigned to, else any operator available in its queue, one callback per operator at a time.
It rings the operator's phone with the customer's card (an Originate into ``cc-originate``
tagged ``CC_KIND=callback``), and the dialplan dials the customer once the operator answers.
How the attempt ended comes back as the outbound call's ``CallEnded`` (:meth:`handle`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.callbacks import store
from contact_center.calls import events as ev
from contact_center.config import CallbackSettings
from contact_center.dialing import (
    Dialer,
    OperatorLike,
    dialing_logins,
    ring_operator_first,
    run_rounds,
)
from contact_center.routing.ports import PbxControl
from contact_center.routing.rules import BusinessHours
from contact_center.store.db import utcnow
from contact_center.store.models import Callback

log = logging.getLogger(__name__)


class CallbackDialer(Dialer[OperatorLike]):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pbx: PbxControl,
        operators: Callable[[], Iterable[OperatorLike]],
        policy: CallbackSettings,
        *,
        hours: Callable[[str], BusinessHours | None] = lambda queue: None,
        clock: Callable[[], datetime] = utcnow,
        server: str = "pbx1",
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(sessions, pbx, operators, clock=clock, server=server, ready=ready)
        self._policy = policy
        self._hours = hours

    async def run(self) -> None:
        """Look for due callbacks forever; a failed look is logged and tried again."""
        await run_rounds(
            self.tick,
            lambda: self._policy.interval,
            "callback dialer: looking for due callbacks failed",
        )

    async def _start_due(self, now: datetime) -> int:
        """The due callbacks, each to a free operator (after lost attempts were retried)."""
        async with self._sessions() as db:
            due = await store.due(db, now)
            busy = await dialing_logins(db, Callback)
        free = [o for o in self._operators() if o.state == "available" and o.login not in busy]
        begun = 0
        for callback in due:
            hours = self._hours(callback.queue)
            if hours is not None and not hours.is_open(now):
                continue  # within business hours only
            operator = self._pick(callback, free)
            if operator is None:
                continue
            if await self._start(callback, operator, now):
                free.remove(operator)
                begun += 1
        return begun

    @staticmethod
    def _pick(callback: Callback, free: list[OperatorLike]) -> OperatorLike | None:
        if callback.assigned_login:
            return next((o for o in free if o.login == callback.assigned_login), None)
        in_queue = [o for o in free if not callback.queue or callback.queue in o.queues]
        return in_queue[0] if in_queue else None

    async def _start(self, callback: Callback, operator: OperatorLike, now: datetime) -> bool:
        retry = now + timedelta(seconds=self._policy.operator_retry_seconds)

        async def claim(db: AsyncSession) -> int | None:
            return callback.id if await store.claim(db, callback.id, operator.login, now) else None

        call_id = await ring_operator_first(
            self._sessions,
            self._pbx,
            operator,
            callback.number,
            what=f"callback {callback.id}",
            caller_name="Callback",
            tags={
                "CC_KIND": "callback",
                "CC_CALLBACK_ID": str(callback.id),
                "CC_CUSTOMER_ID": str(callback.customer_id or ""),
            },
            ring_seconds=self._policy.ring_operator_seconds,
            claim=claim,
            release=lambda db, row_id: store.release(db, row_id, retry),
            started=store.started,
        )
        if call_id is None:
            return False
        self.started += 1
        log.info(
            "callback %s to %s: ringing %s first (call %s)",
            callback.id,
            callback.number,
            operator.login,
            call_id,
        )
        return True

    async def _recover_stale(self, now: datetime) -> None:
        timeout = timedelta(minutes=self._policy.dial_timeout_minutes)
        async with self._sessions.begin() as db:
            for row in await store.stale(db, now, timeout):
                log.warning("callback %s: no outcome of its attempt since %s", row.id, timeout)
                if row.attempt_linkedid:
                    await store.finish(
                        db, self._policy, row.attempt_linkedid, "failed", now, server=self._server
                    )
                else:
                    await store.release(db, row.id, now)

    async def _ended(self, event: ev.CallEnded) -> None:
        """When the call is a callback attempt, record its outcome."""
        async with self._sessions.begin() as db:
            done = await store.finish(
                db, self._policy, event.call_id, event.outcome, self._clock(), server=self._server
            )
        if done is not None:
            row, nxt = done
            log.info(
                "callback %s: %s → %s%s",
                row.id,
                event.outcome,
                nxt.status,
                f", next try {nxt.due_at:%H:%M}" if nxt.due_at else "",
            )
