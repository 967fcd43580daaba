"""Historical reports by interval (15 min, hour, day), queue and operator.

Rows come from the ``calls`` table (one row per call, written by the history consumer) and use
the formulas of ``docs/metrics.md``. Operator reports credit each operator who talked with the
customer with their own part, from the call's operator legs (``call_legs``: a transferred call
is one call handled by each of its operators, each with their own talk; the wait and service
level belong to the operator who took the call from the queue). The same rows serve the report
page, CSV and JSON. The module also turns today's calls back into domain events so that live
figures can be rebuilt after a restart with exactly the live formulas.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls import events as ev
from contact_center.stats.metrics import MetricsConfig, whole_seconds
from contact_center.store.models import Call, CallLeg

INTERVALS: dict[str, timedelta] = {
    "15min": timedelta(minutes=15),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
GROUPS = ("queue", "operator")


class ReportError(ValueError):
    """A report request is malformed (unknown interval or grouping, bad period)."""


@dataclass(frozen=True, slots=True)
class ReportRow:
    interval_start: str  # ISO 8601 in the configured timezone
    queue: str
    operator: str  # "" in queue reports
    offered: int
    answered: int
    answered_in_sl: int
    abandoned: int
    short_abandoned: int
    left: int
    service_level_pct: float | None
    abandon_rate_pct: float | None
    asa_seconds: float | None
    aht_seconds: float | None
    talk_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = tuple(f.name for f in dataclasses.fields(ReportRow))


@dataclass(slots=True)
class _Acc:
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    left: int = 0
    hold_total: float = 0.0
    talk_total: float = 0.0
    completed: int = 0
    taken: int | None = None  # operator rows: calls this operator took from the queue

    def add_leg(self, call: Call, leg: CallLeg, took_call: bool, config: MetricsConfig) -> None:
        """One operator's own part of a call: a call handled, their talk; the caller's wait
        (ASA, service level) only for the operator who took the call from the queue."""
        self.offered += 1
        self.answered += 1
        self.taken = (self.taken or 0) + took_call
        if took_call:
            self.hold_total += call.wait_seconds or 0.0
            wait = whole_seconds(call.wait_seconds or 0.0)
            self.answered_in_sl += wait <= config.service_level_for(call.queue)
        if leg.talk_seconds is not None:
            self.completed += 1
            self.talk_total += leg.talk_seconds

    def add(self, call: Call, config: MetricsConfig) -> None:
        self.offered += 1
        wait = whole_seconds(call.wait_seconds or 0.0)
        if call.answered_at is not None or call.outcome == "answered":
            self.answered += 1
            self.hold_total += call.wait_seconds or 0.0
            self.answered_in_sl += wait <= config.service_level_for(call.queue)
            if call.ended_at is not None:
                self.completed += 1
                self.talk_total += call.talk_seconds or 0.0
        elif call.outcome == "abandoned":
            self.abandoned += 1
            self.short_abandoned += wait < config.short_abandon_seconds
        elif call.ended_at is not None:
            self.left += 1

    def row(self, start: str, queue: str, operator: str) -> ReportRow:
        outcomes = self.answered + self.abandoned - self.short_abandoned + self.left
        taken = self.answered if self.taken is None else self.taken
        if self.taken is not None:
            outcomes = self.taken
        return ReportRow(
            interval_start=start,
            queue=queue,
            operator=operator,
            offered=self.offered,
            answered=self.answered,
            answered_in_sl=self.answered_in_sl,
            abandoned=self.abandoned,
            short_abandoned=self.short_abandoned,
            left=self.left,
            service_level_pct=_pct(self.answered_in_sl, outcomes),
            abandon_rate_pct=_pct(self.abandoned - self.short_abandoned, outcomes),
            asa_seconds=_mean(self.hold_total, taken),
            aht_seconds=_mean(self.talk_total, self.completed),
            talk_seconds=round(self.talk_total, 3),
        )


def _pct(part: float, whole: float) -> float | None:
    return None if whole <= 0 else round(100.0 * part / whole, 2)


def _mean(total: float, count: int) -> float | None:
    return None if count <= 0 else round(total / count, 2)


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone=True columns; they were stored as UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def interval_start(moment: datetime, interval: str, config: MetricsConfig) -> datetime:
    """The start of the interval ``moment`` falls in, in the configured timezone."""
    local = _aware(moment).astimezone(ZoneInfo(config.timezone))
    if interval == "day":
        shifted = local - timedelta(hours=config.day_start_hour)
        day = shifted.replace(hour=0, minute=0, second=0, microsecond=0)
        return day + timedelta(hours=config.day_start_hour)
    step = int(INTERVALS[interval].total_seconds() // 60)
    minute = (local.hour * 60 + local.minute) // step * step
    return local.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)


async def queue_calls(
    sessions: async_sessionmaker[AsyncSession],
    start: datetime,
    end: datetime,
    queues: Sequence[str] = (),
) -> list[Call]:
    """Calls that went through a queue and started in ``[start, end)``."""
    query = (
        select(Call)
        .where(Call.started_at >= start, Call.started_at < end, Call.queue != "")
        .order_by(Call.started_at, Call.id)
    )
    if queues:
        query = query.where(Call.queue.in_(list(queues)))
    async with sessions() as db:
        return list((await db.execute(query)).scalars())


async def operator_legs(
    sessions: async_sessionmaker[AsyncSession], calls: Sequence[Call]
) -> dict[int, list[CallLeg]]:
    """The operator legs of these calls that were answered, by call row id, in order."""
    ids = [c.id for c in calls]
    legs: dict[int, list[CallLeg]] = {}
    async with sessions() as db:
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            query = (
                select(CallLeg)
                .where(
                    CallLeg.call_id.in_(chunk),
                    CallLeg.role == "operator",
                    CallLeg.answered_at.is_not(None),
                )
                .order_by(CallLeg.answered_at, CallLeg.id)
            )
            for leg in (await db.execute(query)).scalars():
                legs.setdefault(leg.call_id, []).append(leg)
    return legs


def build_report(
    calls: Iterable[Call],
    *,
    interval: str,
    group: str,
    config: MetricsConfig,
    legs: dict[int, list[CallLeg]] | None = None,
) -> list[ReportRow]:
    """Rows per (interval, queue) or per (interval, queue, operator), in time order.

    Operator rows come from ``legs`` (each answered operator leg of a call, see
    :func:`operator_legs`); a call without them (stored before legs had their talk) is
    credited whole to the operator who took it."""
    if interval not in INTERVALS:
        raise ReportError(f"unknown interval {interval!r} (one of {', '.join(INTERVALS)})")
    if group not in GROUPS:
        raise ReportError(f"unknown grouping {group!r} (queue or operator)")
    buckets: dict[tuple[str, str, str], _Acc] = {}
    for call in calls:
        start = interval_start(call.started_at, interval, config).isoformat()
        if group == "queue":
            buckets.setdefault((start, call.queue, ""), _Acc()).add(call, config)
            continue
        parts = (legs or {}).get(call.id, [])
        if parts:
            for n, leg in enumerate(parts):
                queue = leg.queue or call.queue
                took_call = n == 0  # the first to answer took the call (its wait, its SL)
                key = (start, queue, leg.channel)
                buckets.setdefault(key, _Acc()).add_leg(call, leg, took_call, config)
        elif call.operator_interface:
            key = (start, call.queue, call.operator_interface)
            buckets.setdefault(key, _Acc()).add(call, config)
        # nobody answered: no operator to report it under
    return [acc.row(*key) for key, acc in sorted(buckets.items())]


async def report(
    sessions: async_sessionmaker[AsyncSession],
    *,
    start: datetime,
    end: datetime,
    interval: str = "hour",
    group: str = "queue",
    queues: Sequence[str] = (),
    config: MetricsConfig | None = None,
) -> list[ReportRow]:
    """The report for a period (``start`` inclusive, ``end`` exclusive)."""
    if end <= start:
        raise ReportError("the period ends before it starts")
    calls = await queue_calls(sessions, start, end, queues)
    legs = await operator_legs(sessions, calls) if group == "operator" else None
    config = config or MetricsConfig()
    return build_report(calls, interval=interval, group=group, config=config, legs=legs)


def rows_to_csv(rows: Iterable[ReportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for row in rows:
        writer.writerow(["" if v is None else v for v in dataclasses.astuple(row)])
    return out.getvalue()


# --- rebuilding live figures from the history ---------------------------------------------------


def call_events(call: Call, legs: Sequence[CallLeg] = ()) -> list[ev.DomainEvent]:
    """The queue events one stored call stands for (to replay through LiveMetrics); with
    its answered operator legs, each operator's own answer and talk (a transferred call)."""
    common: dict[str, Any] = {"server": call.server, "call_id": call.linkedid}
    started = _aware(call.started_at).timestamp()
    events: list[ev.DomainEvent] = [
        ev.CallQueued(**common, at=started, queue=call.queue, position=1)
    ]
    ended = _aware(call.ended_at).timestamp() if call.ended_at else None
    if call.answered_at is not None and legs:
        events += _leg_events(call, legs, common, ended)
    elif call.answered_at is not None:
        member: dict[str, Any] = {"interface": call.operator_interface, "member_name": ""}
        answered = _aware(call.answered_at).timestamp()
        events.append(
            ev.CallAnswered(
                **common,
                **member,
                at=answered,
                queue=call.queue,
                hold_seconds=call.wait_seconds,
                ring_seconds=0.0,
            )
        )
        if ended is not None:
            events.append(
                ev.AgentCompleted(
                    **common,
                    **member,
                    at=ended,
                    queue=call.queue,
                    hold_seconds=call.wait_seconds,
                    talk_seconds=call.talk_seconds,
                    reason="caller",
                )
            )
    elif call.outcome == "abandoned":
        events.append(
            ev.CallAbandoned(
                **common,
                at=ended or started + call.wait_seconds,
                queue=call.queue,
                position=1,
                original_position=1,
                hold_seconds=call.wait_seconds,
            )
        )
    elif ended is not None:
        events.append(
            ev.CallLeftQueue(
                **common,
                at=ended,
                queue=call.queue,
                reason="history",
                hold_seconds=call.wait_seconds,
            )
        )
    return events


def _leg_events(
    call: Call, legs: Sequence[CallLeg], common: dict[str, Any], ended: float | None
) -> list[ev.DomainEvent]:
    """Each operator's answer and own talk (OperatorLeft), then the queue's completion."""
    events: list[ev.DomainEvent] = []
    for n, leg in enumerate(legs):
        assert leg.answered_at is not None  # operator_legs() gives answered legs only
        answered = _aware(leg.answered_at).timestamp()
        via = "queue" if n == 0 else (leg.via or "transfer")
        queue = (leg.queue or call.queue) if via == "queue" else leg.queue
        member: dict[str, Any] = {"interface": leg.channel, "member_name": ""}
        events.append(
            ev.CallAnswered(
                **common,
                **member,
                at=answered,
                queue=queue,
                hold_seconds=call.wait_seconds if n == 0 else 0.0,
                ring_seconds=0.0,
                operator_leg_id=leg.uniqueid,
                via=via,
            )
        )
        if leg.talk_seconds is not None:
            left = answered + leg.talk_seconds
            events.append(
                ev.OperatorLeft(
                    **common,
                    **member,
                    # never after the call's end: the completion must not count it again
                    at=min(left, ended) if ended is not None else left,
                    via=via,
                    queue=queue,
                    answered_at=answered,
                    talk_seconds=leg.talk_seconds,
                    operator_leg_id=leg.uniqueid,
                )
            )
    if ended is not None:
        first = legs[0]
        events.append(
            ev.AgentCompleted(
                **common,
                at=ended,
                queue=first.queue or call.queue,
                interface=first.channel,
                member_name="",
                hold_seconds=call.wait_seconds,
                talk_seconds=call.talk_seconds,
                reason="caller",
            )
        )
    return events


async def history_events(
    sessions: async_sessionmaker[AsyncSession], start: datetime, end: datetime
) -> list[ev.DomainEvent]:
    """Today's queue calls as domain events, in time order (for ``StatsConsumer.rebuild``):
    every operator of a transferred call with their own talk, as the live figures had it."""
    calls = await queue_calls(sessions, start, end)
    legs = await operator_legs(sessions, calls)
    events = [event for call in calls for event in call_events(call, legs.get(call.id, ()))]
    events.sort(key=lambda e: e.at)
    return events
