"""Customer search (``/customers``, ``/api/customers``) on SQLite and PostgreSQL: by name in any
case (Cyrillic too), by a number written any way or its last digits, by account number."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.customers.http import search_customers
from contact_center.customers.phones import normalize_number, phone_suffix
from contact_center.store.models import Customer, CustomerPhone
from tests.integration.web_support import database

NOW = datetime(2026, 12, 6, tzinfo=UTC)


async def add_customer(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    numbers: tuple[str, ...],
    *,
    account: str | None = None,
    company: str = "",
    segment: str = "",
) -> int:
    async with sessions.begin() as db:
        customer = Customer(
            name=name,
            company=company,
            segment=segment,
            account_number=account,
            created_at=NOW,
            updated_at=NOW,
        )
        for raw in numbers:
            e164 = normalize_number(raw).e164
            assert e164 is not None, raw
            customer.phones.append(CustomerPhone(e164=e164, suffix=phone_suffix(e164), raw=raw))
        db.add(customer)
        await db.flush()
        return customer.id


async def test_search_by_name_number_and_account(db_url: str) -> None:
    async with database(db_url) as (_, sessions):
        petrov = await add_customer(
            sessions, "Иван Петров", ("+7 916 111-22-33",), account="40010001", segment="VIP"
        )
        petrova = await add_customer(sessions, "Анна Петрова", ("84951234567",))
        acme = await add_customer(sessions, "Emma Stone", ("+74997654321",), company="Acme Ltd")
        other = await add_customer(sessions, "Олег 100% Иванов_", ("+79035550000",))
        async with sessions() as db:

            async def ids(query: str) -> list[int]:
                return [f.id for f in await search_customers(db, query)]

            # names: typed in lower case, capitalised, partly; both Petrovs, by name order
            assert await ids("петров") == [petrova, petrov]
            assert await ids("Петров") == [petrova, petrov]
            assert await ids("иван") == [petrov, other]
            assert await ids("stone") == [acme]
            assert await ids("acme") == [acme]  # the company
            # numbers in any written form, and the last digits alone
            assert await ids("8 (916) 111-22-33") == [petrov]
            assert await ids("+79161112233") == [petrov]
            assert await ids("1234567") == [petrova]
            assert await ids("4567") == [petrova]
            # the account number, exact; an exact match comes before name matches
            assert await ids("40010001") == [petrov]
            # LIKE's wildcards are plain characters in a search
            assert await ids("100%") == [other]
            assert await ids("%") == [other]
            assert await ids("_") == [other]
            assert await ids("") == []
            assert await ids("nobody") == []
            found = await search_customers(db, "40010001")
            assert found[0].vip and found[0].phones == [{"number": "+79161112233", "label": ""}]
