"""The webhooks API's requests and answers as pydantic models
(:mod:`contact_center.webhooks.http`): the handlers read with them, the OpenAPI document is
written from them (:mod:`contact_center.web.forms`). Which kinds and URLs are allowed is the
store's and the target policy's word (their refusals are the 400's text)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contact_center.i18n import gettext as _
from contact_center.web.forms import refuse
from contact_center.webhooks.repository import STATUSES
from contact_center.webhooks.targets import WEBHOOK_KINDS

SHAPE = 'expected {"url": str, "kinds": [str], "description": str}'
KIND: Any = {"type": "string", "enum": list(WEBHOOK_KINDS)}  # as components' WebhookKind


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str = Field(default="", json_schema_extra={"format": "uri", "maxLength": 400})
    kinds: list[str] = Field(default_factory=list, json_schema_extra={"minItems": 1, "items": KIND})
    description: str = ""

    @field_validator("url", "description", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return str(value)

    @field_validator("kinds", mode="before")
    @classmethod
    def _kinds(cls, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise refuse(SHAPE)
        return [str(k) for k in value]


class DeliveriesQuery(BaseModel):
    status: str = Field(default="", json_schema_extra={"enum": list(STATUSES)})

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> str:
        status = str(value or "")
        if status and status not in STATUSES:
            raise refuse(_("status must be one of %(statuses)s", statuses=", ".join(STATUSES)))
        return status


class Webhook(BaseModel):
    id: int
    url: str
    kinds: list[str]
    description: str
    active: bool
    created_at: str | None = Field(json_schema_extra={"format": "date-time"})


class WebhookList(BaseModel):
    items: list[Webhook]


class WebhookMade(BaseModel):
    webhook: Webhook
    secret: str = Field(description="The signing secret; shown this once")


class Delivery(BaseModel):
    id: int
    webhook_id: int
    url: str
    event_key: str
    event_kind: str
    status: Literal["pending", "sending", "delivered", "dead"]
    attempts: int
    last_status: int = 0
    last_error: str = ""
    created_at: str | None = None
    next_attempt_at: str | None = None
    delivered_at: str | None = None


class DeliveryList(BaseModel):
    items: list[Delivery]


class RetryQueued(BaseModel):
    status: Literal["pending"]
