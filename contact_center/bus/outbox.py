"""An ordered outbox for a producer that must not be held up by the bus: the IVR.

A caller in a menu hears silence while the IVR waits; Redis being away (or a host that stopped
answering, where a write waits without end) must not keep every caller in a menu silent, nor
keep a channel that hung up from being released (Asterisk waits for the FastAGI server to
close the session). So each event waits its turn in an outbox, published in order by one
task with :meth:`~contact_center.service.Core.publish`'s retries, and the producer waits for
it at most ``wait`` seconds: in the normal case the event is on the bus before the caller
moves on (the screen pop reads the IVR path before the phone rings); during an outage the
caller goes on at once and the events follow, in order, when the bus is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

OUTBOX_WAIT_SECONDS = 0.5  # how long a producer waits for its event to be on the bus
OUTBOX_LIMIT = 20_000  # events held at most during an outage (a few per call)


@dataclass(slots=True)
class _Entry(Generic[T]):
    item: T
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    waited: bool = True  # its producer still waits for it


class Outbox(Generic[T]):
    """Publish items in order through ``publish``; :meth:`put` waits at most ``wait``."""

    def __init__(
        self,
        publish: Callable[[T], Awaitable[None]],
        *,
        name: str,
        wait: float = OUTBOX_WAIT_SECONDS,
        limit: int = OUTBOX_LIMIT,
    ) -> None:
        self._publish = publish
        self._name = name
        self._wait = wait
        self._limit = limit
        self._items: deque[_Entry[T]] = deque()
        self._sender: asyncio.Task[None] | None = None
        self._behind = False  # a producer gave up waiting: the next ones do not wait
        self.dropped = 0  # items refused because the outbox was full

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: T) -> None:
        """Queue ``item``; return once it is published, or after ``wait`` seconds (it stays
        queued and goes out in order), or at once while the outbox is behind. A publish that
        fails for good (not an outage: ``publish`` retries those) raises here if the
        producer is still waiting, else it is logged."""
        if len(self._items) >= self._limit:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "%s: %d events waiting for the bus, %d refused so far", self._name,
                    len(self._items), self.dropped,
                )  # fmt: skip
            return
        entry = _Entry(item)
        self._items.append(entry)
        if self._sender is None:
            self._sender = asyncio.create_task(self._send(), name=f"outbox-{self._name}")
        if self._behind:
            entry.waited = False
            return
        try:
            await asyncio.wait_for(asyncio.shield(entry.done), self._wait)
        except asyncio.CancelledError:
            entry.waited = False  # the call is gone; its event still goes out
            raise
        except TimeoutError:
            entry.waited = False
            self._behind = True
            log.warning(
                "%s: the bus did not take an event within %.1f s; callers go on, %d events "
                "follow in order when it is back", self._name, self._wait, len(self._items),
            )  # fmt: skip

    async def _send(self) -> None:
        try:
            while self._items:
                entry = self._items[0]
                try:
                    await self._publish(entry.item)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if entry.waited and not entry.done.done():
                        entry.done.set_exception(exc)
                    else:
                        log.exception("%s: event dropped: %r", self._name, entry.item)
                else:
                    if not entry.done.done():
                        entry.done.set_result(None)
                self._items.popleft()
            if self._behind:
                log.warning("%s: the bus took every event held back", self._name)
            self._behind = False
        finally:
            self._sender = None

    async def close(self, timeout: float = 2.0) -> None:
        """Send what is queued for at most ``timeout`` seconds; what is left is logged."""
        sender = self._sender
        if sender is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(sender), timeout)
            if not sender.done():
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
        if self._items:
            log.error("%s: stopped with %d events not on the bus", self._name, len(self._items))
            for entry in self._items:
                entry.done.cancel()
            self._items.clear()
