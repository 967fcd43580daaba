"""Callbacks' forms, queries and answers as pydantic models
(:mod:`contact_center.callbacks.http`): the handlers read with them, the OpenAPI document is
written from them (:mod:`contact_center.web.forms`).

The page's form is checked against the call center's region and time zone, and the time now,
given in the validation context (``region``, ``zone``, ``now``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from contact_center.customers.phones import normalize_number
from contact_center.i18n import gettext as _
from contact_center.web.forms import Form, refuse


def _context(info: ValidationInfo) -> dict[str, Any]:
    return dict(info.context or {})


class CallbackForm(Form):
    """A new callback from the page: the number, when (empty: as soon as possible), the
    queue, the customer, a note; an operator may take it herself."""

    number: str = Field(description="Any written form; stored in E.164.")
    when: datetime | None = Field(default=None, description="In the call center's time zone.")
    queue: str = ""
    customer_id: int | None = None
    note: str = ""
    assign_to_me: bool = False

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> str:
        raw = str(value or "").strip()[:64]
        number = normalize_number(raw, region=_context(info).get("region", "RU"))
        if not number.e164:
            if not raw:
                raise refuse(_("enter the number to call back"))
            raise refuse(_("%(number)s is not a phone number we can dial", number=raw))
        return number.e164

    @field_validator("when", mode="before")
    @classmethod
    def _when(cls, value: Any, info: ValidationInfo) -> datetime | None:
        """A datetime-local value in the call center's time zone → UTC; empty: ASAP."""
        raw = str(value or "").strip()
        if not raw:
            return None
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise refuse(
                _("the time must look like %(example)s", example="2026-12-07T10:30")
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_context(info).get("zone", UTC))
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise refuse(_("that time has passed")) from None
        now = _context(info).get("now") or datetime.now(UTC)
        if moment < now - timedelta(minutes=1):
            raise refuse(_("that time has passed"))
        return moment

    @field_validator("queue", mode="before")
    @classmethod
    def _queue(cls, value: Any) -> str:
        return str(value or "").strip()[:80]

    @field_validator("customer_id", mode="before")
    @classmethod
    def _customer(cls, value: Any) -> int | None:
        raw = str(value or "").strip()
        if not raw:
            return None
        if not raw.isdigit() or not raw.isascii() or len(raw) > 18:
            raise refuse(_("there is no customer %(id)s", id=raw))
        return int(raw)

    @field_validator("note", mode="before")
    @classmethod
    def _note(cls, value: Any) -> str:
        return str(value or "")[:1000]

    @field_validator("assign_to_me", mode="before")
    @classmethod
    def _mine(cls, value: Any) -> bool:
        return value == "on"


class CallbacksQuery(BaseModel):
    all: str = Field(
        default="",
        description="1: finished callbacks too (reached, given up, cancelled).",
        json_schema_extra={"enum": ["", "1"]},
    )


class CallbackOut(BaseModel):
    id: int
    customer: str = ""
    customer_id: int | None = None
    number: str
    queue: str
    note: str = ""
    status: Literal["pending", "dialing", "reached", "failed", "cancelled"]
    status_words: str = ""
    due: str = Field(description="In the call center's time zone, or 'as soon as possible'")
    requested: str = ""
    requested_by: str = ""
    assigned: str = ""
    assigned_login: str = ""
    attempts: int
    last: str = Field(default="", description="How the last attempt ended")
    overdue: bool


class CallbackList(BaseModel):
    items: list[CallbackOut]


class CallbackCounts(BaseModel):
    waiting: int
    dialing: int
    overdue: int = Field(description="Waiting more than 15 minutes past their time")


class CallbackSummary(CallbackCounts):
    queues: dict[str, CallbackCounts]
