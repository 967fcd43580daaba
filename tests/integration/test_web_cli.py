"""``contact-center users add|list|passwd`` against a real database."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from contact_center.cli import main
from contact_center.store.db import create_engine, session_factory
from contact_center.store.models import Base, User
from contact_center.web.auth import verify_password


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"

    async def create() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await engine.dispose()

    asyncio.run(create())
    monkeypatch.setenv("CC_DATABASE_URL", url)
    return url


def users(url: str) -> list[User]:
    async def fetch() -> list[User]:
        engine = create_engine(url)
        async with session_factory(engine)() as db:
            rows = list((await db.execute(select(User).order_by(User.login))).scalars())
        await engine.dispose()
        return rows

    return asyncio.run(fetch())


def run(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_users_add_stores_role_interface_queues_and_an_argon2_hash(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "users",
        "add",
        "op101",
        "--role",
        "operator",
        "--password-stdin",
        "--interface",
        "PJSIP/101",
        "--queues",
        "support,sales",
    ]
    assert 0 == run(monkeypatch, argv, "s3cret-pass\n")
    assert capsys.readouterr().out.startswith("created user op101 (operator) id=")
    [user] = users(cli_db)
    assert ("op101", "operator", "PJSIP/101", {"support": 0, "sales": 0}) == (
        user.login,
        user.role,
        user.interface,
        user.queues,
    )
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "s3cret-pass")


def test_users_add_refuses_a_duplicate_and_a_short_password(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add = ["users", "add", "sam", "--role", "supervisor", "--password-stdin"]
    assert 0 == run(monkeypatch, add, "long-enough\n")
    assert 1 == run(monkeypatch, add, "long-enough\n")
    assert "users: user 'sam' already exists" in capsys.readouterr().err
    assert 1 == run(
        monkeypatch, ["users", "add", "tim", "--role", "qa", "--password-stdin"], "short\n"
    )
    assert "at least 8 characters" in capsys.readouterr().err


def test_users_list_and_passwd(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 0 == run(
        monkeypatch, ["users", "add", "ada", "--role", "admin", "--password-stdin"], "first-pass\n"
    )
    assert 0 == run(monkeypatch, ["users", "passwd", "ada", "--password-stdin"], "second-pass\n")
    capsys.readouterr()
    assert 0 == run(monkeypatch, ["users", "list"])
    assert "ada\tadmin\t\t\n" == capsys.readouterr().out
    [user] = users(cli_db)
    assert verify_password(user.password_hash, "second-pass")
    assert not verify_password(user.password_hash, "first-pass")


def test_unknown_role_is_rejected_by_the_parser(
    cli_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit):
        run(
            monkeypatch,
            ["users", "add", "x", "--role", "root", "--password-stdin"],
            "long-enough\n",
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["users", "add", "eve\nadmin", "--role", "qa", "--password-stdin"],
         "users: login 'eve\\nadmin' refused"),
        (["users", "add", "eve", "--role", "operator", "--password-stdin", "--interface",
          "PJSIP/1 01"],
         "users: interface 'PJSIP/1 01' refused: expected e.g. PJSIP/101 (no spaces)"),
        (["users", "disable", "nobody"], "users: no user 'nobody'"),
    ],
)  # fmt: skip
def test_users_refuses_bad_logins_and_interfaces_in_one_line(
    cli_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    assert 1 == run(monkeypatch, argv, "long-enough\n")
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert 1 == err.count("\n")
    assert [] == users(cli_db)


def test_disable_enable_and_signout(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 0 == run(
        monkeypatch, ["users", "add", "ada", "--role", "admin", "--password-stdin"], "first-pass\n"
    )
    assert 0 == run(monkeypatch, ["users", "disable", "ada"])
    assert 0 == run(monkeypatch, ["users", "signout", "ada"])
    out = capsys.readouterr().out.splitlines()
    assert ["ada disabled; 0 session(s) ended", "0 session(s) of ada ended"] == out[1:]
    assert [False] == [u.active for u in users(cli_db)]
    assert 0 == run(monkeypatch, ["users", "list"])
    assert "ada\tadmin\t\t (inactive)\n" == capsys.readouterr().out
    assert 0 == run(monkeypatch, ["users", "enable", "ada"])
    assert [True] == [u.active for u in users(cli_db)]


def test_users_add_with_a_language_and_a_language_refused(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add = ["users", "add", "olga", "--role", "operator", "--password-stdin", "--language", "ru"]
    assert 0 == run(monkeypatch, add, "long-enough\n")
    bad = ["users", "add", "hans", "--role", "operator", "--password-stdin", "--language", "de"]
    assert 1 == run(monkeypatch, bad, "long-enough\n")
    assert "users: unknown language 'de' (expected one of en, ru)\n" == capsys.readouterr().err
    assert [("olga", "ru")] == [(u.login, u.language) for u in users(cli_db)]
