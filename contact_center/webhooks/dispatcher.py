"""The webhook consumer and delivery loop.

``handle(event)`` only records deliveries (one row per subscription and event key, so a
replayed or duplicated event is delivered once); ``run()`` sends them. Keeping the two apart
means a slow or dead receiver never holds up the event pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.backoff import Backoff
from contact_center.calls import events as ev
from contact_center.store.db import utcnow
from contact_center.webhooks.errors import TargetRefused
from contact_center.webhooks.outcomes import OutcomeSender
from contact_center.webhooks.repository import ClaimedDelivery, WebhookStore
from contact_center.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from contact_center.webhooks.targets import WEBHOOK_KINDS, TargetPolicy

log = logging.getLogger(__name__)

HttpSessionFactory = Callable[[], aiohttp.ClientSession]
USER_AGENT = "contact-center-webhooks/1"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter (:class:`~contact_center.backoff.Backoff`): after
    the n-th failure, up to ``base · 2^(n−1)`` seconds (capped), at least ``1 − jitter`` of
    it — receivers that failed together are not all retried in the same second."""

    max_attempts: int = 8
    base_seconds: float = 5.0
    max_seconds: float = 3600.0
    jitter: float = 0.2
    random: Callable[[], float] = random.random

    def delay(self, failures: int) -> timedelta:
        backoff = Backoff(
            first=self.base_seconds,
            ceiling=max(self.base_seconds, self.max_seconds),
            jitter=self.jitter,
            random=self.random,
        )
        return timedelta(seconds=backoff.delay(max(failures - 1, 0)))


def webhook_kind(event: ev.DomainEvent) -> str | None:
    """The subscription kind an event is delivered as, or None when no one can subscribe."""
    if isinstance(event, ev.OperatorAction):
        return "call.disposition" if event.action == "disposition" else None
    return event.kind if event.kind in WEBHOOK_KINDS else None


def event_key(event: ev.DomainEvent) -> str:
    """The event's idempotency key (derived from its identities when the producer left none)."""
    if event.key:
        return event.key
    return ev.make_key(event.server, event.call_id, event.leg_id, event.kind, event.at)


def payload_of(kind: str, event: ev.DomainEvent) -> dict[str, Any]:
    data = ev.to_dict(event)
    return {"kind": kind, "key": event_key(event), "server": event.server,
            "call_id": event.call_id, "at": event.at, "event": data}  # fmt: skip


def encode_body(payload: dict[str, Any]) -> bytes:
    # Stable bytes: the signature covers exactly these, and a retry sends the same body.
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def guarded_http_session(targets: TargetPolicy) -> aiohttp.ClientSession:
    """A client that connects only where ``targets`` allows (checked on the address dialled)
    and leaves replies compressed: a reply is read raw, never inflated."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(socket_factory=targets.socket_factory),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        auto_decompress=False,
        trust_env=False,
    )


class WebhookDispatcher:
    """Records deliveries for subscribed events and sends them, signed, with retries."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        http_session_factory: HttpSessionFactory | None = None,
        targets: TargetPolicy = TargetPolicy(),
        max_response_bytes: int = 65536,
        clock: Callable[[], datetime] = utcnow,
        retry: RetryPolicy = RetryPolicy(),
        timeout_seconds: float = 10.0,
        poll_interval: float = 1.0,
        concurrency: int = 8,
        lease_seconds: float = 120.0,
        subscriptions_ttl: float = 5.0,
        public_url: str = "",
        outcome_grace_seconds: float = 300.0,
    ) -> None:
        self.store = WebhookStore(sessions)
        # call.outcome: the CRM's one record per call, sent once its parts are in (outcomes.py)
        self.outcomes = OutcomeSender(
            sessions,
            self.store,
            public_url=public_url,
            grace_seconds=outcome_grace_seconds,
            clock=clock,
            interval=poll_interval,
        )
        self.clock = clock
        self.retry = retry
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        # Longer than the request timeout, so a live claim never expires mid-request.
        self.lease = timedelta(seconds=max(lease_seconds, timeout_seconds * 2))
        self.targets = targets
        self.max_response_bytes = max_response_bytes
        self._http_factory = http_session_factory or (lambda: guarded_http_session(targets))
        self._http: aiohttp.ClientSession | None = None
        self._wakeup = asyncio.Event()
        # Subscribers per kind, re-read every ``subscriptions_ttl`` seconds: most events of
        # every call are subscribable kinds, and subscriptions change rarely.
        self.subscriptions_ttl = subscriptions_ttl
        self._subscribers: dict[str, tuple[float, list[int]]] = {}
        self.sent = 0  # successful deliveries since start (for metrics and tests)
        self.failed = 0

    # --- consumer --------------------------------------------------------------------------

    async def handle(self, event: ev.DomainEvent) -> None:
        """Record one delivery per active subscription to this event's kind."""
        self.outcomes.note(event)
        kind = webhook_kind(event)
        if kind is None:
            return
        subscribers = await self._subscribers_of(kind)
        if not subscribers:
            return
        added = await self.store.record(
            subscribers,
            event_key=event_key(event),
            event_kind=kind,
            payload=payload_of(kind, event),
            now=self.clock(),
        )
        if added:
            self.wake()

    async def _subscribers_of(self, kind: str) -> list[int]:
        now = time.monotonic()
        cached = self._subscribers.get(kind)
        if cached is not None and now - cached[0] < self.subscriptions_ttl:
            return cached[1]
        ids = await self.store.subscribers(kind)
        self._subscribers[kind] = (now, ids)
        return ids

    def invalidate(self) -> None:
        """Forget cached subscriptions (after an admin added or deleted one)."""
        self._subscribers.clear()

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wakeup.set()

    # --- delivery --------------------------------------------------------------------------

    async def run(self) -> None:
        """Send due deliveries until cancelled; a failing pass is logged and retried."""
        async with self._http_session():
            while True:
                try:
                    await self.outcomes.maybe_sweep()
                    sent = await self.deliver_due()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # A driver may turn our cancellation into its own error: stop anyway.
                    if _being_cancelled():
                        raise asyncio.CancelledError() from None
                    # Database down, most likely: keep the loop alive, the rows wait.
                    log.exception("webhook delivery pass failed")
                    sent = 0
                if sent == 0:
                    await self._sleep()

    async def _sleep(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the wait ends, and the loop would never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_interval):
                await self._wakeup.wait()
        self._wakeup.clear()

    @contextlib.asynccontextmanager
    async def _http_session(self) -> AsyncIterator[aiohttp.ClientSession]:
        if self._http is not None:
            yield self._http
            return
        self._http = self._http_factory()
        try:
            yield self._http
        finally:
            http, self._http = self._http, None
            await http.close()

    async def deliver_due(self) -> int:
        """One pass: claim up to ``concurrency`` due deliveries and send them together."""
        ids = await self.store.due(self.clock(), self.concurrency)
        claimed = [
            c for c in [await self.store.claim(i, self.clock(), self.lease) for i in ids] if c
        ]
        if not claimed:
            return 0
        async with self._http_session() as http:
            await asyncio.gather(*(self._attempt(http, c) for c in claimed))
        return len(claimed)

    async def _attempt(self, http: aiohttp.ClientSession, delivery: ClaimedDelivery) -> None:
        status, error = await self._post(http, delivery)
        now = self.clock()
        if error is None:
            await self.store.mark_delivered(delivery.id, http_status=status, now=now)
            self.sent += 1
            return
        failures = delivery.attempts + 1
        retry_at = None if failures >= self.retry.max_attempts else now + self.retry.delay(failures)
        if retry_at is None:
            log.warning("webhook delivery %s to %s dead after %d attempts: %s",
                        delivery.id, delivery.url, failures, error)  # fmt: skip
        await self.store.mark_failed(
            delivery.id, http_status=status, error=error, retry_at=retry_at
        )
        self.failed += 1

    async def _post(
        self, http: aiohttp.ClientSession, delivery: ClaimedDelivery
    ) -> tuple[int, str | None]:
        """(HTTP status or 0, None on success or the reason it failed)."""
        body = encode_body(delivery.payload)
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(delivery.secret, timestamp, body),
            EVENT_HEADER: delivery.event_kind,
            DELIVERY_HEADER: delivery.event_key,
        }
        try:
            # No redirects: a receiver must not bounce our signed payload elsewhere.
            async with http.post(
                delivery.url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=self.timeout,
            ) as resp:
                await self._drain(resp)
                if 200 <= resp.status < 300:
                    return resp.status, None
                return resp.status, f"HTTP {resp.status}"
        # What the admin sees says which kind of failure, never the library's text (which
        # names addresses, ports and "connection refused" vs "no route": a port-scan oracle).
        except TimeoutError:
            error = "timed out"
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, TargetRefused)
            error = "target address not allowed" if refused else "could not connect"
            log.info("webhook delivery %s: %s", delivery.id, exc)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = "connection failed"
            log.info("webhook delivery %s: %r", delivery.id, exc)
        return 0, error

    async def _drain(self, resp: aiohttp.ClientResponse) -> None:
        """Read at most ``max_response_bytes`` of the reply (raw, never decompressed) and
        drop the connection past that: a receiver cannot fill our memory."""
        read = 0
        async for chunk in resp.content.iter_chunked(8192):
            read += len(chunk)
            if read >= self.max_response_bytes:
                resp.close()
                return
