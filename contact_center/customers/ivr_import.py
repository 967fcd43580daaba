"""Import the IVR's data from CSV or XLSX: balances, payments, orders, PINs.

Each row names its customer by ``external_id`` or ``account_number`` (never by a phone
number). What a row does:

* ``balances`` — ``balance`` [``currency``]: sets the customer's balance;
* ``payments`` — ``amount`` [``currency``, ``paid_at``, ``payment_id``]: adds a payment, or
  updates the one with that ``payment_id`` (so importing a file twice adds nothing twice);
* ``orders`` — ``number``, ``status`` [``amount``, ``currency``]: creates or updates the order;
* ``pins`` — ``pin``: stores the PIN's argon2 hash (never the PIN), off the event loop.

Rows are checked one by one; a bad row is rejected with its row number and reason and the
import goes on. One transaction per chunk. A dry run reads and checks everything and writes
nothing (the order numbers and payment ids it would have added are remembered, so a repeat
later in the file still counts as an update).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contact_center.customers import schemas, services
from contact_center.customers.importer import ImportReport, Progress, Reject, open_table
from contact_center.customers.rows import BadRow, CustomerImportError, MappingError
from contact_center.i18n import gettext as _
from contact_center.store.db import session_factory, utcnow
from contact_center.store.models import Customer, Order, Payment

CHUNK_SIZE = 1_000
MAX_KEPT_REJECTS = 1_000
KEYS = ("external_id", "account_number")
# Columns each kind needs, and may have, besides the customer key.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "balances": (("balance",), ("currency",)),
    "payments": (("amount",), ("currency", "paid_at", "payment_id")),
    "orders": (("number", "status"), ("amount", "currency")),
    "pins": (("pin",), ()),
}
SYNONYMS = {
    "customer_id": "external_id",
    "crm_id": "external_id",
    "ext_id": "external_id",
    "account": "account_number",
    "account_no": "account_number",
    "order": "number",
    "order_number": "number",
    "sum": "amount",
    "date": "paid_at",
    "paid": "paid_at",
    "reference": "payment_id",
}


@dataclass(slots=True)
class _Columns:
    key: str
    index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, kind: str, header: Sequence[str]) -> _Columns:
        needed, optional = KINDS[kind]
        index: dict[str, int] = {}
        for position, title in enumerate(header):
            name = title.strip().lower().replace(" ", "_").replace("-", "_")
            name = SYNONYMS.get(name, name)
            if name in (*KEYS, *needed, *optional):
                index.setdefault(name, position)
        key = next((k for k in KEYS if k in index), "")
        if not key:
            raise MappingError(
                f"{kind}: no external_id or account_number column to name each row's customer"
            )
        missing = [name for name in needed if name not in index]
        if missing:
            raise MappingError(f"{kind}: no {missing[0]} column")
        return cls(key, index)

    def get(self, row: Sequence[str], name: str) -> str:
        at = self.index.get(name)
        return row[at].strip() if at is not None and at < len(row) else ""


class IvrDataImporter:
    """Import one kind of IVR data (see the module docstring) into ``engine``'s database."""

    def __init__(
        self,
        engine: AsyncEngine,
        kind: str,
        *,
        dry_run: bool = False,
        chunk_size: int = CHUNK_SIZE,
        progress: Progress | None = None,
        on_reject: Callable[[Reject, Sequence[str]], None] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise CustomerImportError(f"unknown kind {kind!r} (use {', '.join(KINDS)})")
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._kind = kind
        self._dry_run = dry_run
        self._chunk_size = max(1, chunk_size)
        self._progress = progress
        self._on_reject = on_reject
        self._seen: set[str] = set()  # dry run: order numbers and payment ids "added"

    async def import_file(self, path: str | Path) -> ImportReport:
        with open_table(Path(path)) as (header, rows):
            return await self.import_rows(header, rows)

    async def import_rows(
        self, header: Sequence[str], rows: Iterable[Sequence[str]]
    ) -> ImportReport:
        columns = _Columns.of(self._kind, header)
        report = ImportReport(dry_run=self._dry_run)
        started = time.monotonic()
        chunk: list[tuple[int, Sequence[str]]] = []
        for number, row in enumerate(rows, start=2):
            chunk.append((number, row))
            if len(chunk) >= self._chunk_size:
                await self._chunk(columns, chunk, report)
                chunk = []
                report.seconds = time.monotonic() - started
                if self._progress:
                    self._progress.update(report)
        if chunk:
            await self._chunk(columns, chunk, report)
        report.seconds = time.monotonic() - started
        if self._progress:
            self._progress.update(report, final=True)
        return report

    async def _chunk(
        self, columns: _Columns, chunk: list[tuple[int, Sequence[str]]], report: ImportReport
    ) -> None:
        hashes = await self._pin_hashes(columns, chunk) if self._kind == "pins" else {}
        async with self._sessions() as db:
            owners = await _owners(db, columns, [row for _, row in chunk])
            for number, row in chunk:
                report.rows += 1
                try:
                    created = await self._apply(db, columns, row, owners, hashes.get(number))
                except services.CustomerError as exc:
                    self._reject(number, str(exc), row, report)
                    continue
                if created:
                    report.inserted += 1
                else:
                    report.updated += 1
            if self._dry_run:
                await db.rollback()
            else:
                await db.commit()

    async def _pin_hashes(
        self, columns: _Columns, chunk: list[tuple[int, Sequence[str]]]
    ) -> dict[int, str]:
        """argon2 is slow on purpose: the chunk's PINs are hashed in a thread."""
        pins = {n: columns.get(row, "pin") for n, row in chunk if not isinstance(row, BadRow)}
        valid = {n: pin for n, pin in pins.items() if services.PIN_PATTERN.match(pin)}
        if self._dry_run:
            return dict.fromkeys(valid, "")
        hashed = await asyncio.to_thread(
            lambda: {n: services.hash_pin(p) for n, p in valid.items()}
        )
        return hashed

    async def _apply(
        self,
        db: AsyncSession,
        columns: _Columns,
        row: Sequence[str],
        owners: Mapping[str, int],
        pin_hash: str | None,
    ) -> bool:
        """Apply one row; True when it added something (a payment, an order)."""
        if isinstance(row, BadRow):
            raise services.CustomerError(row.reason)
        if not any(row):
            raise services.CustomerError("empty row")
        key = columns.get(row, columns.key)
        customer_id = owners.get(key)
        if customer_id is None:
            raise services.NotFound(f"no customer with {columns.key} {key[:80]!r}")
        values = {name: columns.get(row, name) for name in columns.index}
        if self._kind == "balances":
            body = services.checked(schemas.CustomerInput, _given(values, "balance", "currency"))
            if not self._dry_run:
                customer = await services.get_customer(db, customer_id)
                customer.balance = body.balance
                customer.currency = body.currency or customer.currency
                customer.updated_at = utcnow()
            return False
        if self._kind == "pins":
            if pin_hash is None:
                raise services.CustomerError(_("pin: 4 to 12 digits"))
            if not self._dry_run:
                customer = await services.get_customer(db, customer_id)
                customer.pin_hash = pin_hash
            return False
        if self._kind == "payments":
            return await self._payment(db, customer_id, values)
        return await self._order(db, customer_id, values)

    async def _payment(self, db: AsyncSession, customer_id: int, values: dict[str, str]) -> bool:
        payment = services.checked(
            schemas.PaymentInput, _given(values, "amount", "currency", "paid_at")
        )
        amount, currency = payment.amount, payment.currency
        paid_at = payment.paid_at or utcnow()
        reference = values.get("payment_id", "")[:80] or None
        stored = (
            await db.scalar(select(Payment).where(Payment.external_id == reference))
            if reference
            else None
        )
        if self._dry_run:
            if reference and (stored is not None or reference in self._seen):
                return False
            if reference:
                self._seen.add(reference)
            return True
        if stored is None:
            db.add(
                Payment(
                    customer_id=customer_id,
                    amount=amount,
                    currency=currency,
                    paid_at=paid_at,
                    external_id=reference,
                )
            )
            await db.flush()
            return True
        stored.customer_id, stored.amount, stored.paid_at = customer_id, amount, paid_at
        stored.currency = currency or stored.currency
        return False

    async def _order(self, db: AsyncSession, customer_id: int, values: dict[str, str]) -> bool:
        body: dict[str, Any] = {"customer_id": customer_id, "status": values["status"]}
        for name in ("amount", "currency"):
            if values.get(name):
                body[name] = values[name]
        if self._dry_run:
            number = services.order_number(values["number"])  # as the real run checks it
            services.checked(schemas.OrderInput, body)
            exists = await db.scalar(select(Order.id).where(Order.number == number))
            new = exists is None and number not in self._seen
            self._seen.add(number)
            return new
        _, created = await services.upsert_order(db, values["number"], body)
        return created

    def _reject(self, row: int, reason: str, cells: Sequence[str], report: ImportReport) -> None:
        reject = Reject(row, reason)
        report.rejected += 1
        if len(report.rejects) < MAX_KEPT_REJECTS:
            report.rejects.append(reject)
        if self._on_reject:
            self._on_reject(reject, cells)


def _given(values: Mapping[str, str], *names: str) -> dict[str, str]:
    """The row's cells for these fields (a column left out is a field left out)."""
    return {name: values[name] for name in names if name in values}


async def _owners(
    db: AsyncSession, columns: _Columns, rows: Sequence[Sequence[str]]
) -> dict[str, int]:
    """The chunk's customers by their key (external_id or account_number)."""
    keys = {columns.get(row, columns.key) for row in rows if not isinstance(row, BadRow)}
    keys.discard("")
    if not keys:
        return {}
    column = getattr(Customer, columns.key)
    found = await db.execute(select(column, Customer.id).where(column.in_(sorted(keys))))
    return {key: customer_id for key, customer_id in found}
