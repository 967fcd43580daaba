"""Overflow of callers already waiting: a caller who has waited in a queue longer than its
rule allows (``routing.yaml`` ``queues.<q>.overflow: {after_seconds, to}``) is moved to the
other queue — not only callers arriving at IVR hand-off.

The move is an AMI ``Redirect`` of the waiting caller's channel to ``to-queue,<queue>,1``, the
dial plan's entry into a queue (deploy and rig alike). app_queue treats a redirected caller as
one who left: ``QueueCallerAbandon`` and a queue_log ``ABANDON`` for the old queue
(``apps/app_queue.c``: the async goto's soft hang-up ends the wait with ``res < 0``), then the
caller joins the new queue under the same call id. So that the figures do not count a move as
an abandon, the decision is published first as a ``RoutingDecided`` event, with why, which
the statistics read as "moved" and the history keeps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from contact_center.calls.events import (
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallLeftQueue,
    CallQueued,
    DomainEvent,
    RoutingDecided,
    make_key,
)
from contact_center.routing.control import CallDirectory
from contact_center.routing.ports import PbxControl
from contact_center.routing.rules import RoutingRules

log = logging.getLogger(__name__)

QUEUE_CONTEXT = "to-queue"  # the dial plan's entry into a queue: exten = the queue's name

Sink = Callable[[DomainEvent], Awaitable[None]]


@dataclass(slots=True)
class _Waiting:
    queue: str
    since: float
    priority: int
    moved: bool = False


class WaitingOverflow:
    """Follows who waits where (domain events) and moves callers who waited too long."""

    def __init__(
        self,
        pbx: PbxControl,
        calls: CallDirectory,
        rules: Callable[[], RoutingRules | None],
        sink: Sink,
        *,
        server: str = "pbx1",
        clock: Callable[[], float] = time.time,
        context: str = QUEUE_CONTEXT,
    ) -> None:
        self._pbx = pbx
        self._calls = calls
        self._rules = rules
        self._sink = sink
        self._server = server
        self._clock = clock
        self._context = context
        self._waiting: dict[str, _Waiting] = {}

    def waiting(self) -> dict[str, str]:
        """call id -> the queue it waits in."""
        return {call_id: w.queue for call_id, w in self._waiting.items()}

    async def handle(self, event: DomainEvent) -> None:
        if event.server != self._server:
            return
        if isinstance(event, CallQueued):
            self._waiting[event.call_id] = _Waiting(event.queue, event.at, event.priority)
        elif isinstance(event, CallAnswered | CallLeftQueue | CallEnded):
            self._waiting.pop(event.call_id, None)
        elif isinstance(event, CallAbandoned):
            waiting = self._waiting.get(event.call_id)
            if waiting is not None and waiting.queue == event.queue:
                del self._waiting[event.call_id]

    async def check(self) -> None:
        """Move every caller who has waited longer than their queue allows."""
        rules = self._rules()
        if rules is None:
            return
        now = self._clock()
        for call_id, waiting in list(self._waiting.items()):
            policy = rules.queues.get(waiting.queue)
            overflow = policy.overflow if policy is not None else None
            if overflow is None or waiting.moved or overflow.to == waiting.queue:
                continue
            waited = now - waiting.since
            if waited >= overflow.after_seconds:
                await self._move(call_id, waiting, overflow.to, waited, overflow.after_seconds)

    async def run(self, interval: float = 1.0) -> None:
        """Check every ``interval`` seconds (a task owned by the composition root)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the PBX is away: callers are checked again next time
                log.warning("waiting overflow check failed: %r", exc)

    async def _move(
        self, call_id: str, waiting: _Waiting, to: str, waited: float, allowed: int
    ) -> None:
        live = self._calls.live_call(call_id)
        if live is None or live.operator_channel or not live.caller_channel:
            self._waiting.pop(call_id, None)  # gone, or an operator has it now
            return
        waiting.moved = True
        reason = f"overflow {waiting.queue} -> {to}: waited {waited:.0f} s (more than {allowed} s)"
        now = self._clock()
        await self._sink(
            RoutingDecided(
                server=self._server,
                call_id=call_id,
                at=now,
                key=make_key(self._server, call_id, "overflow", waiting.queue, to),
                queue=to,
                priority=waiting.priority,
                reason=reason,
            )
        )
        try:
            await self._pbx.redirect(live.caller_channel, self._context, to)
        except Exception as exc:
            waiting.moved = False  # try again at the next check
            log.warning("could not move %s to %s: %r", call_id, to, exc)
            return
        log.info("%s: %s", call_id, reason)
