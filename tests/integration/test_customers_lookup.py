"""Caller lookup against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.customers.lookup import CustomerLookup, _next_prefix
from contact_center.customers.phones import phone_suffix
from contact_center.service import LOOKUP_CONNECTIONS
from contact_center.store import migrate
from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.models import Base, Customer, CustomerPhone
from tests.conftest import POSTGRES_URL, wait_for

CUSTOMER_TABLES = [Base.metadata.tables["customers"], Base.metadata.tables["customer_phones"]]

MOSCOW = "+74951234567"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    # Only the two tables these tests touch: the full migration has its own test, and
    # creating 20-odd tables per test would dominate the run time.
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=CUSTOMER_TABLES)
    yield engine
    await engine.dispose()


async def add_customer(
    engine: AsyncEngine, name: str, *phones: str, segment: str = "", account: str | None = None
) -> int:
    now = utcnow()
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(Customer).returning(Customer.id),
            {
                "name": name,
                "company": "",
                "segment": segment,
                "language": "ru",
                "email": "",
                "address": "",
                "notes": "",
                "account_number": account,
                "custom": {"tier": 2},
                "currency": "",
                "tariff_plan": "",
                "created_at": now,
                "updated_at": now,
            },
        )
        customer_id = int(result.scalar_one())
        for e164 in phones:
            await conn.execute(
                insert(CustomerPhone),
                {
                    "customer_id": customer_id,
                    "e164": e164,
                    "suffix": phone_suffix(e164),
                    "raw": e164,
                    "label": "",
                },
            )
    return customer_id


_made: list[CustomerLookup] = []


@pytest.fixture(autouse=True)
async def _close_lookups() -> AsyncIterator[None]:
    yield
    while _made:
        await _made.pop().aclose()


def make_lookup(engine: AsyncEngine, **kwargs: object) -> CustomerLookup:
    """As the service builds it: on PostgreSQL with connections of its own."""
    kwargs.setdefault("dedicated_connections", LOOKUP_CONNECTIONS)
    lookup = CustomerLookup(session_factory(engine), region="RU", area_code="495", **kwargs)  # type: ignore[arg-type]
    _made.append(lookup)
    return lookup


async def _our_backends(admin: asyncpg.Connection, since: datetime) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_start >= $1",
        since,
    )
    return [row["pid"] for row in rows]


async def test_every_format_of_the_number_finds_the_customer(engine: AsyncEngine) -> None:
    customer_id = await add_customer(
        engine, "Анна Петрова", MOSCOW, "+79161234567", segment="VIP", account="10000001"
    )
    lookup = make_lookup(engine, cache_size=0)
    callers = ["84951234567", "+7 (495) 123-45-67", "74951234567", "4951234567", "1234567"]

    found = {caller: await lookup.by_number(caller) for caller in callers}

    expected = [(customer_id, "Анна Петрова", (MOSCOW, "+79161234567"), True, {"tier": 2})]
    assert {caller: expected for caller in callers} == {
        caller: [(c.id, c.name, c.phones, c.is_vip, c.custom) for c in cards]
        for caller, cards in found.items()
    }


async def test_several_customers_on_one_number_are_all_returned(engine: AsyncEngine) -> None:
    first = await add_customer(engine, "Иван Смирнов", MOSCOW)
    second = await add_customer(engine, "Ольга Смирнова", MOSCOW, "+79031112233")
    await add_customer(engine, "Someone Else", "+79035556677")

    cards = await make_lookup(engine).by_number(MOSCOW)

    assert [first, second] == [c.id for c in cards]


async def test_extensions_and_withheld_callers_never_match(engine: AsyncEngine) -> None:
    await add_customer(engine, "Somebody", MOSCOW, "+74950000101")
    lookup = make_lookup(engine, suffix_digits=3)
    callers = ["101", "2001", "anonymous", "unknown", "", "abc", "+7495000010X"]

    assert {c: [] for c in callers} == {c: await lookup.by_number(c) for c in callers}


async def test_last_digits_fallback_only_when_configured(engine: AsyncEngine) -> None:
    customer_id = await add_customer(engine, "Fallback", MOSCOW)
    await add_customer(engine, "Other", "+79994567890")
    mangled = "0074951234567"  # a trunk that prepends an unknown international prefix

    assert [] == await make_lookup(engine).by_number(mangled)
    assert [customer_id] == [
        c.id for c in await make_lookup(engine, suffix_digits=10).by_number(mangled)
    ]
    # A different valid number with the same last 7 digits matches only with the fallback.
    assert [customer_id] == [
        c.id for c in await make_lookup(engine, suffix_digits=7).by_number("+7 812 123-45-67")
    ]
    assert [] == await make_lookup(engine).by_number("+7 812 123-45-67")


async def test_cache_serves_repeats_until_invalidated(engine: AsyncEngine) -> None:
    lookup = make_lookup(engine)
    assert [] == await lookup.by_number(MOSCOW)
    customer_id = await add_customer(engine, "Late Arrival", MOSCOW)

    stale = await lookup.by_number(MOSCOW)
    lookup.invalidate()
    fresh = await lookup.by_number(MOSCOW)

    assert ([], [customer_id], 1) == (stale, [c.id for c in fresh], lookup.hits)


async def test_cache_is_bounded(engine: AsyncEngine) -> None:
    lookup = make_lookup(engine, cache_size=2)
    for number in ("+79161110001", "+79161110002", "+79161110003"):
        await lookup.by_number(number)

    assert 2 == lookup.cached_entries


async def test_by_account_and_by_id(engine: AsyncEngine) -> None:
    customer_id = await add_customer(engine, "Account Holder", MOSCOW, account="10000042")
    lookup = make_lookup(engine)

    by_account = await lookup.by_account("10000042")
    by_id = await lookup.by_id(customer_id)

    assert (customer_id, customer_id) == (by_account and by_account.id, by_id and by_id.id)
    assert (None, None) == (await lookup.by_account("999"), await lookup.by_id(customer_id + 100))


async def test_lookup_survives_the_server_dropping_its_connection(postgres_url: str) -> None:
    await migrate.upgrade(postgres_url)
    engine = create_engine(postgres_url, pre_ping=False)
    try:
        customer_id = await add_customer(engine, "Reconnect", MOSCOW)
        lookup = make_lookup(engine, cache_size=0, dedicated_connections=0)
        await lookup.by_number(MOSCOW)
        async with engine.connect() as conn:  # the one pooled connection the lookup uses
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        admin = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()

        cards = await lookup.by_number(MOSCOW)

        assert [customer_id] == [c.id for c in cards]
    finally:
        await engine.dispose()


async def test_own_connections_survive_a_restart_and_close(postgres_url: str) -> None:
    """The lookup's own connections: more callers at once than connections are all
    answered (the rest borrow from the pool); every connection killed by the server (a
    restart) costs no lookup; aclose() leaves none open."""
    await migrate.upgrade(postgres_url)
    admin = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))
    since = await admin.fetchval("SELECT now()")
    engine = create_engine(postgres_url, pre_ping=False)
    try:
        ids = [await add_customer(engine, f"C{i}", f"+7916123456{i}") for i in range(6)]
        lookup = make_lookup(engine, cache_size=0)
        numbers = [f"8916123456{i}" for i in range(6)]

        async def everyone() -> list[list[int]]:
            found = await asyncio.gather(*(lookup.by_number(n) for n in numbers))
            return [[card.id for card in cards] for cards in found]

        assert [[i] for i in ids] == await everyone()
        killed = await _our_backends(admin, since)
        assert len(killed) >= LOOKUP_CONNECTIONS
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", killed)

        assert [[i] for i in ids] == await everyone()
        assert [[i] for i in ids] == await everyone()
        assert not set(killed) & set(await _our_backends(admin, since))

        await lookup.aclose()
        await engine.dispose()

        async def none_left() -> bool:
            return not await _our_backends(admin, since)

        await wait_for(none_left)
    finally:
        await engine.dispose()
        await admin.close()


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("7654321", "7654322"), ("1299", "13"), ("0", "1"), ("999", None), ("", None)],
)
def test_next_prefix_bounds_every_string_with_that_prefix(
    prefix: str, expected: str | None
) -> None:
    assert expected == _next_prefix(prefix)


async def test_fallback_when_the_last_digits_are_all_nines(engine: AsyncEngine) -> None:
    customer_id = await add_customer(engine, "Nines", "+74951239999")

    cards = await make_lookup(engine, suffix_digits=4).by_number("+7 812 000-99-99")

    assert [customer_id] == [c.id for c in cards]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_fast_path_reads_what_sqlalchemy_reads_types_included(
    engine: AsyncEngine,
) -> None:
    """Its own connection, one hop per read: the same rows, datetimes and JSON as SQLAlchemy
    gives, for the lookup and for a pop's history query."""
    from sqlalchemy import bindparam, select

    from contact_center.store.models import InteractionEvent

    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=[InteractionEvent.__table__])
    ivan = await add_customer(engine, "Ivan", "+74951234567", "+74957654321")
    async with engine.begin() as conn:
        await conn.execute(
            insert(InteractionEvent),
            {
                "key": "k1",
                "customer_id": ivan,
                "kind": "call.ended",
                "at": datetime(2026, 11, 1, 9, 30, 15, 123456),
                "actor": "bob",
                "summary": "<b>invoice</b>",
                "data": {"outcome": "answered", "n": [1, 2]},
            },
        )
    fast, plain = (
        make_lookup(engine, cache_size=0),
        make_lookup(engine, cache_size=0, dedicated_connections=0),
    )
    assert fast._sqlite is not None and plain._sqlite is None
    history = (
        select(InteractionEvent.at, InteractionEvent.kind, InteractionEvent.data)
        .where(InteractionEvent.customer_id == bindparam("customer_id"))
        .limit(5)
    )
    rows = await fast.rows(history, {"customer_id": ivan})
    assert [tuple(r) for r in await plain.rows(history, {"customer_id": ivan})] == list(rows)
    [(at, kind, data)] = rows
    assert (datetime(2026, 11, 1, 9, 30, 15, 123456), "call.ended") == (at, kind)
    assert {"outcome": "answered", "n": [1, 2]} == data
    [card] = await fast.by_number("84951234567")
    assert card == (await plain.by_number("84951234567"))[0]
    assert ({"tier": 2}, ("+74951234567", "+74957654321")) == (card.custom, card.phones)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_fast_path_survives_its_connection_dying(engine: AsyncEngine) -> None:
    ivan = await add_customer(engine, "Ivan", "+74951234567")
    lookup = make_lookup(engine, cache_size=0)
    assert [ivan] == [c.id for c in await lookup.by_number("+74951234567")]
    assert lookup._sqlite is not None
    await lookup._sqlite._driver.close()  # the connection dies under it
    assert [ivan] == [c.id for c in await lookup.by_number("+74951234567")]  # answered anyway
    assert [ivan] == [c.id for c in await lookup.by_number("+74951234567")]  # a new one
    assert lookup._sqlite._driver is not None
    await lookup.aclose()
    assert lookup._sqlite._driver is None
