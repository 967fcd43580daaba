"""What the IVR reads from and writes to the database: customers, payments, orders, callbacks."""

from __future__ import annotations

import asyncio
import functools
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
