"""Small asyncio helpers shared by every package."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """``asyncio.wait_for`` without its Python 3.11 flaw: there, a cancellation that arrives
    as the inner awaitable completes can be swallowed (fixed in 3.12), which leaves a task
    that was told to stop running on — we saw shutdowns hang on it. ``asyncio.timeout`` does
    not have the flaw."""
    async with asyncio.timeout(timeout):
        return await aw
