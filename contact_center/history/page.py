"""The customer page's timeline: one page of rows, grouped by call, each row a sentence.

Rows come from :func:`~contact_center.history.views.customer_timeline` (already filtered and
scoped); this module adds what a person needs to read them: each call's headline (who called,
how long they waited, who talked how long), people's names, the callback's next try, and the
call's recordings the reader may play.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.history.sentences import Clock, Names, Talk, call_headline, sentence
from contact_center.history.views import TimelineItem
from contact_center.recording.access import Principal, RecordingScope, can_access
from contact_center.store import models

PLAYABLE = ("done", "stopped", "failed")  # as the QA player: "empty" has nothing to play


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Line:
    id: int
    kind: str
    at: datetime
    text: str
    recording_id: int | None = None


@dataclass(slots=True)
class Group:
    """Consecutive rows of one call (or one row outside any call)."""

    server: str
    call: str
    headline: str = ""
    started_at: datetime | None = None
    ivr_digits: str = ""
    queue: str = ""
    outcome: str = ""
    lines: list[Line] = field(default_factory=list)
    recordings: list[dict[str, Any]] = field(default_factory=list)


async def load_names(db: AsyncSession) -> Names:
    """Every user's display name by phone and by login (a few hundred rows at most)."""
    rows = (
        await db.execute(
            select(models.User.login, models.User.display_name, models.User.interface).order_by(
                models.User.active, models.User.id
            )
        )
    ).all()
    by_interface: dict[str, str] = {}
    by_login: dict[str, str] = {}
    for login, name, interface in rows:  # active users last: they win a shared phone
        by_login[login] = name or login
        if interface:
            by_interface[interface] = name or login
    return Names(by_interface=by_interface, by_login=by_login)


async def _calls(db: AsyncSession, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    if not keys:
        return {}
    call = models.Call
    rows = await db.scalars(
        select(call).where(or_(*(and_(call.server == s, call.linkedid == c) for s, c in keys)))
    )
    return {(r.server, r.linkedid): r for r in rows}


async def _talks(
    db: AsyncSession, keys: set[tuple[str, str]], names: Names
) -> dict[tuple[str, str], list[Talk]]:
    """Each call's operators and their own talk, in the order they talked."""
    if not keys:
        return {}
    event = models.InteractionEvent
    rows = await db.scalars(
        select(event)
        .where(
            event.kind == "call.operator_left",
            or_(*(and_(event.server == s, event.call_linkedid == c) for s, c in keys)),
        )
        .order_by(event.at, event.id)
    )
    out: dict[tuple[str, str], list[Talk]] = {}
    for row in rows:
        data = row.data or {}
        who = names.operator(str(data.get("interface", "")), str(data.get("member_name", "")))
        try:
            seconds = float(data.get("talk_seconds") or 0)
        except (TypeError, ValueError):
            seconds = 0.0
        out.setdefault((row.server, row.call_linkedid), []).append(Talk(who, seconds))
    return out


async def _recordings(
    db: AsyncSession, keys: set[tuple[str, str]], principal: Principal
) -> dict[tuple[str, str], list[models.Recording]]:
    if not keys:
        return {}
    rec = models.Recording
    rows = await db.scalars(
        select(rec)
        .where(or_(*(and_(rec.server == s, rec.call_linkedid == c) for s, c in keys)))
        .order_by(rec.started_at, rec.id)
    )
    out: dict[tuple[str, str], list[models.Recording]] = {}
    for row in rows:
        scope = RecordingScope(queue=row.queue, operator_interface=row.operator_interface)
        if row.status in PLAYABLE and can_access(principal, scope):
            out.setdefault((row.server, row.call_linkedid), []).append(row)
    return out


async def _callback_next(db: AsyncSession, items: Iterable[TimelineItem]) -> dict[int, datetime]:
    """For each callback attempt row: when the next try was set for (from the callback's log)."""
    wanted = {
        int(i.data["callback_id"]): i
        for i in items
        if i.kind == "callback.attempt" and str(i.data.get("callback_id", "")).isdigit()
    }
    attempts = [i for i in items if i.kind == "callback.attempt"]
    if not wanted:
        return {}
    rows = await db.scalars(select(models.Callback).where(models.Callback.id.in_(list(wanted))))
    logs = {row.id: (row.log or {}).get("attempts", []) for row in rows}
    out: dict[int, datetime] = {}
    for item in attempts:
        for entry in logs.get(int(item.data.get("callback_id", 0) or 0), []):
            if entry.get("call") == item.call and entry.get("next"):
                try:
                    out[item.id] = _aware(datetime.fromisoformat(entry["next"]))
                except (TypeError, ValueError):
                    pass
    return out


def _group_rows(items: Sequence[TimelineItem]) -> list[list[TimelineItem]]:
    groups: list[list[TimelineItem]] = []
    for item in items:
        if (
            groups
            and item.call
            and (groups[-1][0].server, groups[-1][0].call)
            == (
                item.server,
                item.call,
            )
        ):
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


async def timeline_groups(
    db: AsyncSession,
    items: Sequence[TimelineItem],
    *,
    principal: Principal,
    clock: Clock,
    waveform: Any = None,
) -> list[Group]:
    """The page's rows (newest first) as groups, newest first, each group's rows in the
    order they happened. ``waveform(recording)`` draws a recording's player (the QA
    player's); without it no player is offered."""
    names = await load_names(db)
    keys = {(i.server, i.call) for i in items if i.call}
    calls = await _calls(db, keys)
    talks = await _talks(db, keys, names)
    recordings = await _recordings(db, keys, principal) if waveform is not None else {}
    next_tries = await _callback_next(db, items)
    groups: list[Group] = []
    players_shown: set[tuple[str, str]] = set()
    for rows in _group_rows(items):
        first = rows[0]
        key = (first.server, first.call)
        group = Group(server=first.server, call=first.call)
        call = calls.get(key) if first.call else None
        if call is not None:
            operator = names.operator(call.operator_interface) if call.operator_interface else ""
            group.headline = call_headline(
                direction=call.direction,
                caller_number=call.caller_number,
                did=call.did,
                outcome=call.outcome,
                wait_seconds=call.wait_seconds or 0.0,
                talk_seconds=call.talk_seconds or 0.0,
                answered=call.answered_at is not None,
                talks=talks.get(key, []),
                operator=operator,
            )
            group.started_at = _aware(call.started_at)
            group.ivr_digits = str((call.ivr_path or {}).get("digits") or "")
            group.queue = call.queue
            group.outcome = call.outcome
        for item in reversed(rows):
            group.lines.append(
                Line(
                    id=item.id,
                    kind=item.kind,
                    at=item.at,
                    text=sentence(
                        item.kind,
                        item.data,
                        actor=item.actor,
                        summary=item.summary,
                        names=names,
                        clock=clock,
                        callback_next=next_tries.get(item.id),
                        at=item.at,
                    ),
                    recording_id=_int_or_none(item.data.get("recording_id")),
                )
            )
        if first.call and key not in players_shown and key in recordings:
            players_shown.add(key)
            group.recordings = [
                {"id": r.id, "duration": r.duration_seconds, "waveform": waveform(r)}
                for r in recordings[key]
            ]
        groups.append(group)
    return groups


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
