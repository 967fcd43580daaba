"""The statistics routes' queries, forms and answers as pydantic models
(:mod:`contact_center.stats.http`): the handlers read with them, the OpenAPI document is
written from them (:mod:`contact_center.web.forms`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contact_center.i18n import gettext as _
from contact_center.stats.reports import GROUPS, INTERVALS
from contact_center.web.forms import Form, refuse

ACTIONS = ("listen", "whisper", "barge", "pause", "unpause")
FORMATS = ("json", "csv")


class ReportQuery(BaseModel):
    """A report's period (a picked day or a time; without an offset in the reader's zone),
    its intervals, grouping, queues and format."""

    start: str = Field(
        default="",
        description="ISO date or time (default a day before `end`).",
        json_schema_extra={"format": "date-time"},
    )
    end: str = Field(
        default="",
        description="ISO date or time (default now).",
        json_schema_extra={"format": "date-time"},
    )
    interval: Literal["15min", "hour", "day"] = "hour"
    group: Literal["queue", "operator"] = "queue"
    queue: list[str] = Field(default_factory=list)
    format: str = Field(default="json", json_schema_extra={"enum": ["json", "csv"]})

    @field_validator("start", "end", mode="before")
    @classmethod
    def _moment(cls, value: Any) -> str:
        raw = str(value or "")
        if raw:
            try:
                datetime.fromisoformat(raw)
            except ValueError as exc:
                raise refuse(_("Not a date: %(reason)s", reason=exc)) from None
        return raw

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> str:
        if value not in INTERVALS:
            raise refuse(f"unknown interval {value!r} (one of {', '.join(INTERVALS)})")
        return str(value)

    @field_validator("group", mode="before")
    @classmethod
    def _group(cls, value: Any) -> str:
        if value not in GROUPS:
            raise refuse(f"unknown grouping {value!r} (queue or operator)")
        return str(value)

    @field_validator("queue", mode="before")
    @classmethod
    def _queues(cls, value: Any) -> list[str]:
        return [str(q) for q in (value or []) if q]


class ReportRows(BaseModel):
    rows: list[dict[str, Any]]


class Snapshot(BaseModel):
    """The latest wallboard snapshot (what the stats worker publishes)."""

    model_config = ConfigDict(extra="allow")
    queues: dict[str, Any] = Field(default_factory=dict)
    operators: dict[str, Any] = Field(default_factory=dict)
    day: str = ""
    at: float = 0.0


class WallboardActionForm(Form):
    """Listen / whisper / barge / force pause or unpause an operator's phone."""

    action: Literal["listen", "whisper", "barge", "pause", "unpause"]
    interface: str = Field(min_length=1, max_length=80)
    reason: str = Field(
        default="", description="a pause reason (pause)", json_schema_extra={"maxLength": 80}
    )

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> str:
        action = str(value or "")
        if action not in ACTIONS:
            raise refuse(f"unknown action {action[:20]!r} ({', '.join(ACTIONS)})")
        return action

    @field_validator("interface", mode="before")
    @classmethod
    def _interface(cls, value: Any) -> str:
        interface = str(value or "").strip()[:80]
        if not interface:
            raise refuse("interface is required")
        return interface

    @field_validator("reason", mode="before")
    @classmethod
    def _reason(cls, value: Any) -> str:
        return str(value or "")
