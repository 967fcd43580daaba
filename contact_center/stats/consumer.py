"""The stats consumer: domain events in, figures kept in the store and published.

One worker at a time applies the events, in order (the composition root feeds ``handle``
from the bus); every change is written to the store, and a snapshot of the figures is
saved to the store and announced on the bus stream ``stats`` at most every ``publish_interval``
seconds; the wallboards of all web instances follow that stream and load the snapshot.

With several workers on Redis the figures live in Redis (:class:`RedisStatsStore`), written
with each event's key in one transaction: the worker holding the ``stats`` lease applies
events (:meth:`StatsConsumer.lead`); when it dies another takes the lease, continues from the
figures in Redis and takes over the events it left unacknowledged — those it had applied
are found by their keys and not counted twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contact_center import aio
from contact_center.calls import events as ev
from contact_center.stats.metrics import (
    Changed,
    LiveMetrics,
    MetricsConfig,
    Snapshot,
    business_day,
    day_start,
)
from contact_center.stats.store import (
    MemoryStatsStore,
    RedisStatsStore,
    StatsStore,
    StatsStoreError,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from contact_center.bus.base import Bus
    from contact_center.config import Settings

log = logging.getLogger(__name__)

SNAPSHOT_LOOP_SHARE = 0.1  # the most of the event loop's time the wallboard snapshots take

STATS_STREAM = "stats"


def create_store(settings: Settings) -> StatsStore:
    """Redis when the bus is Redis (many instances share figures), else in memory."""
    if settings.bus.backend == "redis":
        return RedisStatsStore(settings.bus.redis_url, settings.bus.prefix)
    return MemoryStatsStore()


class StatsConsumer:
    """Applies domain events to :class:`LiveMetrics`, persists them and signals changes."""

    def __init__(
        self,
        store: StatsStore,
        config: MetricsConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config or MetricsConfig()
        self.metrics = LiveMetrics(self.config)
        self.clock = clock
        self.version = 0  # bumped on every change; publishers compare it
        self._changed = asyncio.Event()
        self._store_behind = False  # a save failed: write everything at the next one

    async def start(self) -> bool:
        """Continue from the saved state; returns False when there was none."""
        state = await self.store.load()
        if state is None:
            return False
        self.metrics = LiveMetrics.from_state(state, self.config)
        return True

    async def start_or_rebuild(self, sessions: async_sessionmaker[AsyncSession]) -> str:
        """Continue from the store, or rebuild today from the ``calls`` history.

        Returns ``"store"`` or ``"history"``. Live facts (who waits, operator states) then come
        from the connector's QueueStatus resync events, which follow on the bus.
        """
        if await self.start():
            return "store"
        from contact_center.stats.reports import history_events

        now = self.clock()
        day = business_day(now, self.config)
        begin = datetime.fromtimestamp(day_start(day, self.config), UTC)
        await self.rebuild(await history_events(sessions, begin, datetime.fromtimestamp(now, UTC)))
        return "history"

    async def handle(self, event: ev.DomainEvent) -> None:
        """Apply one event once (an event key seen before is skipped).

        When the store is unreachable the figures stay live in this process and the whole
        state is written at the first save that works again (Redis down ≠ stats down).
        """
        if event.key and await self._seen(event.key):
            return
        changed = self.metrics.apply(event)
        await self._save(changed, (event.key,) if event.key else ())
        if not changed.empty:
            self._signal()

    async def handle_many(self, events: Sequence[ev.DomainEvent]) -> None:
        """:meth:`handle` for a batch: the keys checked in one read, the figures and the keys
        written in one transaction. With 1,000 operators a queue's document is large, and
        writing it after every event was most of a worker's time on Redis.

        An event that cannot be applied is logged and skipped, as the pump would: the batch
        must not fail part-way, or its first events would be applied again one by one."""
        keys = [event.key for event in events if event.key]
        try:
            done = await self.store.seen_among(keys) if keys else set()
        except StatsStoreError as exc:
            log.warning("stats: cannot check %d event keys, applying them: %s", len(keys), exc)
            done = set()
        queues: set[str] = set()
        operators: set[str] = set()
        rolled = False
        applied: list[str] = []
        for event in events:
            if event.key:
                if event.key in done:
                    continue
                done.add(event.key)  # the same event twice in one batch counts once
                applied.append(event.key)
            try:
                changed = self.metrics.apply(event)
            except Exception:
                log.exception("stats: event skipped, it cannot be applied: %r", event)
                continue
            queues |= changed.queues
            operators |= changed.operators
            rolled = rolled or changed.day_rolled
        changed = Changed(frozenset(queues), frozenset(operators), rolled)
        await self._save(changed, applied)
        if not changed.empty:
            self._signal()

    async def _seen(self, key: str) -> bool:
        try:
            return await self.store.seen(key)
        except StatsStoreError as exc:
            log.warning("stats: cannot check the event key, applying it: %s", exc)
            return False

    async def _save(self, changed: Changed, keys: Sequence[str] = ()) -> None:
        if self._store_behind:
            changed = self._everything(changed.day_rolled)
        try:
            await self.store.save(self.metrics, changed, keys)
        except StatsStoreError as exc:
            if not self._store_behind:
                log.warning("stats: store unavailable, keeping figures in memory: %s", exc)
            self._store_behind = True
            return
        if self._store_behind:
            log.info("stats: store reachable again, full state written")
        self._store_behind = False

    def _everything(self, day_rolled: bool = True) -> Changed:
        return Changed(
            frozenset(self.metrics.queues), frozenset(self.metrics.operators), day_rolled
        )

    async def rebuild(self, events: Iterable[ev.DomainEvent]) -> None:
        """Apply history and QueueStatus snapshot events after a restart without saved state."""
        for event in events:
            self.metrics.apply(event)
        self.metrics.take_changes()
        await self._save(self._everything())
        self._signal()

    async def tick(self) -> None:
        """Let time pass without events: day rollover and timed wrap-ups end."""
        self.metrics.advance(self.clock())
        changed = self.metrics.take_changes()
        if not changed.empty or self._store_behind:
            await self._save(changed)
            self._signal()

    def snapshot(self, now: float | None = None) -> Snapshot:
        return self.metrics.snapshot(self.clock() if now is None else now)

    def _signal(self) -> None:
        self.version += 1
        self._changed.set()

    async def wait_changed(self, timeout: float) -> bool:
        """Wait until something changed (True) or ``timeout`` passed (False)."""
        try:
            await aio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    async def lead(
        self,
        bus: Bus,
        sessions: async_sessionmaker[AsyncSession],
        *,
        consumer: str,
        interval: float = 0.2,
        group: str = "stats",
    ) -> None:
        """The work of the lease holder: continue from the shared store (or rebuild today
        from history), then apply events and publish snapshots until cancelled."""
        from contact_center.bus.base import EVENTS
        from contact_center.bus.pump import pump

        how = await self.start_or_rebuild(sessions)
        log.info("stats: applying events (figures from %s)", how)

        async def handle(message: dict[str, object]) -> None:
            await self.handle(ev.from_dict(message))

        async def handle_many(messages: list[dict[str, object]]) -> None:
            await self.handle_many([ev.from_dict(message) for message in messages])

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(
                pump(
                    bus, EVENTS, handle, group=group, consumer=consumer, claim_idle_ms=0,
                    many=handle_many,
                )
            )  # fmt: skip
            tasks.create_task(self.publish_forever(bus, interval))

    async def publish_forever(self, bus: Bus, interval: float = 0.2, tick: float = 1.0) -> None:
        """Save and announce a snapshot after changes; a task owned by the composition root."""
        publish = bus.publish
        while True:
            if not await self.wait_changed(tick):
                await self.tick()
                if not self._changed.is_set():
                    continue
                self._changed.clear()
            snapshot, cost = await self.metrics.snapshot_dict(self.clock())
            try:
                await self.store.save_snapshot(snapshot)
                # the stream carries only a notice: snapshots are big and the stream is long
                await publish(STATS_STREAM, {"type": "changed", "at": snapshot["at"]})
            except Exception:
                # a wallboard misses one update; the next change publishes the whole picture
                log.exception("stats: cannot publish the snapshot")
            # At most one snapshot per interval under load, and no more of the event loop
            # than SNAPSHOT_LOOP_SHARE: building one is pure CPU in the loop (1,000 operators:
            # tens of ms on a loaded 2-core machine, in slices), which screen pops wait behind.
            await asyncio.sleep(max(interval, cost / SNAPSHOT_LOOP_SHARE - cost))
