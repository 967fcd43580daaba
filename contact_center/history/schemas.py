"""The history API's queries as pydantic models (:mod:`contact_center.history.http`): the
handlers read with them, the OpenAPI document is written from them
(:mod:`contact_center.web.forms`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from contact_center.history.views import TOPICS, TimelineFilter
from contact_center.i18n import gettext as _
from contact_center.web.forms import refuse

MAX_INT = 2**63 - 1  # the database's BIGINT: a larger number would fail the query (500)


def number(value: Any, name: str) -> int:
    try:
        found = int(str(value))
    except ValueError:
        raise refuse(f"{name}: expected a number") from None
    if abs(found) > MAX_INT:
        raise refuse(f"{name}: out of range")
    return found


def _moment(value: str) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class HistoryFilters(BaseModel):
    """Which rows: kinds, topics, a period, one call, a text."""

    kind: list[str] = Field(
        default_factory=list,
        description="Event kinds to keep (repeat the parameter for several).",
        json_schema_extra={"items": {"type": "string", "examples": ["call.arrived"]}},
    )
    topic: list[str] = Field(
        default_factory=list,
        description="Rows of these topics (any of them, and of any `kind` given): ivr, calls, "
        "notes, dispositions, qa (QA scores), callbacks, costs, recordings.",
        json_schema_extra={"items": {"type": "string", "enum": list(TOPICS)}},
    )
    since: str = Field(
        default="",
        description="ISO date or time (UTC when no offset).",
        json_schema_extra={"format": "date-time"},
    )
    until: str = Field(
        default="",
        description="ISO date or time (UTC when no offset).",
        json_schema_extra={"format": "date-time"},
    )
    call: str = Field(default="", description="Only this call's events (linkedid).")
    q: str = Field(default="", description="Text in the summary (first 200 characters used).")

    @field_validator("kind", mode="before")
    @classmethod
    def _kinds(cls, value: Any) -> list[str]:
        return [str(k) for k in (value or []) if k]

    @field_validator("topic", mode="before")
    @classmethod
    def _topics(cls, value: Any) -> list[str]:
        topics = list(dict.fromkeys(str(t) for t in (value or []) if t))
        for topic in topics:
            if topic not in TOPICS:
                raise refuse(_("topic: one of %(topics)s", topics=", ".join(TOPICS)))
        return topics

    @field_validator("since", "until", mode="before")
    @classmethod
    def _moment(cls, value: Any, info: ValidationInfo) -> str:
        raw = str(value or "")
        if raw:
            try:
                datetime.fromisoformat(raw)
            except ValueError:
                raise refuse(f"{info.field_name}: expected an ISO date or time") from None
        return raw

    def to_filter(self) -> TimelineFilter:
        return TimelineFilter(
            kinds=tuple(self.kind),
            topics=tuple(self.topic),
            since=_moment(self.since),
            until=_moment(self.until),
            call=self.call,
            text=self.q[:200],
        )


class TimelineQuery(HistoryFilters):
    limit: int = Field(default=50, description="Page size (clamped to 1..500).")
    cursor: str = Field(default="", description="The `next_cursor` of the previous page.")

    @field_validator("limit", mode="before")
    @classmethod
    def _limit(cls, value: Any) -> int:
        return number(value, "limit")


class ExportQuery(HistoryFilters):
    customer: int | None = Field(default=None, description="Only this customer's rows.")

    @field_validator("customer", mode="before")
    @classmethod
    def _customer(cls, value: Any) -> int | None:
        return number(value, "customer") if value not in (None, "") else None
