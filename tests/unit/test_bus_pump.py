"""Feeding a consumer from the bus: in order, acknowledged, and fair to the rest of the loop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from contact_center.bus.base import BusUnavailable
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


class CancelTurnedIntoOutage(MemoryBus):
    """A bus whose blocked read answers a cancellation as redis-py may: with a closed
    connection (BusUnavailable), or — ``swallow`` — by returning what it had anyway."""

    def __init__(self, *, swallow: bool = False) -> None:
        super().__init__(maxlen=100)
        self.swallow = swallow
        self.reads = 0
        self.acked: list[str] = []

    async def consume(self, *args: Any, **kwargs: Any) -> list[Any]:
        self.reads += 1
        self.acked += kwargs.get("ack", ())
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if self.swallow:
                return [("9-0", {"n": 9})]
            raise BusUnavailable("connection closed by the cancellation") from None
        return []


@pytest.mark.parametrize("swallow", [False, True], ids=["as-an-outage", "swallowed"])
async def test_a_cancelled_pump_stops_even_when_the_client_loses_the_cancellation(
    swallow: bool,
) -> None:
    bus = CancelTurnedIntoOutage(swallow=swallow)
    handled: list[Any] = []

    async def handler(message: dict[str, Any]) -> None:
        handled.append(message)

    task = asyncio.create_task(pump(bus, "events", handler, group="g", consumer="c"))
    try:
        await wait_for(lambda: bus.reads == 1)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert task in done and task.cancelled()
        assert (1, []) == (bus.reads, handled)  # no retry, nothing handled after the stop
    finally:
        bus.swallow = False  # a pump that went on must not hang the loop's teardown
        task.cancel()
        await asyncio.wait({task}, timeout=5)


async def test_a_pump_stopped_mid_batch_acknowledges_what_it_handled() -> None:
    bus = MemoryBus(maxlen=100)
    for n in range(3):
        await bus.publish("events", {"n": n})
    release = asyncio.Event()
    handled: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        if message["n"] == 1:
            await release.wait()  # stopped while handling the second entry
        handled.append(message["n"])

    task = asyncio.create_task(pump(bus, "events", handler, group="g", consumer="c"))
    await wait_for(lambda: handled == [0])
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # the first is settled; the second and third are handed out again to whoever goes on
    again = await bus.consume("events", "g", "next", claim_idle_ms=0)
    assert [1, 2] == [m["n"] for _, m in again]


@pytest.mark.parametrize("lost_as", ["finished", "failure"])
async def test_a_pump_whose_handler_lost_the_stop_stops_after_that_entry(lost_as: str) -> None:
    """A handler whose database driver loses the cancellation (the write finishes anyway, or
    ends in an error): the pump stops after that entry, not after the rest of its batch (a
    history backlog on SQLite took a stop past its bound). An entry that ended in an error
    so is handed out again; one that finished is acknowledged."""
    bus = MemoryBus(maxlen=100)
    for n in range(50):
        await bus.publish("events", {"n": n})
    writing = asyncio.Event()
    handled: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        if message["n"] == 2:
            writing.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:  # the driver's doing, not ours
                if lost_as == "failure":
                    raise RuntimeError("database is locked") from None
        handled.append(message["n"])

    task = asyncio.create_task(pump(bus, "events", handler, group="g", consumer="c"))
    await asyncio.wait_for(writing.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done and task.cancelled()
    assert ([0, 1, 2] if lost_as == "finished" else [0, 1]) == handled
    again = await bus.consume("events", "g", "next", count=100, claim_idle_ms=0)
    first_again = 3 if lost_as == "finished" else 2
    assert list(range(first_again, 50)) == [m["n"] for _, m in again]
