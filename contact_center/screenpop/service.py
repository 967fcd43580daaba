"""The screen-pop consumer: ``await ScreenPop.handle(event)`` for every domain event, in order.

On ``CallOffered`` (an operator's phone rings) and again on ``CallAnswered`` it looks the caller
up, renders the card and publishes it on the bus stream ``pops`` addressed to every login whose
``users.interface`` is the ringing interface (all their tabs, on any web instance). A caller who
identified in the IVR (``CallerIdentified``) is popped as that customer. When the phone stops
ringing unanswered, another operator answers, the call is transferred away or ends, the
operator gets ``pop.closed`` with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus.base import POPS, Bus
from contact_center.calls import events as ev
from contact_center.customers.lookup import CustomerCard, CustomerLookup
from contact_center.screenpop.context import CallContext, CallContexts
from contact_center.screenpop.render import CardRenderer, HistoryItem, OpenItem, PopCard
from contact_center.store.models import Case, InteractionEvent, User

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Found:
    """Who the caller is, as far as the database knows."""

    match: str  # known | several | unknown | identified
    customers: tuple[CustomerCard, ...]
    history: tuple[HistoryItem, ...]
    open_items: tuple[OpenItem, ...]


class OperatorDirectory:
    """Which logins answer at a queue-member interface (``users.interface``), cached."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl: float = 30.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._by_interface: dict[str, tuple[str, ...]] = {}
        self._loaded_at = float("-inf")

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    async def _reload(self) -> None:
        async with self._sessions() as db:
            rows = await db.execute(
                select(User.interface, User.login)
                .where(User.active.is_(True), User.interface != "")
                .order_by(User.login)
            )
        table: dict[str, list[str]] = {}
        for interface, login in rows:
            table.setdefault(interface, []).append(login)
        self._by_interface = {k: tuple(v) for k, v in table.items()}
        self._loaded_at = time.monotonic()

    async def logins_for(self, interface: str) -> tuple[str, ...]:
        age = time.monotonic() - self._loaded_at
        # A miss reloads at most once a second: a new operator pops within a second, an
        # unknown interface (a supervisor's phone) does not hammer the database.
        if age > self._ttl or (interface not in self._by_interface and age > 1.0):
            await self._reload()
        return self._by_interface.get(interface, ())


class ScreenPop:
    """Turns the call lifecycle into per-operator pop messages on the bus."""

    def __init__(
        self,
        bus: Bus,
        lookup: CustomerLookup,
        sessions: async_sessionmaker[AsyncSession],
        *,
        renderer: CardRenderer | None = None,
        directory: OperatorDirectory | None = None,
        template_dirs: Sequence[str | Path] = (),
        history_limit: int = 5,
        stream: str = POPS,
        max_parallel_lookups: int = 8,
    ) -> None:
        self.bus = bus
        self.lookup = lookup
        self.sessions = sessions
        self.renderer = renderer or CardRenderer(template_dirs)
        self.directory = directory or OperatorDirectory(sessions)
        self.history_limit = history_limit
        self.stream = stream
        self.contexts = CallContexts()
        # Who is calling is looked up when the call arrives, while the caller is still in the
        # IVR or the queue, so the pop at ring time only renders. Lookups of different calls
        # run side by side (bounded), outside the ordered event path.
        self._found: dict[tuple[str, str], asyncio.Task[Found]] = {}
        self._db_slots = asyncio.Semaphore(max_parallel_lookups)

    async def handle_message(self, message: Mapping[str, Any]) -> None:
        """Entry point for :func:`contact_center.bus.pump` on the ``events`` stream."""
        await self.handle(ev.from_dict(dict(message)))

    async def handle(self, event: ev.DomainEvent) -> None:
        ctx = self.contexts.apply(event)
        if ctx is None:
            return
        match event:
            case ev.CallArrived():
                self._prefetch(ctx)
            case ev.CallOffered():
                await self._pop(ctx, event.interface, "offered", ctx.waited(event.at))
            case ev.CallAnswered():
                await self._pop(ctx, event.interface, "answered", event.hold_seconds)
                for other in sorted(ctx.offered - {event.interface}):
                    await self._close(ctx, other, "answered_elsewhere")
                ctx.offered = {event.interface}
            case ev.CallRingNoAnswer():
                await self._close(ctx, event.interface, "no_answer")
            case ev.CallerIdentified():
                self._prefetch(ctx)
                for interface in sorted(ctx.offered):
                    await self._pop(ctx, interface, "identified", ctx.waited(event.at))
            case ev.AgentCompleted(reason="transfer"):
                await self._close(ctx, event.interface, "transferred")
                ctx.offered.discard(event.interface)
            case ev.CallEnded():
                for interface in sorted(ctx.offered):
                    await self._close(ctx, interface, "ended")
                self.contexts.end(event)
                self._forget(ctx)
            case _:
                pass

    async def close(self) -> None:
        """Cancel the lookups still running (the owner calls this on shutdown)."""
        tasks = list(self._found.values())
        self._found.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- looking the caller up ---------------------------------------------------------------

    def _prefetch(self, ctx: CallContext) -> None:
        self._forget(ctx)
        key = (ctx.server, ctx.call_id)
        self._found[key] = asyncio.create_task(self._find(ctx), name=f"screenpop-lookup-{key}")
        while len(self._found) > self.contexts.max_calls:  # calls whose end we never saw
            self._found.pop(next(iter(self._found))).cancel()

    def _forget(self, ctx: CallContext) -> None:
        task = self._found.pop((ctx.server, ctx.call_id), None)
        if task is not None and not task.done():
            task.cancel()

    async def _find(self, ctx: CallContext) -> Found:
        async with self._db_slots:
            match, customers = await self._customers(ctx)
            history: list[HistoryItem] = []
            open_items: list[OpenItem] = []
            if len(customers) == 1:
                history, open_items = await self._history(customers[0].id)
        return Found(match, tuple(customers), tuple(history), tuple(open_items))

    async def found(self, ctx: CallContext) -> Found:
        """The caller's customer data: the prefetched result, or looked up now."""
        key = (ctx.server, ctx.call_id)
        for _ in range(2):
            task = self._found.get(key)
            if task is None:
                self._prefetch(ctx)
                task = self._found[key]
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # this handler is being cancelled, not the lookup
                # Replaced by a newer lookup (the caller was identified): use that one.
            except Exception:
                log.exception("lookup for call %s failed; trying again", ctx.call_id)
                self._forget(ctx)
        return await self._find(ctx)

    # -- building the card ------------------------------------------------------------------

    async def _customers(self, ctx: CallContext) -> tuple[str, list[CustomerCard]]:
        if ctx.identified_customer_id is not None:
            card = await self.lookup.by_id(ctx.identified_customer_id)
            if card is not None:
                return "identified", [card]
        number = ctx.caller_number_raw or ctx.caller_number
        cards = await self.lookup.by_number(number) if number else []
        if not cards:
            return "unknown", []
        return ("known" if len(cards) == 1 else "several"), cards

    async def _history(self, customer_id: int) -> tuple[list[HistoryItem], list[OpenItem]]:
        async with self.sessions() as db:
            rows = await db.execute(
                select(InteractionEvent)
                .where(InteractionEvent.customer_id == customer_id)
                .order_by(InteractionEvent.at.desc(), InteractionEvent.id.desc())
                .limit(self.history_limit)
            )
            history = [
                HistoryItem(
                    at=row.at,
                    kind=row.kind,
                    summary=row.summary or row.kind,
                    actor=row.actor,
                    outcome=str(
                        (row.data or {}).get("disposition") or (row.data or {}).get("outcome") or ""
                    ),
                )
                for row in rows.scalars()
            ]
            cases = await db.execute(
                select(Case)
                .where(Case.customer_id == customer_id, Case.status == "open")
                .order_by(Case.created_at.desc())
                .limit(self.history_limit)
            )
            items = [OpenItem(c.kind, c.title, c.status) for c in cases.scalars()]
        return history, items

    async def build_card(
        self, ctx: CallContext, interface: str, stage: str, waited: float
    ) -> PopCard:
        found = await self.found(ctx)
        return PopCard(
            server=ctx.server,
            call_id=ctx.call_id,
            stage=stage,
            match=found.match,
            interface=interface,
            caller_number=ctx.caller_number,
            caller_number_raw=ctx.caller_number_raw,
            caller_name=ctx.caller_name,
            did=ctx.did,
            customers=found.customers,
            history=found.history,
            open_items=found.open_items,
            ivr=tuple(ctx.ivr),
            ivr_digits=ctx.ivr_digits,
            queues=tuple(ctx.queues),
            queue=ctx.queue,
            waited_seconds=waited,
            previous_operator=ctx.previous_operator(interface),
            transfers=tuple(ctx.transfers),
        )

    # -- publishing --------------------------------------------------------------------------

    async def _pop(self, ctx: CallContext, interface: str, stage: str, waited: float) -> None:
        logins = await self.directory.logins_for(interface)
        if not logins:
            log.debug("no operator signs in at %s; no pop for call %s", interface, ctx.call_id)
            return
        card = await self.build_card(ctx, interface, stage, waited)
        html = self.renderer.render(card)
        for login in logins:
            await self.bus.publish(self.stream, pop_message(login, card, html))

    async def _close(self, ctx: CallContext, interface: str, reason: str) -> None:
        for login in await self.directory.logins_for(interface):
            await self.bus.publish(
                self.stream,
                {
                    "type": "pop.closed",
                    "to": login,
                    "server": ctx.server,
                    "call_id": ctx.call_id,
                    "reason": reason,
                },
            )


def pop_message(login: str, card: PopCard, html: str) -> dict[str, Any]:
    """The ``pops`` stream message for one operator (the browser gets it minus ``to``)."""
    customer = card.customer
    return {
        "type": "pop",
        "to": login,
        "server": card.server,
        "call_id": card.call_id,
        "stage": card.stage,
        "match": card.match,
        "interface": card.interface,
        "customer_id": customer.id if customer else None,
        "customer_ids": [c.id for c in card.customers],
        "caller": {
            "number": card.caller_number,
            "number_raw": card.caller_number_raw,
            "name": card.caller_name,
        },
        "queue": card.queue,
        "ivr_digits": card.ivr_digits,
        "html": html,
    }
