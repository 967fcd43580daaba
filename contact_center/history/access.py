"""Who may see which call and which customer: the recordings' principal and scope, applied to
calls and to the history (default deny).

- admin: everything;
- supervisor and qa: calls of the queues they are assigned to or supervise, and the customers
  of those calls (their timeline shows those calls' rows, and rows tied to no call);
- operator: the calls they answered (their queue-member interface) and those calls' customers.

A customer or call outside the reader's scope answers like one that does not exist.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.recording.access import (
    QUEUE_SCOPED_ROLES,
    Principal,
    RecordingScope,
    can_access,
)
from contact_center.recording.search import load_principal
from contact_center.store import models

__all__ = [
    "Principal",
    "call_visible",
    "calls_clause",
    "customer_visible",
    "events_clause",
    "load_principal",
]


def calls_clause(principal: Principal) -> ColumnElement[bool]:
    """The ``calls`` rows this principal may see, as a WHERE clause."""
    call = models.Call
    if principal.role == "admin":
        return true()
    if principal.role in QUEUE_SCOPED_ROLES:
        if not principal.queues:
            return false()
        return call.queue.in_(sorted(principal.queues))
    if principal.role == "operator" and principal.interface:
        return call.operator_interface == principal.interface
    return false()


def call_visible(principal: Principal, queue: str, operator_interface: str) -> bool:
    """May this principal see (and act on) a call of this queue answered at this phone?"""
    return can_access(principal, RecordingScope(queue=queue, operator_interface=operator_interface))


def events_clause(principal: Principal) -> ColumnElement[bool]:
    """The history rows this principal may read: rows of calls in scope, and rows tied to no
    call (of customers they may see; the caller adds that condition)."""
    if principal.role == "admin":
        return true()
    event, call = models.InteractionEvent, models.Call
    of_visible_call = exists().where(
        call.server == event.server, call.linkedid == event.call_linkedid, calls_clause(principal)
    )
    return or_(event.call_linkedid == "", of_visible_call)


async def customer_visible(db: AsyncSession, principal: Principal, customer_id: int) -> bool:
    """Has this principal a call with this customer in scope (admins: always)?"""
    if principal.role == "admin":
        return True
    call = models.Call
    found = await db.execute(
        select(call.id)
        .where(and_(call.customer_id == customer_id, calls_clause(principal)))
        .limit(1)
    )
    return found.first() is not None
