"""``contact-center recordings process | retention | erase``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.config import Settings, load_settings
from contact_center.recording.errors import RecordingError
from contact_center.recording.retention import apply_retention, erase_customer
from contact_center.recording.worker import RecordingWorker
from contact_center.store.db import create_engine, session_factory
from contact_center.store.models import Recording


def add_arguments_cmd_recordings(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="recordings_command", metavar="ACTION", required=True)
    process = sub.add_parser("process", help="process the backlog of stopped recordings")
    process.add_argument("--limit", type=int, default=None, help="at most this many")
    process.add_argument("--workers", type=int, default=None, help="processes in the pool")
    process.add_argument("--retry-failed", action="store_true", help="retry failed ones too")
    process.add_argument(
        "--requeue-stuck",
        action="store_true",
        help="take back rows left 'processing' by a worker that died (no other worker running)",
    )
    retention = sub.add_parser("retention", help="delete or archive old recordings")
    retention.add_argument(
        "--days", type=int, default=None, help="default recording.retention_days"
    )
    retention.add_argument("--mode", choices=["delete", "archive"], default=None)
    retention.add_argument("--archive-dir", default=None)
    erase = sub.add_parser("erase", help="erase every recording of one customer")
    erase.add_argument("--customer", type=int, required=True, help="customer id")
    erase.add_argument("--by", required=True, help="who asked (logged in the audit log)")


def cmd_recordings(args: argparse.Namespace) -> int:
    overrides: dict[str, dict[str, object]] = {"recording": {}}
    if getattr(args, "workers", None):
        overrides["recording"]["workers"] = args.workers
    settings = load_settings(getattr(args, "config", None), overrides=overrides)
    try:
        return asyncio.run(_run(args, settings, sys.stderr))
    except RecordingError as exc:
        print(f"recordings: {exc}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    rec = settings.recording
    try:
        if args.recordings_command == "process":
            if args.retry_failed:
                await _requeue(sessions, "failed")
            if args.requeue_stuck:
                await _requeue(sessions, "processing")

            def progress(done: int, total: int, row: Recording, status: str) -> None:
                out.write(f"[{done}/{total}] {row.file_name}: {status}\n")
                out.flush()

            async with RecordingWorker(sessions, rec) as worker:
                summary = await worker.process_backlog(limit=args.limit, progress=progress)
            out.write(
                f"processed {summary.total}: {summary.done} done, {summary.failed} failed, "
                f"{summary.empty} empty (no audio)\n"
            )
            return 0 if summary.failed == 0 else 3
        if args.recordings_command == "retention":
            result = await apply_retention(
                sessions,
                spool_dir=rec.spool_dir,
                days=args.days if args.days is not None else rec.retention_days,
                mode=args.mode or rec.retention_mode,
                archive_dir=args.archive_dir if args.archive_dir is not None else rec.archive_dir,
                by="cli:retention",
            )
            out.write(f"retention: {result.recordings} recordings, {result.files} files\n")
            return 0
        result = await erase_customer(
            sessions, spool_dir=rec.spool_dir, customer_id=args.customer, by=f"cli:{args.by}"
        )
        out.write(f"erased: {result.recordings} recordings, {result.files} files\n")
        return 0
    finally:
        await engine.dispose()


async def _requeue(sessions: async_sessionmaker[AsyncSession], status: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(Recording).where(Recording.status == status).values(status="stopped", failure="")
        )
