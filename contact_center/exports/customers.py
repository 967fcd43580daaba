"""Customers as flat rows for export, read in keyset pages (no long-held transaction)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.store.models import Customer, CustomerPhone

# pin_hash is never exported; custom fields travel as one JSON column in CSV.
CUSTOMER_COLUMNS: tuple[str, ...] = (
    "id", "external_id", "name", "company", "segment", "language", "email", "address",
    "account_number", "phones", "balance", "currency", "tariff_plan", "notes", "custom",
    "created_at", "updated_at",
)  # fmt: skip


def _where(segment: str | None) -> list[Any]:
    return [] if not segment else [Customer.segment == segment]


async def count_customers(
    sessions: async_sessionmaker[AsyncSession], *, segment: str | None = None
) -> int:
    async with sessions() as db:
        return int(await db.scalar(select(func.count(Customer.id)).where(*_where(segment))) or 0)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _row(customer: Any, phones: list[str]) -> dict[str, Any]:
    return {
        "id": customer.id, "external_id": customer.external_id, "name": customer.name,
        "company": customer.company,
        "segment": customer.segment, "language": customer.language, "email": customer.email,
        "address": customer.address, "account_number": customer.account_number,
        "phones": phones,
        "balance": None if customer.balance is None else str(customer.balance),
        "currency": customer.currency, "tariff_plan": customer.tariff_plan,
        "notes": customer.notes, "custom": dict(customer.custom or {}),
        "created_at": _iso(customer.created_at), "updated_at": _iso(customer.updated_at),
    }  # fmt: skip


async def customer_rows(
    sessions: async_sessionmaker[AsyncSession],
    *,
    segment: str | None = None,
    page_size: int = 500,
) -> AsyncIterator[dict[str, Any]]:
    """Every customer (by id) as a JSON-ready dict; phones as a list of E.164 numbers."""
    columns = [getattr(Customer, c) for c in CUSTOMER_COLUMNS if c != "phones"]
    after = 0
    while True:
        async with sessions() as db:
            stmt = (
                select(*columns)
                .where(Customer.id > after, *_where(segment))
                .order_by(Customer.id)
                .limit(page_size)
            )
            page = (await db.execute(stmt)).all()
            if not page:
                return
            ids = [row.id for row in page]
            phone_rows = await db.execute(
                select(CustomerPhone.customer_id, CustomerPhone.e164)
                .where(CustomerPhone.customer_id.in_(ids))
                .order_by(CustomerPhone.customer_id, CustomerPhone.id)
            )
        phones: dict[int, list[str]] = {}
        for customer_id, e164 in phone_rows:
            phones.setdefault(customer_id, []).append(e164)
        for row in page:
            yield _row(row, phones.get(row.id, []))
        after = ids[-1]
