"""Reading the history: a customer's timeline (paged, filtered), one call's detail, CSV export.

Paging is by keyset on (at, id), newest first: a page costs the same at the end of a long
history as at the start, and rows written meanwhile do not shift the pages already seen.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from contact_center.exports.csvsafe import csv_line
from contact_center.history.buffer import HistoryError
from contact_center.store import models

Sessions = async_sessionmaker[AsyncSession]
Progress = Callable[[int, int], None]
MAX_PAGE = 500
CSV_COLUMNS = ("at", "customer_id", "server", "call", "kind", "actor", "summary", "data")


class BadCursor(HistoryError, ValueError):
    def __init__(self, cursor: str) -> None:
        super().__init__(f"invalid paging cursor {cursor!r}")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TimelineItem:
    id: int
    key: str
    kind: str
    at: datetime
    server: str
    call: str  # linkedid ("" for facts outside a call)
    customer_id: int | None
    actor: str
    summary: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "server": self.server,
            "call": self.call,
            "customer_id": self.customer_id,
            "actor": self.actor,
            "summary": self.summary,
            "data": self.data,
        }


# What a reader filters the timeline by: topics people think in, each a set of row kinds
# (an operator's action is a note or a disposition by its ``action``).
CALL_KINDS = (
    "call.arrived", "call.queued", "call.offered", "call.ring_no_answer", "call.answered",
    "call.abandoned", "call.left_queue", "call.held", "call.transferred", "call.consultation",
    "call.conference_joined", "call.conference_left", "call.conference_participant_joined",
    "call.conference_participant_left", "call.operator_left",
    "call.agent_completed", "call.ended",
)  # fmt: skip
TOPIC_KINDS: dict[str, tuple[str, ...]] = {
    "ivr": ("call.ivr_step", "call.identified", "call.routing_decided"),
    "calls": CALL_KINDS,
    "notes": (),  # operator.action with action "note"
    "dispositions": ("operator.wrapup",),  # and operator.action "disposition"
    "qa": ("qa.review",),
    "callbacks": ("call.callback_requested", "callback.attempt"),
    "costs": ("call.charged",),
    "recordings": (
        "call.recording_started", "call.recording_muted", "call.recording_stopped",
        "recording.ready",
    ),
}  # fmt: skip
TOPIC_ACTIONS: dict[str, str] = {"notes": "note", "dispositions": "disposition"}
TOPICS = tuple(TOPIC_KINDS)


class BadTopic(HistoryError, ValueError):
    def __init__(self, topic: str) -> None:
        super().__init__(f"unknown topic {topic[:40]!r} (one of {', '.join(TOPICS)})")


@dataclass(frozen=True, slots=True)
class TimelineFilter:
    kinds: tuple[str, ...] = ()  # e.g. ("call.arrived", "operator.action")
    topics: tuple[str, ...] = ()  # e.g. ("qa", "callbacks"): a row of any kind or topic
    since: datetime | None = None
    until: datetime | None = None
    call: str = ""  # only this call's events
    text: str = ""  # substring of the summary (case-insensitive)


@dataclass(frozen=True, slots=True)
class TimelinePage:
    items: tuple[TimelineItem, ...]
    next_cursor: str | None  # pass back as ``cursor`` for the next (older) page

    def to_dict(self) -> dict[str, Any]:
        return {"items": [i.to_dict() for i in self.items], "next_cursor": self.next_cursor}


@dataclass(frozen=True, slots=True)
class CallDetail:
    call: dict[str, Any]
    legs: tuple[dict[str, Any], ...]
    timeline: tuple[TimelineItem, ...]
    recordings: tuple[dict[str, Any], ...]
    charge: dict[str, Any] | None
    customer: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "call": self.call,
            "customer": self.customer,
            "legs": list(self.legs),
            "timeline": [i.to_dict() for i in self.timeline],
            "recordings": list(self.recordings),
            "charge": self.charge,
        }


def _item(row: models.InteractionEvent) -> TimelineItem:
    return TimelineItem(
        id=row.id, key=row.key, kind=row.kind, at=_aware(row.at), server=row.server,
        call=row.call_linkedid, customer_id=row.customer_id, actor=row.actor,
        summary=row.summary, data=row.data or {},
    )  # fmt: skip


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def encode_cursor(item: TimelineItem) -> str:
    """Opaque and URL-safe: '<epoch microseconds>~<id>' of the last item shown."""
    return f"{(item.at - _EPOCH) // _MICRO}~{item.id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        micros, _, ident = cursor.partition("~")
        at, row_id = _EPOCH + int(micros) * _MICRO, int(ident)
        if abs(row_id) >= 2**63:  # would overflow the id column in the query
            raise OverflowError(ident)
        return at, row_id
    except (ValueError, OverflowError):
        raise BadCursor(cursor) from None


# A room's first join and leave (rows written before every participant had a row of its own,
# and still written for the conference leg): where the call has participant rows, those say it.
SUPERSEDED = ("call.conference_joined", "call.conference_left")


def _filters(f: TimelineFilter) -> list[ColumnElement[bool]]:
    table = models.InteractionEvent
    other = aliased(models.InteractionEvent)
    where: list[ColumnElement[bool]] = [
        or_(
            table.kind.not_in(SUPERSEDED),
            ~exists().where(
                other.call_linkedid == table.call_linkedid,
                other.kind == "call.conference_participant_joined",
            ),
        )
    ]
    chosen: list[ColumnElement[bool]] = []
    if f.kinds:
        chosen.append(table.kind.in_(f.kinds))
    for topic in f.topics:
        if topic not in TOPIC_KINDS:
            raise BadTopic(topic)
        if TOPIC_KINDS[topic]:
            chosen.append(table.kind.in_(TOPIC_KINDS[topic]))
        if topic in TOPIC_ACTIONS:
            chosen.append(
                and_(
                    table.kind == "operator.action",
                    table.data["action"].as_string() == TOPIC_ACTIONS[topic],
                )
            )
    if chosen:
        where.append(or_(*chosen))
    if f.since is not None:
        where.append(table.at >= f.since.astimezone(UTC))
    if f.until is not None:
        where.append(table.at < f.until.astimezone(UTC))
    if f.call:
        where.append(table.call_linkedid == f.call)
    if f.text:
        where.append(func.lower(table.summary).contains(f.text.lower(), autoescape=True))
    return where


async def customer_timeline(
    sessions: Sessions,
    customer_id: int,
    *,
    limit: int = 50,
    cursor: str | None = None,
    filters: TimelineFilter = TimelineFilter(),
    visible: ColumnElement[bool] | None = None,
) -> TimelinePage:
    """One page of a customer's history, newest first (only ``visible`` rows when given:
    see :func:`contact_center.history.access.events_clause`)."""
    limit = max(1, min(limit, MAX_PAGE))
    table = models.InteractionEvent
    where = _filters(filters) + ([visible] if visible is not None else [])
    stmt = select(table).where(table.customer_id == customer_id, *where)
    if cursor:
        at, ident = decode_cursor(cursor)
        stmt = stmt.where(or_(table.at < at, and_(table.at == at, table.id < ident)))
    stmt = stmt.order_by(table.at.desc(), table.id.desc()).limit(limit + 1)
    async with sessions() as session:
        rows = (await session.execute(stmt)).scalars().all()
    items = tuple(_item(r) for r in rows[:limit])
    more = len(rows) > limit
    return TimelinePage(items, encode_cursor(items[-1]) if more and items else None)


def _call_dict(call: models.Call) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else _aware(value).isoformat()

    return {
        "server": call.server, "linkedid": call.linkedid, "customer_id": call.customer_id,
        "direction": call.direction, "caller_number": call.caller_number,
        "caller_name": call.caller_name, "did": call.did, "queue": call.queue,
        "operator": call.operator_interface, "started_at": iso(call.started_at),
        "answered_at": iso(call.answered_at), "ended_at": iso(call.ended_at),
        "wait_seconds": call.wait_seconds, "talk_seconds": call.talk_seconds,
        "outcome": call.outcome, "hangup_cause": call.hangup_cause,
        "ivr_path": call.ivr_path or {}, "disposition": call.disposition,
    }  # fmt: skip


async def call_detail(sessions: Sessions, server: str, linkedid: str) -> CallDetail | None:
    """Everything about one call: row, legs, its timeline, recordings and charge."""
    async with sessions() as session:
        call = (
            await session.execute(
                select(models.Call).where(
                    models.Call.server == server, models.Call.linkedid == linkedid
                )
            )
        ).scalar_one_or_none()
        if call is None:
            return None
        legs = (
            await session.execute(
                select(models.CallLeg)
                .where(models.CallLeg.call_id == call.id)
                .order_by(models.CallLeg.started_at, models.CallLeg.id)
            )
        ).scalars()
        events = (
            await session.execute(
                select(models.InteractionEvent)
                .where(
                    models.InteractionEvent.server == server,
                    models.InteractionEvent.call_linkedid == linkedid,
                )
                .order_by(models.InteractionEvent.at, models.InteractionEvent.id)
            )
        ).scalars()
        timeline = tuple(_item(e) for e in events)
        recordings = (
            await session.execute(
                select(models.Recording).where(
                    models.Recording.server == server, models.Recording.call_linkedid == linkedid
                )
            )
        ).scalars()
        charge = (
            await session.execute(
                select(models.Charge).where(
                    models.Charge.server == server, models.Charge.call_linkedid == linkedid
                )
            )
        ).scalar_one_or_none()
        customer = None
        if call.customer_id is not None:
            found = await session.get(models.Customer, call.customer_id)
            if found is not None:
                customer = {"id": found.id, "name": found.name, "company": found.company}
        return CallDetail(
            call=_call_dict(call),
            customer=customer,
            legs=tuple(_leg_dict(leg) for leg in legs),
            timeline=timeline,
            recordings=tuple(_recording_dict(r) for r in recordings),
            charge=None if charge is None else _charge_dict(charge),
        )


def _leg_dict(leg: models.CallLeg) -> dict[str, Any]:
    return {
        "uniqueid": leg.uniqueid,
        "channel": leg.channel,
        "role": leg.role,
        "started_at": _aware(leg.started_at).isoformat(),
        "ended_at": None if leg.ended_at is None else _aware(leg.ended_at).isoformat(),
        "hangup_cause": leg.hangup_cause,
    }


def _recording_dict(rec: models.Recording) -> dict[str, Any]:
    return {
        "id": rec.id,
        "file_name": rec.file_name,
        "status": rec.status,
        "duration_seconds": rec.duration_seconds,
    }


def _money(amount: Decimal) -> str:
    """The stored 6 places trimmed back to at least 2: 1.430000 -> 1.43."""
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return str(amount.quantize(Decimal(1).scaleb(-places)))


def _charge_dict(charge: models.Charge) -> dict[str, Any]:
    return {
        "amount": _money(charge.amount),
        "currency": charge.currency,
        "plan": charge.plan,
        "billed_seconds": charge.billed_seconds,
        "breakdown": charge.breakdown,
    }


async def export_csv(
    sessions: Sessions,
    out: TextIO,
    *,
    customer_id: int | None = None,
    filters: TimelineFilter = TimelineFilter(),
    progress: Progress | None = None,
    chunk: int = 1000,
) -> int:
    """Write matching history rows as CSV, in the order written; returns the row count.

    ``progress(done, total)`` is called after every chunk, so a large range shows how far it
    got; memory stays bounded by the chunk size.
    """
    done = 0
    async for text, done, total in csv_chunks(
        sessions, customer_id=customer_id, filters=filters, chunk=chunk
    ):
        out.write(text)
        if progress is not None and done:
            progress(done, total)
    return done


async def csv_chunks(
    sessions: Sessions,
    *,
    customer_id: int | None = None,
    filters: TimelineFilter = TimelineFilter(),
    chunk: int = 1000,
    visible: ColumnElement[bool] | None = None,
) -> AsyncIterator[tuple[str, int, int]]:
    """CSV text in pieces: (text, rows done, rows in total); the first piece is the header.
    Only ``visible`` rows when given (the reader's scope)."""
    table = models.InteractionEvent
    where = _filters(filters)
    if visible is not None:
        where.append(visible)
    if customer_id is not None:
        where.append(table.customer_id == customer_id)
    async with sessions() as session:
        total = int(
            (
                await session.execute(select(func.count()).select_from(table).where(*where))
            ).scalar_one()
        )
    yield csv_line(CSV_COLUMNS), 0, total
    done, last_id = 0, 0
    while True:
        async with sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(table)
                        .where(*where, table.id > last_id)
                        .order_by(table.id)
                        .limit(chunk)
                    )
                )
                .scalars()
                .all()
            )
        if not rows:
            break
        # Every cell through csv_line: names and summaries come from callers and operators,
        # and "=..." must open as text, not run as a formula in whoever's spreadsheet.
        text = "".join(csv_line(_csv_cells(row)) for row in rows)
        done += len(rows)
        last_id = rows[-1].id
        yield text, done, total


def _csv_cells(row: models.InteractionEvent) -> tuple[object, ...]:
    return (
        _aware(row.at).isoformat(),
        "" if row.customer_id is None else row.customer_id,
        row.server,
        row.call_linkedid,
        row.kind,
        row.actor,
        row.summary,
        json.dumps(row.data or {}, ensure_ascii=False, sort_keys=True),
    )
