"""QA pages: search, player with waveform, Range audio, scoring, operators' scores.

Every route checks the role (``require_role``) *and* the recording's scope
(:func:`~contact_center.recording.access.can_access`); a recording outside the reader's scope
answers 404 like one that does not exist. Audio is served by recording id only — the file
name comes from the row and is resolved inside the spool — and every request that serves
audio bytes writes one audit row naming the bytes it served.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.i18n import LazyTexts, lazy_gettext
from contact_center.i18n import gettext as _
from contact_center.recording.access import Principal, RecordingScope, can_access, can_review
from contact_center.recording.audit import audit
from contact_center.recording.errors import BadFilter, FormInvalid, RecordingError, ReviewExists
from contact_center.recording.paths import resolve_in_spool
from contact_center.recording.qa import (
    band_of,
    create_form,
    definition_from_fields,
    operator_scores,
    operator_summaries,
    parse_form,
    people_at,
    resolve_operator,
    submit_review,
)
from contact_center.recording.search import (
    OUTCOMES,
    SearchFilters,
    load_principal,
    scope_clause,
    search_recordings,
)
from contact_center.store.models import Call, Customer, QaForm, QaReview, Recording, User
from contact_center.web.auth import CurrentUser, Role, current_user, require_role
from contact_center.web.keys import SESSIONS_KEY, SETTINGS_KEY, add_template_dir

HERE = Path(__file__).parent
AUDIO_TYPES = {".mp3": "audio/mpeg", ".opus": "audio/ogg", ".ogg": "audio/ogg", ".wav": "audio/wav"}
SPEEDS = (0.75, 1.0, 1.25, 1.5, 2.0)
GONE = ("deleted", "archived", "erased")
PLAYABLE = ("done", "stopped", "failed")  # "empty" has no audio to play or score
# What the pages say for the stored codes (statuses, outcomes, score bands).
WORDS: LazyTexts[str] = LazyTexts(
    {
        "recording": lazy_gettext("recording"),
        "stopped": lazy_gettext("stopped"),
        "processing": lazy_gettext("processing"),
        "done": lazy_gettext("done"),
        "failed": lazy_gettext("failed"),
        "empty": lazy_gettext("empty"),
        "deleted": lazy_gettext("deleted"),
        "archived": lazy_gettext("archived"),
        "erased": lazy_gettext("erased"),
        "answered": lazy_gettext("answered"),
        "abandoned": lazy_gettext("abandoned"),
        "ivr_only": lazy_gettext("IVR only"),
        "unanswered": lazy_gettext("unanswered"),
        "exceeds": lazy_gettext("exceeds"),
        "meets": lazy_gettext("meets"),
        "improvement": lazy_gettext("needs improvement"),
        "issue": lazy_gettext("issue"),
    }
)


def say(code: str | None) -> str:
    """A stored code ("done", "abandoned", "meets") as the reader's language says it."""
    return WORDS.get(code, code) if code else ""


def _zone(request: web.Request) -> str:
    """The call center's time zone: pages show times in it."""
    return request.app[SETTINGS_KEY].general.timezone or "UTC"


async def _principal(db: AsyncSession, user: CurrentUser) -> Principal:
    return await load_principal(
        db, user_id=user.id, login=user.login, role=user.role, interface=user.interface
    )


def _scope(rec: Recording) -> RecordingScope:
    return RecordingScope(queue=rec.queue, operator_interface=rec.operator_interface)


async def _visible_recording(db: AsyncSession, request: web.Request) -> tuple[Recording, Principal]:
    """The recording of the URL if the user may see it; 404 otherwise (no existence leak)."""
    principal = await _principal(db, current_user(request))
    rec = await db.get(Recording, int(request.match_info["rec_id"]))
    if rec is None or not can_access(principal, _scope(rec)):
        raise web.HTTPNotFound(text=_("no such recording"))
    return rec, principal


# --- search ------------------------------------------------------------------------------------


@require_role(Role.QA, Role.SUPERVISOR, Role.OPERATOR)
async def qa_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/qa/recordings")


@require_role(Role.QA, Role.SUPERVISOR, Role.OPERATOR)
async def search_page(request: web.Request) -> web.StreamResponse:
    error = ""
    try:
        filters = SearchFilters.from_query(request.query)
    except BadFilter as exc:
        filters, error = SearchFilters(), str(exc)
    async with request.app[SESSIONS_KEY]() as db:
        principal = await _principal(db, current_user(request))
        rows = [] if error else await search_recordings(db, principal, filters)
        operator_names = (
            []
            if principal.role == Role.OPERATOR
            else sorted(
                {
                    u.display_name or u.login
                    for u in await db.scalars(
                        select(User).where(User.role == Role.OPERATOR, User.active)
                    )
                }
            )
        )
    context = {
        "title": _("Recordings"),
        "say": say,
        "zone": _zone(request),
        "operator_names": operator_names,
        "rows": rows,
        "filters": filters,
        "query": {k: v for k, v in request.query.items() if k != "page"},
        "outcomes": OUTCOMES,
        "error": error,
    }
    return aiohttp_jinja2.render_template(
        "qa_search.html", request, context, status=400 if error else 200
    )


# --- player ------------------------------------------------------------------------------------


@require_role(Role.QA, Role.SUPERVISOR, Role.OPERATOR)
async def player_page(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    async with request.app[SESSIONS_KEY]() as db:
        rec, principal = await _visible_recording(db, request)
        customer = await db.get(Customer, rec.customer_id) if rec.customer_id else None
        call = await db.scalar(
            select(Call).where(Call.server == rec.server, Call.linkedid == rec.call_linkedid)
        )
        reviews = (
            await db.execute(
                select(QaReview, QaForm.name, User.login)
                .join(QaForm, QaForm.id == QaReview.form_id)
                .join(User, User.id == QaReview.reviewer_id)
                .where(QaReview.recording_id == rec.id)
                .order_by(QaReview.created_at)
            )
        ).all()
        forms = (await db.scalars(select(QaForm).where(QaForm.active).order_by(QaForm.name))).all()
        people = await people_at(db, [rec.operator_interface])
    reviewer = can_review(principal, _scope(rec))
    done_forms = {review.form_id for review, _, _ in reviews if review.reviewer_id == user.id}
    context = {
        "title": _("Recording %(id)s", id=rec.id),
        "say": say,
        "zone": _zone(request),
        "rec": rec,
        "operator_name": people.get(rec.operator_interface, ("", ""))[1],
        "customer": customer,
        "call": call,
        "playable": rec.status in PLAYABLE,
        "waveform": waveform(rec),
        "reviews": [
            {
                "review": review,
                "form": form_name,
                "reviewer": login,
                "band": band_of(review.score),
                "comments": (review.comments or {}).get("items", []),
            }
            for review, form_name, login in reviews
        ],
        "forms": [
            {"form": f, "parsed": parse_form(f.definition)}
            for f in forms
            if reviewer and rec.status in PLAYABLE and f.id not in done_forms
        ],
        "speeds": SPEEDS,
        "error": request.query.get("error", "")[:300],
    }
    return aiohttp_jinja2.render_template("qa_player.html", request, context)


def waveform(rec: Recording) -> dict[str, Any]:
    """SVG geometry for the player: one vertical line per peak, gaps as shaded boxes."""
    values = [float(v) for v in (rec.peaks or {}).get("values", [])]
    n = max(1, len(values))
    path = "".join(f"M{i}.5,{50 - 48 * v:.1f}V{50 + 48 * v:.1f}" for i, v in enumerate(values))
    duration = rec.duration_seconds or 0.0
    gaps = []
    for gap in (rec.pauses or {}).get("gaps", []):
        start, end = float(gap[0]), float(gap[1] if gap[1] is not None else gap[0])
        if duration > 0:
            gaps.append(
                {
                    "x": round(start / duration * n, 2),
                    "width": round(max(0.5, (end - start) / duration * n), 2),
                    "start": start,
                    "end": end,
                    "reason": gap[2] if len(gap) > 2 else "",
                }
            )
    return {"width": n, "path": path, "gaps": gaps, "duration": duration, "empty": not values}


# --- audio ---------------------------------------------------------------------------------------


@require_role(Role.QA, Role.SUPERVISOR, Role.OPERATOR)
async def audio(request: web.Request) -> web.StreamResponse:
    """The recording's audio by id, with HTTP Range (one range; RFC 9110 section 14).

    Every request that serves audio bytes writes one audit row naming the bytes it served,
    before the first byte goes out: whatever the Range header says (``bytes=-N``,
    ``bytes=00-``, several ranges), no byte of a recording leaves unaudited.
    """
    user = current_user(request)
    download = request.query.get("download") == "1"
    spool = request.app[SETTINGS_KEY].recording.spool_dir
    async with request.app[SESSIONS_KEY]() as db:
        rec, _ = await _visible_recording(db, request)
        if rec.status in GONE:
            raise web.HTTPGone(text=f"recording {rec.status}")
        path = _audio_path(spool, rec)
        size = path.stat().st_size
        try:
            span = byte_range(request.headers.get("Range", ""), size)
        except RangeNotSatisfiable:
            raise web.HTTPRequestRangeNotSatisfiable(
                headers={"Content-Range": f"bytes */{size}"}
            ) from None
        first, last = span if span is not None else (0, size - 1)
        if request.method == "GET" and size:
            audit(
                db,
                user.login,
                "recording.download" if download else "recording.listen",
                f"recording:{rec.id}",
                call=rec.call_linkedid,
                file=path.name,
                bytes=f"{first}-{last}/{size}",
            )
            await db.commit()
    response = web.StreamResponse(status=200 if span is None else 206)
    response.headers["Content-Type"] = AUDIO_TYPES.get(path.suffix, "application/octet-stream")
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Accept-Ranges"] = "bytes"
    if span is not None:
        response.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    if download:
        response.headers["Content-Disposition"] = (
            f'attachment; filename="recording-{rec.id}{path.suffix}"'
        )
    response.content_length = last - first + 1 if size else 0
    await response.prepare(request)
    if request.method == "GET" and size:
        await _send_bytes(response, path, first, last)
    await response.write_eof()
    return response


AUDIO_CHUNK = 64 * 1024
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII)


class RangeNotSatisfiable(Exception):
    """The Range asks for bytes the file does not have (416)."""


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The (first, last) byte, inclusive, that a ``Range`` header selects in a file of
    ``size`` bytes; None for the whole file (no Range, another unit, several ranges or a
    malformed one: RFC 9110 lets a server ignore those and send everything, audited as
    such). Raises RangeNotSatisfiable for a range past the end or ``bytes=-0``."""
    match = _RANGE.fullmatch(header.replace(" ", ""))
    if match is None:
        return None
    first_raw, last_raw = match.groups()
    if not first_raw:
        if not last_raw:
            return None
        suffix = int(last_raw)
        if suffix == 0 or size == 0:  # a zero-length suffix selects nothing: 416
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_raw)
    if last_raw and int(last_raw) < first:
        return None
    last = int(last_raw) if last_raw else size - 1
    if first >= size:
        raise RangeNotSatisfiable
    return first, min(last, size - 1)


async def _send_bytes(response: web.StreamResponse, path: Path, first: int, last: int) -> None:
    loop = asyncio.get_running_loop()
    with path.open("rb") as fh:
        fh.seek(first)
        remaining = last - first + 1
        while remaining > 0:
            chunk = await loop.run_in_executor(None, fh.read, min(AUDIO_CHUNK, remaining))
            if not chunk:  # the file shrank under us (retention): stop, do not pad
                break
            remaining -= len(chunk)
            await response.write(chunk)


def _audio_path(spool: str, rec: Recording) -> Path:
    for name in (rec.compact_name if rec.status == "done" else "", rec.file_name):
        if not name:
            continue
        try:
            return resolve_in_spool(spool, name)
        except RecordingError:
            continue
    raise web.HTTPNotFound(text=_("the recording's audio is not available"))


# --- reviews -------------------------------------------------------------------------------------


@require_role(Role.QA)
async def submit_review_form(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    post = await request.post()
    async with request.app[SESSIONS_KEY]() as db:
        rec, principal = await _visible_recording(db, request)
        rec_id = rec.id  # read now: a rollback below expires the row
        if not can_review(principal, _scope(rec)):
            raise web.HTTPForbidden(text=_("you may not score this recording"))
        if rec.status not in PLAYABLE:
            raise web.HTTPConflict(
                text=_(
                    "recording %(id)s has no audio to score (%(status)s)",
                    id=rec_id,
                    status=say(rec.status),
                )
            )
        form = await db.get(QaForm, _int(post.get("form_id")))
        if form is None or not form.active:
            raise web.HTTPBadRequest(text=_("unknown QA form"))
        try:
            parsed = parse_form(form.definition)
            answers = {q.id: _answer(post.get(f"a_{q.id}")) for q in parsed.questions()}
            comments = [
                {"at": at, "text": text}
                for at, text in zip(
                    post.getall("comment_at", []), post.getall("comment_text", []), strict=False
                )
            ]
            await submit_review(
                db,
                recording=rec,
                form=form,
                reviewer_id=user.id,
                answers=answers,
                comments=comments,
            )
            await db.commit()
        except (FormInvalid, ReviewExists) as exc:
            await db.rollback()
            back = request.app.router["qa.player"].url_for(rec_id=str(rec_id))
            raise web.HTTPSeeOther(back.with_query(error=str(exc))) from None
    raise web.HTTPSeeOther(f"/qa/recordings/{rec_id}#reviews")


def _int(raw: object) -> int:
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(text=_("bad number")) from None


def _answer(raw: object) -> int | None:
    text = "" if raw is None else str(raw).strip()
    if text in {"", "na"}:
        return None
    try:
        return int(text)
    except ValueError:
        raise FormInvalid(_("answer must be a number, got %(text)s", text=repr(text))) from None


# --- forms ---------------------------------------------------------------------------------------


BUILDER_SECTIONS = 1
BUILDER_ROWS = 3


def _forms_context(forms: Any, error: str, draft: str, sections: list[Any]) -> dict[str, Any]:
    return {
        "title": _("QA forms"),
        "forms": [{"form": f, "parsed": parse_form(f.definition)} for f in forms],
        "error": error,
        "draft": draft,
        "sections": sections,
        "points": range(1, 11),
    }


def _blank_sections() -> list[dict[str, Any]]:
    return [
        {"title": "", "weight": "1", "rows": [{} for _ in range(BUILDER_ROWS)]}
        for _ in range(BUILDER_SECTIONS)
    ]


def _sections_from_fields(fields: dict[str, str]) -> list[dict[str, Any]]:
    """What the builder sent, to show it again after an error (nothing typed is lost)."""
    sections: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        parts = key.split(".")
        if not parts[0].startswith("s") or not parts[0][1:].isdigit():
            continue
        section = sections.setdefault(int(parts[0][1:]), {"title": "", "weight": "1", "rows": {}})
        if len(parts) == 2 and parts[1] in ("title", "weight"):
            section[parts[1]] = value
        elif len(parts) == 3 and parts[1][1:].isdigit():
            section["rows"].setdefault(int(parts[1][1:]), {})[parts[2]] = value
    return [
        {**sec, "rows": [row for _n, row in sorted(sec["rows"].items())] or [{}]}
        for _n, sec in sorted(sections.items())
    ] or _blank_sections()


@require_role(Role.QA)
async def forms_page(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONS_KEY]() as db:
        forms = (await db.scalars(select(QaForm).order_by(QaForm.name))).all()
    context = _forms_context(forms, "", "", _blank_sections())
    return aiohttp_jinja2.render_template("qa_forms.html", request, context)


@require_role(Role.QA)
async def create_form_submit(request: web.Request) -> web.StreamResponse:
    """A form from the builder's fields, or (advanced) from a JSON definition."""
    post = await request.post()
    fields = {k: str(v)[:2000] for k, v in post.items() if isinstance(v, str)}
    name = fields.get("name", "").strip()[:120]
    draft = fields.get("definition", "")[:100_000]
    error = ""
    try:
        if not name:
            raise FormInvalid(_("the form needs a name"))
        if draft.strip():
            definition = json.loads(draft)
            if not isinstance(definition, dict):
                raise FormInvalid(_("the definition must be a JSON object"))
        else:
            definition = definition_from_fields(fields)
        async with request.app[SESSIONS_KEY]() as db:
            if await db.scalar(select(QaForm.id).where(QaForm.name == name)):
                raise FormInvalid(_("a form named %(name)s exists already", name=repr(name)))
            await create_form(db, name, definition)
            await db.commit()
    except json.JSONDecodeError as exc:
        error = _("the definition is not valid JSON: %(error)s", error=str(exc))
    except FormInvalid as exc:
        error = str(exc)
    if not error:
        raise web.HTTPSeeOther("/qa/forms")
    async with request.app[SESSIONS_KEY]() as db:
        forms = (await db.scalars(select(QaForm).order_by(QaForm.name))).all()
    context = _forms_context(forms, error, draft, _sections_from_fields(fields))
    context["name"] = name
    return aiohttp_jinja2.render_template("qa_forms.html", request, context, status=400)


# --- scores --------------------------------------------------------------------------------------


@require_role(Role.QA, Role.SUPERVISOR, Role.OPERATOR)
async def scores_page(request: web.Request) -> web.StreamResponse:
    """An operator's scores over time (operators only ever see their own); without an
    operator chosen, every reviewed operator the reader may see, lowest average first."""
    user = current_user(request)
    wanted = request.query.get("operator", "")
    async with request.app[SESSIONS_KEY]() as db:
        principal = await _principal(db, user)
        scope = scope_clause(principal)
        if user.role == Role.OPERATOR:
            interface, name = user.interface, user.display_name or user.login
        else:
            interface, name = await resolve_operator(db, wanted)
        points = await operator_scores(db, interface, scope=scope) if interface else []
        overview = [] if interface else await operator_summaries(db, scope=scope)
    context = {
        "title": _("QA scores — %(name)s", name=name) if name else _("QA scores"),
        "say": say,
        "zone": _zone(request),
        "interface": interface,
        "name": name,
        "wanted": wanted,
        "unknown": bool(wanted) and not interface,
        "overview": overview,
        "points": points,
        "chart": score_chart(points),
        "bands": {p.recording_id: band_of(p.score) for p in points},
        "average": round(sum(p.score for p in points) / len(points), 1) if points else None,
    }
    return aiohttp_jinja2.render_template("qa_scores.html", request, context)


def score_chart(points: list[Any]) -> dict[str, Any]:
    """SVG polyline of scores (0..100) in review order."""
    width = max(1, len(points) - 1) * 40
    coords = [(i * 40, round(100 - p.score, 1)) for i, p in enumerate(points)]
    return {
        "width": width,
        "points": " ".join(f"{x},{y}" for x, y in coords),
        "dots": [
            {"x": x, "y": y, "score": p.score} for (x, y), p in zip(coords, points, strict=True)
        ],
    }


def setup(app: web.Application) -> None:
    """Register the QA pages (``create_app(deps, plugins=[recording.http])``)."""
    add_template_dir(app, HERE / "templates")
    app.router.add_static("/static/recording", HERE / "static", name="recording-static")
    app.router.add_get("/qa", qa_home, name="qa.home")
    app.router.add_get("/qa/recordings", search_page, name="qa.search")
    app.router.add_get(r"/qa/recordings/{rec_id:\d{1,18}}", player_page, name="qa.player")
    app.router.add_get(r"/qa/recordings/{rec_id:\d{1,18}}/audio", audio, name="qa.audio")
    app.router.add_post(
        r"/qa/recordings/{rec_id:\d{1,18}}/reviews", submit_review_form, name="qa.review"
    )
    app.router.add_get("/qa/forms", forms_page, name="qa.forms")
    app.router.add_post("/qa/forms", create_form_submit)
    app.router.add_get("/qa/scores", scores_page, name="qa.scores")
