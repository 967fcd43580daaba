"""The router the IVR asks at hand-off: customer facts + live queue figures → a Decision.

Facts come from the database (segment, language, open complaint, the operator who last
served this customer); live figures (who is logged in and available, the longest wait) come
from the statistics snapshot every instance shares. Each decision goes into the call's history
as a :class:`~contact_center.calls.events.RoutingDecided` event with its reasons.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls.events import DomainEvent, RoutingDecided, make_key
from contact_center.customers.lookup import CustomerCard, CustomerLookup
from contact_center.routing.rules import CallFacts, Decision, QueueState, RoutingRules, decide
from contact_center.store.models import Call, Case

Sink = Callable[[DomainEvent], Awaitable[None]]
SnapshotSource = Callable[[], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class RouteRequest:
    server: str
    call_id: str
    caller_number: str
    customer_id: int | None
    ivr_choice: str = ""
    did: str = ""
    language: str = ""
    fallback_queue: str = ""


def live_from_snapshot(
    snapshot: Mapping[str, Any] | None,
) -> tuple[dict[str, QueueState], frozenset[str]]:
    """Queue states and available operator interfaces from a stats snapshot dict."""
    if not snapshot:
        return {}, frozenset()
    queues: dict[str, QueueState] = {}
    for name, q in (snapshot.get("queues") or {}).items():
        operators = q.get("operators") or {}
        queues[name] = QueueState(
            logged_in=int(operators.get("staffed", 0)),
            available=int(operators.get("available", 0)),
            longest_wait=float(q.get("longest_wait_seconds") or 0.0),
        )
    available = frozenset(
        str(o.get("interface"))
        for o in (snapshot.get("operators") or {}).values()
        if o.get("state") == "available"
    )
    return queues, available


def _facts_query() -> Select[Any]:
    """Open complaint and last serving operator of one customer, in one round trip; built
    once (building three subqueries per call cost more than running them)."""
    customer_id: BindParameter[int] = bindparam("customer_id")
    complaint = (
        select(Case.id)
        .where(Case.customer_id == customer_id, Case.kind == "complaint", Case.status == "open")
        .limit(1)
        .scalar_subquery()
    )
    last = (
        select(Call.operator_interface, Call.started_at)
        .where(Call.customer_id == customer_id, Call.operator_interface != "")
        .order_by(Call.started_at.desc())
        .limit(1)
        .subquery()
    )
    return select(
        complaint,
        select(last.c.operator_interface).scalar_subquery(),
        select(last.c.started_at).scalar_subquery(),
    )


FACTS_QUERY = _facts_query()


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns: they are UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Router:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        lookup: CustomerLookup,
        rules: RoutingRules,
        snapshot: SnapshotSource,
        sink: Sink | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.lookup = lookup
        self.rules = rules
        self.snapshot = snapshot
        self.sink = sink
        self.clock = clock

    async def facts(self, req: RouteRequest) -> CallFacts:
        card: CustomerCard | None = None
        if req.customer_id is not None:
            card = await self.lookup.by_id(req.customer_id)
        elif req.caller_number:
            cards = await self.lookup.by_number(req.caller_number)
            card = cards[0] if len(cards) == 1 else None  # several: nobody to prefer
        if card is None:
            return CallFacts(ivr_choice=req.ivr_choice, did=req.did, language=req.language)
        # One round trip for both facts: routing sits on the caller's wait.
        async with self.sessions() as db:
            row = (await db.execute(FACTS_QUERY, {"customer_id": card.id})).one()
        complaint = row[0]
        last_served = (str(row[1]), row[2]) if row[1] else None
        days_ago = None
        if last_served is not None:
            days_ago = (self.clock() - _aware(last_served[1]).timestamp()) / 86400
        return CallFacts(
            ivr_choice=req.ivr_choice,
            did=req.did,
            customer_id=card.id,
            segment=card.segment,
            language=req.language or card.language,
            open_complaint=complaint is not None,
            last_operator=last_served[0] if last_served is not None else "",
            last_served_days_ago=days_ago,
        )

    async def route(self, req: RouteRequest) -> Decision:
        facts = await self.facts(req)
        queues, available = live_from_snapshot(await self.snapshot())
        now = datetime.fromtimestamp(self.clock(), UTC)
        decision = decide(
            self.rules, facts, queues, available, fallback_queue=req.fallback_queue, now=now
        )
        if self.sink is not None:
            await self.sink(
                RoutingDecided(
                    server=req.server,
                    call_id=req.call_id,
                    at=now.timestamp(),
                    key=make_key(req.server, req.call_id, "routing", decision.queue),
                    queue=decision.queue,
                    priority=decision.priority,
                    reason="; ".join(decision.reasons),
                    preferred_interface=decision.preferred_interface,
                )
            )
        return decision
