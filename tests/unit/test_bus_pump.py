"""Feeding consumers from the bus: strictly in order, or in order per call only."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from contact_center.bus.memory import MemoryBus
from contact_center.bus.pump import pump_by_key
from tests.conftest import wait_for


async def test_calls_are_handled_concurrently_but_each_call_in_order() -> None:
    bus = MemoryBus(maxlen=1000)
    release_a = asyncio.Event()
    handled: list[tuple[str, int]] = []

    async def handler(message: dict[str, Any]) -> None:
        if message["call_id"] == "A" and message["n"] == 0:
            await release_a.wait()  # call A's first event waits on slow I/O
        handled.append((message["call_id"], message["n"]))

    for n in range(3):
        await bus.publish("events", {"call_id": "A", "n": n})
        await bus.publish("events", {"call_id": "B", "n": n})
    task = asyncio.create_task(
        pump_by_key(
            bus,
            "events",
            handler,
            group="g",
            consumer="c",
            key=lambda m: str(m["call_id"]),
            block_ms=10,
        )
    )
    try:
        # B is not held up behind A's slow first event
        await wait_for(lambda: [("B", 0), ("B", 1), ("B", 2)] == handled, timeout=3)
        release_a.set()
        await wait_for(lambda: len(handled) == 6, timeout=3)
        assert [0, 1, 2] == [n for call, n in handled if call == "A"]
        # everything was acknowledged: nothing is handed out again
        assert [] == await bus.consume("events", "g", "other", block_ms=10, claim_idle_ms=0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_failing_handler_does_not_stop_its_call_or_others() -> None:
    bus = MemoryBus(maxlen=1000)
    handled: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        if message["n"] == 1:
            raise ValueError("hostile event")
        handled.append(message["n"])

    for n in range(4):
        await bus.publish("events", {"call_id": "A", "n": n})
    task = asyncio.create_task(
        pump_by_key(
            bus,
            "events",
            handler,
            group="g",
            consumer="c",
            key=lambda m: str(m["call_id"]),
            block_ms=10,
        )
    )
    try:
        await wait_for(lambda: [0, 2, 3] == handled, timeout=3)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
