"""The billing commands as a user runs them: import, quote, rerate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from contact_center.cli import main
from contact_center.store import models
from contact_center.store.db import create_engine

TARIFFS = Path(__file__).resolve().parents[2] / "tariffs"


@pytest.fixture
def cli_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    async def create() -> None:
        engine = create_engine(sqlite_url)
        async with engine.begin() as conn:
            await conn.run_sync(models.Base.metadata.create_all)
        await engine.dispose()

    asyncio.run(create())
    monkeypatch.setenv("CC_DATABASE_URL", sqlite_url)
    return sqlite_url


def test_import_then_quote_prints_the_breakdown(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 0 == main(["tariffs", "import", str(TARIFFS / "outbound.yaml")])
    assert "imported plan outbound: 8 rates" in capsys.readouterr().out

    code = main(
        [
            "tariffs",
            "quote",
            "outbound",
            "--number",
            "+74951234567",
            "--start",
            "2026-03-03T17:59:00",
            "--seconds",
            "125",
        ]
    )
    quote = json.loads(capsys.readouterr().out)
    assert 0 == code
    # Start is local to the plan (Moscow): 1 min at peak 1.50, 2 min standard 1.00.
    assert ("3.50", "RUB", "7495") == (quote["amount"], quote["currency"], quote["prefix"])
    assert [("peak", 60, "1.50"), ("standard", 120, "2.00")] == [
        (s["band"], s["seconds"], s["amount"]) for s in quote["segments"]
    ]


def test_import_error_names_file_and_line(
    tmp_path: Path, cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('name: x\ncurrency: RUB\nrates:\n  - {prefix: "7", per_minute: "abc"}\n')
    assert 1 == main(["tariffs", "import", str(bad)])
    assert f"error: {bad}:4: per_minute must be a decimal amount" in capsys.readouterr().err


def test_quote_from_a_file_needs_no_database(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "tariffs",
            "quote",
            "inbound",
            "--file",
            str(TARIFFS / "inbound.yaml"),
            "--number",
            "+79161234567",
            "--start",
            "2026-03-03T10:00+03:00",
            "--seconds",
            "61",
        ]
    )
    assert (0, "1.83") == (code, json.loads(capsys.readouterr().out)["amount"])


def test_rerate_shows_progress_and_a_summary(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 0 == main(["rerate", "--since", "2026-03-01", "--until", "2026-03-02"])
    captured = capsys.readouterr()
    assert {"calls": 0, "amount": {}} == {
        k: v for k, v in json.loads(captured.out).items() if k in {"calls", "amount"}
    }
    assert 2 == main(["rerate", "--since", "2026-03-02", "--until", "2026-03-01"])
