"""Rating finished calls: one charge row per call, and re-rating a period.

``BillingService.handle`` follows each call from the domain events (number, direction, answer
time, identified customer) and, on ``CallEnded``, writes exactly one ``charges`` row keyed by
(server, linkedid). A replayed ``CallEnded`` writes nothing new (``ON CONFLICT DO NOTHING``).
``rerate`` prices the calls of a period again from the ``calls`` table and replaces their
charges (``ON CONFLICT DO UPDATE``): running it twice gives the same rows.

Every finished call gets a row, also when it cannot be priced (unanswered, internal, no plan,
no prefix): then the amount is 0 and ``breakdown["reason"]`` says why, so reports count every
call and a later ``rerate`` (after importing the plan) fixes them.

With ``publish`` given, a ``CallCharged`` event (key ``charge_event_key``) goes out after the
charge commits: once when a call is first charged, and again from ``rerate`` only for calls
whose price actually changed.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.billing.errors import NoRateError
from contact_center.billing.rating import Charge, RatableCall, rate_call
from contact_center.billing.repository import PlanCache
from contact_center.billing.tariffs import ZERO
from contact_center.calls import events as ev
from contact_center.store import models
from contact_center.store.db import from_epoch, utcnow

log = logging.getLogger(__name__)
Sessions = async_sessionmaker[AsyncSession]
Progress = Callable[[int, int], None]
Publish = Callable[[ev.DomainEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What billing needs of a finished call, from live events or from the calls table."""

    server: str
    linkedid: str
    direction: str
    caller_number: str
    dialled_number: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    talk_seconds: float
    customer_id: int | None


@dataclass(frozen=True, slots=True)
class ChargeRow:
    """One row for ``charges``: a priced call, or an explained zero."""

    server: str
    linkedid: str
    customer_id: int | None
    plan: str
    prefix: str
    number: str
    billed_seconds: int
    amount: Decimal
    currency: str
    breakdown: dict[str, Any]
    call_started_at: datetime
    call_ended_at: datetime | None = None

    def values(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "call_linkedid": self.linkedid,
            "customer_id": self.customer_id,
            "plan": self.plan,
            "prefix": self.prefix,
            "number": self.number,
            "billed_seconds": self.billed_seconds,
            "amount": self.amount,
            "currency": self.currency,
            "breakdown": self.breakdown,
            "rated_at": utcnow(),
            "call_started_at": self.call_started_at,
        }


@dataclass(frozen=True, slots=True)
class RerateResult:
    calls: int
    amount_by_currency: dict[str, Decimal]


def talk_seconds_billable(talk: float) -> int:
    """Whole seconds, rounded up (carriers bill a started second), ignoring float noise."""
    return max(0, math.ceil(round(talk, 3)))


def billed_talk(facts: CallFacts, basis: str) -> float:
    """The seconds a plan bills: ``answer`` — from the call's answer to its end, as
    Asterisk's CDR bills (a transferred call's ring and hold between operators included);
    ``talk`` — the customer's talk with operators (each operator's own talk, summed)."""
    if basis == "answer" and facts.answered_at is not None and facts.ended_at is not None:
        return max(0.0, (facts.ended_at - facts.answered_at).total_seconds())
    return facts.talk_seconds


class BillingService:
    """Consumer of domain events that writes charges; also re-rates periods."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        inbound_plan: str = "inbound",
        outbound_plan: str = "outbound",
        plans: PlanCache | None = None,
        max_live_calls: int = 100_000,
        publish: Publish | None = None,
    ) -> None:
        self._sessions = sessions
        self._publish = publish
        self._default_plans = {"inbound": inbound_plan, "outbound": outbound_plan}
        self.plans = plans or PlanCache(sessions)
        self._live: OrderedDict[tuple[str, str], CallFacts] = OrderedDict()
        self._max_live = max_live_calls

    # --- live ---------------------------------------------------------------------------

    async def handle(self, event: ev.DomainEvent) -> None:
        key = (event.server, event.call_id)
        if isinstance(event, ev.CallArrived):
            self._remember(
                key,
                CallFacts(
                    server=event.server,
                    linkedid=event.call_id,
                    direction=event.direction,
                    caller_number=event.caller_number,
                    dialled_number=event.did,
                    started_at=from_epoch(event.at),
                    answered_at=None,
                    ended_at=None,
                    talk_seconds=0.0,
                    customer_id=None,
                ),
            )
        elif isinstance(event, ev.CallerIdentified) and key in self._live:
            self._live[key] = replace(self._live[key], customer_id=event.customer_id)
        elif isinstance(event, ev.CallAnswered) and key in self._live:
            if self._live[key].answered_at is None:
                self._live[key] = replace(self._live[key], answered_at=from_epoch(event.at))
        elif isinstance(event, ev.CallEnded):
            await self._charge_ended(event, self._live.pop(key, None))

    async def handle_many(self, events: Sequence[ev.DomainEvent]) -> None:
        """:meth:`handle` for a batch of events in order, the calls it ends rated in one
        transaction of a few statements, whatever the batch's size: one read of the ended
        calls' rows, one of their customers' plans, one insert of their charges and one of
        their timeline rows (one transaction per call, ~4 statements each, held the billing
        consumer behind on SQLite at 25 new calls/s). The same charges as one event at a
        time: a call charged once (an end delivered again, in this batch or a later one,
        writes nothing), each new charge announced once after the commit. Raises with
        nothing written and nothing forgotten: the batch can be handed to :meth:`handle`
        one event at a time."""
        ended: dict[tuple[str, str], tuple[ev.CallEnded, CallFacts | None]] = {}
        forgotten: list[tuple[tuple[str, str], CallFacts]] = []
        for event in events:
            key = (event.server, event.call_id)
            if not isinstance(event, ev.CallEnded):
                await self.handle(event)
                continue
            facts = self._live.pop(key, None)  # as handle: what follows sees the call over
            if facts is not None:
                forgotten.append((key, facts))
            if key not in ended:  # again in the same batch: the first end's charge stands
                ended[key] = (event, facts)
        if not ended:
            return
        try:
            async with self._sessions() as session, session.begin():
                stored = await _calls_facts(session, ended)
                rows = [
                    _ended_facts(event, facts, stored.get(key))
                    for key, (event, facts) in ended.items()
                ]
                own = await _own_plans(session, rows)
                priced = [await self._price(facts, own.get(facts.customer_id)) for facts in rows]
                written = await _write_charges(session, priced, overwrite=False)
        except BaseException:
            for key, facts in forgotten:  # handed again one by one, the calls are still known
                self._live.setdefault(key, facts)
            raise
        new = [row for row in priced if (row.server, row.linkedid) in written]
        if new:
            await self._announce(new)

    def _remember(self, key: tuple[str, str], facts: CallFacts) -> None:
        self._live[key] = facts
        # A CallEnded that never comes (lost before a restart) must not grow memory forever.
        while len(self._live) > self._max_live:
            self._live.popitem(last=False)

    async def _charge_ended(self, event: ev.CallEnded, facts: CallFacts | None) -> None:
        async with self._sessions() as session, session.begin():
            row, written = await self._rate_ended(session, event, facts)
        if written:
            await self._announce([row])

    async def _rate_ended(
        self, session: AsyncSession, event: ev.CallEnded, facts: CallFacts | None
    ) -> tuple[ChargeRow, bool]:
        """Price the ended call and write its charge; True when this wrote a new one."""
        stored = await _call_facts(session, event.server, event.call_id)
        row = await self.price(session, _ended_facts(event, facts, stored))
        return row, await _write_charge(session, row, overwrite=False)

    async def _announce(self, rows: Sequence[ChargeRow]) -> None:
        """Publish the charges just committed (never before: a rollback would make them lies)."""
        if self._publish is None:
            return
        for row in rows:
            await self._publish(charged_event(row))

    # --- pricing ------------------------------------------------------------------------

    async def price(self, session: AsyncSession, facts: CallFacts) -> ChargeRow:
        """The charge row for a finished call (never raises for unpriceable calls)."""
        own = None
        if facts.customer_id is not None:
            own = (await _own_plans(session, [facts])).get(facts.customer_id)
        return await self._price(facts, own)

    async def _price(self, facts: CallFacts, own_plan: str | None) -> ChargeRow:
        """:meth:`price` with the customer's own plan (``customers.tariff_plan``) known."""
        plan_name = self._plan_name(facts, own_plan)
        plan = await self.plans.get(plan_name) if plan_name is not None else None
        seconds = talk_seconds_billable(billed_talk(facts, plan.bill if plan else "answer"))

        def zero(reason: str, plan: str = "", currency: str = "") -> ChargeRow:
            return ChargeRow(
                server=facts.server, linkedid=facts.linkedid, customer_id=facts.customer_id,
                plan=plan, prefix="", number="", billed_seconds=0, amount=ZERO,
                currency=currency, breakdown={"reason": reason, "seconds": seconds},
                call_started_at=facts.started_at, call_ended_at=facts.ended_at,
            )  # fmt: skip

        if plan_name is None:
            return zero(f"not billable: {facts.direction} call")
        if plan is None:
            return zero(f"no tariff plan {plan_name!r}", plan_name)
        number = facts.caller_number if plan.match == "caller" else facts.dialled_number
        start = facts.answered_at
        if start is None and facts.ended_at is not None:
            start = facts.ended_at - timedelta(seconds=facts.talk_seconds)
        call = RatableCall(number, start or facts.started_at, seconds, facts.linkedid)
        try:
            charge = rate_call(call, plan)
        except NoRateError as exc:
            return zero(str(exc), plan.name, plan.currency)
        return _row_from_charge(facts, charge)

    def _plan_name(self, facts: CallFacts, own: str | None) -> str | None:
        if own and facts.direction == "outbound":
            # A customer's own plan prices what they are billed for: calls made for them.
            return own
        return self._default_plans.get(facts.direction)

    # --- re-rating ----------------------------------------------------------------------

    async def rerate(
        self,
        since: datetime,
        until: datetime,
        *,
        progress: Progress | None = None,
        chunk: int = 500,
    ) -> RerateResult:
        """Price again every call that ended in [since, until); idempotent."""
        # SQLite stores UTC wall time without an offset: compare in UTC on both databases.
        since, until = since.astimezone(UTC), until.astimezone(UTC)
        self.plans.invalidate()
        async with self._sessions() as session:
            total = (
                await session.execute(
                    select(func.count())
                    .select_from(models.Call)
                    .where(*_ended_between(since, until))
                )
            ).scalar_one()
        done = 0
        sums: dict[str, Decimal] = {}
        last_id = 0
        while True:
            async with self._sessions() as session, session.begin():
                calls = (
                    (
                        await session.execute(
                            select(models.Call)
                            .where(*_ended_between(since, until), models.Call.id > last_id)
                            .order_by(models.Call.id)
                            .limit(chunk)
                        )
                    )
                    .scalars()
                    .all()
                )
                if not calls:
                    break
                before = await _charge_signatures(session, calls)
                facts = [_facts_of(call) for call in calls]
                own = await _own_plans(session, facts)
                rows = [await self._price(f, own.get(f.customer_id)) for f in facts]
                await _write_charges(session, rows, overwrite=True)
                changed: list[ChargeRow] = []
                for row in rows:
                    sums[row.currency] = sums.get(row.currency, ZERO) + row.amount
                    if before.get((row.server, row.linkedid)) != _signature(row):
                        changed.append(row)
                last_id = calls[-1].id
            await self._announce(changed)
            done += len(calls)
            if progress is not None:
                progress(done, total)
        return RerateResult(done, sums)


ChargeSignature = tuple[Decimal, str, str, int, int | None]


def _signature(row: ChargeRow | models.Charge) -> ChargeSignature:
    """What a ``CallCharged`` says; a rerate that leaves it equal publishes nothing."""
    return (Decimal(row.amount), row.currency, row.plan, row.billed_seconds, row.customer_id)


async def _charge_signatures(
    session: AsyncSession, calls: Sequence[models.Call]
) -> dict[tuple[str, str], ChargeSignature]:
    """The stored charges of these calls, before a rerate overwrites them."""
    stored = (
        await session.execute(
            select(models.Charge).where(
                models.Charge.call_linkedid.in_({c.linkedid for c in calls})
            )
        )
    ).scalars()
    return {(c.server, c.call_linkedid): _signature(c) for c in stored}


def charged_event(row: ChargeRow) -> ev.CallCharged:
    """The domain event announcing a stored charge (same key for every rating of a call)."""
    return ev.CallCharged(
        server=row.server,
        call_id=row.linkedid,
        at=(row.call_ended_at or row.call_started_at).timestamp(),
        key=charge_event_key(row.server, row.linkedid),
        amount=str(row.amount),
        currency=row.currency,
        plan=row.plan,
        billed_seconds=row.billed_seconds,
        customer_id=row.customer_id,
    )


def _ended_between(since: datetime, until: datetime) -> tuple[Any, ...]:
    return (
        models.Call.ended_at.is_not(None),
        models.Call.ended_at >= since,
        models.Call.ended_at < until,
    )


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _facts_of(call: models.Call) -> CallFacts:
    return CallFacts(
        server=call.server,
        linkedid=call.linkedid,
        direction=call.direction,
        caller_number=call.caller_number,
        dialled_number=call.did,
        started_at=_aware(call.started_at),
        answered_at=None if call.answered_at is None else _aware(call.answered_at),
        ended_at=None if call.ended_at is None else _aware(call.ended_at),
        talk_seconds=call.talk_seconds,
        customer_id=call.customer_id,
    )


async def _call_facts(session: AsyncSession, server: str, linkedid: str) -> CallFacts | None:
    call = (
        await session.execute(
            select(models.Call).where(
                models.Call.server == server, models.Call.linkedid == linkedid
            )
        )
    ).scalar_one_or_none()
    return None if call is None else _facts_of(call)


async def _calls_facts(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], CallFacts]:
    """The stored rows of these calls (server, linkedid), in one query."""
    wanted = set(keys)
    out: dict[tuple[str, str], CallFacts] = {}
    linkedids = sorted({linkedid for _, linkedid in wanted})
    for i in range(0, len(linkedids), IN_CHUNK):
        calls = (
            await session.execute(
                select(models.Call).where(models.Call.linkedid.in_(linkedids[i : i + IN_CHUNK]))
            )
        ).scalars()
        for call in calls:
            if (call.server, call.linkedid) in wanted:
                out[(call.server, call.linkedid)] = _facts_of(call)
    return out


async def _own_plans(session: AsyncSession, facts: Iterable[CallFacts]) -> dict[int | None, str]:
    """The own tariff plans of these calls' customers (those that have one), in one query."""
    ids = sorted({f.customer_id for f in facts if f.customer_id is not None})
    out: dict[int | None, str] = {}
    for i in range(0, len(ids), IN_CHUNK):
        found = await session.execute(
            select(models.Customer.id, models.Customer.tariff_plan).where(
                models.Customer.id.in_(ids[i : i + IN_CHUNK])
            )
        )
        out.update({cid: plan for cid, plan in found if plan})
    return out


def _ended_facts(
    event: ev.CallEnded, facts: CallFacts | None, stored: CallFacts | None
) -> CallFacts:
    """What billing prices of an ended call: the live facts (else the stored row) and the end."""
    if facts is None:
        facts = stored
    elif stored is not None and facts.customer_id is None:
        facts = replace(facts, customer_id=stored.customer_id)
    if facts is None:
        # Started before we were running and history has no row yet: an explained
        # zero now, a real price on the next rerate.
        facts = CallFacts(
            server=event.server,
            linkedid=event.call_id,
            direction="inbound",
            caller_number="",
            dialled_number="",
            started_at=from_epoch(event.at - event.talk_seconds),
            answered_at=None,
            ended_at=None,
            talk_seconds=0.0,
            customer_id=None,
        )
    facts = replace(facts, ended_at=from_epoch(event.at), talk_seconds=event.talk_seconds)
    if facts.answered_at is None and event.answered_at is not None:
        # answered while we were away (the end carries it): bill from that answer
        facts = replace(facts, answered_at=from_epoch(event.answered_at))
    return facts


def _row_from_charge(facts: CallFacts, charge: Charge) -> ChargeRow:
    return ChargeRow(
        server=facts.server,
        linkedid=facts.linkedid,
        customer_id=facts.customer_id,
        plan=charge.plan,
        prefix=charge.prefix,
        number=charge.number,
        billed_seconds=charge.billed_seconds,
        amount=charge.amount,
        currency=charge.currency,
        breakdown=charge.to_dict(),
        call_started_at=facts.started_at,
        call_ended_at=facts.ended_at,
    )


def _insert(session: AsyncSession, table: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table)


CHARGE_KEY_SUFFIX = "charge"


def charge_event_key(server: str, linkedid: str) -> str:
    """The interaction_events key of a call's charge (one per call, updated on rerate)."""
    return ev.make_key(server, linkedid, CHARGE_KEY_SUFFIX)


IN_CHUNK = 500  # keys per IN (...) / rows per INSERT: far below either database's bind limit


async def _write_charge(session: AsyncSession, row: ChargeRow, *, overwrite: bool) -> bool:
    """Insert (or with ``overwrite`` replace) the call's charge; True when a row was written."""
    return bool(await _write_charges(session, [row], overwrite=overwrite))


async def _write_charges(
    session: AsyncSession, rows: Sequence[ChargeRow], *, overwrite: bool
) -> set[tuple[str, str]]:
    """Insert (or with ``overwrite`` replace) these calls' charges and their timeline rows,
    a statement each per :data:`IN_CHUNK` calls; the (server, linkedid) of those written
    (without ``overwrite``: not already charged). One row per call in ``rows``."""
    written: set[tuple[str, str]] = set()
    for i in range(0, len(rows), IN_CHUNK):
        chunk = rows[i : i + IN_CHUNK]
        values = [row.values() for row in chunk]
        # executemany: SQLAlchemy renders the rows into few INSERTs ("insertmanyvalues") from
        # one compiled statement, where a .values([...]) compiles every row's parameters.
        stmt = _insert(session, models.Charge.__table__)
        if overwrite:
            keep = {"server", "call_linkedid"}
            updates = {c: stmt.excluded[c] for c in values[0] if c not in keep}
            stmt = stmt.on_conflict_do_update(
                index_elements=["server", "call_linkedid"], set_=updates
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=["server", "call_linkedid"])
        # RETURNING (not rowcount) tells on both databases which rows DO NOTHING skipped.
        returned = await session.execute(
            stmt.returning(models.Charge.server, models.Charge.call_linkedid), values
        )
        written.update((server, linkedid) for server, linkedid in returned)
        await _write_charge_events(session, chunk, overwrite=overwrite)
    return written


def _charge_event_values(row: ChargeRow) -> dict[str, Any]:
    summary = f"Charged {row.amount} {row.currency}".strip()
    if row.breakdown.get("reason") and not row.amount:
        summary = f"Not charged: {row.breakdown['reason']}"
    return {
        "key": charge_event_key(row.server, row.linkedid),
        "customer_id": row.customer_id,
        "server": row.server,
        "call_linkedid": row.linkedid,
        "kind": "call.charged",
        "at": row.call_ended_at or row.call_started_at,
        "actor": "billing",
        "summary": summary[:400],
        "data": {"amount": str(row.amount), "currency": row.currency, "plan": row.plan,
                 "billed_seconds": row.billed_seconds},
    }  # fmt: skip


async def _write_charge_events(
    session: AsyncSession, rows: Sequence[ChargeRow], *, overwrite: bool
) -> None:
    """The charges also appear in the customers' interaction history (one statement)."""
    stmt = _insert(session, models.InteractionEvent.__table__)
    if overwrite:
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={k: stmt.excluded[k] for k in ("customer_id", "summary", "data")},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["key"])
    await session.execute(stmt, [_charge_event_values(row) for row in rows])
