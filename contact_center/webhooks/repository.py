"""Subscriptions and deliveries in the ``webhooks`` / ``webhook_deliveries`` tables.

A delivery moves ``pending`` → ``sending`` (claimed by one dispatcher for a lease) →
``delivered``, or back to ``pending`` with a later ``next_attempt_at`` after a failure, or to
``dead`` (the dead-letter list) after the last attempt. Claiming is one conditional UPDATE,
so several dispatchers (one per worker host) never send the same attempt twice; a claim whose
dispatcher died expires with its lease and is picked up again.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.store.models import Webhook, WebhookDelivery
from contact_center.webhooks.errors import NotFound
from contact_center.webhooks.targets import validate_kinds, validate_target_url

PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
DEAD = "dead"
_DUE = (PENDING, SENDING)
STATUSES = (PENDING, SENDING, DELIVERED, DEAD)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    """A subscription as admins see it (never the secret)."""

    id: int
    url: str
    kinds: tuple[str, ...]
    description: str
    active: bool
    created_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        created = self.created_at.isoformat() if self.created_at else None
        return {"id": self.id, "url": self.url, "kinds": list(self.kinds),
                "description": self.description, "active": self.active,
                "created_at": created}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CreatedWebhook:
    """A new subscription and its signing secret, shown to the admin once."""

    webhook: WebhookInfo
    secret: str


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    id: int
    webhook_id: int
    url: str
    event_key: str
    event_kind: str
    status: str
    attempts: int
    last_status: int
    last_error: str
    created_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {"id": self.id, "webhook_id": self.webhook_id, "url": self.url,
                "event_key": self.event_key, "event_kind": self.event_kind,
                "status": self.status, "attempts": self.attempts,
                "last_status": self.last_status, "last_error": self.last_error,
                "created_at": iso(self.created_at), "next_attempt_at": iso(self.next_attempt_at),
                "delivered_at": iso(self.delivered_at)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """One attempt this dispatcher owns until its lease ends."""

    id: int
    url: str
    secret: str
    event_key: str
    event_kind: str
    payload: dict[str, Any]
    attempts: int  # attempts made before this one


def _info(row: Webhook) -> WebhookInfo:
    kinds = tuple(str(k) for k in (row.event_types or {}).get("kinds", []))
    return WebhookInfo(row.id, row.url, kinds, row.description, row.active, _aware(row.created_at))


def _delivery(row: WebhookDelivery, url: str) -> DeliveryInfo:
    return DeliveryInfo(
        row.id, row.webhook_id, url, row.event_key, row.event_kind, row.status, row.attempts,
        row.last_status, row.last_error, _aware(row.created_at), _aware(row.next_attempt_at),
        _aware(row.delivered_at),
    )  # fmt: skip


def _insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return sqlite_insert(WebhookDelivery)
    return pg_insert(WebhookDelivery)


class WebhookStore:
    """Everything the dispatcher and the admin pages read or write."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # --- subscriptions ---------------------------------------------------------------------

    async def add(
        self, url: str, kinds: Sequence[str], *, description: str = "", now: datetime
    ) -> CreatedWebhook:
        """A new active subscription with a fresh random secret (validated URL and kinds)."""
        row = Webhook(
            url=validate_target_url(url),
            event_types={"kinds": list(validate_kinds(tuple(kinds)))},
            secret=secrets.token_urlsafe(32),
            active=True,
            description=description.strip()[:200],
            created_at=now,
        )
        async with self.sessions.begin() as db:
            db.add(row)
            await db.flush()
            return CreatedWebhook(_info(row), row.secret)

    async def webhooks(self) -> list[WebhookInfo]:
        async with self.sessions() as db:
            rows = (await db.scalars(select(Webhook).order_by(Webhook.id))).all()
        return [_info(r) for r in rows]

    async def delete(self, webhook_id: int) -> None:
        """Remove a subscription and its deliveries (pending ones are never sent)."""
        async with self.sessions.begin() as db:
            await db.execute(
                delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
            )
            result = await db.execute(delete(Webhook).where(Webhook.id == webhook_id))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound("webhook", webhook_id)

    async def subscribers(self, kind: str) -> list[int]:
        """Ids of active subscriptions to ``kind``."""
        async with self.sessions() as db:
            rows = (
                await db.execute(select(Webhook.id, Webhook.event_types).where(Webhook.active))
            ).all()
        return [wid for wid, types in rows if kind in (types or {}).get("kinds", [])]

    # --- deliveries ------------------------------------------------------------------------

    async def record(
        self,
        webhook_ids: Sequence[int],
        *,
        event_key: str,
        event_kind: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> int:
        """One pending delivery per subscription; a repeated event key adds nothing."""
        if not webhook_ids:
            return 0
        values = [
            {"webhook_id": wid, "event_key": event_key, "event_kind": event_kind,
             "status": PENDING, "attempts": 0, "last_error": "", "last_status": 0,
             "payload": payload, "created_at": now, "next_attempt_at": now}
            for wid in webhook_ids
        ]  # fmt: skip
        async with self.sessions.begin() as db:
            stmt = _insert(db).values(values)
            stmt = stmt.on_conflict_do_nothing(index_elements=["webhook_id", "event_key"])
            result = await db.execute(stmt)
        return max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]

    async def due(self, now: datetime, limit: int) -> list[int]:
        async with self.sessions() as db:
            stmt = (
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status.in_(_DUE), WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            )
            return list((await db.scalars(stmt)).all())

    async def claim(
        self, delivery_id: int, now: datetime, lease: timedelta
    ) -> ClaimedDelivery | None:
        """Take one due delivery for ``lease``; None if another dispatcher was first."""
        async with self.sessions.begin() as db:
            taken = await db.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status.in_(_DUE),
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(status=SENDING, next_attempt_at=now + lease)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = (
                await db.execute(
                    select(WebhookDelivery, Webhook.url, Webhook.secret)
                    .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                    .where(WebhookDelivery.id == delivery_id)
                )
            ).one()
        delivery, url, secret = row
        return ClaimedDelivery(
            delivery.id, url, secret, delivery.event_key, delivery.event_kind,
            dict(delivery.payload or {}), delivery.attempts,
        )  # fmt: skip

    async def mark_delivered(self, delivery_id: int, *, http_status: int, now: datetime) -> None:
        async with self.sessions.begin() as db:
            await db.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(status=DELIVERED, attempts=WebhookDelivery.attempts + 1,
                        last_status=http_status, last_error="", delivered_at=now,
                        next_attempt_at=None)
            )  # fmt: skip

    async def mark_failed(
        self, delivery_id: int, *, http_status: int, error: str, retry_at: datetime | None
    ) -> None:
        """Count a failed attempt; ``retry_at=None`` moves it to the dead-letter list."""
        values: dict[str, Any] = {
            "attempts": WebhookDelivery.attempts + 1,
            "last_status": http_status,
            "last_error": error[:400],
            "status": PENDING if retry_at is not None else DEAD,
            "next_attempt_at": retry_at,
        }
        async with self.sessions.begin() as db:
            await db.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values)
            )

    async def deliveries(
        self, *, status: str | None = None, limit: int = 200
    ) -> list[DeliveryInfo]:
        """Newest first, optionally of one status (``dead`` is the dead-letter list)."""
        stmt = (
            select(WebhookDelivery, Webhook.url)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        async with self.sessions() as db:
            rows = (await db.execute(stmt)).all()
        return [_delivery(d, url) for d, url in rows]

    async def retry(self, delivery_id: int, *, now: datetime) -> None:
        """Send a dead (or pending) delivery again now, with a fresh attempt budget."""
        async with self.sessions.begin() as db:
            result = await db.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status != SENDING)
                .values(status=PENDING, attempts=0, next_attempt_at=now, last_error="")
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound("retryable delivery", delivery_id)
