"""Charges per customer, operator, queue or day; the totals are the sum of the calls.

Rows are grouped in Python from one streamed query, so money stays Decimal (no database-side
float sums) and the day is cut in the requested time zone on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.store import models

GroupBy = Literal["customer", "operator", "queue", "day"]
GROUPS: tuple[GroupBy, ...] = ("customer", "operator", "queue", "day")


@dataclass(frozen=True, slots=True)
class ReportRow:
    key: str  # customer id, operator interface, queue name or ISO day ("" when unknown)
    label: str
    currency: str
    calls: int
    billed_seconds: int
    amount: Decimal


@dataclass(slots=True)
class _Sum:
    calls: int = 0
    seconds: int = 0
    amount: Decimal = field(default_factory=Decimal)


@dataclass(frozen=True, slots=True)
class ChargesReport:
    group_by: GroupBy
    rows: tuple[ReportRow, ...]
    calls: int
    totals: dict[str, Decimal]  # per currency


async def charges_report(
    sessions: async_sessionmaker[AsyncSession],
    *,
    group_by: GroupBy,
    since: datetime,
    until: datetime,
    timezone: str = "UTC",
) -> ChargesReport:
    """Charges of calls started in [since, until), grouped; one row per group and currency."""
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {GROUPS}, got {group_by!r}")
    tz = ZoneInfo(timezone)
    charge, call, customer = models.Charge, models.Call, models.Customer
    stmt = (
        select(
            charge.currency,
            charge.amount,
            charge.billed_seconds,
            charge.call_started_at,
            charge.customer_id,
            call.customer_id,
            call.operator_interface,
            call.queue,
            customer.name,
        )
        .outerjoin(call, and_(call.server == charge.server, call.linkedid == charge.call_linkedid))
        .outerjoin(customer, customer.id == func.coalesce(charge.customer_id, call.customer_id))
        .where(charge.call_started_at >= since.astimezone(UTC))
        .where(charge.call_started_at < until.astimezone(UTC))
    )
    groups: dict[tuple[str, str], _Sum] = {}
    labels: dict[str, str] = {}
    calls = 0
    totals: dict[str, Decimal] = {}
    async with sessions() as session:
        result = await session.stream(stmt)
        async for (
            currency,
            amount,
            seconds,
            started,
            cust,
            call_cust,
            operator,
            queue,
            name,
        ) in result:
            customer_id = cust if cust is not None else call_cust
            if group_by == "customer":
                key = "" if customer_id is None else str(customer_id)
                labels[key] = name or ("(unknown caller)" if customer_id is None else f"#{key}")
            elif group_by == "operator":
                key = operator or ""
                labels[key] = key or "(no operator)"
            elif group_by == "queue":
                key = queue or ""
                labels[key] = key or "(no queue)"
            else:
                start = started if started.tzinfo else started.replace(tzinfo=UTC)
                key = start.astimezone(tz).date().isoformat()
                labels[key] = key
            bucket = groups.setdefault((key, currency), _Sum())
            bucket.calls += 1
            bucket.seconds += seconds
            bucket.amount += amount
            calls += 1
            totals[currency] = totals.get(currency, Decimal(0)) + amount
    rows = tuple(
        ReportRow(key, labels[key], cur, v.calls, v.seconds, v.amount)
        for (key, cur), v in sorted(groups.items())
    )
    return ChargesReport(group_by, rows, calls, totals)
