"""What a consumer costs Redis per read, and the retries while it is away: acks ride with the
next read, stale entries are looked for now and then (not before every read) yet a dead
worker's entries are still taken over, and every retry loop waits growing, jittered delays."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import pytest

from contact_center.ami.leader import UNAVAILABLE, LeaderLock, LeaseShare
from contact_center.backoff import Backoff
from contact_center.bus import Bus, MemoryBus, pump
from contact_center.bus.base import parse_id
from contact_center.bus.redis import RedisBus
from tests.conftest import REDIS_URL, background, wait_for
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_bus_contract import need_redis

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens: every command fails at once


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[Bus]:
    if request.param == "memory":
        yield MemoryBus(maxlen=1000)
        return
    need_redis()
    rbus = RedisBus(REDIS_URL, prefix=redis_prefix, maxlen=1000)
    try:
        yield rbus
    finally:
        await rbus.delete_all()
        await rbus.close()


async def test_the_acks_of_a_batch_ride_with_the_next_read(bus: Bus) -> None:
    for n in range(3):
        await bus.publish("jobs", {"n": n})
    first = await bus.consume("jobs", "g", "w", count=2)
    assert {"g": 3} == await bus.backlog("jobs")
    second = await bus.consume("jobs", "g", "w", count=2, ack=[sid for sid, _ in first])
    assert [2] == [m["n"] for _, m in second]
    assert {"g": 1} == await bus.backlog("jobs")  # the first two are settled
    assert [] == await bus.consume("jobs", "g", "w", ack=[sid for sid, _ in second])
    assert {"g": 0} == await bus.backlog("jobs")
    # acknowledging again (a retry after an outage) is harmless
    assert [] == await bus.consume("jobs", "g", "w", ack=[sid for sid, _ in first])


async def test_a_busy_worker_still_takes_over_what_a_dead_one_left(bus: Bus) -> None:
    """Property: entries keep coming, so every read finds something new, and yet the entry
    a dead worker left pending is handed to the live one once it has been idle long enough."""
    await bus.publish("jobs", {"n": "left"})
    assert ["left"] == [m["n"] for _, m in await bus.consume("jobs", "g", "dies")]
    seen: list[object] = []
    owed: list[str] = []

    async def busy() -> bool:
        nonlocal owed
        await bus.publish("jobs", {"n": len(seen)})
        got = await bus.consume("jobs", "g", "lives", count=1, claim_idle_ms=100, ack=owed)
        owed = [sid for sid, _ in got]
        seen.extend(m["n"] for _, m in got)
        return "left" in seen

    await wait_for(busy, timeout=10)
    assert "left" == seen[-1]  # taken over between the new ones
    assert list(range(len(seen) - 1)) == seen[:-1]


@pytest.mark.parametrize("claim_idle_ms", [30_000, 0], ids=["shared-group", "lease-holder"])
async def test_a_steady_reader_sends_one_command_per_read(
    redis_prefix: str, claim_idle_ms: int
) -> None:
    """On Redis: a consumer that finds entries at every read looks for stale ones on its
    first read and then every so often (not before each: here the clock stands still), and
    acknowledges with the next read, not apart — a lease holder's group (claim_idle_ms 0)
    too."""
    need_redis()
    u = urlparse(REDIS_URL)
    proxy = TcpProxy(u.hostname or "127.0.0.1", u.port or 6379)
    await proxy.start()
    now = [100.0]
    setup = RedisBus(REDIS_URL, prefix=redis_prefix)
    rbus = RedisBus(
        f"redis://127.0.0.1:{proxy.port}{u.path or '/0'}", prefix=redis_prefix, clock=lambda: now[0]
    )
    try:
        for n in range(21):
            await setup.publish("jobs", {"n": n})
        owed: list[str] = []
        seen: list[int] = []

        async def read() -> None:
            nonlocal owed
            got = await rbus.consume(
                "jobs", "g", "w", count=1, claim_idle_ms=claim_idle_ms, ack=owed
            )
            owed = [sid for sid, _ in got]
            seen.extend(m["n"] for _, m in got)

        for _ in range(20):
            await read()
        assert list(range(20)) == seen
        sent = bytes(proxy.sent).upper()
        assert 1 == sent.count(b"XAUTOCLAIM")
        assert 20 == sent.count(b"XREADGROUP")
        assert 19 == sent.count(b"XACK")  # each with the next read: the last one still owed
        assert {"g": 2} == await setup.backlog("jobs")
        now[0] += max(claim_idle_ms / 2000, 0.5)  # a claim is due again
        await read()
        assert 2 == bytes(proxy.sent).upper().count(b"XAUTOCLAIM")
        assert list(range(21)) == seen
    finally:
        await setup.delete_all()
        await setup.close()
        await rbus.close()
        await proxy.close()


class Sleeps:
    """A recording sleep: nothing waits for real; the loop still gets a turn."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(0)


def growing(delays: list[float]) -> bool:
    return all(a < b for a, b in itertools.pairwise(delays))


async def test_a_pump_retries_an_unreachable_bus_after_growing_jittered_delays() -> None:
    sleeps = Sleeps()
    retry = Backoff(first=0.2, ceiling=1.6, jitter=0.5, random=lambda: 0.5, sleeper=sleeps)
    bus = RedisBus(NOWHERE)
    handled: list[Any] = []

    async def handler(message: dict[str, Any]) -> None:
        handled.append(message)

    try:
        async with background(pump(bus, "events", handler, group="g", consumer="c", backoff=retry)):
            await wait_for(lambda: len(sleeps.slept) >= 6, timeout=10)
    finally:
        await bus.close()
    # 3/4 of 0.2, 0.4, 0.8, 1.6, then the ceiling
    assert [0.15, 0.3, 0.6, 1.2, 1.2, 1.2] == [round(d, 6) for d in sleeps.slept[:6]]
    assert [] == handled


async def test_a_pump_stops_at_once_while_waiting_to_retry() -> None:
    bus = RedisBus(NOWHERE)

    async def never(seconds: float) -> None:
        await asyncio.Event().wait()

    retry = Backoff(first=1.0, ceiling=1.0, sleeper=never)
    task = asyncio.create_task(pump(bus, "events", lambda m: asyncio.sleep(0), group="g",
                                    consumer="c", backoff=retry))  # fmt: skip
    try:
        await wait_for(lambda: retry.attempt == 1, timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
    finally:
        await bus.close()


async def test_a_leader_lock_retries_an_unreachable_redis_after_growing_delays() -> None:
    sleeps = Sleeps()
    retry = Backoff(first=0.1, ceiling=0.6, jitter=0.5, random=lambda: 0.0, sleeper=sleeps)
    lock = LeaderLock(NOWHERE, "cc:nowhere", ttl_ms=600, renew_every=0.1, backoff=retry)
    try:
        async with background(lock.acquire_forever()):
            await wait_for(lambda: len(sleeps.slept) >= 5, timeout=10)
            assert (UNAVAILABLE, False) == (lock.state, lock.held)
    finally:
        await lock.close()
    assert [0.1, 0.2, 0.4, 0.6, 0.6] == [round(d, 6) for d in sleeps.slept[:5]]


async def test_a_lease_share_registers_again_after_growing_delays() -> None:
    sleeps = Sleeps()
    retry = Backoff(first=0.2, ceiling=0.6, jitter=0.5, random=lambda: 1.0, sleeper=sleeps)
    share = LeaseShare(NOWHERE, "cc:nowhere:registry", 600, backoff=retry)
    try:
        async with background(share.register_forever()):
            await wait_for(lambda: len(sleeps.slept) >= 4, timeout=10)
    finally:
        await share.close()
    assert [0.1, 0.2, 0.3, 0.3] == [round(d, 6) for d in sleeps.slept[:4]]
    assert growing(sleeps.slept[:3])


async def test_a_leader_lock_back_in_reach_renews_at_its_pace(
    redis_url: str, redis_prefix: str
) -> None:
    """The backoff is for failures only: after Redis answers, the lock takes the lease and
    renews every ``renew_every`` (not after the grown delay)."""
    u = urlparse(redis_url)
    proxy = TcpProxy(u.hostname or "127.0.0.1", u.port or 6379)
    await proxy.start()
    proxy.cut()
    sleeps = Sleeps()
    retry = Backoff(first=0.05, ceiling=0.4, jitter=0, sleeper=sleeps)
    url = f"redis://127.0.0.1:{proxy.port}{u.path or '/0'}"
    lock = LeaderLock(url, f"{redis_prefix}:lease", ttl_ms=600, renew_every=0.1, backoff=retry)
    try:
        async with background(lock.acquire_forever()):
            await wait_for(lambda: len(sleeps.slept) >= 3, timeout=10)
            proxy.restore()
            await wait_for(lambda: lock.held, timeout=10)
            assert 0 == retry.attempt  # reset by the success
    finally:
        with contextlib.suppress(Exception):
            await lock.release()
        await lock.close()
        await proxy.close()
    assert growing(sleeps.slept[:3])


async def test_pops_queued_together_go_out_in_order_in_one_publish(
    redis_url: str, redis_prefix: str
) -> None:
    bus = RedisBus(redis_url, prefix=redis_prefix)
    try:
        ids = await bus.publish_many("pops", [{"n": n} for n in range(5)])
        assert ids == sorted(ids, key=parse_id) and len(set(ids)) == 5
        assert [(sid, {"n": n}) for n, sid in enumerate(ids)] == await bus.read("pops", "0")
        assert [] == await bus.publish_many("pops", [])
    finally:
        await bus.delete_all()
        await bus.close()


async def test_a_pump_on_redis_stops_every_time_it_is_cancelled_mid_traffic(
    redis_url: str, redis_prefix: str
) -> None:
    """Property: a pump reading a busy stream on a real Redis, cancelled at any moment,
    ends — redis-py can lose the cancellation of a command (answering it with a closed
    connection, or with the reply), and a pump that went on would hang whoever stops it."""
    pub = RedisBus(redis_url, prefix=redis_prefix)
    bus = RedisBus(redis_url, prefix=redis_prefix)
    handled: list[int] = []

    async def handler(message: dict[str, Any]) -> None:
        handled.append(int(message["n"]))

    async def traffic() -> None:
        n = 0
        while True:
            await pub.publish("events", {"n": n})
            n += 1
            await asyncio.sleep(0.002)

    hung = 0
    try:
        async with background(traffic()):
            for round_ in range(30):
                task = asyncio.create_task(
                    pump(bus, "events", handler, group="g", consumer="c", block_ms=50)
                )
                before = len(handled)
                await wait_for(lambda n=before: len(handled) > n, timeout=10)  # type: ignore[misc]
                await asyncio.sleep(0.002 * (round_ % 5))  # cancelled at various moments
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=5)
                if not done:
                    hung += 1
                    bus = RedisBus(redis_url, prefix=redis_prefix)  # leave that one behind
    finally:
        await pub.delete_all()
        await pub.close()
        await bus.close()
    assert 0 == hung


async def test_lease_loops_on_redis_stop_every_time_they_are_cancelled(
    redis_url: str, redis_prefix: str
) -> None:
    """Property: the lease share's registration and a lease contender, cancelled at any
    moment of their Redis round trips, end (a cancellation redis-py swallowed made a worker's
    stop hang)."""
    hung = 0
    for round_ in range(30):
        share = LeaseShare(redis_url, f"{redis_prefix}:lease:workers", 30, token=f"w{round_}")
        lock = LeaderLock(redis_url, f"{redis_prefix}:lease:g", ttl_ms=100, renew_every=0.001)
        tasks = [
            asyncio.create_task(share.register_forever()),
            asyncio.create_task(lock.acquire_forever()),
        ]
        await asyncio.sleep(0.001 * (round_ % 7) + 0.01)  # in the middle of their loops
        for task in tasks:
            task.cancel()
        done, _ = await asyncio.wait(tasks, timeout=5)
        hung += len(tasks) - len(done)
        await share.close()
        await lock.close()
    assert 0 == hung
