"""One active AMI connector per Asterisk server across hosts: a Redis lease.

Two connectors on one server would each emit every event (duplicates for consumers that key
by source) and each resync. So each host contends for ``key``: ``SET key token NX PX ttl``;
the holder extends it every ``renew_every`` seconds with a Lua compare-and-extend (only while
the value is still its token) and gives it up with a compare-and-delete.

Safety: a holder believes it leads only until ``t0 + ttl - margin``, where ``t0`` is taken
*before* the last successful acquire/extend was sent — Redis started the key's ttl later, so
our belief ends before the key can expire and a standby take it. When Redis cannot be reached
the holder therefore steps down on its own (state ``unavailable``, ``lost`` set) before anyone
else can acquire: never two leaders, at worst none for a while.

Use::

    lock = LeaderLock(settings.bus.redis_url, leader_key(settings.bus.prefix, "pbx1"),
                      ttl_ms=settings.ami.leader_ttl_ms)
    await run_as_leader(lock, connector.run)  # the connector runs only while the lease is ours

or by hand: run ``lock.acquire_forever()`` as a task, start the work on ``lock.acquired``, stop
it on ``lock.lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from contact_center import redis_client
from contact_center.aio import raise_if_cancelling
from contact_center.backoff import Backoff

log = logging.getLogger(__name__)

# Extend only our own lease. Returns 1 when extended, 0 when the key is not ours (any more).
EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
# Delete only our own lease.
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

WORK_STOP_SECONDS = 2.0  # how long while_leading waits for its work to end after a cancel
STANDBY = "standby"  # another host leads (or nobody yet); we keep trying
LEADER = "leader"
UNAVAILABLE = "unavailable"  # Redis cannot be reached: we do not lead


def leader_key(prefix: str, server_id: str) -> str:
    """The lease key of one Asterisk server, e.g. ``cc:ami-leader:pbx1``."""
    return f"{prefix}:ami-leader:{server_id}"


def lease_key(prefix: str, name: str) -> str:
    """The lease key of one job only one process may do at a time (a consumer group that
    keeps per-call state in memory), e.g. ``cc:lease:stats``."""
    return f"{prefix}:lease:{name}"


class LeaderError(RuntimeError):
    """Bad lease settings."""


class LeaderLock:
    """A Redis lease for one key. ``held`` is true only while the lease is surely ours."""

    def __init__(
        self,
        redis_url: str,
        key: str,
        ttl_ms: int = 10_000,
        renew_every: float | None = None,
        *,
        token: str = "",
        backoff: Backoff | None = None,
    ) -> None:
        if ttl_ms < 100:
            raise LeaderError(f"ttl_ms must be at least 100, not {ttl_ms}")
        renew = ttl_ms / 3000 if renew_every is None else renew_every
        if not 0 < renew < ttl_ms / 1000 / 2:
            raise LeaderError(f"renew_every must be > 0 and < ttl/2 ({ttl_ms / 2000} s): {renew}")
        self.key = key
        self.ttl_ms = ttl_ms
        self.renew_every = renew
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Time for clock-rate differences and scheduling lag between our view and Redis's.
        self.margin = min(renew, ttl_ms / 1000 / 10)
        self.acquired = asyncio.Event()  # set while we lead
        self.lost = asyncio.Event()  # set when a leadership ends (cleared on each acquire)
        self.state = STANDBY
        self._valid_until = 0.0  # monotonic time our belief in the lease ends
        # Set by a LeaseShare: whether to give this lease up now (this process holds more
        # than its share of a set of leases), and until when not to take it back.
        self.should_yield: Callable[[LeaderLock], bool] | None = None
        self._yielded_until = 0.0
        # It stepped down to hand the lease over: once its work has stopped, the key is
        # deleted (run_as_leader) rather than left to expire, so the taker need not wait
        # out the ttl.
        self.handed_over = False
        # each command is bounded by asyncio.timeout in _call (no socket timeout: see
        # contact_center.redis_client)
        self._redis: aioredis.Redis = redis_client.client(redis_url, connect_timeout=renew)
        # While Redis cannot be reached, tries are spaced by growing, jittered delays (from
        # the renewal period up to the ttl), so hosts that lost it do not all come back at
        # once; a success starts again from the renewal period.
        self.backoff = backoff or Backoff(first=renew, ceiling=max(renew, ttl_ms / 1000))
        self._failed = False  # the last attempt could not reach Redis

    @property
    def held(self) -> bool:
        return self.state == LEADER and time.monotonic() < self._valid_until

    async def acquire_forever(self) -> None:
        """Contend, hold and renew until cancelled. Cancelling stops the renewals (as a crash
        would: the lease then expires by itself); call :meth:`release` to hand over at once."""
        try:
            while True:
                await self._step()
                _raise_if_cancelling()
                if self._failed and not self._still_valid():
                    await self.backoff.sleep()
                else:
                    await asyncio.sleep(self._next_delay())
        finally:
            self._step_down(STANDBY, "stopped")

    async def release(self) -> None:
        """Give the lease up now (compare-and-delete), so a standby takes over quickly."""
        self._step_down(STANDBY, "released")
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await self._call(self._redis.eval(RELEASE, 1, self.key, self.token), self.renew_every)

    async def close(self) -> None:
        await self._redis.aclose()

    # --- internals ------------------------------------------------------------------------

    async def _step(self) -> None:
        started = time.monotonic()
        try:
            ours = await self._attempt(started)
        except (RedisError, OSError, TimeoutError) as exc:
            _raise_if_cancelling()  # a cancelled command may surface as a connection error
            self._failed = True
            if self.state != UNAVAILABLE and not self._still_valid():
                log.warning("leader lock %s: Redis unavailable (%s)", self.key, exc)
                self._step_down(UNAVAILABLE, f"Redis unavailable: {exc}")
            return
        self._failed = False
        self.backoff.reset()
        if ours and self.state == LEADER and self.should_yield and self.should_yield(self):
            # Handed to a process with fewer: we stop believing now; the key expires after
            # the ttl, by when our work has stopped, and another takes it. We stay out for
            # a few ttls so that it does.
            self._yielded_until = time.monotonic() + 3 * self.ttl_ms / 1000
            self.handed_over = True
            self._step_down(STANDBY, "handed to a process holding fewer leases")
            return
        if ours:
            self._valid_until = started + self.ttl_ms / 1000 - self.margin
            if self.state != LEADER:
                log.info("leader lock %s: acquired by %s", self.key, self.token)
                self.handed_over = False
                self.state = LEADER
                self.lost.clear()
                self.acquired.set()
        else:
            self._step_down(STANDBY, "held by another")

    async def _attempt(self, started: float) -> bool:
        # While we lead, an attempt must not outlive our belief in the lease.
        timeout = self.renew_every
        if self.state == LEADER:
            timeout = max(0.001, min(timeout, self._valid_until - started))
        if self.state != LEADER and time.monotonic() < self._yielded_until:
            return False  # we handed it over: leave it to the others for a while
        if self.state != LEADER:
            took = await self._call(
                self._redis.set(self.key, self.token, nx=True, px=self.ttl_ms), timeout
            )
            if took:
                return True
        # Ours already (we lead, or our earlier lease survived a Redis outage): extend it.
        extended = await self._call(
            self._redis.eval(EXTEND, 1, self.key, self.token, self.ttl_ms), timeout
        )
        return bool(extended)

    @staticmethod
    async def _call(command: Awaitable[Any], timeout: float) -> Any:
        # asyncio.timeout, not wait_for: wait_for (3.11) can swallow our own cancellation
        # when the command completes at the same moment.
        async with asyncio.timeout(timeout):
            return await command

    def _still_valid(self) -> bool:
        return self.state == LEADER and time.monotonic() < self._valid_until

    def _next_delay(self) -> float:
        if self.state == LEADER:
            # Wake up no later than the end of our belief, to step down on time.
            return max(0.0, min(self.renew_every, self._valid_until - time.monotonic()))
        return self.renew_every

    def _step_down(self, state: str, why: str) -> None:
        was_leader = self.state == LEADER
        self.state = state
        self._valid_until = 0.0
        self.acquired.clear()
        if was_leader:
            log.warning("leader lock %s: leadership of %s ended (%s)", self.key, self.token, why)
            self.lost.set()


_raise_if_cancelling = raise_if_cancelling


class LeaseShare:
    """Spreads a set of leases (one per worker consumer group) over the processes that
    contend for them: each process registers itself in a Redis sorted set while it lives; a
    process holding more than ``ceil(leases / processes)`` hands one over at a renewal (the
    one with the greatest key, so one at a time), and stays away from it for a while."""

    def __init__(
        self,
        redis_url: str,
        registry_key: str,
        ttl_ms: int,
        *,
        token: str = "",
        backoff: Backoff | None = None,
    ) -> None:
        self.registry_key = registry_key
        self.ttl_ms = ttl_ms
        # Unregistered (Redis unavailable): tried again after growing, jittered delays.
        every = ttl_ms / 3000
        self.backoff = backoff or Backoff(first=every, ceiling=max(every, ttl_ms / 1000))
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.locks: list[LeaderLock] = []
        self.processes = 1  # live processes sharing the leases, as last read
        self._redis: aioredis.Redis = redis_client.client(redis_url)

    def add(self, lock: LeaderLock) -> LeaderLock:
        lock.should_yield = self._should_yield
        self.locks.append(lock)
        return lock

    def _should_yield(self, lock: LeaderLock) -> bool:
        held = sorted((x for x in self.locks if x.state == LEADER), key=lambda x: x.key)
        share = -(-len(self.locks) // max(1, self.processes))
        return len(held) > share and held[-1] is lock

    async def register_forever(self) -> None:
        """Say we live and read how many do, every third of the ttl, until cancelled."""
        every = self.ttl_ms / 3000
        while True:
            now_ms = int(time.time() * 1000)
            try:
                async with asyncio.timeout(every):
                    pipe = self._redis.pipeline(transaction=False)
                    pipe.zadd(self.registry_key, {self.token: now_ms + self.ttl_ms})
                    pipe.zremrangebyscore(self.registry_key, 0, now_ms)
                    pipe.zcard(self.registry_key)
                    *_, count = await pipe.execute()
                self.processes = max(1, int(count))
            except (RedisError, OSError, TimeoutError) as exc:
                _raise_if_cancelling()
                delay = self.backoff.next()
                log.debug(
                    "lease share %s: not registered, again in %.1f s: %s",
                    self.registry_key,
                    delay,
                    exc,
                )
                await self.backoff.sleep(delay)
                continue
            _raise_if_cancelling()  # a cancellation redis-py swallowed (the reply came back)
            self.backoff.reset()
            await asyncio.sleep(every)

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self.ttl_ms / 3000):
                await self._redis.zrem(self.registry_key, self.token)
        await self._redis.aclose()


async def run_as_leader(lock: LeaderLock, work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work()`` only while ``lock`` is held: started on each acquire, cancelled on loss.
    Returns when ``work()`` returns; raises what it raises. Cancel this to stop: the lease is
    then released so a standby takes over at once."""
    contender = asyncio.create_task(lock.acquire_forever(), name=f"leader:{lock.key}")
    try:
        while True:
            await _first(lock.acquired.wait(), contender)
            task = asyncio.create_task(_as_coroutine(work), name=f"leader-work:{lock.key}")
            try:
                if await _first(lock.lost.wait(), contender, task) is task:
                    return
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if lock.handed_over and not lock.held:
                # Handed over, and our work has stopped: free the key now (compare-and-
                # delete) — the process taking it over starts at its next attempt, not
                # after the ttl (a group without a reader for up to a ttl: pops late).
                lock.handed_over = False
                await lock.release()
    finally:
        contender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await contender
        await lock.release()


async def while_leading(lock: LeaderLock, work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work()`` each time ``lock`` is held and cancel it when the lease ends, without
    contending for the lock (:func:`run_as_leader` or :meth:`LeaderLock.acquire_forever`
    does that). A standby so does nothing at all — it reads no command — until it leads.
    Runs until cancelled; returns when ``work()`` returns."""
    while True:
        await lock.acquired.wait()
        task = asyncio.create_task(_as_coroutine(work), name=f"while-leading:{lock.key}")
        lost = asyncio.ensure_future(lock.lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
            # Not for ever: a client library that loses a cancellation (a blocked Redis read
            # seen doing so) must not hang a stop; it ends when its connection is closed.
            await asyncio.wait({task}, timeout=WORK_STOP_SECONDS)
            if not task.done():
                log.warning("%s did not stop within %.0f s", task.get_name(), WORK_STOP_SECONDS)
            _raise_if_cancelling()
        if task.done() and not task.cancelled() and not lock.lost.is_set():
            task.result()  # ended by itself (or raised) while we still lead
            return


async def _as_coroutine(work: Callable[[], Awaitable[None]]) -> None:
    await work()


async def _first(
    awaitable: Awaitable[Any], contender: asyncio.Task[None], *others: asyncio.Task[None]
) -> asyncio.Task[None] | None:
    """Wait for ``awaitable`` (→ None) or one of ``others`` to end (→ that task, its error
    re-raised). The contender never ends by itself: if it does, its error is raised."""
    waiter = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait(
            {waiter, contender, *others}, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        waiter.cancel()
    if contender in done:
        contender.result()
        raise LeaderError(f"{contender.get_name()} ended unexpectedly")
    for task in others:
        if task in done:
            task.result()
            return task
    return None
