"""Caller lookup latency on PostgreSQL: CustomerLookup.by_number vs the same query in asyncpg.

Loads N demo customers (COPY) into a fresh schema, then times, number by number and
interleaved so that machine load hits all alike: the same indexed query as a prepared
statement on one dedicated asyncpg connection (the floor: no pool, no normalisation, no
mapping), the same through an asyncpg pool (for reference — its release runs a RESET
round trip), ``CustomerLookup.by_number`` with the cache off, and with the cache warm.

    .venv/bin/python -m bench.bench_lookup [--customers 100000] [--samples 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from contact_center.customers.demo_data import demo_phone, iter_demo_customers
from contact_center.customers.lookup import CustomerLookup, exact_query
from contact_center.customers.phones import phone_suffix
from contact_center.service import LOOKUP_CONNECTIONS
from contact_center.store import migrate
from contact_center.store.db import create_engine, session_factory, utcnow

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CUSTOMER_COLUMNS = (
    "id",
    "name",
    "company",
    "segment",
    "language",
    "email",
    "address",
    "notes",
    "account_number",
    "currency",
    "custom",
    "tariff_plan",
    "created_at",
    "updated_at",
)


async def load_customers(dsn: str, schema: str, count: int, seed: int) -> float:
    """COPY ``count`` demo customers and their phones; returns seconds taken."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        now = utcnow()
        batch_customers: list[tuple[Any, ...]] = []
        batch_phones: list[tuple[Any, ...]] = []
        for c in iter_demo_customers(count, seed):
            customer_id = c.index + 1
            batch_customers.append(
                (
                    customer_id,
                    c.name,
                    c.company,
                    c.segment,
                    c.language,
                    c.email,
                    c.address,
                    "",
                    c.account_number,
                    "RUB",
                    "{}",
                    "",
                    now,
                    now,
                )
            )
            batch_phones.extend((customer_id, e, phone_suffix(e), e, "") for e in c.phones)
            if len(batch_customers) >= 50_000:
                await _copy(conn, schema, batch_customers, batch_phones)
                batch_customers, batch_phones = [], []
        await _copy(conn, schema, batch_customers, batch_phones)
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('customers', 'id'), $1)", count + 1
        )
        await conn.execute("ANALYZE customers; ANALYZE customer_phones")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def _copy(
    conn: asyncpg.Connection,
    schema: str,
    customers: list[tuple[Any, ...]],
    phones: list[tuple[Any, ...]],
) -> None:
    if not customers:
        return
    await conn.copy_records_to_table(
        "customers", records=customers, columns=CUSTOMER_COLUMNS, schema_name=schema
    )
    await conn.copy_records_to_table(
        "customer_phones",
        records=phones,
        columns=("customer_id", "e164", "suffix", "raw", "label"),
        schema_name=schema,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_us": round(percentile(values, 0.50) * 1e6, 1),
        "p99_us": round(percentile(values, 0.99) * 1e6, 1),
        "mean_us": round(statistics.fmean(values) * 1e6, 1),
    }


async def timed(call: Callable[[str], Awaitable[Any]], number: str) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call(number)
    return time.perf_counter() - started, result


async def run(url: str, customers: int, samples: int, seed: int) -> dict[str, Any]:
    base = make_url(url)
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    schema_url = base.update_query_dict({"search_path": schema}).render_as_string(
        hide_password=False
    )
    # No pre-ping: CustomerLookup retries a dropped connection itself (see its docstring),
    # and the raw baselines do not ping either.
    engine = create_engine(schema_url, pre_ping=False)
    pool = await asyncpg.create_pool(
        dsn, min_size=2, max_size=2, server_settings={"search_path": schema}
    )
    # As the service builds it (contact_center/service.py).
    uncached = CustomerLookup(
        session_factory(engine),
        region="RU",
        cache_size=0,
        dedicated_connections=LOOKUP_CONNECTIONS,
    )
    dedicated: asyncpg.Connection | None = None
    try:
        await migrate.upgrade(schema_url)
        load_seconds = await load_customers(dsn, schema, customers, seed)
        rng = random.Random(seed)
        # 90 % callers known, 10 % unknown numbers — both must be fast.
        numbers = [demo_phone(rng.randrange(customers)) for _ in range(samples)]
        numbers += [f"+7999{rng.randrange(10**7):07d}" for _ in range(samples // 9)]
        rng.shuffle(numbers)
        # The exact statement CustomerLookup sends, compiled for asyncpg ($1, $2 …).
        compiled = exact_query().compile(dialect=postgresql.asyncpg.dialect())
        raw_sql = str(compiled)
        names = list(compiled.positiontup or [])
        static = {k: v for k, v in compiled.params.items()}
        cached = CustomerLookup(session_factory(engine), region="RU", cache_size=100_000)

        dedicated = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        prepared = await dedicated.prepare(raw_sql)
        assert dedicated is not None

        async def raw(number: str) -> list[Any]:
            return await prepared.fetch(*[number if n == "e164" else static[n] for n in names])

        async def raw_pool(number: str) -> list[Any]:
            params = [number if n == "e164" else static[n] for n in names]
            async with pool.acquire() as conn:
                return await conn.fetch(raw_sql, *params)

        for number in numbers[:200]:  # warm up every path (prepared statements, pools)
            await raw(number)
            await raw_pool(number)
            await uncached.by_number(number)
        raw_times: list[float] = []
        pool_times: list[float] = []
        lookup_times: list[float] = []
        for i, number in enumerate(numbers):
            # Rotate which goes first, so none always meets a warm server cache.
            order = ("raw", "pool", "lookup")[i % 3 :] + ("raw", "pool", "lookup")[: i % 3]
            for which in order:
                if which == "raw":
                    raw_t, rows = await timed(raw, number)
                elif which == "pool":
                    pool_t, _ = await timed(raw_pool, number)
                else:
                    lookup_t, cards = await timed(uncached.by_number, number)
            raw_times.append(raw_t)
            pool_times.append(pool_t)
            lookup_times.append(lookup_t)
            if len({r[0] for r in rows}) != len(cards):
                raise AssertionError(f"{number}: raw found {len(rows)} rows, lookup {len(cards)}")
        for number in numbers:
            await cached.by_number(number)
        cached_times = [(await timed(cached.by_number, n))[0] for n in numbers]
        raw_stats, lookup_stats = summary(raw_times), summary(lookup_times)
        pool_stats = summary(pool_times)
        return {
            "benchmark": "caller lookup, PostgreSQL",
            "customers": customers,
            "samples": len(numbers),
            "load_seconds": round(load_seconds, 1),
            "baseline_raw_asyncpg": raw_stats,
            "raw_asyncpg_pool": pool_stats,
            "lookup_uncached": lookup_stats,
            "lookup_cached": summary(cached_times),
            "ratio_p99_uncached_to_raw": round(lookup_stats["p99_us"] / raw_stats["p99_us"], 3),
            "ratio_p50_uncached_to_raw": round(lookup_stats["p50_us"] / raw_stats["p50_us"], 3),
            "ratio_p99_uncached_to_raw_pool": round(
                lookup_stats["p99_us"] / pool_stats["p99_us"], 3
            ),
            "target_ratio_p99": 1.5,
        }
    finally:
        await uncached.aclose()
        if dedicated is not None:
            await dedicated.close()
        await pool.close()
        await engine.dispose()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.url, args.customers, args.samples, args.seed))
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
