"""``contact-center users add|list|passwd|disable|enable|signout`` — manage who may sign in.

    contact-center users add LOGIN --role operator [--password-stdin] \\
        [--interface PJSIP/101] [--queues support,sales] [--name "Operator 101"] [--language ru]

Every change is written to the audit log (who: ``cli``), as the admin pages' are.
A new password, ``disable`` and ``signout`` end every session of the user at once (their
websockets close at their next message, within a minute otherwise; at once on every web
instance when the bus is Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import re
import sys

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.admin.services import audit
from contact_center.admin.services import user_out as _user_out
from contact_center.bus.base import POPS, BusError, create_bus
from contact_center.config import Settings, load_settings
from contact_center.i18n import LOCALES
from contact_center.routing.targets import INTERFACE
from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.models import User
from contact_center.web.auth import Role, end_user_sessions, hash_password

log = logging.getLogger(__name__)

MIN_PASSWORD = 8
CLI_ACTOR = "cli"  # who the audit log names for changes made with these commands
# A login is shown in pages, logs and audit rows: letters, digits and . _ @ - only.
LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,79}")


class UserCommandError(Exception):
    """A users command cannot be done; the message says why."""


def add_arguments_cmd_users(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create a user")
    add.add_argument("login")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--interface", default="", help="queue-member interface, e.g. PJSIP/101")
    add.add_argument("--queues", default="", help="comma-separated queue names")
    add.add_argument("--name", default="", help="display name")
    add.add_argument(
        "--language",
        default="",
        help=f"language of the user's pages: {', '.join(LOCALES)} (default: the browser's)",
    )
    add.add_argument(
        "--server",
        default="",
        help="the Asterisk server of the phone (its connector runs their commands); "
        "default: the deployment's only one",
    )
    sub.add_parser("list", help="list users")
    passwd = sub.add_parser("passwd", help="set a user's password (ends their sessions)")
    passwd.add_argument("login")
    passwd.add_argument("--password-stdin", action="store_true")
    for name, help_text in (
        ("disable", "stop a user signing in and end their sessions"),
        ("enable", "let a disabled user sign in again"),
        ("signout", "end every session of a user"),
    ):
        sub.add_parser(name, help=help_text).add_argument("login")


def _user_view(user: User) -> dict[str, object]:
    return _user_out(user).model_dump(exclude={"id"})


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise UserCommandError("the passwords differ")
    if len(password) < MIN_PASSWORD:
        raise UserCommandError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def parse_queues(raw: str) -> dict[str, int]:
    """``"support,sales"`` → ``{"support": 0, "sales": 0}`` (name → penalty)."""
    return {name.strip(): 0 for name in raw.split(",") if name.strip()}


def check_login(login: str) -> str:
    if not LOGIN.fullmatch(login):
        raise UserCommandError(
            f"login {login[:40]!r} refused: letters, digits and . _ @ - only, up to 80"
        )
    return login


def check_interface(interface: str) -> str:
    if interface and not INTERFACE.fullmatch(interface):
        raise UserCommandError(
            f"interface {interface[:40]!r} refused: expected e.g. PJSIP/101 (no spaces)"
        )
    return interface


async def add_user(
    url: str,
    login: str,
    *,
    role: str,
    password: str,
    interface: str = "",
    queues: dict[str, int] | None = None,
    display_name: str = "",
    language: str = "",
    server_id: str = "",
) -> int:
    """Create a user; returns its id. Raises UserCommandError if the login exists."""
    if role not in Role.__members__.values():
        raise UserCommandError(f"unknown role {role!r}")
    check_login(login)
    check_interface(interface)
    if language and language not in LOCALES:
        raise UserCommandError(
            f"unknown language {language!r} (expected one of {', '.join(LOCALES)})"
        )
    engine = create_engine(url)
    try:
        async with session_factory(engine).begin() as db:
            user = User(
                login=login,
                display_name=display_name or login,
                password_hash=hash_password(password),
                role=role,
                interface=interface,
                queues=queues or {},
                skills={},
                active=True,
                created_at=utcnow(),
                language=language,
                server_id=server_id,
            )
            db.add(user)
            await db.flush()
            audit(db, CLI_ACTOR, "user.create", f"user {login}", None, _user_view(user))
            return user.id
    except IntegrityError:
        raise UserCommandError(f"user {login!r} already exists") from None
    finally:
        await engine.dispose()


async def list_users(url: str) -> list[User]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as db:
            return list((await db.execute(select(User).order_by(User.login))).scalars())
    finally:
        await engine.dispose()


async def _user(db: AsyncSession, login: str) -> User:
    user = (await db.execute(select(User).where(User.login == login))).scalar_one_or_none()
    if user is None:
        raise UserCommandError(f"no user {login!r}")
    return user


async def set_password(url: str, login: str, password: str) -> list[str]:
    """A new password; every session of the user ends (returns their ids)."""
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        async with sessions.begin() as db:
            user = await _user(db, login)
            user.password_hash = hash_password(password)
            audit(db, CLI_ACTOR, "user.password", f"user {login}", None, {"password": "changed"})
        return await end_user_sessions(sessions, user.id)
    finally:
        await engine.dispose()


async def set_active(url: str, login: str, active: bool) -> list[str]:
    """Enable or disable a user; disabling ends every session (returns their ids)."""
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        async with sessions.begin() as db:
            user = await _user(db, login)
            if user.active != active:
                before = _user_view(user)
                user.active = active
                audit(db, CLI_ACTOR, "user.update", f"user {login}", before, _user_view(user))
        return [] if active else await end_user_sessions(sessions, user.id)
    finally:
        await engine.dispose()


async def sign_out(url: str, login: str) -> list[str]:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        async with sessions() as db:
            user = await _user(db, login)
        ended = await end_user_sessions(sessions, user.id)
        async with sessions.begin() as db:
            audit(
                db, CLI_ACTOR, "user.signout", f"user {login}", None, {"sessions_ended": len(ended)}
            )
        return ended
    finally:
        await engine.dispose()


async def announce_signouts(settings: Settings, session_ids: list[str]) -> None:
    """Tell the web instances to close these sessions' websockets now (Redis bus only: an
    in-process bus lives in the service, not here; its sockets re-check within a minute)."""
    if not session_ids or settings.bus.backend != "redis":
        return
    bus = create_bus(settings.bus)
    try:
        for session_id in session_ids:
            await bus.publish(POPS, {"type": "signout", "session": session_id})
    except BusError as exc:
        log.warning("sign-outs not broadcast (websockets re-check within a minute): %s", exc)
    finally:
        await bus.close()


def cmd_users(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    url = settings.database_url
    try:
        if args.users_command == "add":
            password = read_password(args.password_stdin)
            user_id = asyncio.run(
                add_user(
                    url,
                    args.login,
                    role=args.role,
                    password=password,
                    interface=args.interface,
                    queues=parse_queues(args.queues),
                    display_name=args.name,
                    language=args.language,
                    server_id=args.server.strip(),
                )
            )
            print(f"created user {args.login} ({args.role}) id={user_id}")
        elif args.users_command == "list":
            for user in asyncio.run(list_users(url)):
                state = "" if user.active else " (inactive)"
                queues = ",".join(user.queues)
                print(f"{user.login}\t{user.role}\t{user.interface}\t{queues}{state}")
        elif args.users_command == "passwd":
            password = read_password(args.password_stdin)
            ended = asyncio.run(set_password(url, args.login, password))
            asyncio.run(announce_signouts(settings, ended))
            print(f"password of {args.login} changed; {len(ended)} session(s) ended")
        elif args.users_command in ("disable", "enable"):
            active = args.users_command == "enable"
            ended = asyncio.run(set_active(url, args.login, active))
            asyncio.run(announce_signouts(settings, ended))
            state = "enabled" if active else f"disabled; {len(ended)} session(s) ended"
            print(f"{args.login} {state}")
        elif args.users_command == "signout":
            ended = asyncio.run(sign_out(url, args.login))
            asyncio.run(announce_signouts(settings, ended))
            print(f"{len(ended)} session(s) of {args.login} ended")
    except UserCommandError as exc:
        print(f"users: {exc}", file=sys.stderr)
        return 1
    return 0
