"""Customers written one at a time (the REST API): checked input, the identity rules, the
IVR's data (balance, PIN, payments, orders).

A customer is identified by its id here, by its external id for other systems (an upsert
by external id is how a CRM or billing system keeps us in step), never by a phone number:
a number may be shared by several customers. PINs are stored as argon2 hashes only.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.customers.phones import normalize_number, phone_suffix
from contact_center.customers.rows import FIELDS, PHONE_TYPES
from contact_center.store.db import utcnow
from contact_center.store.models import Customer, CustomerPhone, Order, Payment

MAX_PHONES = 20
MAX_CUSTOM = 50
MAX_CUSTOM_TEXT = 1000
MAX_ID = 2**63 - 1  # BIGINT
PIN_PATTERN = re.compile(r"^[0-9]{4,12}$")
MONEY_PATTERN = re.compile(r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
ORDER_STATUSES_MAX = 40
_hasher = PasswordHasher()


class CustomerError(Exception):
    """Refused input; ``status`` is the HTTP answer it deserves (400, 404, 409)."""

    status = 400


class NotFound(CustomerError):
    status = 404


class Conflict(CustomerError):
    status = 409


@dataclass(frozen=True, slots=True)
class PhoneInput:
    e164: str
    raw: str
    type: str


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


def parse_text(data: Mapping[str, Any], name: str, limit: int) -> str:
    value = data[name]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CustomerError(f"{name}: expected a string")
    if not is_text(value):
        raise CustomerError(f"{name}: not text (a NUL or an invalid character)")
    value = value.strip()
    if len(value) > limit:
        raise CustomerError(f"{name}: longer than {limit} characters")
    return value


def parse_money(data: Mapping[str, Any], name: str) -> Decimal:
    value = data[name]
    if not isinstance(value, str) or not MONEY_PATTERN.match(value.strip()):
        raise CustomerError(f'{name}: expected an amount as a string, like "12.50"')
    try:
        return Decimal(value.strip())
    except InvalidOperation:  # pragma: no cover - the pattern allows only decimals
        raise CustomerError(f"{name}: not an amount") from None


def parse_currency(data: Mapping[str, Any], name: str = "currency") -> str:
    value = data.get(name, "")
    if value in ("", None):
        return ""
    if not isinstance(value, str) or not CURRENCY_PATTERN.match(value):
        raise CustomerError(f"{name}: expected a three-letter code like RUB")
    return value


def parse_time(data: Mapping[str, Any], name: str) -> datetime:
    value = data.get(name)
    if value in (None, ""):
        return utcnow()
    if not isinstance(value, str):
        raise CustomerError(f"{name}: expected an ISO date and time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise CustomerError(f"{name}: expected an ISO date and time, got {value[:40]!r}") from None


def parse_phones(value: Any, *, region: str, area_code: str = "") -> list[PhoneInput]:
    """``[{"number": "8 916 …", "type": "mobile"}, …]`` → numbers in E.164, each once."""
    if not isinstance(value, list):
        raise CustomerError("phones: expected a list of {number, type}")
    if len(value) > MAX_PHONES:
        raise CustomerError(f"phones: at most {MAX_PHONES}")
    phones: dict[str, PhoneInput] = {}
    for item in value:
        if isinstance(item, str):
            item = {"number": item}
        if not isinstance(item, dict) or not isinstance(item.get("number"), str):
            raise CustomerError("phones: each is {number, type}")
        raw = item["number"].strip()[:64]
        if not is_text(raw):
            raise CustomerError("phones: a number is not text")
        kind = item.get("type") or ""
        if kind not in ("", *PHONE_TYPES):
            raise CustomerError(f"phones: type {kind!r} is not one of {', '.join(PHONE_TYPES)}")
        number = normalize_number(raw, region=region, area_code=area_code, with_display=False)
        if number.e164 is None:
            raise CustomerError(f"phones: {raw!r} is not a phone number we can store")
        phones.setdefault(number.e164, PhoneInput(number.e164, raw, str(kind)))
    return list(phones.values())


def customer_fields(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The customer columns ``data`` sets, checked (all of them optional but a new name)."""
    if not isinstance(data, Mapping):
        raise CustomerError("expected a JSON object")
    unknown = set(data) - {*FIELDS, "phones", "custom", "balance", "currency"}
    if unknown:
        raise CustomerError(f"unknown field {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    for name, limit in FIELDS.items():
        if name in data:
            values[name] = parse_text(data, name, min(limit, 100_000))
    if creating and not values.get("name"):
        raise CustomerError("name: required")
    if "name" in values and not values["name"]:
        raise CustomerError("name: must not be empty")
    for name in ("account_number", "external_id"):
        if name in values:
            values[name] = values[name] or None  # unique when given, absent otherwise
    if "balance" in data:
        values["balance"] = None if data["balance"] is None else parse_money(data, "balance")
    if "currency" in data:
        values["currency"] = parse_currency(data)
    if "custom" in data:
        custom = data["custom"]
        if not isinstance(custom, dict) or len(custom) > MAX_CUSTOM:
            raise CustomerError(f"custom: expected an object of at most {MAX_CUSTOM} strings")
        for key, value in custom.items():
            if (
                not isinstance(value, str)
                or len(value) > MAX_CUSTOM_TEXT
                or len(key) > 100
                or not is_text(key)
                or not is_text(value)
            ):
                raise CustomerError("custom: expected short strings, each valid text")
        values["custom"] = dict(custom)
    return values


async def _check_unique(
    db: AsyncSession, values: Mapping[str, Any], customer_id: int | None
) -> None:
    for name in ("external_id", "account_number"):
        value = values.get(name)
        if value is None:
            continue
        column = getattr(Customer, name)
        owner = await db.scalar(select(Customer.id).where(column == value))
        if owner is not None and owner != customer_id:
            raise Conflict(f"{name} {value!r} belongs to customer {owner}")


def _set_phones(customer: Customer, phones: list[PhoneInput]) -> None:
    kept = {p.e164: p for p in customer.phones}
    wanted = {p.e164 for p in phones}
    for stored in list(customer.phones):
        if stored.e164 not in wanted:
            customer.phones.remove(stored)
    for phone in phones:
        stored_phone = kept.get(phone.e164)
        if stored_phone is None:
            customer.phones.append(
                CustomerPhone(
                    e164=phone.e164,
                    suffix=phone_suffix(phone.e164),
                    raw=phone.raw,
                    label=phone.type,
                )
            )
        else:
            stored_phone.label = phone.type
            stored_phone.raw = phone.raw


async def get_customer(db: AsyncSession, customer_id: int) -> Customer:
    if not 0 < customer_id <= MAX_ID:
        raise NotFound(f"no customer {customer_id}")
    customer = await db.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    return customer


async def create_customer(
    db: AsyncSession, data: Mapping[str, Any], *, region: str, area_code: str = ""
) -> Customer:
    values = customer_fields(data, creating=True)
    phones = parse_phones(data.get("phones", []), region=region, area_code=area_code)
    await _check_unique(db, values, None)
    now = utcnow()
    customer = Customer(**{"custom": {}, **values}, created_at=now, updated_at=now, phones=[])
    _set_phones(customer, phones)
    db.add(customer)
    await _flush(db)
    return customer


async def update_customer(
    db: AsyncSession,
    customer: Customer,
    data: Mapping[str, Any],
    *,
    region: str,
    area_code: str = "",
) -> Customer:
    """Change the fields ``data`` gives; ``phones``, when given, is the whole new list."""
    values = customer_fields(data, creating=False)
    phones = (
        parse_phones(data["phones"], region=region, area_code=area_code)
        if "phones" in data
        else None
    )
    await _check_unique(db, values, customer.id)
    for name, value in values.items():
        setattr(customer, name, value)
    if phones is not None:
        _set_phones(customer, phones)
    customer.updated_at = utcnow()
    await _flush(db)
    return customer


async def upsert_by_external_id(
    db: AsyncSession, external_id: str, data: Mapping[str, Any], *, region: str, area_code: str = ""
) -> tuple[Customer, bool]:
    """(the customer with this external id, created?) after applying ``data``."""
    external_id = external_id.strip()
    if not external_id or len(external_id) > FIELDS["external_id"] or not is_text(external_id):
        raise CustomerError(f"external_id: 1 to {FIELDS['external_id']} characters")
    if data.get("external_id") not in (None, external_id):
        raise CustomerError("external_id: the body names another one than the path")
    body = {**data, "external_id": external_id}
    owner = await db.scalar(select(Customer.id).where(Customer.external_id == external_id))
    if owner is None:
        return await create_customer(db, body, region=region, area_code=area_code), True
    customer = await get_customer(db, owner)
    return await update_customer(db, customer, body, region=region, area_code=area_code), False


async def delete_customer(db: AsyncSession, customer_id: int) -> None:
    customer = await get_customer(db, customer_id)
    await db.delete(customer)
    await db.flush()


async def set_pin(db: AsyncSession, customer: Customer, pin: Any) -> None:
    """Store the PIN's argon2 hash (never the PIN); ``None`` removes it."""
    if pin is None:
        customer.pin_hash = None
    elif not isinstance(pin, str) or not PIN_PATTERN.match(pin):
        raise CustomerError("pin: 4 to 12 digits")
    else:
        # argon2 is slow on purpose: hashed in a thread, not on the loop serving everyone
        customer.pin_hash = await asyncio.to_thread(hash_pin, pin)
    customer.updated_at = utcnow()
    await db.flush()


def hash_pin(pin: str) -> str:
    return _hasher.hash(pin)


async def add_payment(db: AsyncSession, customer: Customer, data: Mapping[str, Any]) -> Payment:
    if not isinstance(data, Mapping):
        raise CustomerError("expected a JSON object")
    unknown = set(data) - {"amount", "currency", "paid_at"}
    if unknown:
        raise CustomerError(f"unknown field {sorted(unknown)[0]!r}")
    if "amount" not in data:
        raise CustomerError("amount: required")
    payment = Payment(
        customer_id=customer.id,
        amount=parse_money(data, "amount"),
        currency=parse_currency(data) or customer.currency,
        paid_at=parse_time(data, "paid_at"),
    )
    db.add(payment)
    await db.flush()
    return payment


async def upsert_order(
    db: AsyncSession, number: str, data: Mapping[str, Any]
) -> tuple[Order, bool]:
    """(the order ``number``, created?): its customer (``customer_id`` or ``external_id``),
    status, amount, currency."""
    number = number.strip()
    if not number or len(number) > 40:
        raise CustomerError("number: 1 to 40 characters")
    if not isinstance(data, Mapping):
        raise CustomerError("expected a JSON object")
    unknown = set(data) - {"customer_id", "external_id", "status", "amount", "currency"}
    if unknown:
        raise CustomerError(f"unknown field {sorted(unknown)[0]!r}")
    # Everything checked before the session holds anything: a refused row leaves nothing
    # behind for the next flush.
    status = parse_text(data, "status", ORDER_STATUSES_MAX) if "status" in data else None
    if status == "":
        raise CustomerError("status: must not be empty")
    amount = parse_money(data, "amount") if "amount" in data else None
    currency = parse_currency(data) if "currency" in data else None
    customer_id = await _order_customer(db, data)
    order = await db.scalar(select(Order).where(Order.number == number))
    if order is None and customer_id is None:
        raise CustomerError("customer_id or external_id: required for a new order")
    if order is None and status is None:
        raise CustomerError("status: required for a new order")
    now = utcnow()
    created = order is None
    if order is None:
        order = Order(number=number, created_at=now, amount=Decimal(0), currency="")
        db.add(order)
    if customer_id is not None:
        order.customer_id = customer_id
    if status is not None:
        order.status = status
    if amount is not None:
        order.amount = amount
    if currency is not None:
        order.currency = currency
    order.updated_at = now
    await _flush(db)
    return order, created


async def _order_customer(db: AsyncSession, data: Mapping[str, Any]) -> int | None:
    if data.get("customer_id") is not None:
        value = data["customer_id"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise CustomerError("customer_id: expected an integer")
        return (await get_customer(db, value)).id
    if data.get("external_id") is not None:
        external_id = data["external_id"]
        owner = await db.scalar(select(Customer.id).where(Customer.external_id == external_id))
        if owner is None:
            raise NotFound(f"no customer with external_id {str(external_id)[:80]!r}")
        return owner
    return None


async def _flush(db: AsyncSession) -> None:
    try:
        await db.flush()
    except IntegrityError as exc:  # a concurrent writer took the id or account first
        raise Conflict("external_id or account_number already belongs to another customer") from exc


def customer_to_dict(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "external_id": customer.external_id,
        "name": customer.name,
        "company": customer.company,
        "segment": customer.segment,
        "language": customer.language,
        "email": customer.email,
        "address": customer.address,
        "notes": customer.notes,
        "account_number": customer.account_number,
        "balance": None if customer.balance is None else _decimal_text(customer.balance),
        "currency": customer.currency,
        "has_pin": bool(customer.pin_hash),
        "phones": [
            {"number": p.e164, "type": p.label, "raw": p.raw}
            for p in sorted(customer.phones, key=lambda p: p.id or 0)
        ],
        "custom": dict(customer.custom or {}),
    }


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")  # "12.5", not "12.500000" (Numeric(18, 6))


async def ivr_data(db: AsyncSession, customer_id: int, limit: int = 20) -> dict[str, Any]:
    """The customer's orders and latest payments, as the IVR reads them."""
    orders = (
        await db.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.id.desc())
            .limit(limit)
        )
    ).all()
    payments = (
        await db.scalars(
            select(Payment)
            .where(Payment.customer_id == customer_id)
            .order_by(Payment.paid_at.desc(), Payment.id.desc())
            .limit(limit)
        )
    ).all()
    return {
        "orders": [order_to_dict(o) for o in orders],
        "payments": [
            {
                "id": p.id,
                "amount": _decimal_text(p.amount),
                "currency": p.currency,
                "paid_at": _iso(p.paid_at),
            }
            for p in payments
        ],
    }


def order_to_dict(order: Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "customer_id": order.customer_id,
        "status": order.status,
        "amount": _decimal_text(order.amount),
        "currency": order.currency,
    }


def _iso(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
