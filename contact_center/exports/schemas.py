"""The export API's queries as pydantic models (:mod:`contact_center.exports.http`): the
handlers read with them, the OpenAPI document is written from them
(:mod:`contact_center.web.forms`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from contact_center.billing.reports import GROUPS, GroupBy
from contact_center.i18n import gettext as _
from contact_center.web.forms import refuse

DEFAULT_PERIOD = timedelta(days=30)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _moment(raw: str) -> datetime | None:
    if not raw:
        return None
    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class CustomersExportQuery(BaseModel):
    segment: str = Field(default="", description="Only this segment's customers.")


class ChargesQuery(BaseModel):
    group_by: str = Field(default="customer", json_schema_extra={"enum": list(GROUPS)})
    since: str = Field(
        default="",
        description="ISO date or time (default 30 days before `until`).",
        json_schema_extra={"format": "date-time"},
    )
    until: str = Field(
        default="",
        description="ISO date or time (default now).",
        json_schema_extra={"format": "date-time"},
    )
    timezone: str = Field(
        default="",
        description="IANA zone for cutting days (default the service's).",
        json_schema_extra={"examples": ["Europe/Moscow"]},
        validate_default=True,  # the default is the service's zone (the context's)
    )

    @field_validator("group_by", mode="before")
    @classmethod
    def _group(cls, value: Any) -> str:
        group_by = str(value or "customer")
        if group_by not in GROUPS:
            raise refuse(_("group_by must be one of %(groups)s", groups=", ".join(GROUPS)))
        return group_by

    @field_validator("since", "until", mode="before")
    @classmethod
    def _moment(cls, value: Any, info: ValidationInfo) -> str:
        raw, name = str(value or ""), str(info.field_name)
        if not raw:
            return raw
        try:
            moment = _moment(raw)
        except ValueError:
            raise refuse(_("%(name)s: expected an ISO date or time", name=name)) from None
        # Far dates would overflow the default period or the time-zone shift: 400, not 500.
        if moment is None or not EARLIEST <= moment <= LATEST:
            raise refuse(_("%(name)s: out of range (years 1900 to 8999)", name=name))
        return raw

    @field_validator("timezone", mode="before")
    @classmethod
    def _zone(cls, value: Any, info: ValidationInfo) -> str:
        zone = str(value or "") or str((info.context or {}).get("timezone", "") or "")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise refuse(_("timezone: unknown time zone")) from None
        return zone

    def period(self, now: datetime) -> tuple[datetime, datetime]:
        until = _moment(self.until) or now
        return _moment(self.since) or until - DEFAULT_PERIOD, until

    def grouping(self) -> GroupBy:
        return cast(GroupBy, self.group_by)
