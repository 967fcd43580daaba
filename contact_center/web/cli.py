"""``contact-center users add|list|passwd`` — manage who may sign in.

    contact-center users add LOGIN --role operator [--password-stdin] \\
        [--interface PJSIP/101] [--queues support,sales] [--name "Operator 101"]
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contact_center.config import load_settings
from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.models import User
from contact_center.web.auth import Role, hash_password

MIN_PASSWORD = 8


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
    sub.add_parser("list", help="list users")
    passwd = sub.add_parser("passwd", help="set a user's password")
    passwd.add_argument("login")
    passwd.add_argument("--password-stdin", action="store_true")


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


async def add_user(
    url: str,
    login: str,
    *,
    role: str,
    password: str,
    interface: str = "",
    queues: dict[str, int] | None = None,
    display_name: str = "",
) -> int:
    """Create a user; returns its id. Raises UserCommandError if the login exists."""
    if role not in Role.__members__.values():
        raise UserCommandError(f"unknown role {role!r}")
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
            )
            db.add(user)
            await db.flush()
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


async def set_password(url: str, login: str, password: str) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine).begin() as db:
            user = (await db.execute(select(User).where(User.login == login))).scalar_one_or_none()
            if user is None:
                raise UserCommandError(f"no user {login!r}")
            user.password_hash = hash_password(password)
    finally:
        await engine.dispose()


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
                )
            )
            print(f"created user {args.login} ({args.role}) id={user_id}")
        elif args.users_command == "list":
            for user in asyncio.run(list_users(url)):
                state = "" if user.active else " (inactive)"
                queues = ",".join(user.queues)
                print(f"{user.login}\t{user.role}\t{user.interface}\t{queues}{state}")
        elif args.users_command == "passwd":
            asyncio.run(set_password(url, args.login, read_password(args.password_stdin)))
            print(f"password of {args.login} changed")
    except UserCommandError as exc:
        print(f"users: {exc}", file=sys.stderr)
        return 1
    return 0
