"""Feed a consumer (``async handle(event)``) from a bus stream, in order, with acks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from contact_center.bus.base import Bus, BusUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


async def pump(
    bus: Bus,
    stream: str,
    handler: Handler,
    *,
    group: str,
    consumer: str,
    block_ms: int = 1000,
    retry_delay: float = 1.0,
    count: int = 100,
) -> None:
    """Hand every entry of ``stream`` to ``handler`` one at a time, then ack it; runs forever.

    ``count`` entries are read at a time; the loop gets a turn between reads.

    A handler that raises is logged with the entry and the entry is acknowledged anyway: one
    hostile message must not stop the pipeline. Cancel the task to stop.
    """
    while True:
        try:
            entries = await bus.consume(stream, group, consumer, count=count, block_ms=block_ms)
        except BusUnavailable as exc:
            log.warning("bus unavailable, retrying: %s", exc)
            await asyncio.sleep(retry_delay)
            continue
        for sid, message in entries:
            try:
                await handler(message)
            except Exception:
                log.exception("consumer %s failed on %s %s: %r", group, stream, sid, message)
            await bus.ack(stream, group, sid)
        # A handler that never suspends (pure CPU) on an in-process bus that has entries
        # ready would otherwise run a whole backlog in one step: let the loop breathe
        # between batches, so a burst of events costs other sockets one batch of lag.
        await asyncio.sleep(0)
