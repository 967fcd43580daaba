"""A worker told to stop, stops: cancelling a consumer blocked on Redis is never lost.

On Python 3.11 with redis-py 8's defaults (a 5 s socket timeout, so every send ran inside
``asyncio.wait_for``), about one cancellation in a few dozen was swallowed, and the consumer
read on for ever: a CI run hung 120 s in two tests, and a worker's stop would hang the same way.
These cancel at random moments, hundreds of times, against the real Redis.
"""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from contact_center.ami.leader import LeaseShare, lease_key
from contact_center.bus import pump
from contact_center.bus.redis import RedisBus

ROUNDS = 200


async def _stops(task: asyncio.Task[None], what: str, round_: int) -> None:
    done, _ = await asyncio.wait({task}, timeout=3.0)
    assert done, f"{what} ignored its cancellation in round {round_} of {ROUNDS}"


async def test_a_cancelled_consumer_always_stops(
    redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="contact_center.bus.pump")
    rng = random.Random(7)
    bus = RedisBus(redis_url, prefix=redis_prefix)
    handled: list[int] = []

    async def handler(message: dict[str, object]) -> None:
        if message["n"] == 1:
            raise RuntimeError("a hostile message on the way")
        handled.append(int(str(message["n"])))

    try:
        for round_ in range(ROUNDS):
            for n in range(rng.randint(0, 4)):
                await bus.publish("events", {"n": n})
            task = asyncio.create_task(
                pump(
                    bus,
                    "events",
                    handler,
                    group="g",
                    consumer=f"c{round_ % 3}",
                    block_ms=50,
                    claim_idle_ms=rng.choice([0, 30_000]),
                )
            )
            await asyncio.sleep(rng.random() * 0.02)
            task.cancel()
            await _stops(task, "the consumer", round_)
        assert handled, "the consumers handled nothing: the test proved nothing"
    finally:
        await bus.delete_all()
        await bus.close()


async def test_a_cancelled_lease_registration_always_stops(
    redis_url: str, redis_prefix: str
) -> None:
    rng = random.Random(11)
    share = LeaseShare(redis_url, lease_key(redis_prefix, "workers"), 30, token="w")
    try:
        for round_ in range(ROUNDS // 2):
            task = asyncio.create_task(share.register_forever())  # a turn every 10 ms
            await asyncio.sleep(rng.random() * 0.02)
            task.cancel()
            await _stops(task, "the lease registration", round_)
        assert share.processes >= 1
    finally:
        await share.close()
