"""Small asyncio helpers shared by every package."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """``asyncio.wait_for`` without its Python 3.11 flaw: there, a cancellation that arrives
    as the inner awaitable completes can be swallowed (fixed in 3.12), which leaves a task
    that was told to stop running on — we saw shutdowns hang on it. ``asyncio.timeout`` does
    not have the flaw."""
    async with asyncio.timeout(timeout):
        return await aw


def start_eagerly(
    coro: Coroutine[Any, Any, None], name: str | None = None
) -> asyncio.Task[None] | None:
    """Run ``coro`` in the caller's own step up to its first suspension (Python 3.12's eager
    tasks, by hand): None if it finished there, else the task that finishes it. An exception
    raised before the first suspension propagates to the caller."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_resume(coro, waiting), name=name)


async def _resume(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Drive a coroutine started by hand (``coro.send(None)``) to its end.

    It suspended by yielding the future it waits on (asyncio's protocol); once that future
    is done, resuming it with ``send(None)`` lets it read the result, as a task would. A
    cancellation of this task is thrown into the coroutine, as a task would.
    """
    try:
        while True:
            try:
                if isinstance(waiting, asyncio.Future):
                    await asyncio.wait([waiting])
                else:  # a bare yield (sleep(0))
                    await asyncio.sleep(0)
            except asyncio.CancelledError as cancelled:
                if isinstance(waiting, asyncio.Future):
                    waiting.cancel()
                waiting = coro.throw(cancelled)
                continue
            waiting = coro.send(None)
    except StopIteration:
        return
    finally:
        coro.close()


def raise_if_cancelling(cause: BaseException | None = None) -> None:
    """Raise ``CancelledError`` when the current task was asked to stop.

    For retry loops around a client library that can lose a cancellation: redis-py may
    answer the cancellation of a blocked command with a connection error (which the loop
    would retry) or with the command's reply, and the task then runs on — a stop that hangs.
    """
    current = asyncio.current_task()
    if current is not None and current.cancelling():
        raise asyncio.CancelledError from cause
