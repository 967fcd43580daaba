"""QA scoring: forms defined by QA, reviews frozen once entered, scores over time.

A form is sections of questions; each has a weight, a question's answer is 0..``max``
(``max`` 1 is yes/no) or ``None`` for not applicable, and a question marked ``auto_fail``
answered 0 fails the whole review (score 0). The score is the weighted mean of the weighted
section means, 0..100. One review per form per recording per reviewer; no update path exists.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.calls.events import make_key
from contact_center.i18n import gettext as _
from contact_center.recording.errors import FormInvalid, ReviewExists
from contact_center.store.db import utcnow
from contact_center.store.models import Call, InteractionEvent, QaForm, QaReview, Recording, User

BANDS = ((90.0, "exceeds"), (70.0, "meets"), (50.0, "improvement"), (0.0, "issue"))
MAX_COMMENT_CHARS = 2000
MAX_COMMENTS = 200


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    weight: float = 1.0
    max: int = 1
    auto_fail: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    weight: float
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class Form:
    sections: tuple[Section, ...]

    def questions(self) -> list[Question]:
        return [q for s in self.sections for q in s.questions]


@dataclass(frozen=True, slots=True)
class Score:
    value: float  # 0..100
    auto_failed: bool
    band: str
    sections: dict[str, float | None]  # section id -> 0..100, None when all N/A


@dataclass(frozen=True, slots=True)
class ScorePoint:
    at: datetime
    score: float
    auto_failed: bool
    recording_id: int
    form: str


@dataclass(frozen=True, slots=True)
class OperatorSummary:
    interface: str
    name: str  # the person at that phone, or the interface when nobody is
    login: str
    reviews: int
    average: float
    last_at: datetime


# --- forms ----------------------------------------------------------------------------------


def parse_form(definition: Mapping[str, Any]) -> Form:
    """Validate a form definition (as stored in ``qa_forms.definition``)."""
    raw_sections = definition.get("sections")
    if not isinstance(raw_sections, list) or not raw_sections:
        raise FormInvalid(_("a form needs a non-empty list of sections"))
    seen: set[str] = set()
    sections = tuple(_parse_section(i, s, seen) for i, s in enumerate(raw_sections))
    return Form(sections=sections)


def _parse_section(index: int, raw: Any, seen: set[str]) -> Section:
    if not isinstance(raw, Mapping):
        raise FormInvalid(_("section %(num)s must be a mapping", num=index + 1))
    sid = str(raw.get("id") or f"s{index + 1}")
    questions = raw.get("questions")
    if not isinstance(questions, list) or not questions:
        raise FormInvalid(_("section %(id)s needs a non-empty list of questions", id=repr(sid)))
    return Section(
        id=sid,
        title=str(raw.get("title") or sid),
        weight=_weight(raw.get("weight", 1), _("section %(id)s", id=repr(sid))),
        questions=tuple(_parse_question(sid, q, seen) for q in questions),
    )


def _parse_question(sid: str, raw: Any, seen: set[str]) -> Question:
    if not isinstance(raw, Mapping) or not raw.get("id"):
        raise FormInvalid(_("every question of section %(id)s needs an id", id=repr(sid)))
    qid = str(raw["id"])
    if qid in seen:
        raise FormInvalid(_("question id %(id)s is used twice", id=repr(qid)))
    seen.add(qid)
    top = raw.get("max", 1)
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= 10:
        raise FormInvalid(_("question %(id)s: max must be an integer 1..10", id=repr(qid)))
    return Question(
        id=qid,
        text=str(raw.get("text") or qid),
        weight=_weight(raw.get("weight", 1), _("question %(id)s", id=repr(qid))),
        max=top,
        auto_fail=bool(raw.get("auto_fail", False)),
    )


def _weight(value: Any, where: str) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise FormInvalid(
            _("%(where)s: weight must be a number, got %(value)s", where=where, value=repr(value))
        ) from None
    if not math.isfinite(weight) or weight <= 0:
        raise FormInvalid(
            _("%(where)s: weight must be positive, got %(value)s", where=where, value=repr(value))
        )
    return weight


_SECTION_FIELD = re.compile(r"^s(\d{1,3})\.(title|weight)$")
_CRITERION_FIELD = re.compile(r"^s(\d{1,3})\.q(\d{1,3})\.(text|max|weight|auto_fail)$")
MAX_BUILDER_FIELDS = 2000


def definition_from_fields(fields: Mapping[str, str]) -> dict[str, Any]:
    """A form definition from the builder's fields (``s1.title``, ``s1.weight``,
    ``s1.q2.text``, ``s1.q2.max``, ``s1.q2.weight``, ``s1.q2.auto_fail``), in the order of
    their numbers. Empty criterion rows are left out; errors name the section and criterion
    as the reviewer typed them."""
    if len(fields) > MAX_BUILDER_FIELDS:
        raise FormInvalid(_("the form has too many fields"))
    sections: dict[int, dict[str, str]] = {}
    criteria: dict[int, dict[int, dict[str, str]]] = {}
    for key, value in fields.items():
        if match := _SECTION_FIELD.match(key):
            sections.setdefault(int(match[1]), {})[match[2]] = value.strip()
        elif match := _CRITERION_FIELD.match(key):
            row = criteria.setdefault(int(match[1]), {}).setdefault(int(match[2]), {})
            row[match[3]] = value.strip()
    out: list[dict[str, Any]] = []
    for s_number in sorted(set(sections) | set(criteria)):
        head = sections.get(s_number, {})
        title = head.get("title", "")[:200]
        number = len(out) + 1
        where = (
            _("section %(num)s (%(title)s)", num=number, title=title)
            if title
            else _("section %(num)s", num=number)
        )
        questions: list[dict[str, Any]] = []
        for _number, row in sorted(criteria.get(s_number, {}).items()):
            text = row.get("text", "")[:500]
            if not text:
                continue  # an empty row of the builder
            at = _(
                "%(where)s, criterion %(num)s (%(text)s)",
                where=where,
                num=len(questions) + 1,
                text=text,
            )
            questions.append(
                {
                    "id": f"s{len(out) + 1}q{len(questions) + 1}",
                    "text": text,
                    "max": _builder_int(row.get("max", "") or "1", at, _("points"), 1, 10),
                    "weight": _builder_weight(row.get("weight", "") or "1", at),
                    "auto_fail": row.get("auto_fail", "") in {"on", "1", "true", "yes"},
                }
            )
        if not questions:
            if title:
                raise FormInvalid(_("%(where)s needs at least one criterion", where=where))
            continue
        out.append(
            {
                "id": f"s{len(out) + 1}",
                "title": title or _("Section %(num)s", num=len(out) + 1),
                "weight": _builder_weight(head.get("weight", "") or "1", where),
                "questions": questions,
            }
        )
    if not out:
        raise FormInvalid(_("the form needs at least one criterion"))
    definition = {"sections": out}
    parse_form(definition)  # the same rules as any stored form
    return definition


def _builder_int(raw: str, where: str, what: str, low: int, high: int) -> int:
    refused = FormInvalid(
        _(
            "%(where)s: %(what)s must be a whole number %(low)s..%(high)s",
            where=where,
            what=what,
            low=low,
            high=high,
        )
    )
    try:
        value = int(raw)
    except ValueError:
        raise refused from None
    if not low <= value <= high:
        raise refused
    return value


def _builder_weight(raw: str, where: str) -> float:
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise FormInvalid(
            _("%(where)s: the weight must be a positive number", where=where)
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise FormInvalid(_("%(where)s: the weight must be a positive number", where=where))
    return value


# --- scoring --------------------------------------------------------------------------------


def band_of(score: float) -> str:
    return next(name for floor, name in BANDS if score >= floor)


def score_answers(form: Form, answers: Mapping[str, int | None]) -> Score:
    """The score of one set of answers; every question must be answered (None = N/A)."""
    known = {q.id for q in form.questions()}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise FormInvalid(_("answers to unknown questions: %(ids)s", ids=", ".join(unknown)))
    auto_failed = False
    section_scores: dict[str, float | None] = {}
    total = weights = 0.0
    for section in form.sections:
        got = points = 0.0
        for q in section.questions:
            answer = _answer(q, answers)
            if answer is None:
                continue
            auto_failed = auto_failed or (q.auto_fail and answer == 0)
            got += q.weight * answer / q.max
            points += q.weight
        section_scores[section.id] = round(100 * got / points, 2) if points else None
        if points:
            total += section.weight * got / points
            weights += section.weight
    value = 0.0 if auto_failed or not weights else round(100 * total / weights, 2)
    return Score(value=value, auto_failed=auto_failed, band=band_of(value), sections=section_scores)


def _answer(q: Question, answers: Mapping[str, int | None]) -> int | None:
    if q.id not in answers:
        raise FormInvalid(_("question %(id)s is not answered", id=repr(q.id)))
    value = answers[q.id]
    if value is None:
        if q.auto_fail:
            raise FormInvalid(
                _("question %(id)s decides an auto-fail and cannot be N/A", id=repr(q.id))
            )
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= q.max:
        raise FormInvalid(
            _(
                "question %(id)s: answer must be 0..%(max)s, got %(value)s",
                id=repr(q.id),
                max=q.max,
                value=repr(value),
            )
        )
    return value


def clean_comments(comments: Sequence[Mapping[str, Any]], duration: float) -> list[dict[str, Any]]:
    """Comments at timestamps, sorted; times must fall inside the recording."""
    if len(comments) > MAX_COMMENTS:
        raise FormInvalid(_("at most %(max)s comments per review", max=MAX_COMMENTS))
    cleaned = []
    for item in comments:
        text = str(item.get("text", "")).strip()
        try:
            at = float(item.get("at", 0))
        except (TypeError, ValueError):
            raise FormInvalid(
                _("comment time must be a number, got %(value)s", value=repr(item.get("at")))
            ) from None
        if not text:
            continue
        if not math.isfinite(at) or at < 0 or (duration > 0 and at > duration + 1):
            raise FormInvalid(
                _("comment time %(at)s s is outside the recording", at=format(at, "g"))
            )
        cleaned.append({"at": round(at, 2), "text": text[:MAX_COMMENT_CHARS]})
    return sorted(cleaned, key=lambda c: c["at"])


# --- storage ------------------------------------------------------------------------------


# The form the demo starts with: what a call center's first scorecard usually checks.
DEMO_FORM_NAME = "Call handling"
DEMO_FORM: dict[str, Any] = {
    "sections": [
        {
            "id": "open",
            "title": "Opening",
            "weight": 1,
            "questions": [
                {"id": "greet", "text": "Greeted the customer and gave their name"},
                {"id": "verify", "text": "Verified the customer before account details"},
            ],
        },
        {
            "id": "handle",
            "title": "Handling",
            "weight": 2,
            "questions": [
                {"id": "need", "text": "Understood the customer's need", "max": 5},
                {"id": "solve", "text": "Solved it or set a clear next step", "max": 5},
                {
                    "id": "card",
                    "text": "Paused the recording for card data",
                    "auto_fail": True,
                },
            ],
        },
        {
            "id": "close",
            "title": "Closing",
            "weight": 1,
            "questions": [{"id": "summary", "text": "Summarised and said goodbye"}],
        },
    ]
}


async def ensure_demo_form(session: AsyncSession) -> None:
    """Seed the demo's QA form once."""
    if await session.scalar(select(QaForm.id).where(QaForm.name == DEMO_FORM_NAME)) is None:
        await create_form(session, DEMO_FORM_NAME, DEMO_FORM)


async def create_form(session: AsyncSession, name: str, definition: Mapping[str, Any]) -> QaForm:
    parse_form(definition)
    form = QaForm(name=name, definition=dict(definition), active=True, created_at=utcnow())
    session.add(form)
    await session.flush()
    return form


async def submit_review(
    session: AsyncSession,
    *,
    recording: Recording,
    form: QaForm,
    reviewer_id: int,
    answers: Mapping[str, int | None],
    comments: Sequence[Mapping[str, Any]] = (),
) -> QaReview:
    """Score and store a review; a second one by the same reviewer raises ReviewExists."""
    score = score_answers(parse_form(form.definition), answers)
    existing = await session.scalar(
        select(QaReview.id).where(
            QaReview.recording_id == recording.id,
            QaReview.form_id == form.id,
            QaReview.reviewer_id == reviewer_id,
        )
    )
    if existing is not None:
        raise ReviewExists(
            f"recording {recording.id} is already scored with form {form.name!r} by this reviewer"
        )
    review = QaReview(
        recording_id=recording.id,
        form_id=form.id,
        reviewer_id=reviewer_id,
        operator_interface=recording.operator_interface,
        answers=dict(answers),
        comments={"items": clean_comments(comments, recording.duration_seconds)},
        score=score.value,
        auto_failed=score.auto_failed,
        created_at=utcnow(),
    )
    session.add(review)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent submit won the unique constraint
        raise ReviewExists(f"recording {recording.id} was scored concurrently") from None
    await _on_the_timeline(session, recording, form, review)
    return review


async def _on_the_timeline(
    session: AsyncSession, recording: Recording, form: QaForm, review: QaReview
) -> None:
    """The grade joins the customer's timeline (and the pop's last interactions) in the
    same transaction as the review: a frozen grade, one row, keyed by the review."""
    customer_id = recording.customer_id
    if customer_id is None:
        customer_id = await session.scalar(
            select(Call.customer_id).where(
                Call.server == recording.server, Call.linkedid == recording.call_linkedid
            )
        )
    reviewer = await session.scalar(select(User.login).where(User.id == review.reviewer_id))
    failed = " (auto-fail)" if review.auto_failed else ""
    session.add(
        InteractionEvent(
            key=make_key("qa.review", review.id),
            customer_id=customer_id,
            server=recording.server,
            call_linkedid=recording.call_linkedid,
            kind="qa.review",
            at=review.created_at,
            actor=reviewer or "",
            summary=f"QA score {review.score:g}/100, {form.name}{failed}"[:400],
            data={
                "score": review.score,
                "form": form.name,
                "auto_failed": review.auto_failed,
                "recording_id": recording.id,
                "outcome": f"QA {review.score:g}",
            },
        )
    )
    await session.flush()


async def operator_scores(
    session: AsyncSession,
    interface: str,
    *,
    since: datetime | None = None,
    scope: ColumnElement[bool] | None = None,
) -> list[ScorePoint]:
    """One operator's review scores, oldest first (for the chart).

    ``scope`` limits them to recordings the reader may see (a clause on ``Recording``).
    """
    query = (
        select(QaReview, QaForm.name)
        .join(QaForm, QaForm.id == QaReview.form_id)
        .join(Recording, Recording.id == QaReview.recording_id)
        .where(QaReview.operator_interface == interface)
        .order_by(QaReview.created_at, QaReview.id)
    )
    if scope is not None:
        query = query.where(scope)
    if since is not None:
        query = query.where(QaReview.created_at >= since)
    rows = (await session.execute(query)).all()
    return [
        ScorePoint(
            at=r.created_at,
            score=r.score,
            auto_failed=r.auto_failed,
            recording_id=r.recording_id,
            form=name,
        )
        for r, name in rows
    ]


async def operator_summaries(
    session: AsyncSession, *, scope: ColumnElement[bool] | None = None
) -> list[OperatorSummary]:
    """Every reviewed operator the reader may see: reviews, average score, last review;
    lowest average first (who needs coaching)."""
    query = (
        select(
            QaReview.operator_interface,
            func.count(QaReview.id),
            func.avg(QaReview.score),
            func.max(QaReview.created_at),
        )
        .join(Recording, Recording.id == QaReview.recording_id)
        .group_by(QaReview.operator_interface)
    )
    if scope is not None:
        query = query.where(scope)
    rows = (await session.execute(query)).all()
    people = await people_at(session, [r[0] for r in rows])
    out = []
    for interface, count, average, last_at in rows:
        login, name = people.get(interface, ("", interface))
        out.append(
            OperatorSummary(
                interface=interface,
                name=name,
                login=login,
                reviews=int(count),
                average=round(float(average), 1),
                last_at=last_at,
            )
        )
    out.sort(key=lambda o: (o.average, o.name.lower()))
    return out


async def people_at(session: AsyncSession, interfaces: Sequence[str]) -> dict[str, tuple[str, str]]:
    """interface → (login, display name) of the user at that phone (the active one first)."""
    wanted = [i for i in interfaces if i]
    if not wanted:
        return {}
    users = (
        await session.scalars(
            select(User)
            .where(User.interface.in_(wanted))
            .order_by(User.active.desc(), User.id.desc())
        )
    ).all()
    found: dict[str, tuple[str, str]] = {}
    for user in users:
        found.setdefault(user.interface, (user.login, user.display_name or user.login))
    return found


async def resolve_operator(session: AsyncSession, text: str) -> tuple[str, str]:
    """(interface, name) of an operator given by login, name or interface; ("", "") if none."""
    text = text.strip()[:200]
    if not text:
        return "", ""
    user = await session.scalar(
        select(User)
        .where(
            User.interface != "",
            (User.login == text)
            | (func.lower(User.display_name) == text.lower())
            | (User.interface == text),
        )
        .order_by(User.active.desc(), User.id.desc())
        .limit(1)
    )
    if user is not None:
        return user.interface, user.display_name or user.login
    reviewed = await session.scalar(
        select(QaReview.operator_interface).where(QaReview.operator_interface == text).limit(1)
    )
    return (text, text) if reviewed else ("", "")
