"""Deterministic demo customers: names, phones, accounts, orders, payments, open cases.

The same ``(count, seed)`` always gives the same data, so the demo, the tests and the
benchmarks can name a customer by index (``demo_phone(i)``) without reading it back.
Phone numbers are generated from ranges phonenumbers considers valid, without calling it
per number (a million customers must generate in seconds).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.customers.phones import phone_suffix
from contact_center.store.bulk import allocate_ids, lock_for_writing
from contact_center.store.models import Case, Customer, CustomerPhone, Order, Payment

MOBILE_PREFIXES = ("+7916", "+7903", "+7925", "+7985", "+7926", "+7915", "+7905", "+7977")
LANDLINE_PREFIXES = ("+7495", "+7499")
# A multiplier coprime with 10**7 turns i → 7 digits into a bijection: unique numbers that
# do not look sequential.
_SPREAD = 7_654_321
_OFFSET = 1_234_567

FIRST_NAMES = (
    "Александр",
    "Мария",
    "Дмитрий",
    "Анна",
    "Сергей",
    "Елена",
    "Андрей",
    "Ольга",
    "Алексей",
    "Наталья",
    "Иван",
    "Татьяна",
    "Михаил",
    "Ирина",
    "Николай",
    "Светлана",
    "John",
    "Emma",
)
LAST_NAMES = (
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Egorov",
)
COMPANIES = ("", "", "", "ООО «Ромашка»", "АО «Вектор»", "ИП Сидоров", "Acme Ltd", "ООО «Север»")
STREETS = ("ул. Ленина", "Тверская ул.", "пр. Мира", "ул. Гагарина", "Садовая ул.")
ORDER_STATUSES = ("new", "paid", "shipped", "delivered", "cancelled")
CASE_TITLES = ("Не пришёл заказ", "Вопрос по счёту", "Смена тарифа", "Жалоба на качество")
_CUSTOMERS = cast(Table, Customer.__table__)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def demo_phone(index: int) -> str:
    """The main (mobile) number of demo customer ``index``; unique for index < 10**7."""
    digits = (index * _SPREAD + _OFFSET) % 10**7
    return f"{MOBILE_PREFIXES[index % len(MOBILE_PREFIXES)]}{digits:07d}"


def demo_landline(index: int) -> str:
    digits = (index * _SPREAD + _OFFSET + 3_333_333) % 10**7
    return f"{LANDLINE_PREFIXES[index % len(LANDLINE_PREFIXES)]}{digits:07d}"


def demo_account(index: int) -> str:
    return f"{10_000_000 + index}"


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    index: int
    name: str
    company: str
    segment: str
    language: str
    email: str
    address: str
    account_number: str
    phones: tuple[str, ...]
    balance: Decimal


def iter_demo_customers(count: int, seed: int = 1) -> Iterator[DemoCustomer]:
    """``count`` customers; every 50th shares its main number with the one before
    (a family line), every 4th also has a landline, about 5 % are VIP."""
    rng = random.Random(seed)
    for i in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if first[-1] in "аяе" and last.endswith("ов"):
            last += "а"  # Russian surnames agree with a woman's first name
        phones = [demo_phone(i - 1 if i % 50 == 49 else i)]
        if i % 4 == 0:
            phones.append(demo_landline(i))
        yield DemoCustomer(
            index=i,
            name=f"{first} {last}",
            company=rng.choice(COMPANIES),
            segment="VIP" if rng.random() < 0.05 else rng.choice(("", "regular", "business")),
            language="en" if first in {"John", "Emma"} else "ru",
            email=f"customer{i}@example.com",
            address=f"Москва, {rng.choice(STREETS)}, д. {rng.randint(1, 120)}",
            account_number=demo_account(i),
            phones=tuple(phones),
            balance=Decimal(rng.randint(-5_000, 50_000)) / 100,
        )


def write_demo_csv(path: Path, count: int, seed: int = 1) -> None:
    """A CSV in the import format (header: name,phone,company,…), streamed."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["name", "phone", "company", "segment", "language", "email", "address", "account"]
        )
        for c in iter_demo_customers(count, seed):
            writer.writerow(
                [
                    c.name,
                    ", ".join(c.phones),
                    c.company,
                    c.segment,
                    c.language,
                    c.email,
                    c.address,
                    c.account_number,
                ]
            )


@dataclass(slots=True)
class DemoSummary:
    customers: int = 0
    phones: int = 0
    orders: int = 0
    payments: int = 0
    cases: int = 0
    first_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "phones": self.phones,
            "orders": self.orders,
            "payments": self.payments,
            "cases": self.cases,
        }


async def load_demo_data(
    engine: AsyncEngine, *, count: int = 200, seed: int = 1, batch: int = 2_000
) -> DemoSummary:
    """Insert ``count`` demo customers with phones, orders, payments and cases."""
    summary = DemoSummary()
    buffer: list[DemoCustomer] = []
    for customer in iter_demo_customers(count, seed):
        buffer.append(customer)
        if len(buffer) >= batch:
            await _insert_batch(engine, buffer, seed, summary)
            buffer = []
    if buffer:
        await _insert_batch(engine, buffer, seed, summary)
    return summary


async def _insert_batch(
    engine: AsyncEngine, batch: list[DemoCustomer], seed: int, summary: DemoSummary
) -> None:
    rng = random.Random(seed * 1_000_003 + batch[0].index)
    created = EPOCH
    customer_rows: list[dict[str, Any]] = [
        {
            "name": c.name,
            "company": c.company,
            "segment": c.segment,
            "language": c.language,
            "email": c.email,
            "address": c.address,
            "notes": "",
            "account_number": c.account_number,
            "pin_hash": None,
            "balance": c.balance,
            "currency": "RUB",
            "custom": {"demo_index": c.index},
            "tariff_plan": "",
            "created_at": created,
            "updated_at": created,
        }
        for c in batch
    ]
    async with engine.begin() as conn:
        await lock_for_writing(conn, _CUSTOMERS)
        ids = await allocate_ids(conn, _CUSTOMERS, len(customer_rows))
        for row, customer_id in zip(customer_rows, ids, strict=True):
            row["id"] = customer_id
        await conn.execute(insert(Customer), customer_rows)
        phones, orders, payments, cases = [], [], [], []
        for customer_id, c in zip(ids, batch, strict=True):
            for e164 in c.phones:
                phones.append(
                    {
                        "customer_id": customer_id,
                        "e164": e164,
                        "suffix": phone_suffix(e164),
                        "raw": e164,
                        "label": "",
                    }
                )
            for k in range(rng.randint(0, 3)):
                at = EPOCH + timedelta(days=rng.randint(0, 300), minutes=rng.randint(0, 1439))
                orders.append(
                    {
                        "customer_id": customer_id,
                        "number": f"{c.account_number}-{k + 1}",
                        "status": rng.choice(ORDER_STATUSES),
                        "amount": Decimal(rng.randint(500, 500_000)) / 100,
                        "currency": "RUB",
                        "created_at": at,
                        "updated_at": at,
                    }
                )
            for _ in range(rng.randint(0, 3)):
                payments.append(
                    {
                        "customer_id": customer_id,
                        "amount": Decimal(rng.randint(100, 100_000)) / 100,
                        "currency": "RUB",
                        "paid_at": EPOCH + timedelta(days=rng.randint(0, 300)),
                    }
                )
            if rng.random() < 0.1:
                cases.append(
                    {
                        "customer_id": customer_id,
                        "kind": rng.choice(("complaint", "request")),
                        "title": rng.choice(CASE_TITLES),
                        "status": "open",
                        "created_at": EPOCH + timedelta(days=rng.randint(0, 300)),
                    }
                )
        for model, rows in (
            (CustomerPhone, phones),
            (Order, orders),
            (Payment, payments),
            (Case, cases),
        ):
            if rows:
                await conn.execute(insert(model), rows)
    if not summary.first_id and ids:
        summary.first_id = ids[0]
    summary.customers += len(batch)
    summary.phones += len(phones)
    summary.orders += len(orders)
    summary.payments += len(payments)
    summary.cases += len(cases)
