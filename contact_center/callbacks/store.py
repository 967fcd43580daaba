"""The callbacks table: what is due, claiming an attempt, recording its outcome, the lists.

Every change is a conditional UPDATE on the row's status, so two connectors (or a restart
in the middle of an attempt) never dial one callback twice, and an outcome that arrives
twice (a redelivered event) is recorded once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center import dialing
from contact_center.callbacks.policy import (
    CANCELLED,
    DIALING,
    OPEN_STATUSES,
    OUTCOME_WORDS,
    PENDING,
    Next,
    after_attempt,
    outcome_of,
)
from contact_center.config import CallbackSettings
from contact_center.i18n import gettext as _
from contact_center.stats.services import supervised_queues
from contact_center.store.db import aware
from contact_center.store.models import Callback, Customer, Queue, User
from contact_center.web.auth import Role

if TYPE_CHECKING:
    from contact_center.callbacks.schemas import CallbackForm

MAX_LOG = 50  # attempts kept on the row


class CallbackError(ValueError):
    """A change the callback's state does not allow (already dialling, finished…)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    callback_id: int
    number: str
    queue: str
    customer_id: int | None
    login: str
    interface: str


def due_query(now: datetime, limit: int) -> Any:
    return (
        select(Callback)
        .where(
            Callback.status == PENDING,
            or_(Callback.due_at.is_(None), Callback.due_at <= now),
        )
        .order_by(Callback.due_at.is_(None).desc(), Callback.due_at, Callback.requested_at)
        .limit(limit)
    )


async def due(session: AsyncSession, now: datetime, limit: int = 20) -> list[Callback]:
    """Pending callbacks whose time has come (ASAP ones first), oldest request first."""
    return list((await session.scalars(due_query(now, limit))).all())


async def claim(session: AsyncSession, callback_id: int, login: str, now: datetime) -> bool:
    """Take the callback for an attempt by ``login``; False when someone else took it."""
    return await dialing.claim(session, Callback, callback_id, login, now)


async def started(session: AsyncSession, callback_id: int, call_id: str) -> None:
    """The attempt's outbound call id (the Originate's ChannelId, the call's Linkedid)."""
    await dialing.mark_started(session, Callback, callback_id, call_id)


async def release(session: AsyncSession, callback_id: int, due_at: datetime) -> None:
    """An attempt that never started (the Originate was refused): pending again, not counted."""
    await session.execute(
        update(Callback)
        .where(Callback.id == callback_id, Callback.status == DIALING)
        .values(status=PENDING, due_at=due_at, attempts=Callback.attempts - 1)
    )


async def finish(
    session: AsyncSession,
    policy: CallbackSettings,
    call_id: str,
    outcome: str,
    now: datetime,
    *,
    server: str = "",
) -> tuple[Callback, Next] | None:
    """Record how the attempt ``call_id`` ended; None when it is not a callback attempt
    (or its outcome was recorded already). Writes the customer's timeline row."""
    row = await session.scalar(
        select(Callback).where(Callback.attempt_linkedid == call_id, Callback.status == DIALING)
    )
    if row is None:
        return None
    outcome = outcome_of(outcome)
    nxt = after_attempt(policy, outcome, row.attempts, now)
    attempts = row.attempts if nxt.counted else row.attempts - 1
    log = list((row.log or {}).get("attempts", []))[-MAX_LOG + 1 :]
    log.append(
        {
            "at": now.isoformat(),
            "operator": row.operator_login,
            "outcome": outcome,
            "call": call_id,
            "next": nxt.due_at.isoformat() if nxt.due_at else "",
        }
    )
    result = await session.execute(
        update(Callback)
        .where(Callback.id == row.id, Callback.status == DIALING)
        .values(
            status=nxt.status,
            due_at=nxt.due_at if nxt.due_at is not None else row.due_at,
            attempts=attempts,
            last_outcome=outcome,
            log={"attempts": log},
        )
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    words = OUTCOME_WORDS[outcome]
    head = f"Callback to {row.number} by {row.operator_login or 'an operator'}: {words}"
    summary = dialing.attempt_summary(head, nxt, attempts, policy.max_attempts)
    data = {"callback_id": row.id, "outcome": outcome, "status": nxt.status}
    session.add(dialing.attempt_event("callback", row, call_id, summary, server, now, data))
    await session.refresh(row)
    return row, nxt


async def stale(session: AsyncSession, now: datetime, timeout: timedelta) -> list[Callback]:
    """Attempts with no outcome for ``timeout`` (the outcome was lost: a restart, an AMI
    gap the records did not close)."""
    return await dialing.stale(session, Callback, now, timeout)


async def create(
    session: AsyncSession,
    *,
    key: str,
    number: str,
    queue: str,
    requested_by: str,
    now: datetime,
    customer_id: int | None = None,
    due_at: datetime | None = None,
    note: str = "",
    assigned_login: str = "",
) -> Callback:
    row = Callback(
        key=key,
        customer_id=customer_id,
        number=number,
        queue=queue,
        note=note,
        status=PENDING,
        requested_at=now,
        due_at=due_at,
        attempts=0,
        call_linkedid="",
        requested_by=requested_by,
        assigned_login=assigned_login,
        log={"attempts": []},
    )
    session.add(row)
    await session.flush()
    return row


async def reassign(session: AsyncSession, callback_id: int, login: str) -> None:
    result = await session.execute(
        update(Callback)
        .where(Callback.id == callback_id, Callback.status.in_(OPEN_STATUSES))
        .values(assigned_login=login)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise CallbackError(f"callback {callback_id} is finished or does not exist")


async def cancel(session: AsyncSession, callback_id: int) -> None:
    """Cancel a callback that is not being dialled right now."""
    result = await session.execute(
        update(Callback)
        .where(Callback.id == callback_id, Callback.status == PENDING)
        .values(status=CANCELLED)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise CallbackError(
            f"callback {callback_id} cannot be cancelled (being dialled, finished or unknown)"
        )


@dataclass(frozen=True, slots=True)
class Listed:
    row: Callback
    customer_name: str
    overdue: bool


async def listing(
    session: AsyncSession,
    now: datetime,
    *,
    queues: set[str] | None = None,
    login: str = "",
    open_only: bool = True,
    limit: int = 200,
    grace: timedelta = timedelta(minutes=15),
) -> list[Listed]:
    """Callbacks for a page: ``login`` — assigned to them, or unassigned in their ``queues``;
    otherwise every callback in ``queues`` (None: all)."""
    query: Any = select(Callback, Customer.name).outerjoin(
        Customer, Customer.id == Callback.customer_id
    )
    if open_only:
        query = query.where(Callback.status.in_(OPEN_STATUSES))
    if login:
        mine = Callback.assigned_login == login
        theirs = and_(Callback.assigned_login == "", Callback.queue.in_(sorted(queues or ())))
        query = query.where(or_(mine, theirs))
    elif queues is not None:
        query = query.where(Callback.queue.in_(sorted(queues)))
    query = query.order_by(
        Callback.due_at.is_(None).desc(), Callback.due_at, Callback.requested_at
    ).limit(limit)
    rows = (await session.execute(query)).all()
    return [
        Listed(
            row=row,
            customer_name=name or "",
            overdue=is_overdue(row, now, grace),
        )
        for row, name in rows
    ]


async def summary(
    session: AsyncSession,
    now: datetime,
    *,
    queues: set[str] | None = None,
    grace: timedelta = timedelta(minutes=15),
) -> dict[str, Any]:
    """Waiting and overdue callbacks, in all and per queue (for the wallboard)."""
    query = select(Callback).where(Callback.status.in_(OPEN_STATUSES))
    if queues is not None:
        query = query.where(Callback.queue.in_(sorted(queues)))
    by_queue: dict[str, dict[str, int]] = {}
    for row in (await session.scalars(query)).all():
        counts = by_queue.setdefault(row.queue, {"waiting": 0, "dialing": 0, "overdue": 0})
        counts["waiting" if row.status == PENDING else "dialing"] += 1
        counts["overdue"] += is_overdue(row, now, grace)
    return {
        "waiting": sum(c["waiting"] for c in by_queue.values()),
        "dialing": sum(c["dialing"] for c in by_queue.values()),
        "overdue": sum(c["overdue"] for c in by_queue.values()),
        "queues": by_queue,
    }


def is_overdue(row: Callback, now: datetime, grace: timedelta) -> bool:
    """Pending, and its time (the request, for ASAP ones) passed more than ``grace`` ago."""
    return row.status == PENDING and aware(row.due_at or row.requested_at) + grace < now


async def seed_demo(session: AsyncSession, now: datetime) -> int:
    """The demo's callbacks (once): one overdue, one later today, one booked for anna."""
    if await session.scalar(select(Callback.id).limit(1)) is not None:
        return 0
    customers = (
        await session.scalars(select(Customer).where(Customer.phones.any()).limit(3))
    ).all()
    plans = (
        (
            "support",
            now - timedelta(minutes=40),
            None,
            "",
            "asked in the IVR while the queue was full",
        ),
        ("support", now - timedelta(minutes=5), now + timedelta(hours=2), "", "after 2 pm, please"),
        (
            "sales",
            now - timedelta(hours=1),
            now + timedelta(days=1),
            "anna",
            "wants the new tariff",
        ),
    )
    for customer, (queue, asked, due_at, login, note) in zip(customers, plans, strict=False):
        await create(
            session,
            key=f"demo-{customer.id}",
            number=customer.phones[0].e164,
            queue=queue,
            requested_by=login,
            now=asked,
            customer_id=customer.id,
            due_at=due_at,
            note=note,
            assigned_login=login,
        )
    return len(customers)


async def request_callback(
    session: AsyncSession,
    form: CallbackForm,
    *,
    queues: set[str] | None,
    requested_by: str,
    may_take: bool,
    now: datetime,
) -> Callback:
    """A callback an operator or supervisor asks for on the page (its form checked): the queue
    must be one of theirs (``queues``: None for any) and the customer must exist; an operator
    (``may_take``) may take it herself."""
    if queues is not None and form.queue not in queues:
        raise CallbackError(
            _("you do not take calls of the queue %(queue)s", queue=form.queue or "—")
        )
    if form.customer_id is not None and await session.get(Customer, form.customer_id) is None:
        raise CallbackError(_("there is no customer %(id)s", id=form.customer_id))
    return await create(
        session,
        key=f"op-{requested_by}-{secrets.token_hex(8)}",
        number=form.number,
        queue=form.queue,
        requested_by=requested_by,
        now=now,
        customer_id=form.customer_id,
        due_at=form.when,
        note=form.note,
        assigned_login=requested_by if may_take and form.assign_to_me else "",
    )


# --- who sees what (the pages' scope, their people and queues) ------------------------------


async def scope(
    session: AsyncSession, *, role: str, user_id: int, login: str
) -> tuple[set[str] | None, str]:
    """(queues, login) a user's list covers: an operator their queues and their own
    callbacks; a supervisor the queues they supervise (all while nobody is assigned any);
    an admin everything (None: every queue)."""
    if role == Role.ADMIN:
        return None, ""
    if role == Role.OPERATOR:
        row = await session.get(User, user_id)
        return set((row.queues or {}) if row is not None else {}), login
    return await supervised_queues(session, role=role, login=login), ""


async def visible(
    session: AsyncSession, callback_id: int, *, queues: set[str] | None, login: str
) -> Callback | None:
    """The callback if it is in the scope (:func:`scope`): an operator's own or an
    unassigned one of their queues; None otherwise (no existence leak)."""
    row = await session.get(Callback, callback_id)
    if row is None:
        return None
    if login and row.assigned_login not in ("", login):
        return None
    mine = bool(login) and row.assigned_login == login
    if queues is not None and row.queue not in queues and not mine:
        return None
    return row


@dataclass(frozen=True, slots=True)
class People:
    names: dict[str, str]  # every active user's name by login
    operators: list[tuple[str, str]]  # (login, name) of the operators of the scope, by name
    queues: list[str]  # the scope's queues


async def people(session: AsyncSession, queues: set[str] | None) -> People:
    """Who the page names and offers: active users, the scope's operators and queues."""
    users = (await session.scalars(select(User).where(User.active))).all()
    operators = sorted(
        (
            (u.login, u.display_name or u.login)
            for u in users
            if u.role == Role.OPERATOR and (queues is None or set(u.queues or {}) & queues)
        ),
        key=lambda p: p[1].lower(),
    )
    names = (
        sorted(queues)
        if queues is not None
        else sorted((await session.scalars(select(Queue.name))).all())
    )
    return People({u.login: u.display_name or u.login for u in users}, operators, names)


async def is_active_operator(session: AsyncSession, login: str) -> bool:
    target = await session.scalar(select(User).where(User.login == login, User.active))
    return target is not None and target.role == Role.OPERATOR
