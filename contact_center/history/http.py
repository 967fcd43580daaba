"""History pages and REST API: customer timeline, call detail, CSV export.

Routes (JSON under /api, pages for browsers):

* ``GET /api/customers/{id}/timeline?limit=&cursor=&kind=&since=&until=&call=&q=``
* ``GET /api/calls/{server}/{linkedid}`` — legs, timeline, recordings, charge
* ``GET /api/history/export.csv?since=&until=&customer=&kind=`` — streamed, ``X-Total-Rows``
* ``GET /customers/{id}?topic=&since=&until=&q=&cursor=`` — the customer page: the timeline
  in plain language, grouped by call, with filters by topic (IVR, calls, notes, dispositions,
  QA scores, callbacks, costs, recordings) and period, paged, recordings with the player
  (``/customers/{id}/history`` answers with a redirect to it)
* ``GET /calls/{server}/{linkedid}`` — one call as a page

Scoped like recordings (:mod:`contact_center.history.access`): operators see the calls they
answered and those calls' customers; supervisors and QA the calls of their queues and those
calls' customers; admins everything. A customer's timeline shows the rows of calls in scope.
A customer out of scope answers 404 like a missing one; a call out of scope 403. Export is
for supervisors (their queues' rows) and admins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiMapping

from contact_center.calls.events import EVENT_TYPES, OperatorFound, OperatorState
from contact_center.history.access import (
    Principal,
    call_visible,
    customer_visible,
    events_clause,
    load_principal,
)
from contact_center.history.buffer import HistoryError
from contact_center.history.page import load_names, timeline_groups
from contact_center.history.schemas import ExportQuery, TimelineQuery
from contact_center.history.sentences import Clock, Talk, call_headline, phone, sentence
from contact_center.history.views import (
    TOPICS,
    CallDetail,
    TimelineFilter,
    call_detail,
    csv_chunks,
    customer_timeline,
)
from contact_center.i18n import format_datetime, lazy_gettext
from contact_center.i18n import gettext as _
from contact_center.store import models
from contact_center.web.auth import Role, current_user, require_role
from contact_center.web.forms import SERVER, documented, read_query
from contact_center.web.keys import SESSIONS_KEY, SETTINGS_KEY, add_template_dir

HERE = Path(__file__).parent
VIEWERS = (Role.OPERATOR, Role.SUPERVISOR, Role.QA)
# "call.charged" is an event kind now, and billing's timeline rows have it anyway: a set
# keeps it (and any other) in the filter once.
KINDS = sorted(
    {*(k for k in EVENT_TYPES if k not in (OperatorState.kind, OperatorFound.kind)), "call.charged"}
)
TOPIC_LABELS = {
    "ivr": lazy_gettext("IVR path and digits"),
    "calls": lazy_gettext("Calls and who talked"),
    "notes": lazy_gettext("Notes"),
    "dispositions": lazy_gettext("Dispositions"),
    "qa": lazy_gettext("QA scores"),
    "callbacks": lazy_gettext("Callbacks"),
    "costs": lazy_gettext("Costs"),
    "recordings": lazy_gettext("Recordings"),
}
PAGE_SIZE = 50


def reader_zone(request: web.Request) -> str:
    """The time zone times are shown in: the user's own when they have one, else the
    call center's."""
    user = current_user(request)
    chosen = str(getattr(user, "timezone", "") or "")
    return chosen or request.app[SETTINGS_KEY].general.timezone or "UTC"


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _topics(query: MultiMapping[str]) -> tuple[str, ...]:
    topics = tuple(dict.fromkeys(t for t in query.getall("topic", []) if t))
    for topic in topics:
        if topic not in TOPICS:
            raise web.HTTPBadRequest(text=_("topic: one of %(topics)s", topics=", ".join(TOPICS)))
    return topics


def _day(value: str, name: str, zone: tzinfo, *, end: bool = False) -> datetime | None:
    """A picked day in the reader's zone: its start, or (``end``) the start of the next."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise web.HTTPBadRequest(
            text=_("%(field)s: expected a date (YYYY-MM-DD)", field=name)
        ) from None
    start = day.replace(tzinfo=zone)
    return start + timedelta(days=1) if end else start


def _page_filters(query: MultiMapping[str], zone: tzinfo) -> TimelineFilter:
    """The page's filters: days picked in the reader's zone, "until" the whole day."""
    return TimelineFilter(
        kinds=tuple(k for k in query.getall("kind", []) if k),
        topics=_topics(query),
        since=_day(query.get("since", ""), "since", zone),
        until=_day(query.get("until", ""), "until", zone, end=True),
        call=query.get("call", "")[:64],
        text=query.get("q", "")[:200],
    )


MAX_INT = 2**63 - 1  # the database's BIGINT: a larger number would fail the query (500)


def _int(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: expected a number") from None
    if abs(number) > MAX_INT:
        raise web.HTTPBadRequest(text=f"{name}: out of range")
    return number


async def _principal(request: web.Request) -> Principal:
    user = current_user(request)
    async with request.app[SESSIONS_KEY]() as session:
        return await load_principal(
            session, user_id=user.id, login=user.login, role=user.role, interface=user.interface
        )


async def _customer(request: web.Request, principal: Principal) -> models.Customer:
    """The customer of the URL if the reader may see them; 404 otherwise (no existence leak)."""
    customer_id = _int(request.match_info["customer_id"], "customer id")
    async with request.app[SESSIONS_KEY]() as session:
        customer = await session.get(models.Customer, customer_id)
        if customer is None or not await customer_visible(session, principal, customer_id):
            raise web.HTTPNotFound(text=_("No such customer."))
    return customer


async def _timeline(
    request: web.Request,
    customer_id: int,
    principal: Principal,
    filters: TimelineFilter,
    limit: int,
) -> Any:
    try:
        return await customer_timeline(
            request.app[SESSIONS_KEY],
            customer_id,
            limit=limit,
            cursor=request.query.get("cursor") or None,
            filters=filters,
            visible=events_clause(principal),
        )
    except HistoryError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


async def _visible_call(request: web.Request) -> CallDetail:
    detail = await call_detail(
        request.app[SESSIONS_KEY], request.match_info["server"], request.match_info["linkedid"]
    )
    if detail is None:
        raise web.HTTPNotFound(text=_("No such call."))
    principal = await _principal(request)
    if not call_visible(principal, detail.call["queue"], detail.call["operator"]):
        raise web.HTTPForbidden(text=_("This call is not one of yours or of your queues."))
    return detail


# --- REST -------------------------------------------------------------------------------------


@documented(
    "GET",
    "/api/customers/{customer_id}/timeline",
    operation_id="customerTimeline",
    tag="history",
    summary="A customer's interaction history, newest first (operator, supervisor, qa)",
    parameters=(
        {
            "name": "customer_id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        },
    ),
    query=TimelineQuery,
    answer_schema={"$ref": "#/components/schemas/TimelinePage"},
    answer_description="One page.",
    errors=(404,),
)
@require_role(*VIEWERS)
async def api_timeline(request: web.Request) -> web.Response:
    principal = await _principal(request)
    customer = await _customer(request, principal)
    query = read_query(request, TimelineQuery)
    page = await _timeline(request, customer.id, principal, query.to_filter(), query.limit)
    return web.json_response(page.to_dict())


@documented(
    "GET",
    "/api/calls/{server}/{linkedid}",
    operation_id="callDetail",
    tag="history",
    summary="A call with its legs, timeline, recordings and charge",
    description="Operators see only the calls they answered.",
    parameters=(
        SERVER,
        {"name": "linkedid", "in": "path", "required": True, "schema": {"type": "string"}},
    ),
    answer_schema={"$ref": "#/components/schemas/CallDetail"},
    answer_description="The call.",
    errors=(404,),
)
@require_role(*VIEWERS)
async def api_call(request: web.Request) -> web.Response:
    return web.json_response((await _visible_call(request)).to_dict())


@documented(
    "GET",
    "/api/history/export.csv",
    operation_id="historyExport",
    tag="history",
    summary="Interaction history as CSV, streamed (supervisor)",
    query=ExportQuery,
    extra_responses={
        200: {
            "description": "CSV with a header line.",
            "headers": {"X-Total-Rows": {"$ref": "#/components/headers/TotalRows"}},
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
@require_role(Role.SUPERVISOR)
async def api_export(request: web.Request) -> web.StreamResponse:
    query = read_query(request, ExportQuery)
    chunks = csv_chunks(
        request.app[SESSIONS_KEY],
        customer_id=query.customer,
        filters=query.to_filter(),
        visible=events_clause(await _principal(request)),
    )
    header, _, total = await anext(chunks)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="history.csv"',
            # The total lets a client show progress while the rows stream in.
            "X-Total-Rows": str(total),
        }
    )
    await response.prepare(request)
    await response.write(header.encode())
    async for text, _, _ in chunks:
        await response.write(text.encode())
    await response.write_eof()
    return response


# --- pages ------------------------------------------------------------------------------------


@require_role(*VIEWERS)
async def history_redirect(request: web.Request) -> web.Response:
    """The old address of the timeline page: the customer page now (for a customer the
    reader may see; 404 otherwise, as the page itself answers)."""
    customer_id = (await _customer(request, await _principal(request))).id
    query = f"?{request.query_string}" if request.query_string else ""
    raise web.HTTPMovedPermanently(f"/customers/{customer_id}{query}")


@require_role(*VIEWERS)
@aiohttp_jinja2.template("customer_page.html")
async def customer_page(request: web.Request) -> dict[str, Any]:
    principal = await _principal(request)
    customer = await _customer(request, principal)
    zone_name = reader_zone(request)
    zone = _zone(zone_name)
    filters = _page_filters(request.query, zone)
    page = await _timeline(request, customer.id, principal, filters, PAGE_SIZE)
    # The QA player's drawing and audio, when this app serves the recordings.
    from contact_center.recording.http import waveform

    player = waveform if "qa.audio" in request.app.router.named_resources() else None
    async with request.app[SESSIONS_KEY]() as db:
        groups = await timeline_groups(
            db, page.items, principal=principal, clock=Clock(zone), waveform=player
        )
    next_url = newest_url = None
    kept = [(k, v) for k, v in request.query.items() if k != "cursor"]
    if page.next_cursor:
        next_url = f"{request.path}?{urlencode([*kept, ('cursor', page.next_cursor)])}"
    if request.query.get("cursor"):
        newest_url = f"{request.path}?{urlencode(kept)}" if kept else request.path
    return {
        "title": customer.name,
        "customer": customer,
        "phones": [(phone(p.e164), p.label) for p in customer.phones],
        "groups": groups,
        "filters": filters,
        "topics": [(t, str(TOPIC_LABELS[t])) for t in TOPICS],
        "since": request.query.get("since", ""),
        "until": request.query.get("until", ""),
        "next_url": next_url,
        "newest_url": newest_url,
        "zone": zone_name,
        "tz": zone,
        "filtered": bool(
            filters.topics or filters.kinds or filters.since or filters.until or filters.text
        ),
        "vip": customer.segment.upper() == "VIP",
    }


@require_role(*VIEWERS)
@aiohttp_jinja2.template("history_call.html")
async def call_page(request: web.Request) -> dict[str, Any]:
    detail = await _visible_call(request)
    zone_name = reader_zone(request)
    zone = _zone(zone_name)
    clock = Clock(zone)
    async with request.app[SESSIONS_KEY]() as db:
        names = await load_names(db)
    c = detail.call
    talks = [
        Talk(
            names.operator(str(i.data.get("interface", "")), str(i.data.get("member_name", ""))),
            float(i.data.get("talk_seconds") or 0),
        )
        for i in detail.timeline
        if i.kind == "call.operator_left"
    ]
    operator = names.operator(c["operator"]) if c["operator"] else ""
    headline = call_headline(
        direction=c["direction"],
        caller_number=c["caller_number"],
        did=c["did"],
        outcome=c["outcome"],
        wait_seconds=c["wait_seconds"] or 0.0,
        talk_seconds=c["talk_seconds"] or 0.0,
        answered=c["answered_at"] is not None,
        talks=talks,
        operator=operator,
    )
    lines = [
        (
            i,
            sentence(
                i.kind, i.data, actor=i.actor, summary=i.summary, names=names, clock=clock, at=i.at
            ),
        )
        for i in detail.timeline
    ]

    def moment(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return {
        "title": _("Call of %(when)s", when=format_datetime(moment(c["started_at"]), zone)),
        "detail": detail,
        "headline": headline,
        "operator": operator,
        "caller": phone(c["caller_number"]),
        "started": moment(c["started_at"]),
        "answered": moment(c["answered_at"]),
        "ended": moment(c["ended_at"]),
        "lines": lines,
        "legs": [
            {**leg, "started": moment(leg["started_at"]), "ended": moment(leg["ended_at"])}
            for leg in detail.legs
        ],
        "tz": zone,
        "zone": zone_name,
    }


def setup(app: web.Application) -> None:
    add_template_dir(app, HERE / "templates")
    app.router.add_get("/api/customers/{customer_id}/timeline", api_timeline)
    app.router.add_get("/api/calls/{server}/{linkedid}", api_call)
    app.router.add_get("/api/history/export.csv", api_export)
    app.router.add_static("/static/history", HERE / "static", name="history_static")
    app.router.add_get(r"/customers/{customer_id:\d{1,18}}", customer_page, name="customer_page")
    app.router.add_get(
        r"/customers/{customer_id:\d{1,18}}/history", history_redirect, name="customer_history"
    )
    app.router.add_get("/calls/{server}/{linkedid}", call_page, name="call_detail")
