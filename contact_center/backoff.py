"""One retry policy for every loop that waits before trying again: exponential backoff with
jitter.

The n-th delay (n = 0, 1, …) is drawn uniformly from ``[d·(1 − jitter), d]`` with
``d = min(first · factor**n, ceiling)``: growing waits, so an outage is not hammered, and
spread out, so processes that lost the same server do not all come back in the same
millisecond. :meth:`Backoff.reset` after a success starts again from ``first``.

The random source and the sleep are injected (tests pass a fixed ``random`` and a recording
``sleep``; nothing in a test waits for real)::

    backoff = Backoff(first=0.1, ceiling=5.0)
    while True:
        try:
            return await connect()
        except OSError:
            await backoff.sleep()
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from contact_center.aio import raise_if_cancelling

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Backoff:
    """Exponential backoff with jitter (see the module docstring)."""

    first: float = 0.1
    ceiling: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5  # 0: exact delays; 0.5: uniform in [d/2, d]
    random: Callable[[], float] = field(default=random.random, repr=False)
    sleeper: Sleep = field(default=asyncio.sleep, repr=False)
    attempt: int = 0  # delays handed out since the last reset

    def __post_init__(self) -> None:
        if self.first <= 0 or self.ceiling < self.first:
            raise ValueError(f"backoff needs 0 < first ≤ ceiling, got {self.first}, {self.ceiling}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter is a fraction in [0, 1], got {self.jitter}")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be at least 1, got {self.factor}")

    def ceiling_of(self, attempt: int) -> float:
        """The largest delay of the ``attempt``-th wait (no jitter)."""
        # capped before the power overflows a float on a long outage
        if attempt > 64:
            return self.ceiling
        return min(self.ceiling, self.first * self.factor**attempt)

    def delay(self, attempt: int) -> float:
        """The ``attempt``-th delay, jittered (does not advance)."""
        top = self.ceiling_of(attempt)
        return top - top * self.jitter * self.random()

    def next(self) -> float:
        """The next delay; advances."""
        delay = self.delay(self.attempt)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """A success: the next delay is ``first`` again."""
        self.attempt = 0

    async def sleep(self, delay: float | None = None) -> float:
        """Wait the next delay (or ``delay``, already taken with :meth:`next`); return it."""
        if delay is None:
            delay = self.next()
        await self.sleeper(delay)
        return delay


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    retry_on: Callable[[Exception], bool],
    backoff: Backoff,
    on_retry: Callable[[Exception, float], None] | None = None,
) -> T:
    """``await call()`` until it returns; an exception ``retry_on`` accepts is retried after
    the backoff's next delay (``on_retry(exc, delay)`` is told first), any other propagates.
    A cancellation that surfaced as a retried error is raised as the cancellation."""
    while True:
        try:
            return await call()
        except Exception as exc:
            if not retry_on(exc):
                raise
            # A client library (redis-py) may turn our own cancellation into the
            # connection error we retry on: stop, as we were asked to.
            raise_if_cancelling(exc)
            delay = backoff.next()
            if on_retry is not None:
                on_retry(exc, delay)
            await backoff.sleep(delay)
