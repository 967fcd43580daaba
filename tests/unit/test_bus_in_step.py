"""A consumer that runs in the publisher's step (the screen pop on the in-process bus): what
the event causes is done when ``publish`` returns, in stream order, and nothing is lost when
a handler has to wait or fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contact_center import aio
from contact_center.bus.memory import MemoryBus
from contact_center.bus.pump import InStep, follow
from tests.conftest import background, wait_for


@contextlib.asynccontextmanager
async def following(bus: MemoryBus, handler: Any) -> AsyncIterator[asyncio.Task[None]]:
    async with background(follow(bus, "events", handler, group="g", consumer="c")) as task:
        await asyncio.sleep(0)  # subscribed
        yield task


async def test_an_event_is_handled_before_publish_returns() -> None:
    bus = MemoryBus()
    handled: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        handled.append(message["n"])

    async with following(bus, handler):
        for n in range(3):
            await bus.publish("events", {"n": n})
            assert n == handled[-1]  # no loop turn in between: done in the publisher's step


async def test_entries_stored_before_the_consumer_started_are_handled_first_in_order() -> None:
    bus = MemoryBus()
    for n in range(3):
        await bus.publish("events", {"n": n})
    handled: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        handled.append(message["n"])

    async with following(bus, handler):
        await bus.publish("events", {"n": 3})
        assert [0, 1, 2, 3] == handled


async def test_a_handler_that_waits_holds_the_later_events_behind_it_in_order() -> None:
    bus = MemoryBus()
    database_back = asyncio.Event()
    handled: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        if message["n"] == 1:
            await database_back.wait()  # a lookup that waits on the database
        handled.append(message["n"])

    async with following(bus, handler):
        for n in range(5):
            await bus.publish("events", {"n": n})
        assert [0] == handled  # 2..4 wait behind 1, they do not overtake it
        database_back.set()
        await wait_for(lambda: len(handled) == 5)
        assert [0, 1, 2, 3, 4] == handled
        await asyncio.sleep(0)
        await bus.publish("events", {"n": 5})  # and then back to the publisher's step
        assert 5 == handled[-1]


async def test_a_failing_event_is_logged_with_its_message_and_the_next_ones_are_handled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = MemoryBus()
    handled: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        if message["n"] == 1:
            raise ValueError("hostile event")
        if message["n"] == 3:
            await asyncio.sleep(0)
            raise ValueError("fails after waiting")
        handled.append(message["n"])

    with caplog.at_level(logging.ERROR, logger="contact_center.bus.pump"):
        async with following(bus, handler):
            for n in range(6):
                await bus.publish("events", {"n": n})
            await wait_for(lambda: len(handled) == 4)
    assert [0, 2, 4, 5] == handled
    failures = [r for r in caplog.records if "consumer g failed" in r.getMessage()]
    assert 2 == len(failures)
    assert "{'n': 1}" in failures[0].getMessage() and "{'n': 3}" in failures[1].getMessage()


async def test_stopping_cancels_a_waiting_handler_and_publishing_afterwards_is_harmless() -> None:
    bus = MemoryBus()
    started, cancelled = asyncio.Event(), asyncio.Event()
    handled: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        if message["n"] == 0:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise
        handled.append(message["n"])

    async with following(bus, handler):
        await bus.publish("events", {"n": 0})
        await bus.publish("events", {"n": 1})
        assert started.is_set()
    assert cancelled.is_set()
    await bus.publish("events", {"n": 2})  # nobody listens any more
    assert [] == handled


async def test_in_step_counts_what_waits_behind_a_suspended_handler() -> None:
    gate = asyncio.Event()

    async def handler(message: dict[str, Any]) -> None:
        if message["n"] == 0:
            await gate.wait()

    in_step = InStep(handler, "g")
    for n in range(4):
        in_step(f"0-{n}", {"n": n})
    assert 3 == in_step.backlog
    gate.set()
    await wait_for(lambda: in_step.backlog == 0)
    await in_step.close()


async def test_start_eagerly_runs_to_the_first_suspension_now_and_finishes_in_a_task() -> None:
    steps: list[str] = []
    gate = asyncio.Event()

    async def work(wait: bool) -> None:
        steps.append("first")
        if wait:
            await gate.wait()
        steps.append("done")

    assert aio.start_eagerly(work(False)) is None
    assert ["first", "done"] == steps
    steps.clear()
    task = aio.start_eagerly(work(True))
    assert task is not None and ["first"] == steps
    gate.set()
    await task
    assert ["first", "done"] == steps
    # cancelled while it waits: the coroutine sees the cancellation, as in a task
    steps.clear()
    gate.clear()
    task = aio.start_eagerly(work(True))
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ["first"] == steps


async def test_a_handler_that_publishes_to_its_own_stream_sees_that_event_after_its_own() -> None:
    bus = MemoryBus()
    log: list[str] = []

    async def handler(message: dict[str, Any]) -> None:
        log.append(f"start {message['n']}")
        if message["n"] == 0:
            await bus.publish("events", {"n": 1})  # e.g. a command that causes an event
        log.append(f"end {message['n']}")

    async with following(bus, handler):
        await bus.publish("events", {"n": 0})
        assert ["start 0", "end 0", "start 1", "end 1"] == log
