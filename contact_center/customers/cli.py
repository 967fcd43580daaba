"""``contact-center customers import|lookup|demo``."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from contact_center.config import ConfigError, Settings, load_settings
from contact_center.customers.importer import (
    CHUNK_SIZE,
    CustomerImporter,
    CustomerImportError,
    Progress,
    Reject,
    open_table,
)
from contact_center.customers.ivr_import import KINDS, IvrDataImporter
from contact_center.customers.lookup import CustomerLookup
from contact_center.customers.phones import normalize_number
from contact_center.store.db import create_engine, session_factory


def add_arguments_cmd_customers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="database URL (default: from the configuration)")
    sub = parser.add_subparsers(dest="customers_command", metavar="ACTION", required=True)

    imp = sub.add_parser("import", help="import customers from a .csv or .xlsx file")
    _url_option(imp)
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--mapping",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="map a column to name/phone/phone:TYPE (mobile, work, home, fax, other)/company/"
        "segment/language/email/address/notes/account_number/external_id/custom.NAME, or '-' "
        "to skip it (repeatable)",
    )
    imp.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing: report what the import would insert, update and reject",
    )
    imp.add_argument(
        "--merge-by-phone",
        action="store_true",
        help="also merge rows into the customer who already has their phone number (for "
        "files without external_id or account_number; two people on one number become one)",
    )
    imp.add_argument("--rejects", type=Path, help="write rejected rows to this CSV file")
    imp.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help="rows per transaction")
    imp.add_argument("--no-progress", action="store_true", help="no progress line on stderr")

    data = sub.add_parser(
        "import-data",
        help="import the IVR's data (balances, payments, orders, PINs) from a .csv or .xlsx file",
    )
    _url_option(data)
    data.add_argument("kind", choices=sorted(KINDS), help="what the file holds")
    data.add_argument("file", type=Path)
    data.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    data.add_argument("--rejects", type=Path, help="write rejected rows to this CSV file")
    data.add_argument("--no-progress", action="store_true", help="no progress line on stderr")

    look = sub.add_parser("lookup", help="find the customers with a phone number (JSON)")
    _url_option(look)
    look.add_argument("number")

    demo = sub.add_parser("demo", help="add deterministic demo customers with history")
    _url_option(demo)
    demo.add_argument("--count", type=int, default=200)
    demo.add_argument("--seed", type=int, default=1)


def cmd_customers(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(getattr(args, "config", None))
        mapping = _parse_mapping(getattr(args, "mapping", []))
    except (ConfigError, CustomerImportError) as exc:
        return _fail(str(exc), 2)
    url = args.url or settings.database_url
    try:
        if args.customers_command == "import":
            return asyncio.run(_import(args, settings, url, mapping))
        if args.customers_command == "import-data":
            return asyncio.run(_import_data(args, url))
        if args.customers_command == "lookup":
            return asyncio.run(_lookup(args.number, settings, url))
        if args.customers_command == "demo":
            return asyncio.run(_demo(args.count, args.seed, url))
    except CustomerImportError as exc:
        return _fail(str(exc), 1)
    except (OperationalError, ProgrammingError) as exc:
        return _fail(
            f"database error: {_first_line(exc)} (has `contact-center db upgrade` run?)", 1
        )
    except (DBAPIError, OSError) as exc:
        return _fail(f"database error: {_first_line(exc)}", 1)
    return 2


def _parse_mapping(items: Sequence[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise CustomerImportError(f"--mapping {item!r}: expected COLUMN=FIELD")
        mapping[column.strip()] = target.strip()
    return mapping


async def _import(
    args: argparse.Namespace, settings: Settings, url: str, mapping: dict[str, str]
) -> int:
    with open_table(args.file) as (header, _rows):
        pass  # fail early on a missing or unreadable file, before touching the database
    # surrogateescape: a row rejected for bytes that are not UTF-8 is written back unchanged
    rejects_file = (
        args.rejects.open("w", newline="", encoding="utf-8", errors="surrogateescape")
        if args.rejects
        else None
    )
    rejects_csv = csv.writer(rejects_file) if rejects_file else None
    if rejects_csv:
        # The original columns after row and reason: fix the rows, drop the first two
        # columns, and the file imports again.
        rejects_csv.writerow(["row", "reason", *header])
    engine = create_engine(url)

    progress = None if args.no_progress else Progress(sys.stderr)

    def on_reject(reject: Reject, row: Sequence[str]) -> None:
        message = f"row {reject.row}: {reject.reason}"
        if progress:
            progress.note(message)
        else:
            print(message, file=sys.stderr)
        if rejects_csv:
            rejects_csv.writerow([reject.row, reject.reason, *row])

    importer = CustomerImporter(
        engine,
        region=settings.general.default_region,
        area_code=settings.general.default_area_code,
        mapping=mapping,
        chunk_size=args.chunk_size,
        on_reject=on_reject,
        progress=progress,
        merge_by_phone=args.merge_by_phone,
        dry_run=args.dry_run,
    )
    try:
        report = await importer.import_file(args.file)
    finally:
        await engine.dispose()
        if rejects_file:
            rejects_file.close()
    print(json.dumps(report.to_dict()))
    return 0


async def _import_data(args: argparse.Namespace, url: str) -> int:
    with open_table(args.file) as (header, _rows):
        pass  # fail early on a missing or unreadable file, before touching the database
    with _RejectsFile(args.rejects, header) as rejects:
        progress = None if args.no_progress else Progress(sys.stderr)
        engine = create_engine(url)
        try:
            report = await IvrDataImporter(
                engine,
                args.kind,
                dry_run=args.dry_run,
                progress=progress,
                on_reject=rejects.writer(progress),
            ).import_file(args.file)
        finally:
            await engine.dispose()
    print(json.dumps({"kind": args.kind, **report.to_dict()}))
    return 0


class _RejectsFile:
    """Rejected rows on stderr and, when asked, in a CSV file: row, reason, the cells."""

    def __init__(self, path: Path | None, header: Sequence[str]) -> None:
        self._path = path
        self._header = header
        self._file: Any = None
        self._csv: Any = None

    def __enter__(self) -> _RejectsFile:
        if self._path is not None:
            self._file = self._path.open(
                "w", newline="", encoding="utf-8", errors="surrogateescape"
            )
            self._csv = csv.writer(self._file)
            self._csv.writerow(["row", "reason", *self._header])
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def writer(self, progress: Progress | None) -> Callable[[Reject, Sequence[str]], None]:
        def on_reject(reject: Reject, row: Sequence[str]) -> None:
            message = f"row {reject.row}: {reject.reason}"
            if progress:
                progress.note(message)
            else:
                print(message, file=sys.stderr)
            if self._csv is not None:
                self._csv.writerow([reject.row, reject.reason, *row])

        return on_reject


async def _lookup(raw: str, settings: Settings, url: str) -> int:
    general = settings.general
    number = normalize_number(
        raw, region=general.default_region, area_code=general.default_area_code
    )
    if number.kind in {"extension", "anonymous"}:
        what = "an internal extension" if number.kind == "extension" else "a withheld number"
        return _fail(f"{number.display or raw!r} is {what}: it never matches a customer", 1)
    engine = create_engine(url)
    try:
        lookup = CustomerLookup(
            session_factory(engine),
            region=general.default_region,
            area_code=general.default_area_code,
            suffix_digits=general.lookup_suffix_digits,
            cache_size=0,
        )
        cards = await lookup.by_number(raw)
    finally:
        await engine.dispose()
    if not cards:
        shown = number.e164 or number.display
        return _fail(f"no customer with number {shown}", 1)
    out: dict[str, Any] = {
        "number": number.e164,
        "display": number.display,
        "customers": [card.to_dict() for card in cards],
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


async def _demo(count: int, seed: int, url: str) -> int:
    from contact_center.customers.demo_data import load_demo_data

    engine = create_engine(url)
    try:
        summary = await load_demo_data(engine, count=count, seed=seed)
    finally:
        await engine.dispose()
    print(json.dumps(summary.to_dict()))
    return 0


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _url_option(parser: argparse.ArgumentParser) -> None:
    # Accepted after the action too; SUPPRESS keeps a value given before the action.
    parser.add_argument("--url", default=argparse.SUPPRESS, help="database URL")
