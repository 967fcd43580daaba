"""What scaling out needs of the bus, on MemoryBus and on a real Redis: a connector's group
new to a stream replays nothing, marks say whether a command was begun or done across
processes, and a group read by one lease holder at a time loses nothing when it changes
hands."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contact_center.ami.leader import LeaderLock, lease_key, run_as_leader, while_leading
from contact_center.bus import ONCE_DONE, ONCE_NEW, ONCE_STARTED, Bus, MemoryBus, pump
from contact_center.bus.base import server_group
from contact_center.bus.redis import RedisBus
from tests.conftest import REDIS_URL, wait_for
from tests.integration.test_bus_contract import need_redis


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


async def test_a_group_created_at_the_end_replays_nothing_and_keeps_its_place(bus: Bus) -> None:
    """Property: a connector's group new to a stream full of old commands (an upgrade from
    the shared group) hands out only what comes after it; created again, it keeps its
    position."""
    for n in range(3):
        await bus.publish("events", {"n": n})
    group = server_group("executor", "pbx1")
    await bus.ensure_group("events", group, at="$")
    assert [] == await bus.consume("events", group, "c")
    await bus.publish("events", {"n": 3})
    await bus.ensure_group("events", group, at="$")  # a second connector starting
    await bus.publish("events", {"n": 4})
    got = await bus.consume("events", group, "c")
    assert [3, 4] == [m["n"] for _, m in got]
    assert "executor@pbx1" == group


async def test_once_marks_begun_then_done_for_everyone(bus: Bus) -> None:
    assert ONCE_NEW == await bus.begin_once("command:pbx1:k1", 60_000)
    assert ONCE_STARTED == await bus.begin_once("command:pbx1:k1", 60_000)
    await bus.finish_once("command:pbx1:k1", 60_000)
    assert ONCE_DONE == await bus.begin_once("command:pbx1:k1", 60_000)
    assert ONCE_NEW == await bus.begin_once("command:pbx1:k2", 60_000)


async def test_once_marks_expire(bus: Bus) -> None:
    assert ONCE_NEW == await bus.begin_once("short", 50)
    await asyncio.sleep(0.2)
    assert ONCE_NEW == await bus.begin_once("short", 50)


async def test_redis_once_is_one_winner_among_many(redis_url: str, redis_prefix: str) -> None:
    """Property: of many processes beginning the same command at once, exactly one owns it."""
    buses = [RedisBus(redis_url, prefix=redis_prefix) for _ in range(8)]
    try:
        answers = await asyncio.gather(*(b.begin_once("race", 60_000) for b in buses))
    finally:
        await buses[0].delete_all()
        for b in buses:
            await b.close()
    assert 1 == answers.count(ONCE_NEW)
    assert 7 == answers.count(ONCE_STARTED)


async def test_a_standby_reads_nothing_and_takes_over_what_the_leader_left(
    redis_url: str, redis_prefix: str
) -> None:
    """Property: of two processes for one server, only the lease holder reads the group;
    when it stops mid-batch (an entry handed to it and never acknowledged) the other takes
    the lease and handles that entry and the rest — every entry handled, none by the
    standby before it led."""
    bus = RedisBus(redis_url, prefix=redis_prefix)
    key = lease_key(redis_prefix, "executor@pbx1")
    handled: dict[str, list[int]] = {"a": [], "b": []}
    stuck = asyncio.Event()

    def worker(name: str) -> Any:
        async def handle(message: dict[str, Any]) -> None:
            if name == "a" and message["n"] == 2:
                stuck.set()
                await asyncio.Event().wait()  # dies holding entry 2, unacknowledged
            handled[name].append(int(message["n"]))

        return lambda: pump(
            bus, "events", handle, group="executor@pbx1", consumer=f"c-{name}",
            block_ms=50, claim_idle_ms=0,
        )  # fmt: skip

    lock_a = LeaderLock(redis_url, key, ttl_ms=600)
    lock_b = LeaderLock(redis_url, key, ttl_ms=600)
    await bus.ensure_group("events", "executor@pbx1", at="$")
    task_a = asyncio.create_task(run_as_leader(lock_a, worker("a")))
    await wait_for(lambda: lock_a.held, 5)
    contender_b = asyncio.create_task(lock_b.acquire_forever())
    task_b = asyncio.create_task(while_leading(lock_b, worker("b")))
    try:
        for n in range(5):
            await bus.publish("events", {"n": n})
        await asyncio.wait_for(stuck.wait(), 5)
        assert [] == handled["b"]  # the standby reads nothing
        task_a.cancel()  # the leader stops; its lease is released
        with contextlib.suppress(asyncio.CancelledError):
            await task_a
        await wait_for(lambda: sorted(handled["a"] + handled["b"]) == [0, 1, 2, 3, 4], 10)
        assert [0, 1] == handled["a"]
        assert [2, 3, 4] == handled["b"]

        async def acknowledged() -> bool:  # a batch is acknowledged after its last handler
            return (await bus.backlog("events")).get("executor@pbx1") == 0

        await wait_for(acknowledged, 5)
    finally:
        for task in (task_a, task_b, contender_b):
            task.cancel()
        await asyncio.gather(task_a, task_b, contender_b, return_exceptions=True)
        await lock_b.release()
        for lock in (lock_a, lock_b):
            await lock.close()
        await bus.delete_all()
        await bus.close()


GROUPS = ["billing", "history", "recording", "screenpop", "stats"]
Worker = tuple[Any, list[LeaderLock], list[asyncio.Task[None]]]


class _Groups:
    """The five leased groups' work, counting when one ran in two workers at once."""

    def __init__(self) -> None:
        self.running: dict[str, int] = dict.fromkeys(GROUPS, 0)
        self.overlaps: list[str] = []

    def work(self, group: str) -> Any:
        async def run() -> None:
            self.running[group] += 1
            if self.running[group] > 1:
                self.overlaps.append(group)
            try:
                await asyncio.Event().wait()
            finally:
                self.running[group] -= 1

        return run

    def worker(
        self, redis_url: str, prefix: str, name: str, ttl_ms: int = 600, **lock: Any
    ) -> Worker:
        """A worker process's share: its registration and a lease per group."""
        from contact_center.ami.leader import LeaseShare

        share = LeaseShare(redis_url, lease_key(prefix, "workers"), 600, token=name)
        locks = [
            share.add(LeaderLock(redis_url, lease_key(prefix, g), ttl_ms, **lock)) for g in GROUPS
        ]
        tasks = [asyncio.create_task(share.register_forever())]
        tasks += [
            asyncio.create_task(run_as_leader(lk, self.work(g)))
            for lk, g in zip(locks, GROUPS, strict=True)
        ]
        return share, locks, tasks


def _held(locks: list[LeaderLock]) -> int:
    return sum(1 for lock in locks if lock.held)


async def _stop(worker: Worker) -> None:
    share, locks, tasks = worker
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await share.close()
    for lock in locks:
        await lock.close()


async def test_workers_share_the_leases_and_never_run_one_group_twice(
    redis_url: str, redis_prefix: str
) -> None:
    """Property: five leased groups, one worker: it holds all five. A second worker comes:
    within a few ttls they hold three and two, and no group's work ever ran in both at once.
    The second goes: the first holds all five again."""
    groups = _Groups()
    a = groups.worker(redis_url, redis_prefix, "a")
    try:
        await wait_for(lambda: _held(a[1]) == 5, 10)
        b = groups.worker(redis_url, redis_prefix, "b")
        try:
            await wait_for(lambda: (_held(a[1]), _held(b[1])) == (3, 2), 15)
        finally:
            await _stop(b)
        await wait_for(lambda: _held(a[1]) == 5, 15)
        assert [] == groups.overlaps
    finally:
        await _stop(a)


async def test_a_lease_handed_over_moves_before_its_ttl_runs_out(
    redis_url: str, redis_prefix: str
) -> None:
    """A worker handing a lease to a newcomer frees it as soon as its work has stopped: with
    a 30 s ttl and renewals every 0.2 s, the newcomer holds its share within seconds (left
    to expire, the leases would stay unheld for the whole ttl), and no group's work ran in
    both at once."""
    groups = _Groups()
    lock = {"ttl_ms": 30_000, "renew_every": 0.2}
    workers = [groups.worker(redis_url, redis_prefix, "a", **lock)]
    try:
        await wait_for(lambda: _held(workers[0][1]) == 5, 10)
        workers.append(groups.worker(redis_url, redis_prefix, "b", **lock))
        await wait_for(lambda: (_held(workers[0][1]), _held(workers[1][1])) == (3, 2), 10)
        assert [] == groups.overlaps
    finally:
        for worker in workers:
            await _stop(worker)
