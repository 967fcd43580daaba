"""Customer import with parsing in a worker process: the same result as in process, and
no process left behind whatever way the import ends — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.customers.importer import CustomerImporter, ImportReport, Reject
from contact_center.store.db import create_engine
from contact_center.store.models import Base, Customer, CustomerPhone
from tests.conftest import pg_schema

CUSTOMER_TABLES = [Base.metadata.tables["customers"], Base.metadata.tables["customer_phones"]]
HEADER = ["name", "phone", "account", "email", "Colour"]
CHUNK = 40


async def customer_engine(url: str) -> AsyncEngine:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=CUSTOMER_TABLES)
    return engine


@pytest.fixture
async def engines(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two empty databases of the same kind: one per way of parsing."""
    if db_url.startswith("sqlite"):
        other = f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite3'}"
        first, second = await customer_engine(db_url), await customer_engine(other)
        yield first, second
        await first.dispose()
        await second.dispose()
        return
    async with pg_schema() as other:
        first, second = await customer_engine(db_url), await customer_engine(other)
        yield first, second
        await first.dispose()
        await second.dispose()


def phone(i: int) -> str:
    return f"+7916{(i * 7_654_321 + 1_234_567) % 10**7:07d}"


def messy_rows(count: int) -> list[list[str]]:
    """Rows of every kind the importer tells apart, spread over many chunks: good ones,
    refused ones, duplicates inside a chunk and across chunks (by phone and by account),
    a row whose phone and account belong to two stored customers, custom values."""
    rng = random.Random(5)
    rows: list[list[str]] = []
    for i in range(count):
        kind = rng.random()
        row = [f"Customer {i}", phone(i), f"A-{i}", "", rng.choice(["", "red", "blue"])]
        if kind < 0.04:
            row[0] = ""  # missing name
        elif kind < 0.07:
            row[1] = rng.choice(["101", "call me", "+7 916"])
        elif kind < 0.09:
            row = []
        elif kind < 0.20 and i > 0:
            back = rng.choice([1, 2, 3, CHUNK, 2 * CHUNK + 1])  # same chunk or an earlier one
            row[1] = f"8 {phone(max(0, i - back))[2:]}"  # the same number, written otherwise
            row[3] = f"c{i}@example.com"
        elif kind < 0.26 and i > 0:
            row[2] = f"A-{max(0, i - rng.choice([1, CHUNK]))}"  # the same account
        elif kind < 0.29:
            row[1] = f"{phone(i)}; +7 495 {i % 1000:03d}-{i % 100:02d}-{i % 97:02d}"
        elif kind < 0.31:
            row[1], row[2] = phone(100_000), "STORED-2"  # stored customer 1's phone, 2's account
        elif kind < 0.33:
            row[1], row[2] = phone(100_001), ""  # stored customer 2: updated
        rows.append(row)
    return rows


STORED = [["Stored One", phone(100_000), "STORED-1"], ["Stored Two", phone(100_001), "STORED-2"]]


async def run_import(
    engine: AsyncEngine, rows: Sequence[Sequence[str]], *, worker_after_rows: int | None
) -> tuple[ImportReport, list[tuple[Reject, list[str]]], int]:
    """(report, on_reject calls, most processes seen alive beside this one during it)"""
    await CustomerImporter(engine).import_rows(["name", "phone", "account"], STORED)
    # Merged by phone as well: the messiest import, with every kind of row it tells apart.
    rejected: list[tuple[Reject, list[str]]] = []
    children: list[int] = []
    report = await CustomerImporter(
        engine,
        chunk_size=CHUNK,
        worker_after_rows=worker_after_rows,
        merge_by_phone=True,
        on_reject=lambda reject, cells: rejected.append((reject, list(cells))),
        on_change=lambda: children.append(len(multiprocessing.active_children())),
    ).import_rows(HEADER, rows)
    return report, rejected, max(children)


async def stored(engine: AsyncEngine) -> tuple[list[Any], list[Any]]:
    async with engine.connect() as conn:
        customers = (
            await conn.execute(
                select(
                    Customer.id,
                    Customer.name,
                    Customer.email,
                    Customer.account_number,
                    Customer.custom,
                ).order_by(Customer.id)
            )
        ).all()
        phones = (
            await conn.execute(
                select(
                    CustomerPhone.customer_id,
                    CustomerPhone.e164,
                    CustomerPhone.suffix,
                    CustomerPhone.raw,
                ).order_by(CustomerPhone.id)
            )
        ).all()
    return [tuple(c) for c in customers], [tuple(p) for p in phones]


def summary(report: ImportReport) -> dict[str, Any]:
    return {k: v for k, v in report.to_dict().items() if k not in {"seconds", "rows_per_second"}}


async def test_worker_process_imports_exactly_what_in_process_parsing_does(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    rows = messy_rows(12 * CHUNK)
    in_worker, in_process = engines

    by_worker = await run_import(in_worker, rows, worker_after_rows=0)
    by_process = await run_import(in_process, rows, worker_after_rows=None)

    report, rejected, children = by_worker
    assert (1, 0) == (children, by_process[2])  # the worker did run, and only when asked
    assert (summary(by_process[0]), by_process[0].rejects, by_process[1]) == (
        summary(report),
        report.rejects,
        rejected,
    )
    assert await stored(in_process) == await stored(in_worker)
    # The file does exercise every path: rejects in many chunks, merges, updates, conflicts.
    reasons = {r.reason.split(" '")[0] for r in report.rejects}
    assert {"missing name", "empty row", "phone", "account_number"} <= reasons
    assert len({r.row // CHUNK for r in report.rejects}) > 6
    assert report.merged > 0 and report.updated > 0 and report.inserted > 0


def failing_source(rows: list[list[str]], fail_after: int) -> Iterator[list[str]]:
    yield from rows[:fail_after]
    raise OSError("read error on the network share")


@pytest.mark.parametrize("where", ["source", "callback"])
async def test_error_mid_file_stops_the_import_and_its_worker(
    engines: tuple[AsyncEngine, AsyncEngine], where: str
) -> None:
    engine = engines[0]
    rows = [[f"Customer {i}", phone(i)] for i in range(10 * CHUNK)]
    rows[7 * CHUNK + 3] = ["", phone(1)]  # refused: the callback fails on it

    def on_reject(reject: Reject, cells: Sequence[str]) -> None:
        raise OSError("rejects file: no space left on device")

    importer = CustomerImporter(
        engine, chunk_size=CHUNK, worker_after_rows=0, merge_by_phone=True, on_reject=on_reject
    )
    source = failing_source(rows, 7 * CHUNK + 10) if where == "source" else iter(rows)

    with pytest.raises(OSError, match="network share" if where == "source" else "no space"):
        await importer.import_rows(["name", "phone"], source)

    assert [] == multiprocessing.active_children()
    # Whole chunks before the failure are stored, as when reading and writing in step.
    customers, _phones = await stored(engine)
    assert [f"Customer {i}" for i in range(7 * CHUNK)] == [c[1] for c in customers]


async def test_cancelled_import_stops_its_worker(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    engine = engines[0]
    rows = [[f"Customer {i}", phone(i)] for i in range(20 * CHUNK)]
    seen_worker: list[bool] = []

    def cancel_once_the_worker_runs() -> None:
        seen_worker.append(bool(multiprocessing.active_children()))
        if seen_worker[-1]:
            task.cancel()

    importer = CustomerImporter(
        engine,
        chunk_size=CHUNK,
        worker_after_rows=0,
        merge_by_phone=True,
        on_change=cancel_once_the_worker_runs,
    )
    task = asyncio.create_task(importer.import_rows(["name", "phone"], rows))

    with pytest.raises(asyncio.CancelledError):
        await task

    assert (True, []) == (seen_worker[-1], multiprocessing.active_children())


async def test_small_files_are_parsed_without_a_worker(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    children: list[int] = []
    rows = [[f"Customer {i}", phone(i)] for i in range(8)]

    report = await CustomerImporter(
        engines[0],
        chunk_size=2,  # several chunks, but a few rows: not worth a process
        merge_by_phone=True,
        on_change=lambda: children.append(len(multiprocessing.active_children())),
    ).import_rows(["name", "phone"], rows)

    assert (8, [0, 0, 0, 0]) == (report.inserted, children)
