"""``contact-center users`` changes land in the same audit log as the admin pages' (who:
``cli``), without the password."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from contact_center.store.db import create_engine, session_factory
from contact_center.store.models import AuditLog
from tests.integration.test_web_cli import cli_db, run

__all__ = ["cli_db"]


def audit_rows(url: str) -> list[tuple[str, str, str, dict[str, object]]]:
    async def fetch() -> list[tuple[str, str, str, dict[str, object]]]:
        engine = create_engine(url)
        async with session_factory(engine)() as db:
            rows = list(await db.scalars(select(AuditLog).order_by(AuditLog.id)))
        await engine.dispose()
        return [(r.user_login, r.action, r.target, r.detail) for r in rows]

    return asyncio.run(fetch())


def test_user_commands_are_audited(cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    add = [
        "users",
        "add",
        "ada",
        "--role",
        "operator",
        "--interface",
        "PJSIP/7",
        "--password-stdin",
    ]
    assert 0 == run(monkeypatch, add, "first-pass\n")
    assert 0 == run(monkeypatch, ["users", "passwd", "ada", "--password-stdin"], "second-pass\n")
    assert 0 == run(monkeypatch, ["users", "disable", "ada"])
    assert 0 == run(monkeypatch, ["users", "disable", "ada"])  # no change: no row
    assert 0 == run(monkeypatch, ["users", "signout", "ada"])
    rows = audit_rows(cli_db)
    assert [
        ("cli", "user.create", "user ada"),
        ("cli", "user.password", "user ada"),
        ("cli", "user.update", "user ada"),
        ("cli", "user.signout", "user ada"),
    ] == [row[:3] for row in rows]
    created, _, disabled, _ = (row[3] for row in rows)
    assert ("PJSIP/7", None) == (created["after"]["interface"], created["before"])  # type: ignore[index]
    assert (True, False) == (
        disabled["before"]["active"],  # type: ignore[index]
        disabled["after"]["active"],  # type: ignore[index]
    )
    assert "first-pass" not in str(rows) and "second-pass" not in str(rows)
