"""One operator's day for a supervisor: ``GET /wallboard/operators/{login}``.

Their state now (with the pause reason) and how long, today's talk / wrap-up / pause from the
live figures, a day strip of their talks and the current state, and the calls they took today
(from the history). A supervisor sees the operators of the queues they supervise (404 for
others, as for nobody); admins everyone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import or_, select

from contact_center.admin.services import choice_names
from contact_center.i18n import gettext as _
from contact_center.i18n import lazy_gettext
from contact_center.stats.http import (
    HUB_KEY,
    SUPERVISORS,
    reader_zone,
    reason_label,
    visible_queues,
    zone_named,
)
from contact_center.stats.metrics import MetricsConfig, business_day, day_start
from contact_center.store.models import Call, Customer, InteractionEvent, User
from contact_center.web.auth import require_role
from contact_center.web.keys import SESSIONS_KEY, SETTINGS_KEY

STATE_LABELS = {
    "available": lazy_gettext("Available"),
    "ringing": lazy_gettext("Ringing"),
    "on_call": lazy_gettext("On call"),
    "wrapup": lazy_gettext("Wrap-up"),
    "paused": lazy_gettext("Paused"),
    "offline": lazy_gettext("Offline"),
}
DAY_WIDTH = 960  # the day strip's SVG width: one unit per 90 s


def state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state.replace("_", " ")))


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the operator's day on the strip (SVG units) with what it was."""

    x: float
    width: float
    kind: str  # talk | a state
    label: str


def _strip_x(at: float, start: float) -> float:
    return round(max(0.0, min(86400.0, at - start)) / 86400.0 * DAY_WIDTH, 2)


def day_segments(
    start: float, now: float, talks: list[tuple[float, float, str]], state: dict[str, Any] | None
) -> list[Segment]:
    """The operator's talks today and their current state, placed on a day strip."""
    out = []
    if state and state.get("state") and state.get("since"):
        since = max(start, float(state["since"]))
        label = state_label(str(state["state"]))
        if state.get("reason"):
            label += f" ({reason_label(str(state['reason']))})"
        x = _strip_x(since, start)
        out.append(Segment(x, max(1.0, _strip_x(now, start) - x), str(state["state"]), label))
    for begin, seconds, label in talks:
        x = _strip_x(begin, start)
        out.append(Segment(x, max(1.0, _strip_x(begin + seconds, start) - x), "talk", label))
    return out


@require_role(*SUPERVISORS)
async def operator_page(request: web.Request) -> web.StreamResponse:
    """One operator's day: state now, talk / wrap-up / pause totals, the day strip, calls."""
    login = request.match_info["login"][:80]
    async with request.app[SESSIONS_KEY]() as db:
        person = await db.scalar(select(User).where(User.login == login))
    if person is None or not person.interface:
        raise web.HTTPNotFound(text=_("No such operator."))
    latest = await request.app[HUB_KEY].current() or {}
    figures = latest.get("operators", {}).get(person.interface)
    allowed = await visible_queues(request)
    theirs = set(person.queues or {}) | set(figures.get("queues", []) if figures else [])
    if allowed is not None and not theirs & allowed:
        raise web.HTTPNotFound(text=_("No such operator."))  # not one of yours: no leak
    config = MetricsConfig.from_settings(request.app[SETTINGS_KEY])
    zone_name = reader_zone(request, config)
    zone = zone_named(zone_name)
    now = time.time()
    start = day_start(business_day(now, config), config)
    since = datetime.fromtimestamp(start, UTC)
    interface = person.interface
    async with request.app[SESSIONS_KEY]() as db:
        left = (
            await db.scalars(
                select(InteractionEvent)
                .where(
                    InteractionEvent.kind == "call.operator_left",
                    InteractionEvent.at >= since,
                    InteractionEvent.data["interface"].as_string() == interface,
                )
                .order_by(InteractionEvent.at)
            )
        ).all()
        talked = {(r.server, r.call_linkedid): r for r in left}
        calls = (
            await db.scalars(
                select(Call)
                .where(
                    Call.started_at >= since,
                    or_(
                        Call.operator_interface == interface,
                        Call.linkedid.in_([c for _s, c in talked] or [""]),
                    ),
                )
                .order_by(Call.started_at.desc())
                .limit(200)
            )
        ).all()
        customer_ids = {c.customer_id for c in calls if c.customer_id}
        customers = (
            {
                c.id: c.name
                for c in await db.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
            }
            if customer_ids
            else {}
        )
    talks: list[tuple[float, float, str]] = []
    rows = []
    for call in calls:
        mine = talked.get((call.server, call.linkedid))
        seconds = float((mine.data or {}).get("talk_seconds") or 0) if mine else call.talk_seconds
        answered = (mine.data or {}).get("answered_at") if mine else None
        began = (
            float(answered)
            if answered
            else (
                call.answered_at.replace(tzinfo=call.answered_at.tzinfo or UTC).timestamp()
                if call.answered_at
                else None
            )
        )
        who = customers.get(call.customer_id or 0, "") or call.caller_number
        if began is not None and seconds > 0:
            talks.append((began, seconds, _("Talking with %(who)s", who=who)))
        rows.append(
            {
                "call": call,
                "started": call.started_at.replace(tzinfo=call.started_at.tzinfo or UTC),
                "customer": customers.get(call.customer_id or 0, ""),
                "talk": seconds,
            }
        )
    state = figures or {}
    hours = [
        {
            "x": round(h / 24 * DAY_WIDTH, 2),
            "label": datetime.fromtimestamp(start + h * 3600, zone).strftime("%H:%M"),
        }
        for h in range(0, 24, 2)
    ]
    return aiohttp_jinja2.render_template(
        "operator_day.html",
        request,
        {
            "title": person.display_name or person.login,
            "person": person,
            "figures": figures,
            "state_text": (
                state_label(str(state.get("state", "offline")))
                + (f" ({reason_label(str(state['reason']))})" if state.get("reason") else "")
            ),
            "in_state": max(0.0, now - float(state.get("since") or now)),
            "segments": day_segments(start, now, talks, figures),
            "hours": hours,
            "width": DAY_WIDTH,
            "rows": rows,
            "zone": zone,
            "zone_name": zone_name,
            "pause_reasons": [
                (code, reason_label(code))
                for code in await choice_names(request.app[SESSIONS_KEY], "pause_reason")
            ],
        },
    )
