"""The AMI leader lease on real Redis: one leader, takeover after a crash, never two leaders
when Redis goes away."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from contact_center.ami.connector import AmiConnector
from contact_center.ami.leader import (
    UNAVAILABLE,
    LeaderError,
    LeaderLock,
    leader_key,
    run_as_leader,
)
from contact_center.calls import events as ev
from contact_center.config import AmiSettings
from tests.conftest import background, wait_for
from tests.integration.tcp_proxy import TcpProxy

TTL_MS = 600
RENEW = 0.1


class Overlap:
    """Samples the locks every 5 ms: how often more than one believed it leads."""

    def __init__(self, *locks: LeaderLock) -> None:
        self.locks = locks
        self.samples = 0
        self.both = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            if sum(lock.held for lock in self.locks) > 1:
                self.both += 1
            self.samples += 1
            await asyncio.sleep(0.005)

    def __enter__(self) -> Overlap:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


@contextlib.asynccontextmanager
async def contending(lock: LeaderLock) -> AsyncIterator[asyncio.Task[None]]:
    try:
        async with background(lock.acquire_forever()) as task:
            yield task
    finally:
        await lock.release()
        await lock.close()


def lock(url: str, key: str, token: str, ttl_ms: int = TTL_MS) -> LeaderLock:
    return LeaderLock(url, key, ttl_ms=ttl_ms, renew_every=RENEW, token=token)


async def test_two_contenders_one_leader(redis_url: str, redis_prefix: str) -> None:
    key = f"{redis_prefix}:ami-leader:pbx1"
    a, b = lock(redis_url, key, "host-a"), lock(redis_url, key, "host-b")
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with Overlap(a, b) as overlap:
            async with contending(a), contending(b):
                await wait_for(lambda: a.held or b.held, 2)
                # several renewal rounds (ttl is 6 renewals): the leader keeps it
                await wait_for(lambda: overlap.samples >= 200, 5)
                leader = a if a.held else b
                assert [True, False] == sorted([a.held, b.held], reverse=True)
                assert leader.token == await client.get(key)
                assert 0 < await client.pttl(key) <= TTL_MS
        assert 0 == overlap.both
    finally:
        await client.delete(key)
        await client.aclose()


async def test_standby_takes_over_after_the_leader_crashes(
    redis_url: str, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:ami-leader:pbx1"
    a, b = lock(redis_url, key, "host-a"), lock(redis_url, key, "host-b")
    async with contending(a) as a_task:
        await wait_for(lambda: a.held, 2)
        async with contending(b):
            await wait_for(lambda: b.state == "standby", 2)
            assert not b.held
            a_task.cancel()  # a crash: no release, the lease has to expire
            with contextlib.suppress(asyncio.CancelledError):
                await a_task
            assert (False, True) == (a.held, a.lost.is_set())
            crashed = time.monotonic()
            await wait_for(lambda: b.held, TTL_MS / 1000 + RENEW + 0.5)
            took = time.monotonic() - crashed
            # b could not take it before a's lease expired in Redis
            assert took > (TTL_MS / 1000) - 2 * RENEW - 0.15


async def test_release_hands_over_at_once(redis_url: str, redis_prefix: str) -> None:
    key = f"{redis_prefix}:ami-leader:pbx1"
    a = lock(redis_url, key, "host-a", ttl_ms=30_000)
    b = lock(redis_url, key, "host-b", ttl_ms=30_000)
    async with contending(a) as a_task:
        await wait_for(lambda: a.held, 2)
        async with contending(b):
            a_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await a_task
            await a.release()
            await wait_for(lambda: b.held, 2)  # far sooner than the 30 s ttl


async def test_a_lease_of_someone_else_is_never_extended_or_deleted(
    redis_url: str, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:ami-leader:pbx1"
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.set(key, "other-host", px=5_000)
    a = lock(redis_url, key, "host-a")
    try:
        async with contending(a):
            await wait_for(lambda: a.state == "standby", 2)
            await a.release()
            await wait_for(lambda: a.state == "standby", 2)
        assert (False, "other-host") == (a.held, await client.get(key))
        assert 4_000 < await client.pttl(key) <= 5_000  # not extended by a's renewals
    finally:
        await client.delete(key)
        await client.aclose()


async def test_redis_unreachable_from_the_leader_never_two_leaders(
    redis_url: str, redis_prefix: str
) -> None:
    """The leader loses Redis (proxy cut): it steps down before its lease can expire, and
    only then does the standby (still reaching Redis) take over."""
    host, port = "127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    proxy = TcpProxy(host, port)
    await proxy.start()
    key = f"{redis_prefix}:ami-leader:pbx1"
    # the same database as ``redis_url`` (each xdist worker has its own), through the proxy
    a = lock(redis_url.replace(f":{port}/", f":{proxy.port}/"), key, "host-a")
    b = lock(redis_url, key, "host-b")
    try:
        with Overlap(a, b) as overlap:
            async with contending(a):
                await wait_for(lambda: a.held, 2)
                async with contending(b):
                    await wait_for(lambda: b.state == "standby", 2)
                    proxy.cut()
                    await wait_for(lambda: a.lost.is_set(), 2)
                    assert (UNAVAILABLE, False) == (a.state, a.held)
                    await wait_for(lambda: b.held, 3)
                    assert not a.held
        assert 0 == overlap.both
    finally:
        await proxy.close()


async def test_redis_down_from_the_start_is_a_clear_state() -> None:
    a = LeaderLock("redis://127.0.0.1:1/0", "cc:nowhere", ttl_ms=TTL_MS, renew_every=RENEW)
    async with contending(a):
        await wait_for(lambda: a.state == UNAVAILABLE, 2)
        assert (False, False) == (a.held, a.acquired.is_set())


def test_renewal_must_fit_in_the_ttl() -> None:
    with pytest.raises(LeaderError, match="renew_every"):
        LeaderLock("redis://127.0.0.1:6379/0", "k", ttl_ms=1000, renew_every=0.6)


async def test_work_runs_only_on_the_leader_and_moves_on_handover(
    redis_url: str, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:ami-leader:pbx1"
    running: list[str] = []

    def work(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            running.append(name)
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(name)

        return run

    a = lock(redis_url, key, "host-a", ttl_ms=30_000)
    b = lock(redis_url, key, "host-b", ttl_ms=30_000)
    first = asyncio.create_task(run_as_leader(a, work("a")))
    await wait_for(lambda: running == ["a"], 2)
    second = asyncio.create_task(run_as_leader(b, work("b")))
    try:
        await wait_for(lambda: b.state == "standby", 2)
        assert ["a"] == running
        first.cancel()  # a stops cleanly: releases, b starts long before the 30 s ttl
        with contextlib.suppress(asyncio.CancelledError):
            await first
        await wait_for(lambda: running == ["b"], 2)
    finally:
        second.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await second
        await a.close()
        await b.close()
    assert [] == running


async def test_only_the_leaders_connector_talks_to_asterisk(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Two hosts, one Asterisk (the simulator): one AMI connection at a time; when the
    leader stops, the standby's connector connects."""
    sim = pytest.importorskip("contact_center.sim.pbx")
    key = leader_key(redis_prefix, "sim1")
    async with sim.SimPbx() as pbx:
        settings = AmiSettings(port=pbx.port, secret="cc-test-secret", reconnect_min=0.05)

        async def ignore(event: ev.DomainEvent) -> None:
            return None

        hosts = [
            (
                lock(redis_url, key, name, ttl_ms=30_000),
                AmiConnector(settings, "sim1", ignore, state_dir=tmp_path / name),
            )
            for name in ("host-a", "host-b")
        ]
        (a, conn_a), (b, conn_b) = hosts
        first = asyncio.create_task(run_as_leader(a, conn_a.run))
        await wait_for(lambda: conn_a.connected, 5)
        second = asyncio.create_task(run_as_leader(b, conn_b.run))
        try:
            await wait_for(lambda: b.state == "standby", 2)
            assert (True, False) == (conn_a.connected, conn_b.connected)
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
            await wait_for(lambda: conn_b.connected, 5)
            assert (False, True) == (conn_a.connected, b.held)
        finally:
            second.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await second
            await a.close()
            await b.close()
