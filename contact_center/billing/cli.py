"""``contact-center tariffs import|quote`` and ``contact-center rerate``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from contact_center.billing.errors import BillingError, TariffError
from contact_center.billing.rating import RatableCall, rate_call
from contact_center.billing.repository import load_plan, save_plans
from contact_center.billing.service import BillingService
from contact_center.billing.tariffs import TariffPlan, load_plans
from contact_center.config import Settings, load_settings
from contact_center.store.db import create_engine, session_factory


def add_arguments_cmd_tariffs(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tariffs_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="validate and store tariff plans from YAML/CSV files")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--check", action="store_true", help="only validate, store nothing")
    quote = sub.add_parser("quote", help="price one call and print the breakdown as JSON")
    quote.add_argument("plan", metavar="PLAN")
    quote.add_argument("--number", required=True, help="number to price (dialled or caller)")
    quote.add_argument("--start", required=True, help="ISO time the call is answered")
    quote.add_argument("--seconds", required=True, type=int, help="talk seconds")
    quote.add_argument("--file", help="read PLAN from this file instead of the database")


def add_arguments_cmd_rerate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", required=True, help="ISO date or time (inclusive)")
    parser.add_argument("--until", required=True, help="ISO date or time (exclusive)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def cmd_tariffs(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    try:
        if args.tariffs_command == "import":
            return asyncio.run(_import(settings, args.files, check=args.check))
        return asyncio.run(_quote(settings, args))
    except BillingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def cmd_rerate(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    try:
        since = parse_moment(args.since, settings.general.timezone)
        until = parse_moment(args.until, settings.general.timezone)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if until <= since:
        print("error: --until must be after --since", file=sys.stderr)
        return 2
    return asyncio.run(_rerate(settings, since, until, quiet=args.quiet))


def parse_moment(text: str, timezone: str) -> datetime:
    """An ISO date (midnight) or date-time; without an offset it is in the given time zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date or time: {text!r}") from None
    if len(text) == 10:  # a bare date
        moment = datetime.combine(date.fromisoformat(text), time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone or "UTC"))
    return moment


async def _import(settings: Settings, files: list[str], *, check: bool) -> int:
    plans: list[TariffPlan] = []
    broken: list[TariffError] = []
    for path in files:
        try:
            plans.extend(load_plans(path))
        except TariffError as exc:  # check every file, so one run names every mistake
            broken.append(exc)
    if broken:
        for error in broken:
            print(f"error: {error}", file=sys.stderr)
        # all or nothing: the plans in use stay as they are until every file is right
        print(f"nothing imported: {len(broken)} file(s) with errors", file=sys.stderr)
        return 1
    if check:
        for plan in plans:
            print(f"{plan.name}: {len(plan.rates)} rates OK")
        return 0
    engine = create_engine(settings.database_url)
    try:
        for name, rates in await save_plans(session_factory(engine), plans):
            print(f"imported plan {name}: {rates} rates")
    finally:
        await engine.dispose()
    return 0


async def _quote(settings: Settings, args: argparse.Namespace) -> int:
    if args.file:
        by_name = {p.name: p for p in load_plans(args.file)}
        if args.plan not in by_name:
            print(f"error: {args.file} has no plan {args.plan!r}", file=sys.stderr)
            return 1
        plan = by_name[args.plan]
    else:
        engine = create_engine(settings.database_url)
        try:
            plan = await load_plan(session_factory(engine), args.plan)
        finally:
            await engine.dispose()
    try:
        start = parse_moment(args.start, plan.timezone)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    charge = rate_call(RatableCall(args.number, start, args.seconds), plan)
    print(json.dumps(charge.to_dict(), indent=2))
    return 0


async def _rerate(settings: Settings, since: datetime, until: datetime, *, quiet: bool) -> int:
    engine = create_engine(settings.database_url)

    def progress(done: int, total: int) -> None:
        if not quiet:
            print(f"rerated {done}/{total} calls", file=sys.stderr, flush=True)

    try:
        service = BillingService(
            session_factory(engine),
            inbound_plan=settings.billing.inbound_plan,
            outbound_plan=settings.billing.outbound_plan,
        )
        result = await service.rerate(since, until, progress=progress)
    finally:
        await engine.dispose()
    summary = {
        "since": since.astimezone(UTC).isoformat(),
        "until": until.astimezone(UTC).isoformat(),
        "calls": result.calls,
        "amount": {
            cur or "-": str(amount) for cur, amount in sorted(result.amount_by_currency.items())
        },
    }
    print(json.dumps(summary))
    return 0
