"""A campaign's settings as a pydantic model: the page's form and the JSON API are both read
with it (:func:`contact_center.campaigns.store.campaign_fields`), and the OpenAPI document is
written from it (:mod:`contact_center.web.forms`).

Values come as a form's text or as JSON; each check words its refusal for the supervisor
(translated), as the page shows it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from contact_center.campaigns.pacing import MODES
from contact_center.campaigns.policy import Window
from contact_center.i18n import gettext as _
from contact_center.web.forms import refuse

Mode = Literal["preview", "progressive", "predictive"]
Names = Annotated[
    list[str], Field(json_schema_extra={"items": {"type": "string", "maxLength": 80}})
]
# (default, low, high) of the whole-number settings
INTS: dict[str, tuple[int, int, int]] = {
    "max_attempts": (3, 1, 20),
    "retry_no_answer_minutes": (60, 1, 10080),
    "retry_busy_minutes": (15, 1, 10080),
    "retry_machine_minutes": (240, 1, 10080),
    "dial_timeout": (25, 5, 120),
}


def _names(raw: Any) -> list[str]:
    if isinstance(raw, (list, tuple)):
        items = [str(x) for x in raw]
    else:
        items = str(raw or "").replace(";", ",").split(",")
    return sorted({x.strip()[:80] for x in items if x.strip()})


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class CampaignSearch(BaseModel):
    """Customers to put on the new campaign's list (as the customer search finds them)."""

    model_config = ConfigDict(extra="ignore")
    text: str = ""
    segment: str = ""

    @field_validator("text", "segment", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return str(value)


class CampaignIn(BaseModel):
    """A campaign's settings (a new one, or the page's edit of one)."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(json_schema_extra={"minLength": 1, "maxLength": 120})
    mode: Mode = "progressive"
    script: str = Field(default="", json_schema_extra={"maxLength": 5000})
    queues: Names = Field(default_factory=list)
    operators: Names = Field(default_factory=list)
    window_start: str = Field(default="09:00", description="HH:MM in the customer's zone")
    window_end: str = "20:00"
    window_days: str = Field(default="12345", description="ISO weekdays, e.g. 12345")
    default_tz: str = Field(default="", description="the customers' zone when unknown")
    abandon_cap_percent: float = Field(default=3.0, ge=0, le=10)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_no_answer_minutes: int = Field(default=60, ge=1, le=10080)
    retry_busy_minutes: int = Field(default=15, ge=1, le=10080)
    retry_machine_minutes: int = Field(default=240, ge=1, le=10080)
    dial_timeout: int = Field(default=25, ge=5, le=120)
    ends_at: datetime | None = None
    search: CampaignSearch | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_is_read(cls, data: Any) -> Any:
        return {"name": "", **data} if isinstance(data, dict) else data

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str:
        name = str(value).strip()[:120]
        if not name:
            raise refuse(_("a campaign needs a name"))
        return name

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> str:
        mode = str(value or "progressive")
        if mode not in MODES:
            raise refuse(_("mode: one of %(modes)s", modes=", ".join(MODES)))
        return mode

    @field_validator("script", mode="before")
    @classmethod
    def _script(cls, value: Any) -> str:
        return str(value)[:5000]

    @field_validator("queues", "operators", mode="before")
    @classmethod
    def _list(cls, value: Any) -> list[str]:
        return _names(value)

    @field_validator("window_start", "window_end", "window_days", mode="before")
    @classmethod
    def _window(cls, value: Any, info: ValidationInfo) -> str:
        default = cls.model_fields[str(info.field_name)].default
        return str(value or default)

    @field_validator("default_tz", mode="before")
    @classmethod
    def _zone(cls, value: Any) -> str:
        return str(value or "").strip()[:64]

    @field_validator("abandon_cap_percent", mode="before")
    @classmethod
    def _cap(cls, value: Any) -> float:
        raw = str(value or "").strip()
        try:
            percent = float(raw) if raw else 3.0
        except ValueError:
            raise refuse(_("abandon cap: a percentage such as 3")) from None
        if not 0.0 <= percent / 100.0 <= 0.1:
            raise refuse(_("abandon cap: between 0 and 10 %"))
        return percent

    @field_validator(*INTS, mode="before")
    @classmethod
    def _int(cls, value: Any, info: ValidationInfo) -> int:
        name = str(info.field_name)
        default, low, high = INTS[name]
        raw = str(value or "").strip()
        if not raw:
            return default
        try:
            number = int(raw)
        except ValueError:
            raise refuse(
                _("%(field)s: expected a whole number", field=name.replace("_", " "))
            ) from None
        if not low <= number <= high:
            raise refuse(
                _(
                    "%(field)s: between %(low)s and %(high)s",
                    field=name.replace("_", " "),
                    low=low,
                    high=high,
                )
            )
        return number

    @field_validator("ends_at", mode="before")
    @classmethod
    def _ends(cls, value: Any) -> datetime | None:
        raw = str(value or "").strip()
        if not raw:
            return None
        try:
            return _aware(datetime.fromisoformat(raw)).astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: year 1 in another zone
            raise refuse(_("end: a date and time such as 2026-12-31T18:00")) from None

    @field_validator("search", mode="before")
    @classmethod
    def _search(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else None  # anything else: no search

    @model_validator(mode="after")
    def _together(self) -> CampaignIn:
        try:
            window = Window.parse(self.window_start, self.window_end, self.window_days)
        except ValueError as exc:
            raise refuse(str(exc)) from None
        self.window_start = window.start.strftime("%H:%M")
        self.window_end = window.end.strftime("%H:%M")
        self.window_days = window.days
        if not self.queues and not self.operators:
            raise refuse(_("assign at least one queue or operator"))
        if self.mode == "predictive" and not self.queues:
            raise refuse(_("a predictive campaign connects people through a queue: choose one"))
        return self

    def columns(self) -> dict[str, Any]:
        """The campaign's columns."""
        return {
            "name": self.name,
            "mode": self.mode,
            "script": self.script,
            "queues": {"names": self.queues},
            "operators": {"logins": self.operators},
            "window_start": self.window_start,
            "window_end": self.window_end,
            "window_days": self.window_days,
            "default_tz": self.default_tz,
            "max_attempts": self.max_attempts,
            "retry_no_answer_minutes": self.retry_no_answer_minutes,
            "retry_busy_minutes": self.retry_busy_minutes,
            "retry_machine_minutes": self.retry_machine_minutes,
            "dial_timeout": self.dial_timeout,
            "abandon_cap": self.abandon_cap_percent / 100.0,
            "ends_at": self.ends_at,
        }


class CampaignStatusIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: Literal["running", "paused"]

    @model_validator(mode="before")
    @classmethod
    def _status_is_read(cls, data: Any) -> Any:
        return {"status": "", **data} if isinstance(data, dict) else data

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> str:
        status = str(value)
        if status not in ("running", "paused"):
            raise refuse(_("a campaign is started (running) or paused"))
        return status


class CampaignOut(BaseModel):
    """A campaign with its live figures (and more, as the page shows it)."""

    model_config = ConfigDict(extra="allow")
    id: int
    name: str
    mode: Mode
    status: str


class CampaignList(BaseModel):
    items: list[dict[str, Any]]
