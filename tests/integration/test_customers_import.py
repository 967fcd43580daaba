"""Customer import: good rows, bad rows, identity by external id, merge by phone only when
asked, dry runs — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
            ["External id", "Name", "Phone", "Company", "Segment", "Account", "Favourite colour"],
            [
                "c-1",
                "Анна Петрова",
                "8 (495) 123-45-67; +7 916 123 45 67",
                "ООО «Ромашка»",
                "VIP",
                "A-1",
                "red",
            ],
            ["c-2", "John Smith", "+1 415 555 2671", "", "", "", ""],
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

    report = await CustomerImporter(
        engine, merge_by_phone=True, on_reject=lambda r, _row: seen.append(r)
    ).import_file(path)

    expected = [
        Reject(3, "missing name"),
        Reject(4, "no phone number"),
        Reject(5, "phone '101' is an internal extension"),
        Reject(6, "phone 'call me maybe' is not a number"),
        Reject(7, "name longer than 200 characters"),
        Reject(8, "empty row"),
    ]
    assert (expected, expected, 1) == (report.rejects, seen, report.inserted)


async def test_merge_by_phone_when_asked_folds_rows_of_one_number_into_one_customer(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    rows = [["name", "phone", "email"]]
    rows += [["Anna", "+79161234567", ""], ["Anna P.", "89161234567", "anna@example.com"]]
    rows += [["Boris", "+79031112233", ""], ["Anna Petrova", "8 916 123-45-67, +74957654321", ""]]
    path = write_csv(tmp_path / "in.csv", rows)

    # chunk_size=2 puts the duplicates in different chunks too (merged through the database).
    report = await CustomerImporter(engine, chunk_size=2, merge_by_phone=True).import_file(path)
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


async def test_reimport_updates_by_external_id_instead_of_duplicating(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    header = ["external_id", "name", "phone", "company"]
    first = write_csv(tmp_path / "a.csv", [header, ["42", "Ivan", "+79161234567", "Acme"]])
    second = write_csv(tmp_path / "b.csv", [header, ["42", "Ivan Ivanov", "8-916-123-45-67", ""]])
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
    importer = CustomerImporter(engine, merge_by_phone=True)
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
        mapping={"Клиент": "name", "Номер": "phone:mobile", "Internal": "-"},
        merge_by_phone=True,
        on_change=lambda: invalidated.append(True),
    ).import_file(tmp_path / "in.xlsx")
    cards = await lookup(engine).by_number("+79251234567")

    assert (1, [True]) == (report.inserted, invalidated)
    assert [("Мария", {})] == [(c.name, c.custom) for c in cards]


async def test_whole_file_errors_are_clear(engine: AsyncEngine, tmp_path: Path) -> None:
    no_phone = write_csv(tmp_path / "in.csv", [["id", "name", "email"], ["1", "A", "a@b"]])
    no_id = write_csv(tmp_path / "no_id.csv", [["name", "phone"], ["A", "+79161234567"]])
    importer = CustomerImporter(engine, mapping={"id": "external_id"})

    with pytest.raises(MappingError, match="no phone column"):
        await importer.import_file(no_phone)
    with pytest.raises(UnsupportedFormat, match=r"unsupported file type '\.json'"):
        await importer.import_file(tmp_path / "customers.json")
    with pytest.raises(MappingError, match="no column 'Tel'"):
        await CustomerImporter(engine, mapping={"Tel": "phone"}).import_file(no_phone)
    with pytest.raises(MappingError, match="no external_id or account_number column"):
        await CustomerImporter(engine).import_file(no_id)
    with pytest.raises(MappingError, match="unknown phone type 'pager'"):
        await CustomerImporter(engine, mapping={"phone": "phone:pager"}).import_file(no_id)
    assert (0, 0) == await counts(engine)
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
    path = write_csv(
        tmp_path / "in.csv",
        [["ФИО", "Tel", "Л/с"], ["Пётр", "84951234567", "1"], ["Bad", "x", "2"]],
    )
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
            "--mapping",
            "Л/с=account_number",
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
        ["row", "reason", "ФИО", "Tel", "Л/с"],
        ["3", "phone 'x' is not a number", "Bad", "x", "2"],
    ] == list(csv.reader(rejects.open(encoding="utf-8")))
    assert ["Пётр"] == [c["name"] for c in json.loads(found_out.out)["customers"]]
    assert "error: no customer with number +74950000001\n" == missing_out.err


async def test_concurrent_imports_of_the_same_numbers_do_not_duplicate(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    phones = [f"+7916{i:07d}" for i in range(200)]
    header = ["external_id", "name", "phone"]
    first = write_csv(tmp_path / "a.csv", [header, *[[p, "A", p] for p in phones]])
    second = write_csv(tmp_path / "b.csv", [header, *[[p, "B", p] for p in phones]])
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


# --- identity: external id (or account number), never the phone -----------------------------


async def stored_people(engine: AsyncEngine) -> list[tuple[str | None, str, str | None, str]]:
    """(external id, name, account, "e164:label …") of every customer, by id."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    Customer.id,
                    Customer.external_id,
                    Customer.name,
                    Customer.account_number,
                    CustomerPhone.e164,
                    CustomerPhone.label,
                )
                .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
                .order_by(Customer.id, CustomerPhone.id)
            )
        ).all()
    people: dict[int, list[Any]] = {}
    for customer_id, external_id, name, account, e164, label in rows:
        person = people.setdefault(customer_id, [external_id, name, account, []])
        person[3].append(f"{e164}:{label}" if label else e164)
    return [(p[0], p[1], p[2], " ".join(p[3])) for p in people.values()]


SHARED = "+74951112233"  # an office line three different people give


async def test_people_sharing_a_number_stay_apart_and_a_third_is_added_later(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Was: two people on one number became one customer, and a later import of a third
    person on it reported "updated 1" and overwrote the name and account number."""
    header = ["customer_id", "name", "work phone", "mobile", "account"]
    first = write_csv(
        tmp_path / "a.csv",
        [
            header,
            ["100", "Anna Petrova", SHARED, "+79161234567", "A-100"],
            ["200", "Boris Orlov", "8 (495) 111-22-33", "", "A-200"],
        ],
    )
    later = write_csv(tmp_path / "b.csv", [header, ["300", "Vera Lis", SHARED, "", "A-300"]])
    importer = CustomerImporter(engine, chunk_size=1)

    reports = [await importer.import_file(first), await importer.import_file(later)]
    cards = await lookup(engine).by_number(SHARED)

    assert [(2, 0), (1, 0)] == [(r.inserted, r.updated) for r in reports]
    assert [
        ("100", "Anna Petrova", "A-100", f"{SHARED}:work +79161234567:mobile"),
        ("200", "Boris Orlov", "A-200", f"{SHARED}:work"),
        ("300", "Vera Lis", "A-300", f"{SHARED}:work"),
    ] == await stored_people(engine)
    assert ["Anna Petrova", "Boris Orlov", "Vera Lis"] == [c.name for c in cards]


async def test_reimport_by_external_id_updates_that_customer_only(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    header = ["external_id", "name", "phone", "account"]
    first = write_csv(
        tmp_path / "a.csv",
        [header, ["1", "Anna", SHARED, "A-1"], ["2", "Boris", SHARED, "A-2"]],
    )
    # Boris moved: a new name spelling and a second number; Anna is not in this file.
    second = write_csv(tmp_path / "b.csv", [header, ["2", "Boris Orlov", "+79031112233", ""]])
    importer = CustomerImporter(engine)
    await importer.import_file(first)

    report = await importer.import_file(second)

    assert (0, 1, 1) == (report.inserted, report.updated, report.phones_added)
    assert [
        ("1", "Anna", "A-1", SHARED),
        ("2", "Boris Orlov", "A-2", f"{SHARED} +79031112233"),
    ] == await stored_people(engine)


async def test_rows_without_their_id_or_with_anothers_account_are_refused(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    header = ["external_id", "name", "phone", "account"]
    await CustomerImporter(engine).import_file(
        write_csv(tmp_path / "a.csv", [header, ["1", "Anna", SHARED, "A-1"]])
    )
    path = write_csv(
        tmp_path / "b.csv",
        [
            header,
            ["", "No Id", "+79161234567", ""],
            ["2", "Thief", "+79161234568", "A-1"],  # Anna's account
            ["3", "Carl", "+79161234569", "C-3"],
            ["4", "Copycat", "+79161234560", "C-3"],  # Carl's, in the same file
        ],
    )

    report = await CustomerImporter(engine).import_file(path)

    assert (
        [
            Reject(2, "missing external_id (it tells this customer apart from others)"),
            Reject(3, "account_number 'A-1' belongs to another customer"),
            Reject(5, "account_number 'C-3' is also given in row 4"),
        ],
        1,
    ) == (sorted(report.rejects, key=lambda r: r.row), report.inserted)
    assert ["Anna", "Carl"] == [p[1] for p in await stored_people(engine)]


async def test_merge_by_phone_refuses_a_number_several_customers_share(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    header = ["external_id", "name", "phone"]
    await CustomerImporter(engine).import_file(
        write_csv(tmp_path / "a.csv", [header, ["1", "Anna", SHARED], ["2", "Boris", SHARED]])
    )
    path = write_csv(tmp_path / "b.csv", [["name", "phone"], ["Who?", SHARED]])

    report = await CustomerImporter(engine, merge_by_phone=True).import_file(path)

    assert [
        Reject(2, f"phone {SHARED} belongs to 2 customers: merging by phone cannot tell which one")
    ] == report.rejects
    assert ["Anna", "Boris"] == [p[1] for p in await stored_people(engine)]


async def test_dry_run_reports_what_an_import_would_do_and_writes_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    header = ["external_id", "name", "phone"]
    await CustomerImporter(engine).import_file(
        write_csv(tmp_path / "a.csv", [header, ["1", "Anna", SHARED]])
    )
    before = await stored_people(engine)
    rows = [
        header,
        ["1", "Anna Petrova", "+79161234567"],  # updated, one number added
        ["2", "Boris", SHARED],  # new
        ["3", "Carl", "+79161234569"],  # new …
        ["3", "Carl Jr", "+79161234560"],  # … and again, in a later chunk: still one
        ["", "No id", "+79161234561"],  # refused
    ]
    path = write_csv(tmp_path / "b.csv", rows)
    shown = io.StringIO()

    dry = await CustomerImporter(
        engine, chunk_size=2, dry_run=True, progress=Progress(shown)
    ).import_file(path)
    unchanged = await stored_people(engine)
    real = await CustomerImporter(engine, chunk_size=2).import_file(path)

    def figures(report: ImportReport) -> tuple[int, ...]:
        return (report.inserted, report.updated, report.rejected, report.phones_added)

    assert (before, (2, 1, 1, 4)) == (unchanged, figures(dry))
    assert figures(real) == figures(dry)
    assert (True, False) == (dry.to_dict()["dry_run"], real.to_dict()["dry_run"])
    assert "dry run, would have inserted 2  updated 1  rejected 1" in shown.getvalue()


def test_cli_dry_run_prints_the_report_and_leaves_the_database_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    path = write_csv(tmp_path / "in.csv", [["id", "name", "phone"], ["7", "Пётр", "84951234567"]])
    assert 0 == main(["db", "--url", url, "upgrade"])
    base = ["customers", "--url", url, "import", str(path), "--mapping", "id=external_id"]

    dry = main([*base, "--dry-run", "--no-progress"])
    dry_out = json.loads(capsys.readouterr().out)
    looked = main(["customers", "--url", url, "lookup", "84951234567"])
    capsys.readouterr()
    without_id = main(["customers", "--url", url, "import", str(path), "--no-progress"])
    refused = capsys.readouterr().err

    assert (0, 1, 1) == (dry, looked, without_id)
    assert (1, True) == (dry_out["inserted"], dry_out["dry_run"])
    assert "no external_id or account_number column" in refused


async def test_merging_by_phone_never_renames_a_customers_external_id(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    header = ["external_id", "name", "phone"]
    await CustomerImporter(engine).import_file(
        write_csv(tmp_path / "a.csv", [header, ["1", "Anna", "+79161234567"]])
    )
    path = write_csv(tmp_path / "b.csv", [header, ["9", "Anna P.", "8 916 123-45-67"]])

    report = await CustomerImporter(engine, merge_by_phone=True).import_file(path)

    assert (0, 1) == (report.inserted, report.updated)
    assert [("1", "Anna P.", None, "+79161234567")] == await stored_people(engine)
