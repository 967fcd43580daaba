"""Demo data: deterministic, valid numbers, loads on both databases and is found by lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from contact_center.cli import main
from contact_center.customers.demo_data import (
    demo_landline,
    demo_phone,
    iter_demo_customers,
    load_demo_data,
)
from contact_center.customers.lookup import CustomerLookup
from contact_center.customers.phones import normalize_number
from contact_center.store import migrate
from contact_center.store.db import create_engine, session_factory
from contact_center.store.models import Case, Order, Payment


def test_same_seed_same_customers_and_numbers_are_valid() -> None:
    first = list(iter_demo_customers(300, seed=3))

    assert first == list(iter_demo_customers(300, seed=3))
    assert first != list(iter_demo_customers(300, seed=4))
    numbers = {p for c in first for p in c.phones}
    assert {(n, "e164") for n in numbers} == {
        (normalize_number(n).e164, normalize_number(n).kind) for n in numbers
    }
    # Unique numbers for distinct indices (the bijection), across a large range.
    sample = range(0, 2_000_000, 997)
    assert len(sample) == len({demo_phone(i) for i in sample})
    assert len(sample) == len({demo_landline(i) for i in sample})


async def test_loaded_demo_data_is_found_by_lookup(db_url: str) -> None:
    await migrate.upgrade(db_url)
    engine = create_engine(db_url)
    try:
        summary = await load_demo_data(engine, count=120, seed=5, batch=50)
        lookup = CustomerLookup(session_factory(engine), region="RU", cache_size=0)
        expected = {c.index: c for c in iter_demo_customers(120, seed=5)}

        first = await lookup.by_number(demo_phone(0))
        family = await lookup.by_number(demo_phone(48))  # customer 49 shares 48's number
        by_account = await lookup.by_account(expected[7].account_number)
        async with engine.connect() as conn:
            stored = [
                (await conn.execute(select(func.count()).select_from(m))).scalar_one()
                for m in (Order, Payment, Case)
            ]

        assert [expected[0].name] == [c.name for c in first]
        assert [expected[48].name, expected[49].name] == [c.name for c in family]
        assert expected[7].name == (by_account.name if by_account else None)
        assert (120, [summary.orders, summary.payments, summary.cases]) == (
            summary.customers,
            stored,
        )
        assert summary.orders > 0 and summary.cases > 0
    finally:
        await engine.dispose()


def test_cli_demo_then_lookup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"
    assert 0 == main(["db", "upgrade", "--url", url])  # --url after the action works too
    capsys.readouterr()

    loaded = main(["customers", "--url", url, "demo", "--count", "30", "--seed", "2"])
    loaded_out = capsys.readouterr().out
    found = main(["customers", "lookup", demo_phone(3), "--url", url])
    found_out = capsys.readouterr().out
    extension = main(["customers", "--url", url, "lookup", "101"])
    extension_err = capsys.readouterr().err

    assert (0, 0, 1) == (loaded, found, extension)
    assert 30 == json.loads(loaded_out)["customers"]
    expected = next(c for c in iter_demo_customers(30, seed=2) if c.index == 3)
    assert [expected.name] == [c["name"] for c in json.loads(found_out)["customers"]]
    assert "error: '101' is an internal extension: it never matches a customer\n" == extension_err
