"""``contact-center db upgrade|current|revision``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from contact_center.config import ConfigError, load_settings
from contact_center.store import migrate


def add_arguments_cmd_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="database URL (default: from the configuration)")
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = sub.add_parser("upgrade", help="apply migrations up to the latest (or --revision)")
    _url_option(up)
    up.add_argument("--revision", default="head")
    cur = sub.add_parser("current", help="print the revision the database is at")
    _url_option(cur)
    rev = sub.add_parser("revision", help="(developers) autogenerate a revision from models")
    _url_option(rev)
    rev.add_argument("-m", "--message", required=True)


def cmd_db(args: argparse.Namespace) -> int:
    try:
        url = args.url or load_settings(getattr(args, "config", None)).database_url
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.db_command == "upgrade":
            asyncio.run(migrate.upgrade(url, args.revision))
            reached = migrate.head_revision() if args.revision == "head" else args.revision
            print(f"database at {reached}", file=sys.stderr)
        elif args.db_command == "current":
            print(asyncio.run(migrate.current(url)) or "(empty)")
        elif args.db_command == "revision":
            asyncio.run(migrate.autogenerate(url, args.message))
    except migrate.MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _url_option(parser: argparse.ArgumentParser) -> None:
    # Accepted after the action too; SUPPRESS keeps a value given before the action.
    parser.add_argument("--url", default=argparse.SUPPRESS, help="database URL")
