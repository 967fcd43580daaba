"""Caller lookup: who is calling from this number?

Exact match on the normalised E.164 number (indexed), optionally falling back to the last N
digits (for carriers that mangle prefixes). Extensions and withheld numbers never match a
customer. Results, including "nobody", are kept in a bounded LRU cache that writers clear
with ``invalidate()``; a short TTL bounds staleness when the writer is another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from contact_center.customers.phones import normalize_number
from contact_center.store.models import Customer, CustomerPhone

# A caller matching more customers than this is a switchboard; the pop shows the first ones.
MAX_MATCHES = 20


@dataclass(frozen=True, slots=True)
class CustomerCard:
    """What the screen pop, IVR and CLI show about a customer."""

    id: int
    name: str
    company: str
    segment: str
    language: str
    email: str
    address: str
    notes: str
    account_number: str | None
    phones: tuple[str, ...]
    custom: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def is_vip(self) -> bool:
        return self.segment.upper() == "VIP"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "company": self.company,
            "segment": self.segment,
            "language": self.language,
            "email": self.email,
            "address": self.address,
            "notes": self.notes,
            "account_number": self.account_number,
            "phones": list(self.phones),
            "custom": dict(self.custom),
            "is_vip": self.is_vip,
        }


_CARD_COLUMNS = (
    Customer.id,
    Customer.name,
    Customer.company,
    Customer.segment,
    Customer.language,
    Customer.email,
    Customer.address,
    Customer.notes,
    Customer.account_number,
    Customer.custom,
)
_all_phones = aliased(CustomerPhone, name="all_phones")


def cards_query(matching_ids: Any) -> Select[Any]:
    """Customers whose id is in ``matching_ids`` (a subquery), one row per phone."""
    return (
        select(*_CARD_COLUMNS, _all_phones.e164)
        .outerjoin(_all_phones, _all_phones.customer_id == Customer.id)
        .where(Customer.id.in_(matching_ids))
        .order_by(Customer.id, _all_phones.id)
    )


def exact_query(e164: Any = None) -> Select[Any]:
    """The indexed query behind ``by_number`` (also used by the benchmark's raw baseline);
    by default with a bound parameter named ``e164``."""
    if e164 is None:
        e164 = bindparam("e164")
    ids = (
        select(CustomerPhone.customer_id)
        .where(CustomerPhone.e164 == e164)
        .limit(MAX_MATCHES)
        .scalar_subquery()
    )
    return cards_query(ids)


def suffix_query(bounded: bool) -> Select[Any]:
    """Customers with a phone whose reversed digits lie in [low, high): the last digits."""
    condition = CustomerPhone.suffix >= bindparam("low")
    if bounded:
        condition = condition & (CustomerPhone.suffix < bindparam("high"))
    ids = (
        select(CustomerPhone.customer_id)
        .where(condition)
        .distinct()
        .limit(MAX_MATCHES)
        .scalar_subquery()
    )
    return cards_query(ids)


def _next_prefix(prefix: str) -> str | None:
    """The smallest digit string greater than every string starting with ``prefix``.

    Digits only (no ``chr(ord+1)`` → ':'), because collations may order punctuation
    differently from digits.
    """
    stripped = prefix.rstrip("9")
    if not stripped:
        return None
    return stripped[:-1] + str(int(stripped[-1]) + 1)


def rows_to_cards(rows: Sequence[Any]) -> list[CustomerCard]:
    """Group the one-row-per-phone result into cards, keeping the query's order."""
    cards: list[CustomerCard] = []
    phones: list[str] = []
    current: Any = None
    for row in rows:
        if current is not None and row[0] != current[0]:
            cards.append(_card(current, phones))
            phones = []
        current = row
        if row[-1] is not None:
            phones.append(row[-1])
    if current is not None:
        cards.append(_card(current, phones))
    return cards


def _card(row: Any, phones: list[str]) -> CustomerCard:
    return CustomerCard(
        id=row[0],
        name=row[1],
        company=row[2] or "",
        segment=row[3] or "",
        language=row[4] or "",
        email=row[5] or "",
        address=row[6] or "",
        notes=row[7] or "",
        account_number=row[8],
        phones=tuple(phones),
        custom=dict(row[9] or {}),
    )


# Built once: SQLAlchemy memoises a statement's cache key, so re-executing the same object
# skips re-deriving it on every call.
_EXACT = exact_query()
_SUFFIX_BOUNDED = suffix_query(bounded=True)
_SUFFIX_OPEN = suffix_query(bounded=False)
_BY_ACCOUNT = cards_query(
    select(Customer.id).where(Customer.account_number == bindparam("account")).scalar_subquery()
)
_BY_ID = cards_query(select(Customer.id).where(Customer.id == bindparam("id")).scalar_subquery())


@dataclass(frozen=True, slots=True)
class _DriverStatement:
    sql: str
    names: tuple[str, ...]  # bound parameter names in placeholder order
    constants: dict[str, Any]  # values compiled into the statement (the LIMIT)

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[n] if n in params else self.constants[n] for n in self.names]


@lru_cache(maxsize=16)
def _driver_statement(query: Select[Any], dialect: Dialect) -> _DriverStatement:
    compiled = query.compile(dialect=dialect)
    return _DriverStatement(str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))


Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _SqliteStatement:
    driver: _DriverStatement
    binds: tuple[Processor, ...]  # per placeholder: SQLAlchemy's conversion of the value
    results: tuple[Processor, ...]  # per column: to the Python type (datetimes, JSON)


@lru_cache(maxsize=16)
def _sqlite_statement(query: Select[Any], dialect: Dialect) -> _SqliteStatement:
    compiled = query.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    binds = tuple(
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in query.selected_columns
    )
    driver = _DriverStatement(str(compiled), names, dict(compiled.params))
    return _SqliteStatement(driver, binds, results)


class _SqliteConnection:
    """One aiosqlite connection a lookup keeps for itself on a SQLite file.

    Through SQLAlchemy a read costs four hops to the connection's thread (checkout, execute,
    fetch, reset on return): about 1.4 ms against 0.3 ms for the query itself. This one is
    taken from the engine (same file, same pragmas), detached from its pool, and runs the
    statement SQLAlchemy compiled, in one hop, with SQLAlchemy's own conversions of the
    values both ways. A connection that fails is closed and the next read opens another.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._driver: Any = None
        self._opening = asyncio.Lock()
        self._closed = False

    async def fetch(self, statement: _SqliteStatement, params: dict[str, Any]) -> list[Any]:
        driver = self._driver or await self._open()
        args = [
            convert(value) if convert else value
            for convert, value in zip(statement.binds, statement.driver.args(params), strict=True)
        ]
        try:
            rows = await driver.execute_fetchall(statement.driver.sql, args)
        except BaseException:
            if self._driver is driver:
                self._driver = None
                with contextlib.suppress(Exception):
                    await driver.close()
            raise
        results = statement.results
        return [
            tuple(
                convert(value) if convert else value
                for convert, value in zip(results, row, strict=True)
            )
            for row in rows
        ]

    async def _open(self) -> Any:
        async with self._opening:
            if self._driver is None:
                if self._closed:
                    raise RuntimeError("the lookup is closed")
                pooled = await self._engine.raw_connection()
                self._driver = pooled.driver_connection
                pooled.detach()
            return self._driver

    async def aclose(self) -> None:
        self._closed = True
        driver, self._driver = self._driver, None
        if driver is not None:
            with contextlib.suppress(Exception):
                await driver.close()


def _sqlite_file(engine: AsyncEngine) -> bool:
    """A SQLite database in a file (an in-memory one lives in its single pooled connection)."""
    database = engine.url.database or ""
    return (
        engine.dialect.driver == "aiosqlite"
        and database not in ("", ":memory:")
        and "mode=memory" not in str(engine.url)
    )


def _worth_retrying(exc: Exception) -> bool:
    """True when ``exc`` says the pooled connection was dead rather than the query wrong.

    A server restart shows up in many shapes (connection reset, "terminating connection
    due to administrator command", asyncpg protocol-state errors on a closed socket); an
    error the server raised about the statement itself is not retried.
    """
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return isinstance(exc, OSError)
    if isinstance(exc, asyncpg.PostgresError):
        return isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.OperatorInterventionError)
    return True


class _DedicatedConnections:
    """A few driver connections a lookup keeps for itself, its statements prepared on each.

    Checking a connection out of SQLAlchemy's pool and back costs ~25 µs (greenlet hand-off,
    pool bookkeeping, reset-on-return) next to a ~200 µs indexed query; these are taken
    from the engine once (so they carry its URL, SSL, search_path and codecs), detached from
    its pool, and handed out by a list pop. A connection that fails is dropped, never
    reused; when all are busy the caller falls back to the pool.
    """

    def __init__(self, engine: AsyncEngine, size: int) -> None:
        self._engine = engine
        self._size = size
        self._opened = 0
        self._idle: list[tuple[Any, dict[str, Any]]] = []
        self._closed = False

    async def fetch(self, statement: _DriverStatement, params: dict[str, Any]) -> list[Any] | None:
        """The statement's rows, or None when no dedicated connection is free."""
        if self._idle:
            driver, prepared = self._idle.pop()
        elif self._opened < self._size and not self._closed:
            self._opened += 1
            try:
                pooled = await self._engine.raw_connection()
                driver, prepared = pooled.driver_connection, {}
                pooled.detach()
            except BaseException:
                self._opened -= 1
                raise
        else:
            return None
        try:
            ready = prepared.get(statement.sql)
            if ready is None:
                ready = prepared[statement.sql] = await driver.prepare(statement.sql)
            rows: list[Any] = await ready.fetch(*statement.args(params))
        except BaseException as exc:
            self._opened -= 1
            driver.terminate()  # whatever state it is in, it is not handed out again
            if isinstance(exc, Exception) and _worth_retrying(exc):
                # The server went away: the idle ones, opened before, went with it.
                idle, self._idle = self._idle, []
                self._opened -= len(idle)
                for other, _ in idle:
                    other.terminate()
            raise
        if self._closed:
            self._opened -= 1
            await driver.close()
        else:
            self._idle.append((driver, prepared))
        return rows

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for driver, _ in idle:
            self._opened -= 1
            try:
                await driver.close(timeout=2)
            except Exception:  # a dead server: nothing left to close politely
                driver.terminate()


class CustomerLookup:
    """Find customers by caller number, account number or id.

    Queries run in autocommit mode: a read needs no BEGIN/ROLLBACK round trips, which
    would double the latency of a one-statement lookup. On PostgreSQL a lookup given
    ``dedicated_connections`` keeps that many connections of its own with the statements
    prepared (the caller then owes an ``aclose()``); without, it borrows from the pool.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        region: str,
        area_code: str = "",
        suffix_digits: int = 0,
        cache_size: int = 10_000,
        cache_ttl: float = 60.0,
        dedicated_connections: int = 0,
    ) -> None:
        bind = sessions.kw.get("bind")
        self._engine: AsyncEngine | None = (
            bind.execution_options(isolation_level="AUTOCOMMIT")
            if isinstance(bind, AsyncEngine)
            else None
        )
        self._dedicated = (
            _DedicatedConnections(self._engine, dedicated_connections)
            if self._engine is not None
            and self._engine.dialect.driver == "asyncpg"
            and dedicated_connections > 0
            else None
        )
        # On a SQLite file the same switch keeps one connection of its own (see above).
        self._sqlite = (
            _SqliteConnection(self._engine)
            if self._engine is not None and _sqlite_file(self._engine) and dedicated_connections > 0
            else None
        )
        self._sessions = sessions
        self._region = region
        self._area_code = area_code
        self._suffix_digits = max(0, suffix_digits)
        self._cache_size = max(0, cache_size)
        self._cache_ttl = cache_ttl
        self._cache: OrderedDict[str, tuple[float, tuple[CustomerCard, ...]]] = OrderedDict()
        # Bumped by invalidate(): a query that started before a change must not refill the
        # cache with what it read before the change.
        self._generation = 0
        self.hits = 0
        self.misses = 0

    async def by_number(self, raw: str) -> list[CustomerCard]:
        """All customers with this number (several may share one); [] for none."""
        number = normalize_number(
            raw, region=self._region, area_code=self._area_code, with_display=False
        )
        if number.kind == "e164" and number.e164 is not None:
            key = number.e164
        elif number.kind == "invalid" and self._suffix_digits and number.digits:
            key = "~" + number.digits  # mangled but number-like: only the fallback may match
        else:
            return []  # extensions and withheld numbers are never a customer
        cached = self._cache_get(key)
        if cached is not None:
            return list(cached)
        generation = self._generation
        cards = await self._query_number(number.e164, number.digits)
        self._cache_put(key, tuple(cards), generation)
        return cards

    def e164_of(self, raw: str) -> str | None:
        """The caller number in E.164 as the lookup normalises it, or None (an extension,
        a withheld or mangled number)."""
        number = normalize_number(
            raw, region=self._region, area_code=self._area_code, with_display=False
        )
        return number.e164 if number.kind == "e164" else None

    async def by_account(self, account_number: str) -> CustomerCard | None:
        account_number = account_number.strip()
        if not account_number:
            return None
        cards = await self._fetch(_BY_ACCOUNT, {"account": account_number})
        return cards[0] if cards else None

    async def by_id(self, customer_id: int) -> CustomerCard | None:
        cards = await self._fetch(_BY_ID, {"id": customer_id})
        return cards[0] if cards else None

    @property
    def cached_entries(self) -> int:
        return len(self._cache)

    async def aclose(self) -> None:
        """Close the dedicated connections (before disposing of the engine)."""
        if self._dedicated is not None:
            await self._dedicated.aclose()
        if self._sqlite is not None:
            await self._sqlite.aclose()

    def invalidate(self) -> None:
        """Forget every cached answer (call after any change to customers or phones)."""
        self._generation += 1
        self._cache.clear()

    async def _query_number(self, e164: str | None, digits: str) -> list[CustomerCard]:
        if e164 is not None:
            cards = await self._fetch(_EXACT, {"e164": e164})
            if cards:
                return cards
            digits = e164.lstrip("+")
        n = self._suffix_digits
        if n and len(digits) >= n:
            low = digits[-n:][::-1]
            high = _next_prefix(low)
            if high is None:
                return await self._fetch(_SUFFIX_OPEN, {"low": low})
            return await self._fetch(_SUFFIX_BOUNDED, {"low": low, "high": high})
        return []

    async def _fetch(self, query: Select[Any], params: dict[str, Any]) -> list[CustomerCard]:
        return rows_to_cards(await self.rows(query, params))

    async def rows(self, query: Select[Any], params: dict[str, Any]) -> Sequence[Any]:
        """Run a read-only ``query`` (built once, with bound parameters) on the lookup's fast
        path: on PostgreSQL its own connections and prepared statements, with a retry when
        the server dropped them. Row values are as SQLAlchemy returns them there (asyncpg's
        own types; SQLAlchemy registers its JSON codec on every connection)."""
        if self._engine is None:
            async with self._sessions() as session:
                return (await session.execute(query, params)).all()
        try:
            return await self._rows_once(self._engine, query, params)
        except Exception as exc:
            # The server dropped the connection (restart, failover) — and likely every
            # other one opened before. SQLAlchemy's own path recognises a disconnect and
            # invalidates the whole pool, so at most one more attempt meets a dead
            # connection. Reads are safe to repeat.
            if not _worth_retrying(exc):
                raise
        for attempt in (1, 2):
            try:
                async with self._engine.connect() as conn:
                    return (await conn.execute(query, params)).all()
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    async def _rows_once(
        self, engine: AsyncEngine, query: Select[Any], params: dict[str, Any]
    ) -> Sequence[Any]:
        if self._sqlite is not None:
            return await self._sqlite.fetch(_sqlite_statement(query, engine.dialect), params)
        if engine.dialect.driver != "asyncpg":
            async with engine.connect() as conn:
                return (await conn.execute(query, params)).all()
        # The hot path on PostgreSQL: the statement SQLAlchemy compiled once, run by the
        # driver — SQLAlchemy's per-execution machinery costs more than the indexed query.
        prepared = _driver_statement(query, engine.dialect)
        if self._dedicated is not None:
            rows = await self._dedicated.fetch(prepared, params)
            if rows is not None:
                return rows
        pooled = await engine.raw_connection()
        try:
            driver: Any = pooled.driver_connection
            result: list[Any] = await driver.fetch(prepared.sql, *prepared.args(params))
        except BaseException:
            pooled.invalidate()
            raise
        finally:
            pooled.close()
        return result

    def _cache_get(self, key: str) -> tuple[CustomerCard, ...] | None:
        entry = self._cache.get(key)
        if entry is None or entry[0] < time.monotonic():
            self.misses += 1
            return None
        self._cache.move_to_end(key)
        self.hits += 1
        return entry[1]

    def _cache_put(self, key: str, cards: tuple[CustomerCard, ...], generation: int) -> None:
        if self._cache_size == 0 or generation != self._generation:
            return
        self._cache[key] = (time.monotonic() + self._cache_ttl, cards)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
