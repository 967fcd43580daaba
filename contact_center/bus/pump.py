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
) -> None:
    """Hand every entry of ``stream`` to ``handler`` one at a time, then ack it; runs forever.

    A handler that raises is logged with the entry and the entry is acknowledged anyway: one
    hostile message must not stop the pipeline. Cancel the task to stop.
    """
    while True:
        try:
            entries = await bus.consume(stream, group, consumer, block_ms=block_ms)
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


async def pump_by_key(
    bus: Bus,
    stream: str,
    handler: Handler,
    *,
    group: str,
    consumer: str,
    key: Callable[[dict[str, Any]], str],
    max_in_flight: int = 64,
    block_ms: int = 1000,
    retry_delay: float = 1.0,
) -> None:
    """Like :func:`pump`, but entries with different keys (calls) are handled concurrently,
    while the entries of one key keep their order.

    Why: a consumer whose work waits on I/O (the screen pop looks the caller up and renders a
    card) handled strictly one entry at a time makes a burst of 500 calls delay the pop of
    the 501st by seconds. Order only matters within a call. At most ``max_in_flight``
    entries are being handled; each is acked when its handler is done.
    """
    lanes: dict[str, asyncio.Task[None]] = {}
    slots = asyncio.Semaphore(max_in_flight)

    async def run(previous: asyncio.Task[None] | None, sid: str, message: dict[str, Any]) -> None:
        try:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)  # same key: in order
            try:
                await handler(message)
            except Exception:
                log.exception("consumer %s failed on %s %s: %r", group, stream, sid, message)
            try:
                await bus.ack(stream, group, sid)
            except BusUnavailable as exc:  # redelivered later; handlers are idempotent
                log.warning("ack of %s failed: %s", sid, exc)
        finally:
            slots.release()

    try:
        while True:
            try:
                entries = await bus.consume(stream, group, consumer, block_ms=block_ms)
            except BusUnavailable as exc:
                log.warning("bus unavailable, retrying: %s", exc)
                await asyncio.sleep(retry_delay)
                continue
            for sid, message in entries:
                await slots.acquire()
                lane = key(message)
                task = asyncio.create_task(run(lanes.get(lane), sid, message))
                lanes[lane] = task
                task.add_done_callback(_forget_lane(lanes, lane))
    finally:
        pending = list(lanes.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def _forget_lane(
    lanes: dict[str, asyncio.Task[None]], lane: str
) -> Callable[[asyncio.Task[None]], None]:
    def forget(task: asyncio.Task[None]) -> None:
        if lanes.get(lane) is task:  # a later entry of the lane may have replaced it
            del lanes[lane]

    return forget
