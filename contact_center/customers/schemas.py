"""The customers API's queries and answers as pydantic models
(:mod:`contact_center.customers.http`): the handlers read with them, the OpenAPI document is
written from them (:mod:`contact_center.web.forms`). The REST bodies (a customer, a PIN, a
payment, an order) are checked by these models in :mod:`contact_center.customers.services`,
which the IVR's data import shares: one schema for both."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from contact_center.customers.phones import normalize_number
from contact_center.customers.rows import FIELDS, PHONE_TYPES
from contact_center.i18n import gettext as _
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


# --- the REST bodies (customers/http.py), checked the same for the IVR's data import -------
#
# Each check words its refusal as the hand-written checks did (``name: expected a string``),
# in the user's language; the service answers the first one (services.checked). A field left
# out is not in ``model_fields_set``: an update changes only the fields given. The phones are
# read in the call center's region, given in the validation context (``region``,
# ``area_code``).

MAX_PHONES = 20
MAX_CUSTOM = 50
MAX_CUSTOM_TEXT = 1000
MAX_TEXT = 100_000
MAX_ORDER_NUMBER = 40
ORDER_STATUS_MAX = 40
PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")
MONEY_PATTERN = re.compile(r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
MONEY_SCHEMA = {
    "type": "string",
    "pattern": MONEY_PATTERN.pattern,
    "description": 'A decimal amount as a string, e.g. "12.50".',
}
CURRENCY_SCHEMA = {"type": "string", "pattern": CURRENCY_PATTERN.pattern}


def is_text(value: str) -> bool:
    """Storable text: no NUL (PostgreSQL refuses it) and no lone surrogate (JSON allows
    ``"\\udba3"``, UTF-8 does not)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(value: Any, name: str, limit: int) -> str:
    """A string field: null reads as empty; stripped; at most ``limit`` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise refuse(_("%(name)s: expected a string", name=name))
    if not is_text(value):
        raise refuse(_("%(name)s: not text (a NUL or an invalid character)", name=name))
    value = value.strip()
    if len(value) > limit:
        raise refuse(_("%(name)s: longer than %(limit)s characters", name=name, limit=limit))
    return value


def money(value: Any, name: str) -> Decimal:
    if not isinstance(value, str) or not MONEY_PATTERN.match(value.strip()):
        raise refuse(_('%(name)s: expected an amount as a string, like "12.50"', name=name))
    return Decimal(value.strip())  # the pattern allows only decimals


def currency(value: Any, name: str = "currency") -> str:
    if value in ("", None):
        return ""
    if not isinstance(value, str) or not CURRENCY_PATTERN.match(value):
        raise refuse(_("%(name)s: expected a three-letter code like RUB", name=name))
    return value


def moment(value: Any, name: str) -> datetime | None:
    """An ISO date and time (UTC when it names no zone); empty: None (now)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise refuse(_("%(name)s: expected an ISO date and time", name=name))
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise refuse(
            _(
                "%(name)s: expected an ISO date and time, got %(value)s",
                name=name,
                value=repr(value[:40]),
            )
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _known_only(data: Any, known: Iterable[str]) -> dict[str, Any]:
    """The body as a dict, refusing anything but a JSON object and unknown fields (the
    first, sorted, as the hand-written checks named it)."""
    if not isinstance(data, dict):
        raise refuse(_("expected a JSON object"))
    unknown = set(data) - set(known)
    if unknown:
        raise refuse(_("unknown field %(name)s", name=repr(sorted(map(str, unknown))[0])))
    return data


def _no_defaults(schema: dict[str, Any]) -> None:
    """A field left out is a field not changed (or the service's default): no ``default``
    in the document (an empty name is no name)."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


def _context(info: ValidationInfo) -> dict[str, Any]:
    return dict(info.context or {})


Money = Annotated[Decimal, WithJsonSchema(MONEY_SCHEMA)]
Currency = Annotated[str, WithJsonSchema(CURRENCY_SCHEMA)]


class CustomerPhoneInput(BaseModel):
    """A number (any written form; stored in E.164) and its type; a bare string is a number
    of no type."""

    model_config = ConfigDict(extra="ignore")

    number: str = Field(description="Any written form; stored in E.164.", max_length=64)
    type: str = Field(default="", json_schema_extra={"enum": ["", *PHONE_TYPES]})
    e164: SkipJsonSchema[str] = ""


class CustomerInput(BaseModel):
    """Every field is optional on update; a new customer needs a name. A phone number
    identifies no one: several customers may share it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_defaults)

    name: str = Field(default="", json_schema_extra={"minLength": 1, "maxLength": FIELDS["name"]})
    company: str = Field(default="", json_schema_extra={"maxLength": FIELDS["company"]})
    segment: str = Field(default="", json_schema_extra={"maxLength": FIELDS["segment"]})
    language: str = Field(default="", json_schema_extra={"maxLength": FIELDS["language"]})
    email: str = Field(default="", json_schema_extra={"maxLength": FIELDS["email"]})
    address: str = Field(default="", json_schema_extra={"maxLength": FIELDS["address"]})
    notes: str = Field(default="", json_schema_extra={"maxLength": FIELDS["notes"]})
    account_number: str | None = Field(
        default=None, json_schema_extra={"maxLength": FIELDS["account_number"]}
    )
    external_id: str | None = Field(
        default=None, json_schema_extra={"maxLength": FIELDS["external_id"]}
    )
    balance: Money | None = None
    currency: Currency = ""
    custom: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra={
            "maxProperties": MAX_CUSTOM,
            "additionalProperties": {"type": "string", "maxLength": MAX_CUSTOM_TEXT},
        },
    )
    phones: list[CustomerPhoneInput] = Field(
        default_factory=list,
        description="When given, the whole list.",
        json_schema_extra={"maxItems": MAX_PHONES},
    )

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        return _known_only(data, cls.model_fields)

    @field_validator(*FIELDS, mode="before")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> str | None:
        name = str(info.field_name)
        checked = text(value, name, min(FIELDS[name], MAX_TEXT))
        if name in ("account_number", "external_id"):
            return checked or None  # unique when given, absent otherwise
        return checked

    @field_validator("balance", mode="before")
    @classmethod
    def _balance(cls, value: Any) -> Decimal | None:
        return None if value is None else money(value, "balance")

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        return currency(value)

    @field_validator("phones", mode="before")
    @classmethod
    def _phones(cls, value: Any, info: ValidationInfo) -> list[CustomerPhoneInput]:
        """``[{"number": "8 916 …", "type": "mobile"}, …]`` → numbers in E.164, each once."""
        if not isinstance(value, list):
            raise refuse(_("phones: expected a list of {number, type}"))
        if len(value) > MAX_PHONES:
            raise refuse(_("phones: at most %(count)s", count=MAX_PHONES))
        context = _context(info)
        phones: dict[str, CustomerPhoneInput] = {}
        for item in value:
            if isinstance(item, str):
                item = {"number": item}
            if not isinstance(item, dict) or not isinstance(item.get("number"), str):
                raise refuse(_("phones: each is {number, type}"))
            raw = item["number"].strip()[:64]
            if not is_text(raw):
                raise refuse(_("phones: a number is not text"))
            kind = item.get("type") or ""
            if kind not in ("", *PHONE_TYPES):
                raise refuse(
                    _(
                        "phones: type %(type)s is not one of %(types)s",
                        type=repr(kind),
                        types=", ".join(PHONE_TYPES),
                    )
                )
            number = normalize_number(
                raw,
                region=context.get("region", "ZZ"),
                area_code=context.get("area_code", ""),
                with_display=False,
            )
            if number.e164 is None:
                raise refuse(
                    _("phones: %(number)s is not a phone number we can store", number=repr(raw))
                )
            phones.setdefault(
                number.e164, CustomerPhoneInput(number=raw, type=kind, e164=number.e164)
            )
        return list(phones.values())

    @field_validator("custom", mode="before")
    @classmethod
    def _custom(cls, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or len(value) > MAX_CUSTOM:
            raise refuse(
                _("custom: expected an object of at most %(count)s strings", count=MAX_CUSTOM)
            )
        for key, item in value.items():
            if (
                not isinstance(item, str)
                or len(item) > MAX_CUSTOM_TEXT
                or len(key) > 100
                or not is_text(key)
                or not is_text(item)
            ):
                raise refuse(_("custom: expected short strings, each valid text"))
        return dict(value)

    def columns(self) -> dict[str, Any]:
        """The customer columns the body gives (phones aside)."""
        given = self.model_fields_set - {"phones"}
        return {name: getattr(self, name) for name in type(self).model_fields if name in given}


class PinInput(BaseModel):
    pin: str | None = Field(
        description="4 to 12 digits; null removes it.",
        json_schema_extra={"pattern": PIN_PATTERN.pattern},
    )

    @model_validator(mode="before")
    @classmethod
    def _given(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "pin" not in data:
            raise refuse(_("pin: required (null removes it)"))
        return data

    @field_validator("pin", mode="before")
    @classmethod
    def _pin(cls, value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not PIN_PATTERN.match(value)):
            raise refuse(_("pin: 4 to 12 digits"))
        return value


class PaymentInput(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_defaults)

    amount: Money
    currency: Currency = Field(default="", description="Default: the customer's.")
    paid_at: datetime | None = Field(default=None, description="Default: now.")

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        data = _known_only(data, cls.model_fields)
        if "amount" not in data:
            raise refuse(_("amount: required"))
        return data

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Decimal:
        return money(value, "amount")

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        return currency(value)

    @field_validator("paid_at", mode="before")
    @classmethod
    def _paid_at(cls, value: Any) -> datetime | None:
        return moment(value, "paid_at")


class OrderInput(BaseModel):
    """A new order needs its customer (customer_id or external_id) and status."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_defaults)

    customer_id: int | None = None
    external_id: str | None = Field(
        default=None, json_schema_extra={"maxLength": FIELDS["external_id"]}
    )
    status: str | None = Field(
        default=None, json_schema_extra={"minLength": 1, "maxLength": ORDER_STATUS_MAX}
    )
    amount: Money | None = None
    currency: Currency | None = None

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        return _known_only(data, cls.model_fields)

    @field_validator("customer_id", mode="before")
    @classmethod
    def _customer_id(cls, value: Any) -> int | None:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise refuse(_("customer_id: expected an integer"))
        return value

    @field_validator("external_id", mode="before")
    @classmethod
    def _external_id(cls, value: Any) -> str | None:
        return None if value is None else text(value, "external_id", FIELDS["external_id"])

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> str:
        status = text(value, "status", ORDER_STATUS_MAX)
        if not status:
            raise refuse(_("status: must not be empty"))
        return status

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Decimal:
        return money(value, "amount")

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        return currency(value)


# --- the REST answers ------------------------------------------------------------------------


class OrderRecord(BaseModel):
    number: str
    customer_id: int
    status: str
    amount: str = Field(description="A decimal amount as a string.")
    currency: str


class PaymentRecord(BaseModel):
    id: int
    amount: str
    currency: str
    paid_at: datetime


class CustomerPhoneRecord(BaseModel):
    number: str = Field(description="E.164")
    type: str
    raw: str


class CustomerRecord(BaseModel):
    id: int
    external_id: str | None
    name: str
    company: str
    segment: str
    language: str
    email: str
    address: str
    notes: str
    account_number: str | None
    balance: str | None
    currency: str
    has_pin: bool = Field(description="The PIN itself is never shown; it is stored hashed.")
    phones: list[CustomerPhoneRecord]
    custom: dict[str, str]
    orders: list[OrderRecord]
    payments: list[PaymentRecord]


class PaymentCreated(BaseModel):
    payment_id: int
