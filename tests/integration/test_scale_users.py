"""Users bound to an Asterisk server: the console and the wallboard address each command to
the connector of the server the operator's phone is on (``users.server_id``; empty: the
deployment's only server)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from contact_center.cli import main
from contact_center.service import Service, open_core
from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.models import Queue, User
from contact_center.web.auth import hash_password
from tests.e2e.service_support import PASSWORD, rig_settings, sign_in

PEOPLE = (
    # login, role, phone, server
    ("anna", "operator", "Local/1000@agents", ""),
    ("olga", "operator", "Local/5000@agents", "pbx2"),
    ("sue", "supervisor", "", "pbx1"),
)


async def seed(settings: Any) -> None:
    core = await open_core(settings, migrate=True)  # the migrations, 0005_servers among them
    try:
        async with core.sessions.begin() as db:
            db.add(Queue(name="support", title="Support", supervisors={}))
            for login, role, phone, server in PEOPLE:
                db.add(
                    User(
                        login=login, display_name=login.title(),
                        password_hash=hash_password(PASSWORD), role=role, interface=phone,
                        queues={"support": 0} if phone else {}, skills={}, active=True,
                        created_at=utcnow(), server_id=server,
                    )
                )  # fmt: skip
    finally:
        await core.engine.dispose()
        await core.lookup.aclose()
        await core.bus.close()


async def commands(service: Service) -> list[tuple[str, str, str]]:
    assert service.core is not None
    entries = await service.core.bus.read("events", "0", count=1000)
    return [
        (m["user"], m["command"], m["server"])
        for _, m in entries
        if m.get("kind") == "operator.command"
    ]


async def test_console_and_wallboard_commands_go_to_the_operators_server(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Property: an operator's state command goes to their own server (olga: pbx2) or, for
    a user bound to none, to the instance's default (anna: pbx1); a supervisor's forced
    pause goes to the server of the operator it concerns, not to the supervisor's."""
    settings = rig_settings(tmp_path, sqlite_url)
    await seed(settings)
    async with Service(settings, "web") as service:
        base = f"http://127.0.0.1:{service.web_port}"
        for login in ("olga", "anna"):
            desk = await sign_in(base, login)
            async with await desk.post("/api/operator/state", {"state": "available"}) as r:
                assert 200 == r.status, await r.text()
            await desk.http.close()
        sue = await sign_in(base, "sue")
        async with await sue.post(
            "/wallboard/action",
            {"action": "pause", "interface": "Local/5000@agents", "reason": "lunch"},
        ) as r:
            assert 200 == r.status, await r.text()
        await sue.http.close()
        assert [
            ("olga", "available", "pbx2"),
            ("anna", "available", "pbx1"),
            ("sue", "force_pause", "pbx2"),
        ] == await commands(service)


def test_users_add_binds_a_user_to_a_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    asyncio.run(seed_schema(url))
    monkeypatch.setenv("CC_DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough\n"))
    argv = ["users", "add", "olga", "--role", "operator", "--password-stdin",
            "--interface", "PJSIP/501", "--queues", "support", "--server", "pbx2"]  # fmt: skip
    assert 0 == main(argv)
    assert capsys.readouterr().out.startswith("created user olga (operator)")
    assert [("olga", "PJSIP/501", "pbx2")] == asyncio.run(servers(url))


async def seed_schema(url: str) -> None:
    from contact_center.store.migrate import upgrade

    await upgrade(url)


async def servers(url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as db:
            rows = await db.execute(select(User.login, User.interface, User.server_id))
            return [tuple(r) for r in rows.all()]  # type: ignore[misc]
    finally:
        await engine.dispose()
