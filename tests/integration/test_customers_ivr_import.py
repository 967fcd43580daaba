"""Importing the IVR's data (balances, payments, orders, PINs) from CSV and XLSX, on SQLite
and PostgreSQL, read back through the IVR's own data access."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.cli import main
from contact_center.customers.importer import Reject
from contact_center.customers.ivr_import import IvrDataImporter
from contact_center.customers.rows import MappingError
from contact_center.ivr.data import SqlIvrData, verify_pin
from contact_center.store.db import create_engine, session_factory
from contact_center.store.models import Base, Payment
from tests.integration.web_support import add_customer


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = session_factory(engine)
    await add_customer(
        sessions, "Anna", ["+74951112233"], external_id="c-1", account_number="40817"
    )
    await add_customer(sessions, "Boris", ["+74951112233"], external_id="c-2")
    yield engine
    await engine.dispose()


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


async def test_each_kind_lands_where_the_ivr_reads_it(engine: AsyncEngine, tmp_path: Path) -> None:
    balances = write_csv(
        tmp_path / "b.csv", [["account", "balance", "currency"], ["40817", "1234.56", "RUB"]]
    )
    payments = write_csv(
        tmp_path / "p.csv",
        [
            ["external_id", "amount", "paid_at", "payment_id"],
            ["c-1", "100", "2026-11-01T09:00:00Z", "pay-1"],
            ["c-1", "250.50", "2026-12-01T09:00:00Z", "pay-2"],
        ],
    )
    orders = write_csv(
        tmp_path / "o.csv",
        [["customer_id", "order number", "status", "amount"], ["c-2", "ORD-1", "shipped", "10"]],
    )
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["external_id", "pin"])
    sheet.append(["c-1", 4321])  # a spreadsheet keeps a PIN as a number
    book.save(tmp_path / "pins.xlsx")

    reports = [
        await IvrDataImporter(engine, kind).import_file(path)
        for kind, path in [
            ("balances", balances),
            ("payments", payments),
            ("orders", orders),
            ("pins", tmp_path / "pins.xlsx"),
        ]
    ]
    again = await IvrDataImporter(engine, "payments").import_file(payments)
    ivr = SqlIvrData(session_factory(engine))
    anna = await ivr.customer_by_account("40817")
    assert anna is not None
    payment = await ivr.last_payment(anna.id)
    order = await ivr.order("ORD-1", None)
    async with engine.connect() as conn:
        stored_payments = (await conn.execute(select(func.count()).select_from(Payment))).scalar()

    assert [(0, 1), (2, 0), (1, 0), (0, 1)] == [(r.inserted, r.updated) for r in reports]
    assert (0, 2, 2) == (again.inserted, again.updated, stored_payments)  # nothing twice
    assert (Decimal("1234.56"), "RUB") == (anna.balance, anna.currency)
    assert payment is not None and Decimal("250.50") == payment.amount
    assert order is not None and "shipped" == order.status
    assert await verify_pin(anna.pin_hash, "4321")
    assert anna.pin_hash is not None and "4321" not in anna.pin_hash


async def test_bad_rows_are_rejected_and_a_dry_run_writes_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "o.csv",
        [
            ["external_id", "number", "status", "amount"],
            ["c-1", "ORD-1", "new", "5"],
            ["nobody", "ORD-2", "new", "5"],
            ["c-1", "ORD-3", "new", "five"],
            ["c-2", "ORD-1", "paid", "5"],  # the same order again: an update
        ],
    )

    dry = await IvrDataImporter(engine, "orders", dry_run=True, chunk_size=2).import_file(path)
    nothing = await SqlIvrData(session_factory(engine)).order("ORD-1", None)
    real = await IvrDataImporter(engine, "orders", chunk_size=2).import_file(path)
    order = await SqlIvrData(session_factory(engine)).order("ORD-1", None)

    expected = [
        Reject(3, "no customer with external_id 'nobody'"),
        Reject(4, 'amount: expected an amount as a string, like "12.50"'),
    ]
    assert (expected, 1, 1) == (dry.rejects, dry.inserted, dry.updated)
    assert None is nothing
    assert (expected, 1, 1) == (real.rejects, real.inserted, real.updated)
    assert order is not None and "paid" == order.status
    with pytest.raises(MappingError, match="no external_id or account_number column"):
        await IvrDataImporter(engine, "pins").import_rows(["name", "pin"], [])


def test_cli_imports_ivr_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    assert 0 == main(["db", "--url", url, "upgrade"])
    people = write_csv(
        tmp_path / "c.csv", [["external_id", "name", "phone"], ["7", "Пётр", "84951234567"]]
    )
    pins = write_csv(tmp_path / "pins.csv", [["external_id", "pin"], ["7", "2468"], ["8", "1111"]])
    assert 0 == main(["customers", "--url", url, "import", str(people), "--no-progress"])
    capsys.readouterr()

    code = main(["customers", "--url", url, "import-data", "pins", str(pins), "--no-progress"])
    out = capsys.readouterr()

    assert 0 == code
    assert {"kind": "pins", "updated": 1, "rejected": 1} == {
        k: v for k, v in json.loads(out.out).items() if k in {"kind", "updated", "rejected"}
    }
    assert "row 3: no customer with external_id '8'" in out.err


async def test_the_ivr_finds_a_caller_by_account_number_or_external_id(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    # Another customer's external id equal to Anna's account number: the account wins.
    await add_customer(sessions, "Clash", ["+74950000009"], external_id="40817")
    ivr = SqlIvrData(sessions)

    by_account = await ivr.customer_by_account("40817")
    by_external_id = await ivr.customer_by_account("c-2")
    nobody = await ivr.customer_by_account("99999")

    assert ("Anna", "Boris", None) == (
        by_account.name if by_account else None,
        by_external_id.name if by_external_id else None,
        nobody,
    )
