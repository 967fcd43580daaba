"""The customers API's queries and answers as pydantic models
(:mod:`contact_center.customers.http`): the handlers read with them, the OpenAPI document is
written from them (:mod:`contact_center.web.forms`). The REST bodies (a customer, a payment,
an order) are still checked by :mod:`contact_center.customers.services`, which the IVR's data
import shares."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from contact_center.web.forms import refuse

MAX_QUERY = 100
DEFAULT_LIMIT = 25
MAX_LIMIT = 100


class PageQuery(BaseModel):
    """The search page's query (the page shows the first 25)."""

    q: str = Field(
        default="",
        description="What to look for (at most 100 characters); empty finds nothing.",
        json_schema_extra={"maxLength": MAX_QUERY},
    )

    @field_validator("q", mode="before")
    @classmethod
    def _q(cls, value: Any) -> str:
        query = str(value or "")
        if len(query) > MAX_QUERY:
            raise refuse(f"q: at most {MAX_QUERY} characters")
        return query


class SearchQuery(PageQuery):
    limit: int = Field(default=DEFAULT_LIMIT, description="At most this many (clamped to 1..100).")

    @field_validator("limit", mode="before")
    @classmethod
    def _limit(cls, value: Any) -> int:
        raw = str(value or "")
        try:
            number = int(raw) if raw else DEFAULT_LIMIT
        except ValueError:
            raise refuse("limit: expected a number") from None
        return max(1, min(number, MAX_LIMIT))


class FoundPhone(BaseModel):
    number: str = Field(description="E.164")
    label: str


class FoundCustomer(BaseModel):
    id: int
    name: str
    company: str
    vip: bool
    account_number: str
    phones: list[FoundPhone]


class FoundCustomers(BaseModel):
    items: list[FoundCustomer]
