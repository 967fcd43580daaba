"""Callback pages: operators see their callbacks and ask for new ones, supervisors see every
callback of their queues, reassign and cancel.

* ``GET /callbacks`` — the page (open callbacks; ``?all=1`` with finished ones)
* ``POST /callbacks`` — a new callback (number, optional customer, time, note)
* ``POST /callbacks/{id}/reassign`` — supervisors: to an operator (or to the queue)
* ``POST /callbacks/{id}/cancel`` — supervisors, or the operator it is assigned to
* ``GET /api/callbacks`` — the same list as JSON
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.callbacks import store
from contact_center.callbacks.schemas import (
    CallbackForm,
    CallbackList,
    CallbacksQuery,
    CallbackSummary,
)
from contact_center.i18n import LazyTexts, format_datetime, lazy_gettext
from contact_center.i18n import gettext as _
from contact_center.store.db import utcnow
from contact_center.store.models import Callback
from contact_center.web.auth import CurrentUser, Role, current_user, require_role
from contact_center.web.forms import documented, errors_text, form_fields, read_query
from contact_center.web.keys import SESSIONS_KEY, SETTINGS_KEY, add_template_dir

HERE = Path(__file__).parent
STATUS_WORDS: LazyTexts[str] = LazyTexts(
    {
        "pending": lazy_gettext("waiting"),
        "dialing": lazy_gettext("calling now"),
        "reached": lazy_gettext("reached"),
        "failed": lazy_gettext("given up"),
        "cancelled": lazy_gettext("cancelled"),
    }
)
# How the last attempt ended (policy.OUTCOME_WORDS says it in the log, in English).
LAST_OUTCOME: LazyTexts[str] = LazyTexts(
    {
        "answered": lazy_gettext("reached"),
        "no_answer": lazy_gettext("no answer"),
        "busy": lazy_gettext("busy"),
        "failed": lazy_gettext("could not be reached"),
        "operator_no_answer": lazy_gettext("the operator did not answer"),
    }
)


def _zone(request: web.Request) -> Any:
    try:
        return ZoneInfo(request.app[SETTINGS_KEY].general.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


async def _scope(db: AsyncSession, user: CurrentUser) -> tuple[set[str] | None, str]:
    return await store.scope(db, role=user.role, user_id=user.id, login=user.login)


async def _visible(db: AsyncSession, user: CurrentUser, callback_id: int) -> Callback:
    queues, login = await _scope(db, user)
    row = await store.visible(db, callback_id, queues=queues, login=login)
    if row is None:
        raise web.HTTPNotFound(text=_("no such callback"))
    return row


def _when(moment: datetime | None, zone: Any) -> str:
    if moment is None:
        return ""
    # "7 Dec 10:30" / "7 дек. 10:30": the day and month in the reader's language
    return format_datetime(store.aware(moment), zone, "d MMM HH:mm")


async def _page_context(request: web.Request, error: str = "") -> dict[str, Any]:
    user = current_user(request)
    zone = _zone(request)
    now = utcnow()
    show_all = read_query(request, CallbacksQuery).all == "1"
    async with request.app[SESSIONS_KEY]() as db:
        queues, login = await _scope(db, user)
        listed = await store.listing(db, now, queues=queues, login=login, open_only=not show_all)
        seen = await store.people(db, queues)
    people = seen.names
    rows = [
        {
            "id": item.row.id,
            "customer": item.customer_name,
            "customer_id": item.row.customer_id,
            "number": item.row.number,
            "queue": item.row.queue,
            "note": item.row.note,
            "status": item.row.status,
            "status_words": STATUS_WORDS.get(item.row.status, item.row.status),
            "due": _when(item.row.due_at, zone) or _("as soon as possible"),
            "requested": _when(item.row.requested_at, zone),
            "requested_by": people.get(item.row.requested_by, item.row.requested_by)
            or _("caller (IVR)"),
            "assigned": people.get(item.row.assigned_login, item.row.assigned_login),
            "assigned_login": item.row.assigned_login,
            "attempts": item.row.attempts,
            "last": LAST_OUTCOME.get(item.row.last_outcome, item.row.last_outcome),
            "overdue": item.overdue,
        }
        for item in listed
    ]
    return {
        "title": _("My callbacks") if user.role == Role.OPERATOR else _("Callbacks"),
        "rows": rows,
        "pending": sum(1 for r in rows if r["status"] == "pending"),
        "overdue": sum(1 for r in rows if r["overdue"]),
        "operators": seen.operators,
        "queues": seen.queues,
        "supervising": user.role in (Role.SUPERVISOR, Role.ADMIN),
        "show_all": show_all,
        "zone": request.app[SETTINGS_KEY].general.timezone or "UTC",
        "error": error,
    }


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def callbacks_page(request: web.Request) -> web.StreamResponse:
    return aiohttp_jinja2.render_template("callbacks.html", request, await _page_context(request))


@documented(
    "GET",
    "/api/callbacks",
    operation_id="listCallbacks",
    tag="callbacks",
    summary="Open callbacks (operators, their own and their queues' unassigned ones; "
    "supervisors, their queues)",
    query=CallbacksQuery,
    answer=CallbackList,
    answer_description="The callbacks, due first.",
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def callbacks_api(request: web.Request) -> web.Response:
    context = await _page_context(request)
    return web.json_response({"items": context["rows"]})


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def create_callback(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    settings = request.app[SETTINGS_KEY]
    now = utcnow()
    error = ""
    try:
        form = CallbackForm.model_validate(
            await form_fields(request),
            context={"region": settings.general.default_region, "zone": _zone(request), "now": now},
        )
        async with request.app[SESSIONS_KEY].begin() as db:
            queues, _login = await _scope(db, user)
            await store.request_callback(
                db,
                form,
                queues=queues,
                requested_by=user.login,
                may_take=user.role == Role.OPERATOR,
                now=now,
            )
    except ValidationError as exc:
        error = errors_text(exc)
    except store.CallbackError as exc:
        error = str(exc)
    if error:
        context = await _page_context(request, error)
        return aiohttp_jinja2.render_template("callbacks.html", request, context, status=400)
    raise web.HTTPSeeOther("/callbacks")


def _callback_id(request: web.Request) -> int:
    raw = request.match_info["callback_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise web.HTTPNotFound(text=_("no such callback"))
    return int(raw)


@require_role(Role.SUPERVISOR)
async def reassign_callback(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    form = await request.post()
    login = str(form.get("login", "")).strip()[:80]
    async with request.app[SESSIONS_KEY].begin() as db:
        row = await _visible(db, user, _callback_id(request))
        if login:
            if not await store.is_active_operator(db, login):
                raise web.HTTPBadRequest(text=_("%(login)s is not an active operator", login=login))
        try:
            await store.reassign(db, row.id, login)
        except store.CallbackError as exc:
            raise web.HTTPConflict(text=str(exc)) from None
    raise web.HTTPSeeOther("/callbacks")


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def cancel_callback(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    async with request.app[SESSIONS_KEY].begin() as db:
        row = await _visible(db, user, _callback_id(request))
        if user.role == Role.OPERATOR and row.assigned_login != user.login:
            raise web.HTTPForbidden(
                text=_("only the operator it is assigned to or a supervisor may cancel it")
            )
        try:
            await store.cancel(db, row.id)
        except store.CallbackError as exc:
            raise web.HTTPConflict(text=str(exc)) from None
    raise web.HTTPSeeOther("/callbacks")


@documented(
    "GET",
    "/api/callbacks/summary",
    operation_id="callbacksSummary",
    tag="callbacks",
    summary="Waiting, being dialled and overdue callbacks of the supervisor's queues, in all "
    "and per queue",
    answer=CallbackSummary,
    answer_description="The counts.",
)
@require_role(Role.SUPERVISOR)
async def summary_api(request: web.Request) -> web.Response:
    """Waiting and overdue callbacks of the supervisor's queues (the wallboard's tile)."""
    async with request.app[SESSIONS_KEY]() as db:
        queues, _login = await _scope(db, current_user(request))
        return web.json_response(await store.summary(db, utcnow(), queues=queues))


def setup(app: web.Application) -> None:
    add_template_dir(app, HERE / "templates")
    app.router.add_get("/callbacks", callbacks_page, name="callbacks")
    app.router.add_post("/callbacks", create_callback)
    app.router.add_post(r"/callbacks/{callback_id}/reassign", reassign_callback)
    app.router.add_post(r"/callbacks/{callback_id}/cancel", cancel_callback)
    app.router.add_get("/api/callbacks", callbacks_api, name="callbacks_api")
    app.router.add_get("/api/callbacks/summary", summary_api, name="callbacks_summary")
