"""Ready payloads for a CRM: what became of a call, in one JSON object.

A CRM wants one record per call, not the call's dozen lifecycle events: who called (our id,
their external id, the account), the outcome, the operator's disposition and notes, a link
to the recording, what the call cost and its QA score. :func:`load_call_outcome` gathers
that from the database; :func:`call_outcome_payload` shapes it. The dispatcher delivers it
like any other payload (signed, retried, dead-lettered); :mod:`.outcomes` decides when (once
complete, and again with each later QA score: the CRM updates its record by ``key``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.calls.events import make_key
from contact_center.store.models import (
    Call,
    Charge,
    Customer,
    InteractionEvent,
    QaForm,
    QaReview,
    Recording,
    User,
)

OUTCOME_KIND = "call.outcome"
MAX_NOTES = 4000


@dataclass(frozen=True, slots=True)
class QaScore:
    form: str
    score: float  # 0–100
    auto_failed: bool


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """Everything a CRM records about one finished call."""

    server: str
    call_id: str
    direction: str
    caller_number: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str  # answered | abandoned | ivr-only | …
    queue: str
    operator: str  # the answering operator's login, "" when none
    wait_seconds: float
    talk_seconds: float
    disposition: str
    notes: str
    customer_id: int | None = None
    customer_external_id: str | None = None
    customer_account: str | None = None
    customer_name: str = ""
    recording_url: str = ""
    cost: Decimal | None = None
    currency: str = ""
    qa: tuple[QaScore, ...] = ()

    @property
    def qa_score(self) -> float | None:
        """The mean of the call's QA grades (one per form and reviewer), or None."""
        if not self.qa:
            return None
        return round(sum(q.score for q in self.qa) / len(self.qa), 2)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def outcome_key(server: str, call_id: str) -> str:
    """The delivery key: one outcome per call, however often it is built (a redelivery,
    a later QA grade sent again replaces nothing: the receiver deduplicates on it)."""
    return make_key(OUTCOME_KIND, server, call_id)


def call_outcome_payload(outcome: CallOutcome) -> dict[str, Any]:
    """The webhook body for a CRM (kind ``call.outcome``), keyed once per call."""
    customer = (
        {
            "id": outcome.customer_id,
            "external_id": outcome.customer_external_id,
            "account_number": outcome.customer_account,
            "name": outcome.customer_name,
        }
        if outcome.customer_id is not None
        else None
    )
    return {
        "kind": OUTCOME_KIND,
        "key": outcome_key(outcome.server, outcome.call_id),
        "server": outcome.server,
        "call_id": outcome.call_id,
        "call": {
            "direction": outcome.direction,
            "caller_number": outcome.caller_number,
            "started_at": _iso(outcome.started_at),
            "answered_at": _iso(outcome.answered_at),
            "ended_at": _iso(outcome.ended_at),
            "outcome": outcome.outcome,
            "queue": outcome.queue,
            "operator": outcome.operator,
            "wait_seconds": round(outcome.wait_seconds, 1),
            "talk_seconds": round(outcome.talk_seconds, 1),
        },
        "customer": customer,
        "disposition": outcome.disposition,
        "notes": outcome.notes[:MAX_NOTES],
        "recording_url": outcome.recording_url or None,
        # Money as a string: a float would lose kopecks on the way.
        "cost": (
            {"amount": format(outcome.cost.normalize(), "f"), "currency": outcome.currency}
            if outcome.cost is not None
            else None
        ),
        "qa_score": outcome.qa_score,
        "qa": [
            {"form": q.form, "score": q.score, "auto_failed": q.auto_failed} for q in outcome.qa
        ],
    }


async def load_call_outcome(
    db: AsyncSession, server: str, call_id: str, *, public_url: str = ""
) -> CallOutcome | None:
    """The outcome of call ``(server, call_id)`` as stored now, or None for a call we do not
    know. ``public_url``: the service's address, for the recording link."""
    call = await db.scalar(select(Call).where(Call.server == server, Call.linkedid == call_id))
    if call is None:
        return None
    customer = await db.get(Customer, call.customer_id) if call.customer_id else None
    operator = ""
    if call.operator_user_id is not None:
        operator = await db.scalar(select(User.login).where(User.id == call.operator_user_id)) or ""
    charge = await db.scalar(
        select(Charge).where(Charge.server == server, Charge.call_linkedid == call_id)
    )
    recording = await db.scalar(
        select(Recording)
        .where(Recording.server == server, Recording.call_linkedid == call_id)
        .order_by(Recording.started_at.desc())
        .limit(1)
    )
    qa: list[QaScore] = []
    if recording is not None:
        rows = await db.execute(
            select(QaForm.name, QaReview.score, QaReview.auto_failed)
            .join(QaForm, QaForm.id == QaReview.form_id)
            .where(QaReview.recording_id == recording.id)
            .order_by(QaReview.created_at, QaReview.id)
        )
        qa = [QaScore(name, float(score), bool(failed)) for name, score, failed in rows]
    return CallOutcome(
        server=server,
        call_id=call_id,
        direction=call.direction,
        caller_number=call.caller_number,
        started_at=call.started_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        outcome=call.outcome,
        queue=call.queue,
        operator=operator,
        wait_seconds=call.wait_seconds,
        talk_seconds=call.talk_seconds,
        disposition=call.disposition,
        notes=await _notes(db, server, call_id),
        customer_id=customer.id if customer else None,
        customer_external_id=customer.external_id if customer else None,
        customer_account=customer.account_number if customer else None,
        customer_name=customer.name if customer else "",
        recording_url=(
            f"{public_url.rstrip('/')}/qa/recordings/{recording.id}"
            if recording is not None and public_url
            else ""
        ),
        cost=charge.amount if charge else None,
        currency=charge.currency if charge else "",
        qa=tuple(qa),
    )


async def _notes(db: AsyncSession, server: str, call_id: str) -> str:
    """The operators' wrap-up notes on the call, oldest first."""
    rows = await db.scalars(
        select(InteractionEvent.data)
        .where(InteractionEvent.server == server, InteractionEvent.call_linkedid == call_id)
        .order_by(InteractionEvent.at, InteractionEvent.id)
    )
    notes = [str(data["notes"]) for data in rows if data and data.get("notes")]
    return "\n\n".join(notes)
