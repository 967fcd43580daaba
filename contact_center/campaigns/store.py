"""The campaigns' tables: campaigns, their lists (from a customer search or a CSV), attempts,
dispositions, the do-not-call list, figures.

Every change of a contact is a conditional UPDATE on its status, so two connectors (or a
restart in the middle of an attempt) never dial one number twice, and an outcome that
arrives twice (a redelivered event) is recorded once.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center import dialing
from contact_center.campaigns.policy import (
    DIALING,
    DISPOSITIONS,
    DNC,
    OUTCOME_WORDS,
    PENDING,
    RetryPolicy,
    Window,
    after_attempt,
    after_disposition,
    outcome_of,
)
from contact_center.campaigns.schemas import CampaignIn
from contact_center.customers.phones import normalize_number
from contact_center.i18n import gettext as _
from contact_center.store.db import aware
from contact_center.store.models import (
    Campaign,
    CampaignAttempt,
    CampaignContact,
    Customer,
    CustomerPhone,
    DoNotCall,
    InteractionEvent,
)
from contact_center.web.forms import errors_text

STATUSES = ("running", "paused", "finished")
MAX_LIST = 50_000  # contacts a search or an import may add at once
MAX_CSV_BYTES = 2 * 1024 * 1024  # the web app's request limit


class CampaignError(ValueError):
    """A change the campaign does not allow, or input it cannot use (the message says why)."""


# --- campaigns --------------------------------------------------------------------------------


def campaign_fields(data: dict[str, Any] | CampaignIn) -> dict[str, Any]:
    """Validated columns of a campaign from a form or JSON body (:class:`.CampaignIn`);
    CampaignError says what is wrong in words."""
    if isinstance(data, CampaignIn):
        return data.columns()
    try:
        return CampaignIn.model_validate(data).columns()
    except ValidationError as exc:
        raise CampaignError(errors_text(exc)) from None


async def create(
    db: AsyncSession, data: dict[str, Any] | CampaignIn, *, actor: str, now: datetime
) -> Campaign:
    fields = campaign_fields(data)
    if await db.scalar(select(Campaign.id).where(Campaign.name == fields["name"])) is not None:
        raise CampaignError(_("there is already a campaign named %(name)s", name=fields["name"]))
    row = Campaign(
        **fields,
        status="paused",
        source={},
        live={},
        finished_reason="",
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    db.add(row)
    await db.flush()
    return row


async def update_campaign(
    db: AsyncSession, campaign: Campaign, data: dict[str, Any], now: datetime
) -> None:
    fields = campaign_fields(data)
    other = await db.scalar(
        select(Campaign.id).where(Campaign.name == fields["name"], Campaign.id != campaign.id)
    )
    if other is not None:
        raise CampaignError(_("there is already a campaign named %(name)s", name=fields["name"]))
    for key, value in fields.items():
        setattr(campaign, key, value)
    campaign.updated_at = now


async def set_status(db: AsyncSession, campaign: Campaign, status: str, now: datetime) -> None:
    if status not in ("running", "paused"):
        raise CampaignError(_("a campaign is started (running) or paused"))
    if campaign.status == "finished" and status == "running":
        # a finished campaign runs again only when its list has numbers left
        if not await has_open_contacts(db, campaign.id):
            raise CampaignError(_("the campaign's list is exhausted: add numbers first"))
        if campaign.ends_at is not None and aware(campaign.ends_at) <= now:
            raise CampaignError(_("the campaign's end date has passed: change it first"))
    campaign.status = status
    campaign.finished_reason = ""
    campaign.updated_at = now


def retry_policy(campaign: Campaign) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=campaign.max_attempts,
        no_answer_minutes=campaign.retry_no_answer_minutes,
        busy_minutes=campaign.retry_busy_minutes,
        machine_minutes=campaign.retry_machine_minutes,
    )


def window_of(campaign: Campaign) -> Window:
    return Window.parse(campaign.window_start, campaign.window_end, campaign.window_days)


# --- the list -----------------------------------------------------------------------------------


async def _add_contacts(
    db: AsyncSession, campaign: Campaign, rows: list[tuple[str, str, str, int | None]]
) -> int:
    """(number, name, tz, customer_id) rows; numbers already on the list are skipped."""
    have = set(
        (
            await db.scalars(
                select(CampaignContact.number).where(CampaignContact.campaign_id == campaign.id)
            )
        ).all()
    )
    added = 0
    for number, name, tz, customer_id in rows:
        if number in have:
            continue
        have.add(number)
        db.add(
            CampaignContact(
                campaign_id=campaign.id,
                customer_id=customer_id,
                name=name[:200],
                number=number,
                tz=tz[:64],
                status=PENDING,
                attempts=0,
                next_at=None,
                last_outcome="",
                disposition="",
                operator_login="",
                attempt_linkedid="",
            )
        )
        added += 1
    await db.flush()
    return added


async def add_from_search(
    db: AsyncSession, campaign: Campaign, *, text: str = "", segment: str = "", region: str = "RU"
) -> int:
    """Customers matching a saved search — name or company containing ``text`` (or the
    account number / phone number it is), of ``segment`` — every number of each."""
    text, segment = text.strip()[:100], segment.strip()[:40]
    if not text and not segment:
        raise CampaignError(_("a search needs words or a segment"))
    query = select(Customer)
    if segment:
        query = query.where(func.upper(Customer.segment) == segment.upper())
    if text:
        from contact_center.customers.http import _escape_like

        number = normalize_number(text, region=region, with_display=False)
        pattern = f"%{_escape_like(text.lower())}%"
        conditions: list[Any] = [
            func.lower(Customer.name).like(pattern, escape="\\"),
            func.lower(Customer.company).like(pattern, escape="\\"),
            Customer.account_number == text,
        ]
        if number.e164:
            conditions.append(
                Customer.id.in_(
                    select(CustomerPhone.customer_id).where(CustomerPhone.e164 == number.e164)
                )
            )
        query = query.where(or_(*conditions))
    customers = (await db.scalars(query.order_by(Customer.id).limit(MAX_LIST))).all()
    rows: list[tuple[str, str, str, int | None]] = [
        (p.e164, c.name, "", c.id) for c in customers for p in c.phones if p.e164
    ]
    added = await _add_contacts(db, campaign, rows)
    campaign.source = {"search": {"text": text, "segment": segment}, "added": added}
    return added


async def import_csv(
    db: AsyncSession, campaign: Campaign, data: bytes, *, region: str = "RU"
) -> tuple[int, list[str]]:
    """A CSV with a ``number`` column (and optional ``name``, ``tz``, ``customer_id``);
    returns (numbers added, problems by line). A line that cannot be used is named, the
    rest are added."""
    if len(data) > MAX_CSV_BYTES:
        raise CampaignError(
            _("the file is larger than %(mb)s MB", mb=MAX_CSV_BYTES // 1024 // 1024)
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CampaignError(_("the file is not UTF-8 text")) from None
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "number" not in fields:
        raise CampaignError(_("the CSV needs a header line with a 'number' column"))
    reader.fieldnames = fields
    rows: list[tuple[str, str, str, int | None]] = []
    problems: list[str] = []
    known = set((await db.scalars(select(Customer.id))).all()) if "customer_id" in fields else set()
    for line, record in enumerate(reader, start=2):
        raw = str(record.get("number") or "").strip()
        number = normalize_number(raw, region=region, with_display=False)
        if not number.e164:
            problems.append(
                _("line %(line)s: %(raw)s is not a phone number", line=line, raw=raw or "—")
            )
            continue
        customer_raw = str(record.get("customer_id") or "").strip()
        customer_id = int(customer_raw) if customer_raw.isdigit() else None
        if customer_id is not None and customer_id not in known:
            problems.append(
                _("line %(line)s: there is no customer %(id)s", line=line, id=customer_raw)
            )
            customer_id = None
        rows.append(
            (
                number.e164,
                str(record.get("name") or "").strip(),
                str(record.get("tz") or "").strip(),
                customer_id,
            )
        )
        if len(rows) > MAX_LIST:
            raise CampaignError(_("at most %(n)s numbers per import", n=MAX_LIST))
    added = await _add_contacts(db, campaign, rows)
    campaign.source = {"csv": True, "added": added}
    return added, problems[:50]


async def has_open_contacts(db: AsyncSession, campaign_id: int) -> bool:
    found = await db.scalar(
        select(CampaignContact.id)
        .where(
            CampaignContact.campaign_id == campaign_id,
            CampaignContact.status.in_((PENDING, DIALING)),
        )
        .limit(1)
    )
    return found is not None


async def due(
    db: AsyncSession, campaign_id: int, now: datetime, limit: int
) -> list[CampaignContact]:
    """Pending contacts whose time has come: first tries first, then the oldest retries."""
    return list(
        (
            await db.scalars(
                select(CampaignContact)
                .where(
                    CampaignContact.campaign_id == campaign_id,
                    CampaignContact.status == PENDING,
                    or_(CampaignContact.next_at.is_(None), CampaignContact.next_at <= now),
                )
                .order_by(CampaignContact.next_at.is_(None).desc(), CampaignContact.next_at)
                .order_by(CampaignContact.id)
                .limit(limit)
            )
        ).all()
    )


# --- do not call ----------------------------------------------------------------------------------


async def is_dnc(db: AsyncSession, number: str) -> bool:
    return await db.scalar(select(DoNotCall.id).where(DoNotCall.number == number)) is not None


async def add_dnc(
    db: AsyncSession, raw: str, *, reason: str, actor: str, now: datetime, region: str = "RU"
) -> str:
    number = normalize_number(raw.strip()[:64], region=region, with_display=False)
    if not number.e164:
        raise CampaignError(
            _("%(number)s is not a phone number", number=raw.strip() or _("the number"))
        )
    if not await is_dnc(db, number.e164):
        db.add(DoNotCall(number=number.e164, reason=reason[:200], added_by=actor, added_at=now))
        await db.flush()
    return number.e164


async def remove_dnc(db: AsyncSession, number: str) -> bool:
    row = await db.scalar(select(DoNotCall).where(DoNotCall.number == number))
    if row is None:
        return False
    await db.delete(row)
    return True


# --- attempts -------------------------------------------------------------------------------------


async def postpone(db: AsyncSession, contact_id: int, until: datetime) -> None:
    """A number outside its calling hours now: out of the way of the ones that may be called
    (so a list of far-away numbers first cannot starve the rest) until ``until``."""
    await db.execute(
        update(CampaignContact)
        .where(CampaignContact.id == contact_id, CampaignContact.status == PENDING)
        .values(next_at=until)
    )


async def skip_dnc(db: AsyncSession, contact_id: int) -> None:
    """A number found on the do-not-call list at dial time: never dialled."""
    await db.execute(
        update(CampaignContact)
        .where(CampaignContact.id == contact_id, CampaignContact.status == PENDING)
        .values(status=DNC, last_outcome="do_not_call")
    )


async def claim(db: AsyncSession, contact_id: int, login: str, now: datetime) -> int | None:
    """Take a pending contact for an attempt (by ``login``, or "" for a customer-first
    dial); returns the attempt's id, None when someone else took it."""
    if not await dialing.claim(db, CampaignContact, contact_id, login, now):
        return None
    contact = await db.get(CampaignContact, contact_id)
    assert contact is not None
    attempt = CampaignAttempt(
        campaign_id=contact.campaign_id,
        contact_id=contact_id,
        call_linkedid="",
        operator_login=login,
        started_at=now,
        outcome="",
        talk_seconds=0.0,
    )
    db.add(attempt)
    await db.flush()
    return attempt.id


async def started(db: AsyncSession, contact_id: int, attempt_id: int, call_id: str) -> None:
    await dialing.mark_started(db, CampaignContact, contact_id, call_id)
    await db.execute(
        update(CampaignAttempt)
        .where(CampaignAttempt.id == attempt_id)
        .values(call_linkedid=call_id)
    )


async def release(db: AsyncSession, contact_id: int, attempt_id: int, next_at: datetime) -> None:
    """An attempt that never started (the Originate was refused): pending, not counted."""
    await db.execute(
        update(CampaignContact)
        .where(CampaignContact.id == contact_id, CampaignContact.status == DIALING)
        .values(status=PENDING, next_at=next_at, attempts=CampaignContact.attempts - 1)
    )
    row = await db.get(CampaignAttempt, attempt_id)
    if row is not None:
        await db.delete(row)


@dataclass(frozen=True, slots=True)
class Finished:
    campaign: Campaign
    contact: CampaignContact
    outcome: str
    status: str


async def finish(
    db: AsyncSession,
    call_id: str,
    outcome: str,
    now: datetime,
    *,
    server: str = "",
    talk_seconds: float = 0.0,
    operator_login: str = "",
) -> Finished | None:
    """Record how the attempt ``call_id`` ended (None when it is not a campaign attempt, or
    was recorded already) and write the customer's timeline row. ``operator_login``: who
    took a customer dialled first (the queue chose them)."""
    contact = await db.scalar(
        select(CampaignContact).where(
            CampaignContact.attempt_linkedid == call_id, CampaignContact.status == DIALING
        )
    )
    if contact is None or not call_id:
        return None
    campaign = await db.get(Campaign, contact.campaign_id)
    if campaign is None:
        return None
    outcome = outcome_of(outcome)
    nxt = after_attempt(retry_policy(campaign), outcome, contact.attempts, now)
    attempts = contact.attempts if nxt.counted else contact.attempts - 1
    login = contact.operator_login or operator_login
    result = await db.execute(
        update(CampaignContact)
        .where(CampaignContact.id == contact.id, CampaignContact.status == DIALING)
        .values(
            status=nxt.status,
            next_at=nxt.next_at,
            attempts=attempts,
            last_outcome=outcome,
            operator_login=login,
        )
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    await db.execute(
        update(CampaignAttempt)
        .where(CampaignAttempt.call_linkedid == call_id, CampaignAttempt.outcome == "")
        .values(outcome=outcome, ended_at=now, talk_seconds=talk_seconds, operator_login=login)
    )
    await db.refresh(contact)
    words = OUTCOME_WORDS[outcome]
    who = login or "the dialer"
    head = f"Campaign {campaign.name}: call to {contact.number} by {who}: {words}"
    summary = dialing.attempt_summary(head, nxt, attempts, campaign.max_attempts)
    data = {"campaign_id": campaign.id, "outcome": outcome, "status": nxt.status}
    db.add(dialing.attempt_event("campaign", contact, call_id, summary, server, now, data))
    return Finished(campaign, contact, outcome, nxt.status)


async def stale(db: AsyncSession, now: datetime, timeout: timedelta) -> list[CampaignContact]:
    """Attempts with no outcome for ``timeout`` (lost in a restart or an AMI gap)."""
    return await dialing.stale(db, CampaignContact, now, timeout)


async def dispose(
    db: AsyncSession,
    contact: CampaignContact,
    disposition: str,
    *,
    recall_at: datetime | None,
    actor: str,
    now: datetime,
) -> None:
    """The operator's word on a conversation; a recall puts the number back on the list
    at its time, "do not call" lists the number."""
    try:
        nxt = after_disposition(disposition, recall_at)
    except ValueError as exc:
        raise CampaignError(str(exc)) from None
    if contact.status == DIALING:
        raise CampaignError(_("the call is still going on; disposition it when it ends"))
    contact.disposition = disposition
    contact.status = nxt.status
    contact.next_at = nxt.next_at
    if disposition == "do_not_call":
        await add_dnc(
            db, contact.number, reason="asked during a campaign call", actor=actor, now=now
        )
    words = DISPOSITIONS[disposition]
    summary = f"Campaign call to {contact.number}: {words}"
    if nxt.next_at is not None:
        summary += f", recall at {aware(nxt.next_at):%d %b %H:%M} UTC"
    db.add(
        InteractionEvent(
            key=f"campaign-dispo-{contact.id}-{int(now.timestamp() * 1000)}"[:64],
            customer_id=contact.customer_id,
            server="",
            call_linkedid=contact.attempt_linkedid,
            kind="campaign.disposition",
            at=now,
            actor=actor,
            summary=summary[:400],
            data={"campaign_id": contact.campaign_id, "disposition": disposition},
        )
    )


async def seed_demo(db: AsyncSession, now: datetime) -> int:
    """The demo's campaign (once): progressive renewal reminders to twenty customers through
    the sales queue, at any hour, paused — a supervisor starts it on /campaigns; each free
    operator's phone rings with the customer's card, then the simulator's customer answers,
    is busy or has a machine (sim/callees.py). (Predictive needs operators who answer at
    once — auto-answer headsets — which the demo's manual phones are not.)"""
    if await db.scalar(select(Campaign.id).limit(1)) is not None:
        return 0
    campaign = await create(
        db,
        {
            "name": "Renewal reminders",
            "mode": "progressive",
            "script": (
                "Good afternoon, this is Acme. Your contract ends this month: may I tell you "
                "about the renewal offer?"
            ),
            "queues": "sales",
            "window_start": "00:00",
            "window_end": "23:59",
            "window_days": "1234567",
            "default_tz": "Europe/Moscow",
        },
        actor="sue",
        now=now,
    )
    customers = (
        await db.scalars(
            select(Customer).where(Customer.phones.any()).order_by(Customer.id).limit(20)
        )
    ).all()
    rows: list[tuple[str, str, str, int | None]] = [
        (c.phones[0].e164, c.name, "", c.id) for c in customers
    ]
    added = await _add_contacts(db, campaign, rows)
    campaign.source = {"search": {"text": "", "segment": ""}, "added": added, "demo": True}
    return added
