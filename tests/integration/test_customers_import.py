"""Customer import: good rows, bad rows, duplicates, merge — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.cli import main
from contact_center.customers.importer import (
    CustomerImporter,
    CustomerImportError,
    ImportReport,
    MappingError,
    Progress,
    Reject,
    UnsupportedFormat,
)
from contact_center.customers.lookup import CustomerLookup
from contact_center.store.db import create_engine, session_factory
from contact_center.store.models import Base, Customer, CustomerPhone

CUSTOMER_TABLES = [Base.metadata.tables["customers"], Base.metadata.tables["customer_phones"]]


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    # Only the two tables these tests touch: the full migration has its own test, and
    # creating 20-odd tables per test would dominate the run time.
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=CUSTOMER_TABLES)
    yield engine
    await engine.dispose()


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


async def counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        customers = (await conn.execute(select(func.count()).select_from(Customer))).scalar_one()
        phones = (await conn.execute(select(func.count()).select_from(CustomerPhone))).scalar_one()
    return customers, phones


def lookup(engine: AsyncEngine) -> CustomerLookup:
    return CustomerLookup(session_factory(engine), region="RU", cache_size=0)


async def test_good_rows_are_imported_with_custom_fields(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["Name", "Phone", "Company", "Segment", "Account", "Favourite colour"],
            [
                "Анна Петрова",
                "8 (495) 123-45-67; +7 916 123 45 67",
                "ООО «Ромашка»",
                "VIP",
                "A-1",
                "red",
            ],
            ["John Smith", "+1 415 555 2671", "", "", "", ""],
        ],
        delimiter=";",
    )

    report = await CustomerImporter(engine, region="RU").import_file(path)
    cards = await lookup(engine).by_number("+79161234567")

    assert (2, 2, 0, 0) == (report.rows, report.inserted, report.updated, report.rejected)
    assert [
        ("Анна Петрова", ("+74951234567", "+79161234567"), "A-1", True, {"Favourite colour": "red"})
    ] == [(c.name, c.phones, c.account_number, c.is_vip, c.custom) for c in cards]


async def test_bad_rows_are_rejected_with_row_number_and_reason(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["name", "phone"],
            ["Good One", "+79161234567"],
            ["", "+79161234568"],
            ["No Phone", ""],
            ["Extension", "101"],
            ["Letters", "call me maybe"],
            ["X" * 201, "+79161234569"],
            [],
        ],
    )
    seen: list[Reject] = []

    report = await CustomerImporter(engine, on_reject=lambda r, _row: seen.append(r)).import_file(
        path
    )

    expected = [
        Reject(3, "missing name"),
        Reject(4, "no phone number"),
        Reject(5, "phone '101' is an internal extension"),
        Reject(6, "phone 'call me maybe' is not a number"),
        Reject(7, "name longer than 200 characters"),
        Reject(8, "empty row"),
    ]
    assert (expected, expected, 1) == (report.rejects, seen, report.inserted)


async def test_duplicates_in_one_file_merge_into_one_customer(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    rows = [["name", "phone", "email"]]
    rows += [["Anna", "+79161234567", ""], ["Anna P.", "89161234567", "anna@example.com"]]
    rows += [["Boris", "+79031112233", ""], ["Anna Petrova", "8 916 123-45-67, +74957654321", ""]]
    path = write_csv(tmp_path / "in.csv", rows)

    # chunk_size=2 puts the duplicates in different chunks too (merged through the database).
    report = await CustomerImporter(engine, chunk_size=2).import_file(path)
    cards = await lookup(engine).by_number("+79161234567")

    assert (2, 1, 1, (2, 3)) == (
        report.inserted,
        report.updated,
        report.merged,
        await counts(engine),
    )
    assert [("Anna Petrova", "anna@example.com", ("+79161234567", "+74957654321"))] == [
        (c.name, c.email, c.phones) for c in cards
    ]


async def test_reimport_updates_instead_of_duplicating(engine: AsyncEngine, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "a.csv", [["name", "phone", "company"], ["Ivan", "+79161234567", "Acme"]]
    )
    second = write_csv(
        tmp_path / "b.csv", [["name", "phone", "company"], ["Ivan Ivanov", "8-916-123-45-67", ""]]
    )
    importer = CustomerImporter(engine)
    await importer.import_file(first)

    report = await importer.import_file(second)
    cards = await lookup(engine).by_number("+79161234567")

    assert (0, 1, (1, 1)) == (report.inserted, report.updated, await counts(engine))
    assert [("Ivan Ivanov", "Acme")] == [(c.name, c.company) for c in cards]


async def test_row_mixing_two_customers_is_rejected_not_fatal(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    first = write_csv(
        tmp_path / "a.csv",
        [
            ["name", "phone", "account"],
            ["Ann", "+79161234567", "A-1"],
            ["Bob", "+79031234567", "B-2"],
        ],
    )
    # Ann's phone with Bob's account: merging either way would corrupt one of them.
    second = write_csv(
        tmp_path / "b.csv",
        [
            ["name", "phone", "account"],
            ["Ann Again", "+79161234567", "B-2"],
            ["Carl", "+79251234567", ""],
        ],
    )
    importer = CustomerImporter(engine)
    await importer.import_file(first)

    report = await importer.import_file(second)

    assert (
        [Reject(2, "account_number 'B-2' belongs to another customer than the phone")],
        1,
        0,
    ) == (report.rejects, report.inserted, report.updated)
    assert ["Ann"] == [c.name for c in await lookup(engine).by_number("+79161234567")]


def test_progress_line_reports_rows_and_rate() -> None:
    stream = io.StringIO()
    report = ImportReport(rows=12_345, inserted=12_000, updated=300, rejected=45)

    Progress(stream).update(report, final=True)

    line = stream.getvalue()
    assert line.endswith("\n") and "12,345 rows" in line and "rows/s" in line
    assert "inserted 12,000  updated 300  rejected 45" in line


async def test_xlsx_with_explicit_mapping(engine: AsyncEngine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Клиент", "Номер", "Internal"])
    sheet.append(["Мария", 79251234567, "x"])
    book.save(tmp_path / "in.xlsx")
    invalidated: list[bool] = []

    report = await CustomerImporter(
        engine,
        mapping={"Клиент": "name", "Номер": "phone", "Internal": "-"},
        on_change=lambda: invalidated.append(True),
    ).import_file(tmp_path / "in.xlsx")
    cards = await lookup(engine).by_number("+79251234567")

    assert (1, [True]) == (report.inserted, invalidated)
    assert [("Мария", {})] == [(c.name, c.custom) for c in cards]


async def test_whole_file_errors_are_clear(engine: AsyncEngine, tmp_path: Path) -> None:
    no_phone = write_csv(tmp_path / "in.csv", [["name", "email"], ["A", "a@b"]])
    importer = CustomerImporter(engine)

    with pytest.raises(MappingError, match="no phone column"):
        await importer.import_file(no_phone)
    with pytest.raises(UnsupportedFormat, match=r"unsupported file type '\.json'"):
        await importer.import_file(tmp_path / "customers.json")
    with pytest.raises(MappingError, match="no column 'Tel'"):
        await CustomerImporter(engine, mapping={"Tel": "phone"}).import_file(no_phone)
    with pytest.raises(CustomerImportError, match=r"missing\.csv: no such file"):
        await importer.import_file(tmp_path / "missing.csv")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("name,phone\nJos\xe9,+79161234567\n".encode("latin-1"))
    with pytest.raises(
        CustomerImportError, match=r"latin1\.csv: line 2: not UTF-8 text \(byte 0xe9\)"
    ):
        await importer.import_file(latin1)


def test_cli_import_then_lookup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    path = write_csv(tmp_path / "in.csv", [["ФИО", "Tel"], ["Пётр", "84951234567"], ["Bad", "x"]])
    rejects = tmp_path / "rejects.csv"
    assert 0 == main(["db", "--url", url, "upgrade"])
    capsys.readouterr()

    imported = main(
        [
            "customers",
            "--url",
            url,
            "import",
            str(path),
            "--mapping",
            "Tel=phone",
            "--rejects",
            str(rejects),
        ]
    )
    import_out = capsys.readouterr()
    found = main(["customers", "--url", url, "lookup", "+7 495 123-45-67"])
    found_out = capsys.readouterr()
    missing = main(["customers", "--url", url, "lookup", "+7 495 000-00-01"])
    missing_out = capsys.readouterr()

    assert (0, 0, 1) == (imported, found, missing)
    assert {"rows": 2, "inserted": 1, "rejected": 1} == {
        k: v for k, v in json.loads(import_out.out).items() if k in {"rows", "inserted", "rejected"}
    }
    assert "row 3: phone 'x' is not a number" in import_out.err
    assert [
        ["row", "reason", "ФИО", "Tel"],
        ["3", "phone 'x' is not a number", "Bad", "x"],
    ] == list(csv.reader(rejects.open(encoding="utf-8")))
    assert ["Пётр"] == [c["name"] for c in json.loads(found_out.out)["customers"]]
    assert "error: no customer with number +74950000001\n" == missing_out.err


async def test_concurrent_imports_of_the_same_numbers_do_not_duplicate(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    phones = [f"+7916{i:07d}" for i in range(200)]
    first = write_csv(tmp_path / "a.csv", [["name", "phone"], *[["A", p] for p in phones]])
    second = write_csv(tmp_path / "b.csv", [["name", "phone"], *[["B", p] for p in phones]])
    other = create_engine(db_url)  # a second pool: two real connections racing
    try:
        reports = await asyncio.gather(
            CustomerImporter(engine, chunk_size=50).import_file(first),
            CustomerImporter(other, chunk_size=50).import_file(second),
        )
    finally:
        await other.dispose()

    assert ((200, 200), 200) == (
        await counts(engine),
        sum(r.inserted for r in reports),
    )
