"""Alembic migrations: upgrade on SQLite and PostgreSQL gives exactly the models' schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from contact_center.store import migrate
from contact_center.store.db import create_engine
from contact_center.store.models import Base

ROOT = Path(__file__).resolve().parents[2]


async def _schema_differences(url: str) -> list[Any]:
    def diff(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(diff)
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_gives_exactly_the_models(db_url: str) -> None:
    await migrate.upgrade(db_url)

    assert [] == await _schema_differences(db_url)
    assert migrate.head_revision() == await migrate.current(db_url)


async def test_upgrade_twice_is_a_no_op_and_downgrade_empties(db_url: str) -> None:
    await migrate.upgrade(db_url)
    await migrate.upgrade(db_url)
    assert set(Base.metadata.tables) | {"alembic_version"} == await _tables(db_url)

    await migrate.downgrade(db_url, "base")
    assert {"alembic_version"} == await _tables(db_url)
    assert None is await migrate.current(db_url)


def _cli(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CC_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "contact_center.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_db_upgrade_command_works_from_any_directory(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"

    upgraded = _cli(["db", "upgrade"], url, cwd=tmp_path)
    shown = _cli(["db", "current"], url, cwd=tmp_path)

    assert (0, 0) == (upgraded.returncode, shown.returncode), upgraded.stderr + shown.stderr
    assert f"{migrate.head_revision()}\n" == shown.stdout
