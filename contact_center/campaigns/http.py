"""Campaign pages and API.

Supervisors (and admins):

* ``GET /campaigns`` — the campaigns with live figures, and a new campaign's form
* ``POST /campaigns`` — create one (paused; add numbers, then start it)
* ``GET /campaigns/{id}`` — live figures, the report, settings (mode, pacing, windows,
  retries, end), the list (add from a customer search or a CSV), start / pause
* ``POST /campaigns/{id}`` — change its settings
* ``POST /campaigns/{id}/status`` — ``status=running|paused``
* ``POST /campaigns/{id}/contacts`` — add numbers: a CSV file or a saved search
* ``GET|POST /campaigns/dnc``, ``POST /campaigns/dnc/remove`` — the do-not-call list

Operators:

* ``GET /campaigns/mine`` — the campaigns they call for, each with its script; in a preview
  campaign the next customer's card and a call button; the conversations waiting for their
  disposition
* ``POST /campaigns/{id}/preview/{contact_id}`` — call this customer (the dialer rings the
  operator's phone first, the card pops)
* ``POST /campaigns/contacts/{contact_id}/disposition`` — done, sale, recall at a time…

JSON: ``GET /api/campaigns``, ``GET /api/campaigns/{id}`` (figures and report),
``POST /api/campaigns`` (create), ``POST /api/campaigns/{id}/status``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.campaigns import reports, store
from contact_center.campaigns.dialer import PREVIEW_REQUESTED
from contact_center.campaigns.pacing import MODES
from contact_center.campaigns.policy import DISPOSITIONS, OUTCOME_WORDS, may_call, zone_names
from contact_center.campaigns.schemas import CampaignIn, CampaignList, CampaignOut, CampaignStatusIn
from contact_center.i18n import gettext as _
from contact_center.store.db import utcnow
from contact_center.store.models import Campaign, CampaignContact, DoNotCall, Queue, User
from contact_center.web.auth import Role, current_user, require_role
from contact_center.web.forms import documented, read_json
from contact_center.web.keys import SESSIONS_KEY, SETTINGS_KEY, add_template_dir

HERE = Path(__file__).parent
MAX_BODY = 6 * 1024 * 1024


def _zone(request: web.Request) -> Any:
    try:
        return ZoneInfo(request.app[SETTINGS_KEY].general.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _region(request: web.Request) -> str:
    return str(request.app[SETTINGS_KEY].general.default_region)


def _id(request: web.Request, name: str = "campaign_id") -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise web.HTTPNotFound(text="no such campaign")
    return int(raw)


async def _campaign(db: AsyncSession, campaign_id: int) -> Campaign:
    row = await db.get(Campaign, campaign_id)
    if row is None:
        raise web.HTTPNotFound(text="no such campaign")
    return row


def _mode_words() -> dict[str, str]:
    return {
        "preview": _("preview"),
        "progressive": _("progressive"),
        "predictive": _("predictive"),
    }


def _status_words() -> dict[str, str]:
    return {"running": _("running"), "paused": _("paused"), "finished": _("finished")}


def _contact_status_words() -> dict[str, str]:
    return {
        "pending": _("waiting"),
        "dialing": _("calling now"),
        "done": _("done"),
        "failed": _("given up"),
        "dnc": _("do not call"),
    }


def _summary(row: Campaign, figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "mode": row.mode,
        "finished_reason": row.finished_reason,
        "queues": (row.queues or {}).get("names", []),
        "operators": (row.operators or {}).get("logins", []),
        "figures": figures,
    }


async def _listing(db: AsyncSession) -> list[dict[str, Any]]:
    rows = (await db.scalars(select(Campaign).order_by(Campaign.name))).all()
    return [_summary(r, await reports.figures(db, r)) for r in rows]


async def _choices(db: AsyncSession) -> dict[str, Any]:
    queues = sorted((await db.scalars(select(Queue.name))).all())
    operators = [
        (u.login, u.display_name or u.login)
        for u in (
            await db.scalars(
                select(User).where(User.role == Role.OPERATOR, User.active).order_by(User.login)
            )
        ).all()
    ]
    return {"all_queues": queues, "all_operators": operators, "modes": MODES}


def _form_values(row: Campaign | None) -> dict[str, Any]:
    if row is None:
        return {
            "name": "",
            "mode": "progressive",
            "script": "",
            "queues": [],
            "operators": [],
            "window_start": "09:00",
            "window_end": "20:00",
            "window_days": "12345",
            "default_tz": "",
            "max_attempts": 3,
            "retry_no_answer_minutes": 60,
            "retry_busy_minutes": 15,
            "retry_machine_minutes": 240,
            "dial_timeout": 25,
            "abandon_cap_percent": 3,
            "ends_at": "",
        }
    return {
        "name": row.name,
        "mode": row.mode,
        "script": row.script,
        "queues": (row.queues or {}).get("names", []),
        "operators": (row.operators or {}).get("logins", []),
        "window_start": row.window_start,
        "window_end": row.window_end,
        "window_days": row.window_days,
        "default_tz": row.default_tz,
        "max_attempts": row.max_attempts,
        "retry_no_answer_minutes": row.retry_no_answer_minutes,
        "retry_busy_minutes": row.retry_busy_minutes,
        "retry_machine_minutes": row.retry_machine_minutes,
        "dial_timeout": row.dial_timeout,
        "abandon_cap_percent": round(row.abandon_cap * 100, 2),
        "ends_at": store.aware(row.ends_at).strftime("%Y-%m-%dT%H:%M") if row.ends_at else "",
    }


async def _form_data(request: web.Request) -> dict[str, Any]:
    form = await request.post()
    data: dict[str, Any] = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    data["queues"] = [str(v) for v in form.getall("queues", []) if isinstance(v, str)]
    data["operators"] = [str(v) for v in form.getall("operators", []) if isinstance(v, str)]
    if "window_days" not in data:
        data["window_days"] = "".join(
            str(v) for v in form.getall("day", []) if isinstance(v, str) and v in "1234567"
        )
    return data


# --- supervisors ------------------------------------------------------------------------------


@require_role(Role.SUPERVISOR)
async def campaigns_page(request: web.Request) -> web.StreamResponse:
    return await _render_list(request)


async def _render_list(
    request: web.Request, error: str = "", values: dict[str, Any] | None = None
) -> web.StreamResponse:
    async with request.app[SESSIONS_KEY]() as db:
        context = {
            "title": _("Campaigns"),
            "campaigns": await _listing(db),
            "values": values or _form_values(None),
            "error": error,
            "mode_words": _mode_words(),
            "status_words": _status_words(),
            **await _choices(db),
        }
    return aiohttp_jinja2.render_template(
        "campaigns.html", request, context, status=400 if error else 200
    )


@require_role(Role.SUPERVISOR)
async def create_campaign(request: web.Request) -> web.StreamResponse:
    data = await _form_data(request)
    try:
        async with request.app[SESSIONS_KEY].begin() as db:
            row = await store.create(db, data, actor=current_user(request).login, now=utcnow())
            campaign_id = row.id
    except (store.CampaignError, ValueError) as exc:
        return await _render_list(request, str(exc), {**_form_values(None), **data})
    raise web.HTTPSeeOther(f"/campaigns/{campaign_id}?done=created")


def _done_words(key: str) -> str:
    words = {
        "created": _("Campaign created. Add numbers, then start it."),
        "saved": _("Settings saved."),
        "running": _("Campaign started: the dialer calls within its calling hours."),
        "paused": _("Campaign paused: no new calls; calls under way go on."),
    }
    return words.get(key, "")


async def _render_campaign(
    request: web.Request,
    campaign_id: int,
    *,
    error: str = "",
    notice: str = "",
    values: dict[str, Any] | None = None,
) -> web.StreamResponse:
    zone = _zone(request)
    async with request.app[SESSIONS_KEY]() as db:
        row = await _campaign(db, campaign_id)
        report = await reports.report(db, row)
        contacts = (
            await db.scalars(
                select(CampaignContact)
                .where(CampaignContact.campaign_id == row.id)
                .order_by(CampaignContact.id)
                .limit(200)
            )
        ).all()
        context = {
            "title": row.name,
            "campaign": _summary(row, report["figures"]),
            "report": report,
            "values": values or _form_values(row),
            "contacts": [
                {
                    "name": c.name,
                    "number": c.number,
                    "customer_id": c.customer_id,
                    "zone": ", ".join(zone_names(c.number, c.tz)[:2]) or row.default_tz or "UTC",
                    "status": _contact_status_words().get(c.status, c.status),
                    "attempts": c.attempts,
                    "last": _(OUTCOME_WORDS[c.last_outcome])
                    if c.last_outcome in OUTCOME_WORDS
                    else c.last_outcome,
                    "next": store.aware(c.next_at).astimezone(zone).strftime("%d %b %H:%M")
                    if c.next_at
                    else "",
                    "disposition": _(DISPOSITIONS[c.disposition])
                    if c.disposition in DISPOSITIONS
                    else "",
                }
                for c in contacts
            ],
            "error": error,
            "notice": notice or _done_words(request.query.get("done", "")),
            "mode_words": _mode_words(),
            "status_words": _status_words(),
            "outcome_words": {k: _(v) for k, v in OUTCOME_WORDS.items()},
            **await _choices(db),
        }
    return aiohttp_jinja2.render_template(
        "campaign.html", request, context, status=400 if error else 200
    )


@require_role(Role.SUPERVISOR)
async def campaign_page(request: web.Request) -> web.StreamResponse:
    return await _render_campaign(request, _id(request))


@require_role(Role.SUPERVISOR)
async def update_campaign(request: web.Request) -> web.StreamResponse:
    campaign_id = _id(request)
    data = await _form_data(request)
    try:
        async with request.app[SESSIONS_KEY].begin() as db:
            row = await _campaign(db, campaign_id)
            await store.update_campaign(db, row, data, utcnow())
    except (store.CampaignError, ValueError) as exc:
        return await _render_campaign(request, campaign_id, error=str(exc), values=data)
    raise web.HTTPSeeOther(f"/campaigns/{campaign_id}?done=saved")


@require_role(Role.SUPERVISOR)
async def set_status(request: web.Request) -> web.StreamResponse:
    campaign_id = _id(request)
    form = await request.post()
    status = str(form.get("status", ""))
    try:
        async with request.app[SESSIONS_KEY].begin() as db:
            await store.set_status(db, await _campaign(db, campaign_id), status, utcnow())
    except store.CampaignError as exc:
        return await _render_campaign(request, campaign_id, error=str(exc))
    raise web.HTTPSeeOther(f"/campaigns/{campaign_id}?done={status}")


@require_role(Role.SUPERVISOR)
async def add_contacts(request: web.Request) -> web.StreamResponse:
    campaign_id = _id(request)
    form = await request.post()
    upload = form.get("file")
    try:
        async with request.app[SESSIONS_KEY].begin() as db:
            row = await _campaign(db, campaign_id)
            if isinstance(upload, web.FileField) and upload.filename:
                added, problems = await store.import_csv(
                    db, row, upload.file.read(), region=_region(request)
                )
                notice = _("%(n)s numbers added from %(file)s.", n=added, file=upload.filename)
                if problems:
                    notice += " " + _("Not added: %(lines)s", lines="; ".join(problems[:5]))
            else:
                added = await store.add_from_search(
                    db,
                    row,
                    text=str(form.get("q", "")),
                    segment=str(form.get("segment", "")),
                    region=_region(request),
                )
                notice = _("%(n)s numbers added from the customer search.", n=added)
    except store.CampaignError as exc:
        return await _render_campaign(request, campaign_id, error=str(exc))
    return await _render_campaign(request, campaign_id, notice=notice)


# --- do not call ------------------------------------------------------------------------------


@require_role(Role.SUPERVISOR)
async def dnc_page(request: web.Request) -> web.StreamResponse:
    return await _render_dnc(request)


async def _render_dnc(request: web.Request, error: str = "", notice: str = "") -> web.Response:
    zone = _zone(request)
    async with request.app[SESSIONS_KEY]() as db:
        rows = (await db.scalars(select(DoNotCall).order_by(DoNotCall.number).limit(1000))).all()
    context = {
        "title": _("Do not call"),
        "rows": [
            {
                "number": r.number,
                "reason": r.reason,
                "by": r.added_by,
                "at": store.aware(r.added_at).astimezone(zone).strftime("%d %b %Y %H:%M"),
            }
            for r in rows
        ],
        "error": error,
        "notice": notice,
    }
    return aiohttp_jinja2.render_template(
        "campaigns_dnc.html", request, context, status=400 if error else 200
    )


@require_role(Role.SUPERVISOR)
async def add_dnc(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        async with request.app[SESSIONS_KEY].begin() as db:
            number = await store.add_dnc(
                db,
                str(form.get("number", "")),
                reason=str(form.get("reason", "")),
                actor=current_user(request).login,
                now=utcnow(),
                region=_region(request),
            )
    except store.CampaignError as exc:
        return await _render_dnc(request, error=str(exc))
    return await _render_dnc(
        request, notice=_("%(number)s will not be called by any campaign.", number=number)
    )


@require_role(Role.SUPERVISOR)
async def remove_dnc(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    number = str(form.get("number", ""))[:32]
    async with request.app[SESSIONS_KEY].begin() as db:
        removed = await store.remove_dnc(db, number)
    if not removed:
        return await _render_dnc(request, error=_("%(number)s is not on the list.", number=number))
    return await _render_dnc(request, notice=_("%(number)s removed from the list.", number=number))


# --- operators --------------------------------------------------------------------------------


def _serves(row: Campaign, login: str, queues: set[str]) -> bool:
    return login in (row.operators or {}).get("logins", []) or bool(
        queues & set((row.queues or {}).get("names", []))
    )


async def _my_campaigns(db: AsyncSession, login: str, user_id: int) -> list[Campaign]:
    user = await db.get(User, user_id)
    queues = set((user.queues or {}) if user is not None else {})
    rows = (
        await db.scalars(
            select(Campaign).where(Campaign.status != "finished").order_by(Campaign.name)
        )
    ).all()
    return [r for r in rows if _serves(r, login, queues)]


@require_role(Role.OPERATOR)
async def mine_page(request: web.Request) -> web.StreamResponse:
    return await _render_mine(request)


async def _render_mine(request: web.Request, error: str = "", notice: str = "") -> web.Response:
    user = current_user(request)
    now = utcnow()
    items = []
    async with request.app[SESSIONS_KEY]() as db:
        for row in await _my_campaigns(db, user.login, user.id):
            nxt = None
            asked = None
            if row.mode == "preview" and row.status == "running":
                asked = await db.scalar(
                    select(CampaignContact).where(
                        CampaignContact.campaign_id == row.id,
                        CampaignContact.disposition == PREVIEW_REQUESTED,
                        CampaignContact.operator_login == user.login,
                        CampaignContact.status.in_(("pending", "dialing")),
                    )
                )
                if asked is None:
                    window = store.window_of(row)
                    nxt = next(
                        (
                            c
                            for c in await store.due(db, row.id, now, 50)
                            if may_call(
                                window, c.number, now, explicit_tz=c.tz, default_tz=row.default_tz
                            )
                        ),
                        None,
                    )
            waiting = (
                await db.scalars(
                    select(CampaignContact)
                    .where(
                        CampaignContact.campaign_id == row.id,
                        CampaignContact.operator_login == user.login,
                        CampaignContact.last_outcome == "answered",
                        CampaignContact.disposition == "",
                        CampaignContact.status == "done",
                    )
                    .order_by(CampaignContact.last_attempt_at.desc())
                    .limit(10)
                )
            ).all()
            items.append(
                {
                    "id": row.id,
                    "name": row.name,
                    "mode": row.mode,
                    "status": row.status,
                    "script": row.script,
                    "next": nxt,
                    "asked": asked,
                    "waiting": waiting,
                }
            )
    context = {
        "title": _("My campaigns"),
        "items": items,
        "dispositions": {k: _(v) for k, v in DISPOSITIONS.items()},
        "mode_words": _mode_words(),
        "status_words": _status_words(),
        "error": error,
        "notice": notice,
    }
    return aiohttp_jinja2.render_template(
        "campaigns_mine.html", request, context, status=400 if error else 200
    )


@require_role(Role.OPERATOR)
async def preview_call(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    campaign_id, contact_id = _id(request), _id(request, "contact_id")
    async with request.app[SESSIONS_KEY].begin() as db:
        row = await _campaign(db, campaign_id)
        if row not in await _my_campaigns(db, user.login, user.id) or row.mode != "preview":
            raise web.HTTPNotFound(text="no such campaign")
        contact = await db.get(CampaignContact, contact_id)
        if contact is None or contact.campaign_id != row.id or contact.status != "pending":
            return await _render_mine(request, error=_("That customer is no longer waiting."))
        if await store.is_dnc(db, contact.number):
            await store.skip_dnc(db, contact.id)
            return await _render_mine(
                request, error=_("%(number)s is on the do-not-call list.", number=contact.number)
            )
        contact.disposition = PREVIEW_REQUESTED
        contact.operator_login = user.login
    return await _render_mine(
        request,
        notice=_("Calling %(name)s: your phone rings first.", name=contact.name or contact.number),
    )


@require_role(Role.OPERATOR)
async def dispose(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    form = await request.post()
    recall_raw = str(form.get("recall_at", "")).strip()
    recall_at = None
    try:
        if recall_raw:
            try:
                moment = datetime.fromisoformat(recall_raw)
            except ValueError:
                raise store.CampaignError(_("the time must look like 2026-12-07T10:30")) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=_zone(request))
            recall_at = moment.astimezone(UTC)
        async with request.app[SESSIONS_KEY].begin() as db:
            contact = await db.get(CampaignContact, _id(request, "contact_id"))
            if contact is None or contact.operator_login != user.login:
                raise web.HTTPNotFound(text="no such contact")
            await store.dispose(
                db,
                contact,
                str(form.get("disposition", "")),
                recall_at=recall_at,
                actor=user.login,
                now=utcnow(),
            )
    except store.CampaignError as exc:
        return await _render_mine(request, error=str(exc))
    return await _render_mine(request, notice=_("Disposition saved."))


# --- JSON -------------------------------------------------------------------------------------


@documented(
    "GET",
    "/api/campaigns",
    operation_id="listCampaigns",
    tag="campaigns",
    summary="Outbound campaigns with their live figures (supervisors)",
    answer=CampaignList,
    answer_description="The campaigns.",
)
@require_role(Role.SUPERVISOR)
async def api_list(request: web.Request) -> web.Response:
    async with request.app[SESSIONS_KEY]() as db:
        return web.json_response({"items": await _listing(db)})


@documented(
    "GET",
    "/api/campaigns/{campaign_id}",
    operation_id="getCampaign",
    tag="campaigns",
    summary="One campaign with its figures and report",
    parameters=(
        {
            "name": "campaign_id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        },
    ),
    answer=CampaignOut,
    answer_description="The campaign.",
    errors=(404,),
)
@require_role(Role.SUPERVISOR)
async def api_campaign(request: web.Request) -> web.Response:
    async with request.app[SESSIONS_KEY]() as db:
        row = await _campaign(db, _id(request))
        report = await reports.report(db, row)
        return web.json_response({**_summary(row, report["figures"]), "report": report})


@documented(
    "POST",
    "/api/campaigns",
    operation_id="createCampaign",
    tag="campaigns",
    summary="A new campaign (paused), its list from a customer search if given",
    body=CampaignIn,
    answer=CampaignOut,
    answer_description="The campaign as created.",
    status=201,
    errors=(413,),
)
@require_role(Role.SUPERVISOR)
async def api_create(request: web.Request) -> web.Response:
    body = await read_json(request, CampaignIn, max_body=MAX_BODY)
    try:
        async with request.app[SESSIONS_KEY].begin() as db:
            row = await store.create(db, body, actor=current_user(request).login, now=utcnow())
            if body.search is not None:
                await store.add_from_search(
                    db,
                    row,
                    text=body.search.text,
                    segment=body.search.segment,
                    region=_region(request),
                )
            result = _summary(row, await reports.figures(db, row))
    except (store.CampaignError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(result, status=201)


@documented(
    "POST",
    "/api/campaigns/{campaign_id}/status",
    operation_id="setCampaignStatus",
    tag="campaigns",
    summary="Start, pause or stop a campaign",
    parameters=(
        {
            "name": "campaign_id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        },
    ),
    body=CampaignStatusIn,
    answer=CampaignOut,
    answer_description="The campaign after the change.",
    errors=(404, 409, 413),
)
@require_role(Role.SUPERVISOR)
async def api_status(request: web.Request) -> web.Response:
    campaign_id = _id(request)
    body = await read_json(request, CampaignStatusIn, max_body=MAX_BODY)
    try:
        async with request.app[SESSIONS_KEY].begin() as db:
            row = await _campaign(db, campaign_id)
            await store.set_status(db, row, body.status, utcnow())
            result = _summary(row, await reports.figures(db, row))
    except store.CampaignError as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    return web.json_response(result)


def setup(app: web.Application) -> None:
    add_template_dir(app, HERE / "templates")
    app.router.add_static("/static/campaigns", HERE / "static", name="campaigns_static")
    app.router.add_get("/campaigns", campaigns_page, name="campaigns")
    app.router.add_post("/campaigns", create_campaign)
    app.router.add_get("/campaigns/mine", mine_page, name="campaigns.mine")
    app.router.add_get("/campaigns/dnc", dnc_page, name="campaigns.dnc")
    app.router.add_post("/campaigns/dnc", add_dnc)
    app.router.add_post("/campaigns/dnc/remove", remove_dnc)
    app.router.add_post(r"/campaigns/contacts/{contact_id:\d+}/disposition", dispose)
    app.router.add_get(r"/campaigns/{campaign_id:\d+}", campaign_page, name="campaign")
    app.router.add_post(r"/campaigns/{campaign_id:\d+}", update_campaign)
    app.router.add_post(r"/campaigns/{campaign_id:\d+}/status", set_status)
    app.router.add_post(r"/campaigns/{campaign_id:\d+}/contacts", add_contacts)
    app.router.add_post(r"/campaigns/{campaign_id:\d+}/preview/{contact_id:\d+}", preview_call)
    app.router.add_get("/api/campaigns", api_list, name="campaigns_api")
    app.router.add_post("/api/campaigns", api_create)
    app.router.add_get(r"/api/campaigns/{campaign_id:\d+}", api_campaign, name="campaign_api")
    app.router.add_post(r"/api/campaigns/{campaign_id:\d+}/status", api_status)
