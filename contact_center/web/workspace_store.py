"""The operator workspace's data work, out of the handlers: wrap-ups kept until saved, the
caller created or corrected from the pop (audited on the customer's timeline), the operator's
calls today, who may act on which call or customer, whom to transfer to. The forms are
checked by their schemas (:mod:`contact_center.web.console_schemas`; :meth:`WrapupForm.parse`
and :func:`contact_fields` use them); a refusal is an :class:`InvalidInput` with the reason in
the user's language.

A wrap-up is kept on the server from the first keystroke (a draft) to its saving, so neither a
reload nor a restart of the service loses it. Which wrap-ups an operator still owes is read
from the calls they answered (the history writer's ``calls`` and ``call_legs``): an answered
call of the last hours with no disposition and no saved wrap-up of theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls import events as ev
from contact_center.customers import services as customers
from contact_center.history.access import (
    Principal,
    calls_clause,
    customer_visible,
    load_principal,
)
from contact_center.history.writer import insert_ignoring_duplicates
from contact_center.i18n import gettext as _
from contact_center.store.db import from_epoch, utcnow
from contact_center.store.models import (
    Call,
    CallLeg,
    Customer,
    InteractionEvent,
    Queue,
    User,
    Wrapup,
)
from contact_center.web import console_schemas as schemas
from contact_center.web.forms import errors_text

PENDING_WINDOW = timedelta(hours=12)  # an unsaved wrap-up older than this is not asked again
CONTACT_FIELDS = schemas.CONTACT_FIELDS

Sessions = async_sessionmaker[AsyncSession]


class InvalidInput(ValueError):
    """A form the user must correct; the message says how (translated)."""


def _refusal(exc: ValidationError) -> InvalidInput:
    return InvalidInput(errors_text(exc))


@dataclass(frozen=True, slots=True)
class WrapupForm:
    disposition: str
    notes: str
    customer_id: int | None

    @classmethod
    def parse(
        cls, fields: Mapping[str, str], *, draft: bool = False, allowed: tuple[str, ...] = ()
    ) -> WrapupForm:
        """A wrap-up from a form, checked by its schema (:mod:`.console_schemas`); a draft
        may lack the disposition, a saved one may not."""
        model = schemas.WrapupDraftForm if draft else schemas.WrapupForm
        try:
            form = model.model_validate(dict(fields), context={"dispositions": allowed})
        except ValidationError as exc:
            raise _refusal(exc) from None
        return cls.of(form)

    @classmethod
    def of(cls, form: schemas.WrapupDraftForm) -> WrapupForm:
        return cls(form.disposition, form.notes, form.customer_id)


@dataclass(frozen=True, slots=True)
class PendingWrapup:
    server: str
    call_id: str
    customer_id: int | None
    customer_name: str
    caller_number: str
    disposition: str
    notes: str
    started_at: datetime  # when the wrap-up began: the call's end (or the first draft)

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "call_id": self.call_id,
            "customer_id": self.customer_id,
            "customer_name": self.customer_name,
            "caller_number": self.caller_number,
            "disposition": self.disposition,
            "notes": self.notes,
            "started_at": self.started_at.timestamp(),
        }


def wrapup_key(server: str, call_id: str, login: str) -> str:
    """One wrap-up per operator per call: saving again corrects it, never duplicates."""
    return ev.make_key("operator.wrapup", server, call_id, login)


async def _row(db: AsyncSession, server: str, call_id: str, login: str) -> Wrapup | None:
    found = await db.execute(
        select(Wrapup).where(
            Wrapup.server == server, Wrapup.linkedid == call_id, Wrapup.login == login
        )
    )
    return found.scalar_one_or_none()


def _new_row(
    server: str, call_id: str, login: str, form: WrapupForm, now: datetime, *, saved: bool = False
) -> Wrapup:
    """The wrap-up row of a call the operator had not typed anything for yet."""
    return Wrapup(
        server=server,
        linkedid=call_id,
        login=login,
        customer_id=form.customer_id,
        disposition=form.disposition,
        notes=form.notes,
        started_at=now,
        updated_at=now,
        saved_at=now if saved else None,
    )


async def save_draft(
    sessions: Sessions, *, server: str, call_id: str, login: str, form: WrapupForm, at: float
) -> None:
    """Keep what the operator typed so far (not the history: nothing is decided yet)."""
    now = from_epoch(at)
    async with sessions.begin() as db:
        row = await _row(db, server, call_id, login)
        if row is None:
            db.add(_new_row(server, call_id, login, form, now))
            return
        if row.saved_at is not None:
            return  # saved already: a late draft must not reopen it
        row.disposition, row.notes, row.updated_at = form.disposition, form.notes, now
        if form.customer_id is not None:
            row.customer_id = form.customer_id


async def save_wrapup(
    sessions: Sessions,
    *,
    server: str,
    call_id: str,
    login: str,
    interface: str,
    form: WrapupForm,
    at: float,
) -> ev.OperatorAction:
    """Save the wrap-up: the row, the customer's history (under the event's key, so the
    history consumer writing the published event later changes nothing) and the call's
    disposition (also when saved while the call is still on). Returns the event to publish."""
    event = ev.OperatorAction(
        server=server,
        call_id=call_id,
        at=at,
        key=wrapup_key(server, call_id, login),
        user=login,
        action="wrapup",
        detail={"disposition": form.disposition, "notes": form.notes, "interface": interface},
        customer_id=form.customer_id,
    )
    data = dict(event.detail)
    summary = f"Wrap-up: {form.disposition}"
    now = from_epoch(at)
    async with sessions.begin() as db:
        row = await _row(db, server, call_id, login)
        if row is None:
            db.add(_new_row(server, call_id, login, form, now, saved=True))
        else:
            row.disposition, row.notes = form.disposition, form.notes
            row.updated_at = row.saved_at = now
            if form.customer_id is not None:
                row.customer_id = form.customer_id
        history = (
            await db.execute(select(InteractionEvent).where(InteractionEvent.key == event.key))
        ).scalar_one_or_none()
        if history is None:
            db.add(
                InteractionEvent(
                    key=event.key,
                    customer_id=form.customer_id,
                    server=server,
                    call_linkedid=call_id,
                    kind="operator.wrapup",
                    at=now,
                    actor=login,
                    summary=summary,
                    data=data,
                )
            )
        else:
            history.summary, history.data, history.at = summary, data, now
            if form.customer_id is not None:
                history.customer_id = form.customer_id
        # The call's row may not be written yet: the history writer batches, and an operator
        # may save a second after answering. Its skeleton row (what the writer upserts
        # first; the call's events fill it in) takes the disposition now — the writer skips
        # this wrap-up's event, whose key the history row above already holds.
        skeleton = {"server": server, "linkedid": call_id, "started_at": now, "ivr_path": {}}
        await db.execute(insert_ignoring_duplicates(db, Call), [skeleton])
        await db.execute(
            update(Call)
            .where(Call.server == server, Call.linkedid == call_id)
            .values(disposition=form.disposition[: schemas.MAX_DISPOSITION])
        )
    return event


async def pending_wrapups(
    sessions: Sessions, *, login: str, interface: str, now: datetime | None = None
) -> list[PendingWrapup]:
    """The wrap-ups ``login`` still owes, oldest first: drafts not saved, and answered calls
    of theirs (the first operator, or a later one with an operator leg) that ended without
    a disposition."""
    now = now or utcnow()
    since = now - PENDING_WINDOW
    async with sessions() as db:
        mine = {
            (w.server, w.linkedid): w
            for w in (
                await db.scalars(
                    select(Wrapup).where(Wrapup.login == login, Wrapup.updated_at >= since)
                )
            ).all()
        }
        calls: list[Call] = []
        if interface:
            legs = select(CallLeg.call_id).where(
                CallLeg.role == "operator", CallLeg.channel == interface
            )
            calls = list(
                (
                    await db.scalars(
                        select(Call)
                        .where(
                            Call.started_at >= since,
                            Call.answered_at.is_not(None),
                            Call.disposition == "",
                            or_(Call.operator_interface == interface, Call.id.in_(legs)),
                        )
                        .order_by(Call.started_at)
                        .limit(50)
                    )
                ).all()
            )
        out: dict[tuple[str, str], PendingWrapup] = {}
        names: dict[int, str] = {}
        wanted = {c.customer_id for c in calls} | {w.customer_id for w in mine.values()}
        ids = [i for i in wanted if i is not None]
        if ids:
            rows = await db.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids)))
            names = {i: n for i, n in rows.all()}
        for call in calls:
            draft = mine.get((call.server, call.linkedid))
            if draft is not None and draft.saved_at is not None:
                continue
            customer_id = (draft.customer_id if draft else None) or call.customer_id
            out[(call.server, call.linkedid)] = PendingWrapup(
                server=call.server,
                call_id=call.linkedid,
                customer_id=customer_id,
                customer_name=names.get(customer_id, "") if customer_id else "",
                caller_number=call.caller_number or call.caller_number_raw,
                disposition=draft.disposition if draft else "",
                notes=draft.notes if draft else "",
                started_at=call.ended_at or call.answered_at or call.started_at,
            )
        for key, draft in mine.items():
            if draft.saved_at is not None or key in out:
                continue
            out[key] = PendingWrapup(
                server=draft.server,
                call_id=draft.linkedid,
                customer_id=draft.customer_id,
                customer_name=names.get(draft.customer_id, "") if draft.customer_id else "",
                caller_number="",
                disposition=draft.disposition,
                notes=draft.notes,
                started_at=draft.started_at,
            )
    return sorted(out.values(), key=lambda p: p.started_at)


# --- the caller, created or corrected from the pop ------------------------------------------


def contact_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """The contact fields an operator may correct, checked (:class:`.ContactForm`); only
    those given."""
    try:
        return schemas.ContactForm.model_validate(dict(fields)).values()
    except ValidationError as exc:
        raise _refusal(exc) from None


async def create_customer(
    sessions: Sessions, form: schemas.CustomerForm, *, region: str, area_code: str = ""
) -> int:
    """A new customer from the pop's "Unknown caller" form (checked: name required, phone
    optional)."""
    data: dict[str, Any] = {"name": form.name, "company": form.company}
    if form.phone:
        data["phones"] = [{"number": form.phone}]
    async with sessions.begin() as db:
        try:
            customer = await customers.create_customer(db, data, region=region, area_code=area_code)
        except customers.CustomerError as exc:
            raise InvalidInput(
                _("%(value)s is not a phone number we can store", value=repr(form.phone))
                if "phone" in str(exc)
                else str(exc)
            ) from None
        return customer.id


async def update_contact(
    sessions: Sessions,
    customer_id: int,
    fields: Mapping[str, str],
    *,
    login: str,
    server: str = "",
    call_id: str = "",
    at: float,
) -> dict[str, str]:
    """Correct the customer's contact fields; what changed (old → new) is written to the
    customer's timeline with who did it. Returns the fields that changed."""
    values = contact_fields(fields)
    async with sessions.begin() as db:
        customer = await db.get(Customer, customer_id)
        if customer is None:
            raise InvalidInput(_("No such customer"))
        changed = {
            name: value for name, value in values.items() if getattr(customer, name) != value
        }
        if not changed:
            return {}
        before = {name: getattr(customer, name) for name in changed}
        for name, value in changed.items():
            setattr(customer, name, value)
        customer.updated_at = from_epoch(at)
        db.add(
            InteractionEvent(
                key=ev.make_key("customer.updated", customer_id, login, at),
                customer_id=customer_id,
                server=server,
                call_linkedid=call_id,
                kind="customer.updated",
                at=from_epoch(at),
                actor=login,
                summary=f"Contact details changed: {', '.join(sorted(changed))}"[:400],
                data={"before": before, "after": changed},
            )
        )
    return changed


# --- my calls today ---------------------------------------------------------------------------


async def calls_today(
    sessions: Sessions, *, interface: str, since: datetime, limit: int = 50
) -> list[dict[str, Any]]:
    """The calls this operator took (or placed) since ``since``, newest first."""
    if not interface:
        return []
    async with sessions() as db:
        legs = select(CallLeg.call_id).where(
            CallLeg.role == "operator", CallLeg.channel == interface
        )
        rows = (
            await db.execute(
                select(Call, Customer.name)
                .outerjoin(Customer, Customer.id == Call.customer_id)
                .where(
                    Call.started_at >= since,
                    or_(Call.operator_interface == interface, Call.id.in_(legs)),
                )
                .order_by(Call.started_at.desc())
                .limit(limit)
            )
        ).all()
    return [
        {
            "server": call.server,
            "call_id": call.linkedid,
            "direction": call.direction,
            "number": call.caller_number or call.caller_number_raw,
            "customer_id": call.customer_id,
            "customer": name or "",
            "started_at": call.started_at.timestamp(),
            "talk_seconds": round(call.talk_seconds or 0.0),
            "outcome": call.outcome,
            "disposition": call.disposition,
        }
        for call, name in rows
    ]


# --- who may act on what (the console's access checks) ------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """The signed-in user, as the checks need them."""

    user_id: int
    login: str
    role: str
    interface: str


async def _principal(db: AsyncSession, actor: Actor) -> Principal:
    return await load_principal(
        db, user_id=actor.user_id, login=actor.login, role=actor.role, interface=actor.interface
    )


async def call_in_scope(sessions: Sessions, actor: Actor, server: str, call_id: str) -> bool:
    """Is the call one of the actor's (operators: offered to them; supervisors: of their
    queues), by the call record the history writer keeps (:mod:`.history.access`)?"""
    async with sessions() as db:
        found = await db.execute(
            select(Call.id).where(
                Call.server == server,
                Call.linkedid == call_id,
                calls_clause(await _principal(db, actor)),
            )
        )
        return found.first() is not None


async def customer_in_scope(sessions: Sessions, actor: Actor, customer_id: int) -> bool:
    async with sessions() as db:
        return await customer_visible(db, await _principal(db, actor), customer_id)


async def customer_exists(sessions: Sessions, customer_id: int) -> bool:
    async with sessions() as db:
        found = await db.execute(select(Customer.id).where(Customer.id == customer_id))
        return found.scalar_one_or_none() is not None


async def customer_on_call(sessions: Sessions, server: str, call_id: str, customer_id: int) -> bool:
    """Is this the customer of the call as the history has it (the call's record, or
    identified on it by the IVR or an operator)?"""
    async with sessions() as db:
        on_call = await db.execute(
            select(Call.id).where(
                Call.server == server, Call.linkedid == call_id, Call.customer_id == customer_id
            )
        )
        if on_call.first() is not None:
            return True
        in_history = await db.execute(
            select(InteractionEvent.id)
            .where(
                InteractionEvent.server == server,
                InteractionEvent.call_linkedid == call_id,
                InteractionEvent.customer_id == customer_id,
            )
            .limit(1)
        )
        return in_history.first() is not None


# --- whom to transfer to ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Colleague:
    login: str
    name: str
    extension: str
    interface: str


async def transfer_directory(sessions: Sessions) -> tuple[list[Colleague], set[str]]:
    """Active operators with a phone, and the queues' names."""
    async with sessions() as db:
        users = (
            await db.execute(
                select(User.login, User.display_name, User.extension, User.interface).where(
                    User.active.is_(True), User.role == "operator", User.interface != ""
                )
            )
        ).all()
        queue_names = set((await db.scalars(select(Queue.name))).all())
    return [Colleague(*row) for row in users], queue_names
