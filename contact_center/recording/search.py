"""Finding recordings for QA: filters from a query string, scoped by who is asking.

The scope clause mirrors :func:`contact_center.recording.access.can_access` in SQL, so a
search never lists a recording its reader could not open; the player still checks the row
with ``can_access`` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.i18n import gettext as _
from contact_center.recording.access import QUEUE_SCOPED_ROLES, Principal, principal_from_user
from contact_center.recording.errors import BadFilter
from contact_center.store.db import utcnow
from contact_center.store.models import Call, Customer, QaReview, Queue, Recording, User

PAGE_SIZE = 50
OUTCOMES = ("answered", "abandoned", "ivr_only", "unanswered")


@dataclass(frozen=True, slots=True)
class SearchFilters:
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    operator: str = ""  # a login, a person's name or a phone interface (PJSIP/101)
    queue: str = ""
    customer: str = ""  # part of the name or of the caller's number
    outcome: str = ""
    min_seconds: float | None = None
    max_seconds: float | None = None
    min_dead_air: float | None = None  # percent 0..100
    page: int = 0

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> SearchFilters:
        outcome = query.get("outcome", "").strip()
        if outcome and outcome not in OUTCOMES:
            raise BadFilter(_("outcome must be one of %(outcomes)s", outcomes=", ".join(OUTCOMES)))
        return cls(
            date_from=_date(query.get("date_from", ""), "date_from"),
            date_to=_date(query.get("date_to", ""), "date_to"),
            operator=query.get("operator", "").strip()[:80],
            queue=query.get("queue", "").strip()[:80],
            customer=query.get("customer", "").strip()[:100],
            outcome=outcome,
            min_seconds=_number(query.get("min_seconds", ""), "min_seconds"),
            max_seconds=_number(query.get("max_seconds", ""), "max_seconds"),
            min_dead_air=_number(query.get("min_dead_air", ""), "min_dead_air"),
            page=_page(query.get("page", "")),
        )


@dataclass(frozen=True, slots=True)
class RecordingRow:
    id: int
    started_at: datetime
    queue: str
    operator_interface: str
    customer_name: str
    caller_number: str
    outcome: str
    status: str
    duration_seconds: float
    silence_share: float | None
    reviews: int
    operator_name: str = ""  # the person at that phone ("" when nobody is)


# Statuses QA never sees: files gone, and recordings with no audio at all (calls never
# bridged, e.g. abandoned in the queue): nothing to listen to or score.
HIDDEN_STATUSES = ("deleted", "archived", "erased", "empty")


def operator_name_of(interface: Any) -> Any:
    """The display name of the user at ``interface`` (a column), as a scalar subquery: the
    active user first, then the newest."""
    return (
        select(func.coalesce(func.nullif(User.display_name, ""), User.login))
        .where(User.interface == interface, User.interface != "")
        .order_by(User.active.desc(), User.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def operator_clause(column: Any, operator: str) -> ColumnElement[bool]:
    """``column`` (an interface) belongs to ``operator``: given as login, name or interface."""
    people = select(User.interface).where(
        User.interface != "",
        or_(User.login == operator, func.lower(User.display_name) == operator.lower()),
    )
    return or_(column == operator, column.in_(people))


def _date(raw: str, name: str) -> date | None:
    if not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise BadFilter(
            _("%(name)s must be a date like 2026-11-22, got %(raw)s", name=name, raw=repr(raw))
        ) from None


def _number(raw: str, name: str) -> float | None:
    if not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadFilter(
            _("%(name)s must be a number, got %(raw)s", name=name, raw=repr(raw))
        ) from None
    if value < 0 or value != value or value == float("inf"):
        raise BadFilter(
            _("%(name)s must be a positive number, got %(raw)s", name=name, raw=repr(raw))
        )
    return value


MAX_PAGE = 100_000  # far past any real result list; a larger page would overflow OFFSET (500)


def _page(raw: str) -> int:
    value = _number(raw, "page") or 0.0
    if value > MAX_PAGE or not float(value).is_integer():
        raise BadFilter(
            _(
                "page must be a whole number up to %(max)s, got %(raw)s",
                max=MAX_PAGE,
                raw=repr(raw[:20]),
            )
        )
    return int(value)


def scope_clause(principal: Principal) -> ColumnElement[bool]:
    """The recordings this principal may see, as a WHERE clause (default deny)."""
    if principal.role == "admin":
        return true()
    if principal.role in QUEUE_SCOPED_ROLES:
        if not principal.queues:
            return false()
        return Recording.queue.in_(sorted(principal.queues))
    if principal.role == "operator" and principal.interface:
        return Recording.operator_interface == principal.interface
    return false()


def _filter_clauses(filters: SearchFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [Recording.status.not_in(HIDDEN_STATUSES)]
    if filters.date_from:
        clauses.append(Recording.started_at >= _start_of(filters.date_from))
    if filters.date_to:
        clauses.append(Recording.started_at < _start_of(filters.date_to + timedelta(days=1)))
    if filters.operator:
        clauses.append(operator_clause(Recording.operator_interface, filters.operator))
    if filters.queue:
        clauses.append(Recording.queue == filters.queue)
    if filters.outcome:
        clauses.append(Recording.outcome == filters.outcome)
    if filters.min_seconds is not None:
        clauses.append(Recording.duration_seconds >= filters.min_seconds)
    if filters.max_seconds is not None:
        clauses.append(Recording.duration_seconds <= filters.max_seconds)
    if filters.min_dead_air is not None:
        clauses.append(Recording.silence_share >= filters.min_dead_air / 100)
    if filters.customer:
        like = f"%{_escape_like(filters.customer)}%"
        clauses.append(
            or_(
                Customer.name.ilike(like, escape="\\"),
                Call.caller_number.like(like, escape="\\"),
            )
        )
    return clauses


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=utcnow().tzinfo)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_recordings(
    session: AsyncSession, principal: Principal, filters: SearchFilters
) -> list[RecordingRow]:
    """One page of recordings, newest first, that match and that the principal may see."""
    review_count = (
        select(func.count(QaReview.id))
        .where(QaReview.recording_id == Recording.id)
        .scalar_subquery()
    )
    query = (
        select(
            Recording,
            Customer.name,
            Call.caller_number,
            review_count,
            operator_name_of(Recording.operator_interface),
        )
        .outerjoin(Customer, Customer.id == Recording.customer_id)
        .outerjoin(
            Call, and_(Call.server == Recording.server, Call.linkedid == Recording.call_linkedid)
        )
        .where(scope_clause(principal), *_filter_clauses(filters))
        .order_by(Recording.started_at.desc(), Recording.id.desc())
        .limit(PAGE_SIZE)
        .offset(filters.page * PAGE_SIZE)
    )
    rows = (await session.execute(query)).all()
    return [
        RecordingRow(
            id=rec.id,
            started_at=rec.started_at,
            queue=rec.queue,
            operator_interface=rec.operator_interface,
            customer_name=name or "",
            caller_number=number or "",
            outcome=rec.outcome,
            status=rec.status,
            duration_seconds=rec.duration_seconds,
            silence_share=rec.silence_share,
            reviews=int(count or 0),
            operator_name=operator or "",
        )
        for rec, name, number, count, operator in rows
    ]


async def load_principal(
    session: AsyncSession, *, user_id: int, login: str, role: str, interface: str
) -> Principal:
    """The principal of a signed-in user: their queues and the queues they supervise."""
    user = await session.get(User, user_id)
    user_queues: Mapping[str, Any] = user.queues if user is not None and user.queues else {}
    supervised: list[str] = []
    if role == "supervisor":
        for queue in (await session.scalars(select(Queue))).all():
            logins = (queue.supervisors or {}).get("logins", [])
            if login in logins:
                supervised.append(queue.name)
    return principal_from_user(
        login=login,
        role=role,
        interface=interface,
        user_queues=user_queues,
        supervised=supervised,
        user_id=user_id,
    )
