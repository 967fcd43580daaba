"""Customers written one at a time (the REST API): checked input, the identity rules, the
IVR's data (balance, PIN, payments, orders).

A customer is identified by its id here, by its external id for other systems (an upsert
by external id is how a CRM or billing system keeps us in step), never by a phone number:
a number may be shared by several customers. PINs are stored as argon2 hashes only.

The input is checked by the pydantic models of :mod:`contact_center.customers.schemas`
(:func:`checked`): the REST handlers read their bodies with them, the IVR's data import its
rows, so both refuse the same input in the same words.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from argon2 import PasswordHasher
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.customers import schemas
from contact_center.customers.phones import phone_suffix
from contact_center.customers.rows import FIELDS
from contact_center.i18n import gettext as _
from contact_center.store.db import utcnow
from contact_center.store.models import Customer, CustomerPhone, Order, Payment
from contact_center.web.forms import REFUSED

MAX_ID = 2**63 - 1  # BIGINT
MAX_ORDER_NUMBER = schemas.MAX_ORDER_NUMBER
PIN_PATTERN = schemas.PIN_PATTERN
is_text = schemas.is_text
_hasher = PasswordHasher()
M = TypeVar("M", bound=BaseModel)


class CustomerError(Exception):
    """Refused input; ``status`` is the HTTP answer it deserves (400, 404, 409)."""

    status = 400


class NotFound(CustomerError):
    status = 404


class Conflict(CustomerError):
    status = 409


def checked(model: type[M], data: Any, **context: Any) -> M:
    """``data`` (a JSON object, a row's cells) checked into ``model``
    (:mod:`contact_center.customers.schemas`), or :class:`CustomerError` with the first
    refusal, worded for the user; ``context``: the call center's ``region`` and
    ``area_code`` the phone numbers are read in."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        if first.get("type") == REFUSED:
            raise CustomerError(str(first.get("msg", ""))) from None
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise CustomerError(f"{where}: {first.get('msg', 'invalid')}") from None


def customer_input(
    data: schemas.CustomerInput | Mapping[str, Any], *, region: str, area_code: str = ""
) -> schemas.CustomerInput:
    return checked(schemas.CustomerInput, data, region=region, area_code=area_code)


def customer_fields(body: schemas.CustomerInput, *, creating: bool) -> dict[str, Any]:
    """The customer columns ``body`` sets (all of them optional but a new name)."""
    values = body.columns()
    if creating and not values.get("name"):
        raise CustomerError(_("name: required"))
    if "name" in values and not values["name"]:
        raise CustomerError(_("name: must not be empty"))
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
            raise Conflict(
                _(
                    "%(field)s %(value)s belongs to customer %(owner)s",
                    field=name,
                    value=repr(value),
                    owner=owner,
                )
            )


def _set_phones(customer: Customer, phones: list[schemas.CustomerPhoneInput]) -> None:
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
                    raw=phone.number,
                    label=phone.type,
                )
            )
        else:
            stored_phone.label = phone.type
            stored_phone.raw = phone.number


async def get_customer(db: AsyncSession, customer_id: int) -> Customer:
    if not 0 < customer_id <= MAX_ID:
        raise NotFound(_("no customer %(id)s", id=customer_id))
    customer = await db.get(Customer, customer_id)
    if customer is None:
        raise NotFound(_("no customer %(id)s", id=customer_id))
    return customer


async def create_customer(
    db: AsyncSession,
    data: schemas.CustomerInput | Mapping[str, Any],
    *,
    region: str,
    area_code: str = "",
) -> Customer:
    body = customer_input(data, region=region, area_code=area_code)
    values = customer_fields(body, creating=True)
    await _check_unique(db, values, None)
    now = utcnow()
    customer = Customer(**{"custom": {}, **values}, created_at=now, updated_at=now, phones=[])
    _set_phones(customer, body.phones)
    db.add(customer)
    await _flush(db)
    return customer


async def update_customer(
    db: AsyncSession,
    customer: Customer,
    data: schemas.CustomerInput | Mapping[str, Any],
    *,
    region: str,
    area_code: str = "",
) -> Customer:
    """Change the fields ``data`` gives; ``phones``, when given, is the whole new list."""
    body = customer_input(data, region=region, area_code=area_code)
    values = customer_fields(body, creating=False)
    await _check_unique(db, values, customer.id)
    for name, value in values.items():
        setattr(customer, name, value)
    if "phones" in body.model_fields_set:
        _set_phones(customer, body.phones)
    customer.updated_at = utcnow()
    await _flush(db)
    return customer


async def upsert_by_external_id(
    db: AsyncSession,
    external_id: str,
    data: schemas.CustomerInput | Mapping[str, Any],
    *,
    region: str,
    area_code: str = "",
) -> tuple[Customer, bool]:
    """(the customer with this external id, created?) after applying ``data``."""
    external_id = external_id.strip()
    if not external_id or len(external_id) > FIELDS["external_id"] or not is_text(external_id):
        raise CustomerError(
            _("external_id: 1 to %(limit)s characters", limit=FIELDS["external_id"])
        )
    body = customer_input(data, region=region, area_code=area_code)
    if body.external_id not in (None, external_id):
        raise CustomerError(_("external_id: the body names another one than the path"))
    body = body.model_copy(update={"external_id": external_id})
    body.model_fields_set.add("external_id")
    owner = await db.scalar(select(Customer.id).where(Customer.external_id == external_id))
    if owner is None:
        return await create_customer(db, body, region=region, area_code=area_code), True
    customer = await get_customer(db, owner)
    return await update_customer(db, customer, body, region=region, area_code=area_code), False


async def delete_customer(db: AsyncSession, customer_id: int) -> None:
    customer = await get_customer(db, customer_id)
    await db.delete(customer)
    await db.flush()


async def set_pin(db: AsyncSession, customer: Customer, pin: schemas.PinInput | str | None) -> None:
    """Store the PIN's argon2 hash (never the PIN); ``None`` removes it."""
    if not isinstance(pin, schemas.PinInput):
        pin = checked(schemas.PinInput, {"pin": pin})
    if pin.pin is None:
        customer.pin_hash = None
    else:
        # argon2 is slow on purpose: hashed in a thread, not on the loop serving everyone
        customer.pin_hash = await asyncio.to_thread(hash_pin, pin.pin)
    customer.updated_at = utcnow()
    await db.flush()


def hash_pin(pin: str) -> str:
    return _hasher.hash(pin)


async def add_payment(
    db: AsyncSession, customer: Customer, data: schemas.PaymentInput | Mapping[str, Any]
) -> Payment:
    body = checked(schemas.PaymentInput, data)
    payment = Payment(
        customer_id=customer.id,
        amount=body.amount,
        currency=body.currency or customer.currency,
        paid_at=body.paid_at or utcnow(),
    )
    db.add(payment)
    await db.flush()
    return payment


def order_number(number: str) -> str:
    number = number.strip()
    if not number or len(number) > MAX_ORDER_NUMBER:
        raise CustomerError(_("number: 1 to %(limit)s characters", limit=MAX_ORDER_NUMBER))
    return number


async def upsert_order(
    db: AsyncSession, number: str, data: schemas.OrderInput | Mapping[str, Any]
) -> tuple[Order, bool]:
    """(the order ``number``, created?): its customer (``customer_id`` or ``external_id``),
    status, amount, currency."""
    number = order_number(number)
    # Everything checked before the session holds anything: a refused row leaves nothing
    # behind for the next flush.
    body = checked(schemas.OrderInput, data)
    given = body.model_fields_set
    customer_id = await _order_customer(db, body)
    order = await db.scalar(select(Order).where(Order.number == number))
    if order is None and customer_id is None:
        raise CustomerError(_("customer_id or external_id: required for a new order"))
    if order is None and body.status is None:
        raise CustomerError(_("status: required for a new order"))
    now = utcnow()
    created = order is None
    if order is None:
        order = Order(number=number, created_at=now, amount=Decimal(0), currency="")
        db.add(order)
    if customer_id is not None:
        order.customer_id = customer_id
    if body.status is not None:
        order.status = body.status
    if body.amount is not None:
        order.amount = body.amount
    if "currency" in given and body.currency is not None:
        order.currency = body.currency
    order.updated_at = now
    await _flush(db)
    return order, created


async def _order_customer(db: AsyncSession, body: schemas.OrderInput) -> int | None:
    if body.customer_id is not None:
        return (await get_customer(db, body.customer_id)).id
    if body.external_id is not None:
        owner = await db.scalar(select(Customer.id).where(Customer.external_id == body.external_id))
        if owner is None:
            raise NotFound(_("no customer with external_id %(id)s", id=repr(body.external_id[:80])))
        return owner
    return None


async def _flush(db: AsyncSession) -> None:
    try:
        await db.flush()
    except IntegrityError as exc:  # a concurrent writer took the id or account first
        raise Conflict(
            _("external_id or account_number already belongs to another customer")
        ) from exc


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
