"""What the IVR reads from and writes to the database: customers, payments, orders, callbacks.

With an external CRM, :class:`CrmIvrData` also asks the CRM about an account number the
database does not know, and keeps that contact as a local customer (by its external id).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ParamSpec, Protocol, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.crm.contacts import CrmContact
from contact_center.crm.service import CrmLookup
from contact_center.customers.rows import FIELDS
from contact_center.customers.services import CustomerError, upsert_by_external_id
from contact_center.store.models import Callback, Customer, Order, Payment


class IvrDataError(Exception):
    """The database could not answer; the IVR treats the data as unavailable."""


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    id: int
    name: str
    language: str
    balance: Decimal | None
    currency: str
    pin_hash: str | None


@dataclass(frozen=True, slots=True)
class PaymentInfo:
    amount: Decimal
    currency: str
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class OrderInfo:
    number: str
    status: str
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    key: str  # idempotency key: one callback per call and node
    number: str
    queue: str
    note: str
    customer_id: int | None
    call_linkedid: str
    requested_at: datetime


class IvrData(Protocol):
    """The IVR's view of the database (a fake in unit tests, :class:`SqlIvrData` live)."""

    async def customer_by_account(self, account_number: str) -> CustomerInfo | None: ...

    async def last_payment(self, customer_id: int) -> PaymentInfo | None: ...

    async def order(self, number: str, customer_id: int | None) -> OrderInfo | None: ...

    async def store_callback(self, request: CallbackRequest) -> bool: ...


P = ParamSpec("P")
R = TypeVar("R")
_hasher = PasswordHasher()


async def verify_pin(pin_hash: str | None, pin: str) -> bool:
    """Check a PIN against its argon2 hash off the event loop (argon2 is slow on purpose)."""
    if not pin_hash or not pin:
        return False

    def check() -> bool:
        try:
            return _hasher.verify(pin_hash, pin)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time we store is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _db_errors(func: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Turn driver and SQLAlchemy failures into :class:`IvrDataError` at this boundary."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except (SQLAlchemyError, OSError) as exc:
            raise IvrDataError(f"{func.__name__}: {exc.__class__.__name__}: {exc}") from exc

    return wrapper


class SqlIvrData:
    """:class:`IvrData` over the service's SQLAlchemy schema."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @_db_errors
    async def customer_by_account(self, account_number: str) -> CustomerInfo | None:
        """The customer whose account number the caller keyed in — or, for a company whose
        customers know their number in its own system, whose external id it is (an account
        number wins when both match different customers)."""
        if not account_number:
            return None
        async with self._sessions() as db:
            rows = (
                await db.scalars(
                    select(Customer)
                    .where(
                        or_(
                            Customer.account_number == account_number,
                            Customer.external_id == account_number,
                        )
                    )
                    .limit(2)
                )
            ).all()
            row = next((r for r in rows if r.account_number == account_number), None)
            row = row or (rows[0] if rows else None)
            if row is None:
                return None
            return CustomerInfo(
                id=row.id,
                name=row.name,
                language=row.language,
                balance=row.balance,
                currency=row.currency,
                pin_hash=row.pin_hash,
            )

    @_db_errors
    async def last_payment(self, customer_id: int) -> PaymentInfo | None:
        async with self._sessions() as db:
            row = (
                await db.execute(
                    select(Payment)
                    .where(Payment.customer_id == customer_id)
                    .order_by(Payment.paid_at.desc(), Payment.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            return PaymentInfo(
                amount=row.amount, currency=row.currency, paid_at=_aware(row.paid_at)
            )

    @_db_errors
    async def order(self, number: str, customer_id: int | None) -> OrderInfo | None:
        query = select(Order).where(Order.number == number)
        if customer_id is not None:
            # An identified caller hears only their own orders.
            query = query.where(Order.customer_id == customer_id)
        async with self._sessions() as db:
            row = (await db.execute(query)).scalar_one_or_none()
            if row is None:
                return None
            return OrderInfo(
                number=row.number, status=row.status, amount=row.amount, currency=row.currency
            )

    @_db_errors
    async def store_callback(self, request: CallbackRequest) -> bool:
        """Insert the callback; False when this key was stored already (a retried call)."""
        async with self._sessions() as db:
            db.add(
                Callback(
                    key=request.key,
                    customer_id=request.customer_id,
                    number=request.number,
                    queue=request.queue,
                    note=request.note,
                    status="pending",
                    requested_at=request.requested_at,
                    call_linkedid=request.call_linkedid,
                )
            )
            try:
                await db.commit()
            except IntegrityError:
                await db.rollback()
                return False
            return True


log = logging.getLogger(__name__)


class CrmIvrData(SqlIvrData):
    """:class:`SqlIvrData` that falls back to the CRM for an account the database lacks.

    The caller keyed in an account number only the CRM knows: when the CRM names exactly
    one contact for it (with an external id), that contact becomes a local customer (or
    updates the one with its external id) and the caller is identified as them, so the pop
    and the history name them like anyone else. The CRM may take up to ``wait`` seconds (the
    caller is listening to the IVR, not an operator's phone ringing); unavailable, several
    contacts or none, the caller is simply not found. No PIN comes from a CRM: a node that
    asks for one refuses such a caller.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], crm: CrmLookup, *, wait: float
    ) -> None:
        super().__init__(sessions)
        self._crm = crm
        self._wait = wait

    async def customer_by_account(self, account_number: str) -> CustomerInfo | None:
        found = await super().customer_by_account(account_number)
        if found is not None or not account_number:
            return found
        result = await self._crm.find_account(account_number, wait=self._wait)
        if result.status != "ok":
            log.warning("account %s: CRM unavailable (%s)", account_number, result.reason)
            return None
        contacts = [c for c in result.contacts if c.external_id]
        if len(contacts) != 1:
            return None  # nobody, or several people: not one caller
        return await self._keep(contacts[0], account_number)

    @_db_errors
    async def _keep(self, contact: CrmContact, account_number: str) -> CustomerInfo | None:
        body = {
            name: getattr(contact, name)[: FIELDS[name]]
            for name in ("name", "company", "email", "segment", "language", "address")
        }
        body["account_number"] = account_number
        body["name"] = body["name"] or account_number
        async with self._sessions.begin() as db:
            try:
                customer, _ = await upsert_by_external_id(
                    db, contact.external_id[: FIELDS["external_id"]], body, region="ZZ"
                )
            except CustomerError as exc:  # e.g. its external id is another's account
                log.warning("account %s from the CRM not kept: %s", account_number, exc)
                return None
            return CustomerInfo(
                id=customer.id,
                name=customer.name,
                language=customer.language,
                balance=customer.balance,
                currency=customer.currency,
                pin_hash=customer.pin_hash,
            )
