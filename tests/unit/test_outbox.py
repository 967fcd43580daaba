"""The IVR's outbox: events go out in order; a caller waits for the bus a moment at most."""

from __future__ import annotations

import asyncio
import logging

import pytest

from contact_center.bus.outbox import Outbox
from tests.conftest import wait_for


class Bus:
    """A publish that can be held (Redis away: the write waits) or made to fail."""

    def __init__(self) -> None:
        self.published: list[int] = []
        self.open = asyncio.Event()
        self.open.set()
        self.fail: set[int] = set()

    async def publish(self, item: int) -> None:
        await self.open.wait()
        if item in self.fail:
            raise ValueError(f"refused {item}")
        self.published.append(item)


async def test_with_the_bus_up_each_put_returns_once_its_event_is_published() -> None:
    bus = Bus()
    box: Outbox[int] = Outbox(bus.publish, name="t", wait=5)
    for n in range(3):
        await box.put(n)
        assert list(range(n + 1)) == bus.published  # on the bus before the caller goes on
    await box.close()


async def test_with_the_bus_away_callers_go_on_and_the_events_follow_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = Bus()
    bus.open.clear()
    box: Outbox[int] = Outbox(bus.publish, name="IVR events", wait=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await box.put(0)  # waits its moment
    waited = loop.time() - started
    for n in range(1, 5):
        await asyncio.wait_for(box.put(n), 0.01)  # behind: no more waiting at all
    assert 0.05 <= waited < 1
    assert [] == bus.published and 5 == len(box)
    assert "callers go on" in caplog.text
    bus.open.set()
    await wait_for(lambda: len(box) == 0)
    assert [0, 1, 2, 3, 4] == bus.published
    assert "took every event held back" in caplog.text
    await box.put(5)  # caught up: waits for its publish again
    assert [0, 1, 2, 3, 4, 5] == bus.published
    await box.close()


async def test_a_refused_event_raises_to_its_waiting_producer_and_the_rest_go_on() -> None:
    bus = Bus()
    bus.fail = {1}
    box: Outbox[int] = Outbox(bus.publish, name="t", wait=5)
    await box.put(0)
    with pytest.raises(ValueError, match="refused 1"):
        await box.put(1)
    await box.put(2)
    assert [0, 2] == bus.published
    await box.close()


async def test_a_refused_event_nobody_waits_for_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus()
    bus.open.clear()
    bus.fail = {0}
    box: Outbox[int] = Outbox(bus.publish, name="t", wait=0.01)
    await box.put(0)
    await box.put(1)
    with caplog.at_level(logging.ERROR):
        bus.open.set()
        await wait_for(lambda: len(box) == 0)
    assert [1] == bus.published
    assert "event dropped: 0" in caplog.text


async def test_a_full_outbox_refuses_and_counts_and_a_stop_reports_what_was_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = Bus()
    bus.open.clear()
    box: Outbox[int] = Outbox(bus.publish, name="t", wait=0.01, limit=3)
    for n in range(5):
        await box.put(n)
    assert (3, 2) == (len(box), box.dropped)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await box.close(timeout=0.05)  # the bus never came back: a bounded stop
    assert loop.time() - started < 1
    assert "stopped with 3 events not on the bus" in caplog.text
    assert 0 == len(box)


async def test_a_caller_that_hangs_up_while_waiting_still_gets_its_event_out() -> None:
    bus = Bus()
    bus.open.clear()
    box: Outbox[int] = Outbox(bus.publish, name="t", wait=5)
    waiting = asyncio.create_task(box.put(7))
    await wait_for(lambda: len(box) == 1)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    bus.open.set()
    await wait_for(lambda: bus.published == [7])
    await box.close()
