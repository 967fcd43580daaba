"""Feeding a consumer from the bus: in order, acknowledged, and fair to the rest of the loop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from contact_center.bus.memory import MemoryBus
from contact_center.bus.pump import pump
from tests.conftest import wait_for


async def test_every_entry_in_order_and_acknowledged_even_after_a_failure() -> None:
    bus = MemoryBus(maxlen=1000)
    handled: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        if message["n"] == 1:
            raise ValueError("hostile event")
        handled.append(message["n"])

    for n in range(4):
        await bus.publish("events", {"n": n})
    task = asyncio.create_task(pump(bus, "events", handler, group="g", consumer="c", block_ms=10))
    try:
        await wait_for(lambda: [0, 2, 3] == handled, timeout=3)
        # everything was acknowledged, the failed one too: nothing is handed out again
        assert [] == await bus.consume("events", "g", "other", block_ms=10, claim_idle_ms=0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_backlog_does_not_hold_the_loop_for_its_whole_length() -> None:
    """A handler that never suspends, on an in-process bus with 2,000 entries ready: other
    tasks (every websocket) still run between batches instead of after the whole backlog."""
    bus = MemoryBus(maxlen=10_000)
    for n in range(2000):
        await bus.publish("events", {"n": n})
    handled: list[int] = []
    seen_by_ticker: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        handled.append(message["n"])  # pure CPU: no await inside

    async def ticker() -> None:
        while True:
            seen_by_ticker.append(len(handled))
            await asyncio.sleep(0)

    tick = asyncio.create_task(ticker())
    task = asyncio.create_task(pump(bus, "events", handler, group="g", consumer="c", block_ms=10))
    try:
        await wait_for(lambda: len(handled) == 2000, timeout=5)
        # the ticker ran while the backlog was being handled, not only before and after it
        assert len({n for n in seen_by_ticker if 0 < n < 2000}) >= 10
    finally:
        for t in (task, tick):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t


async def test_a_failed_batch_is_handled_one_by_one() -> None:
    """A batch handler that fails (one hostile entry) costs the batch its fast path: the
    entries go one at a time to the plain handler, the good ones are handled, all acked."""
    bus = MemoryBus(maxlen=1000)
    batches: list[list[int]] = []
    singly: list[int] = []

    async def many(messages: list[dict[str, Any]]) -> None:
        if any(m["n"] == 2 for m in messages):
            raise ValueError("hostile event")
        batches.append([m["n"] for m in messages])

    async def handler(message: dict[str, Any]) -> None:
        if message["n"] == 2:
            raise ValueError("hostile event")
        singly.append(message["n"])

    for n in range(4):
        await bus.publish("events", {"n": n})
    task = asyncio.create_task(
        pump(bus, "events", handler, group="g", consumer="c", block_ms=10, many=many)
    )
    try:
        await wait_for(lambda: [0, 1, 3] == singly, timeout=3)
        await bus.publish("events", {"n": 4})
        await wait_for(lambda: [[4]] == batches, timeout=3)
        assert [] == await bus.consume("events", "g", "other", block_ms=10, claim_idle_ms=0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
