"""The stats consumer: domain events in, figures kept in the store and published.

One worker per deployment applies the events (the composition root feeds ``handle`` in order
from the bus); every change is written to the store, and a snapshot of the figures is
saved to the store and announced on the bus stream ``stats`` at most every ``publish_interval``
seconds; the wallboards of all web instances follow that stream and load the snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from contact_center.calls import events as ev
from contact_center.stats.metrics import Changed, LiveMetrics, MetricsConfig, Snapshot
from contact_center.stats.store import StatsStore

log = logging.getLogger(__name__)

STATS_STREAM = "stats"


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

    async def start(self) -> bool:
        """Continue from the saved state; returns False when there was none."""
        state = await self.store.load()
        if state is None:
            return False
        self.metrics = LiveMetrics.from_state(state, self.config)
        return True

    async def handle(self, event: ev.DomainEvent) -> None:
        """Apply one event once (an event key seen before is skipped)."""
        if event.key and await self.store.seen(event.key):
            return
        changed = self.metrics.apply(event)
        await self.store.save(self.metrics, changed, event.key)
        if not changed.empty:
            self._signal()

    async def rebuild(self, events: Iterable[ev.DomainEvent]) -> None:
        """Apply history and QueueStatus snapshot events after a restart without saved state."""
        for event in events:
            self.metrics.apply(event)
        self.metrics.take_changes()
        everything = self.metrics.to_state()
        await self.store.save(
            self.metrics,
            Changed(frozenset(everything["queues"]), frozenset(everything["operators"]), True),
        )
        self._signal()

    async def tick(self) -> None:
        """Let time pass without events: day rollover and timed wrap-ups end."""
        self.metrics.advance(self.clock())
        changed = self.metrics.take_changes()
        if not changed.empty:
            await self.store.save(self.metrics, changed)
            self._signal()

    def snapshot(self, now: float | None = None) -> Snapshot:
        return self.metrics.snapshot(self.clock() if now is None else now)

    def _signal(self) -> None:
        self.version += 1
        self._changed.set()

    async def wait_changed(self, timeout: float) -> bool:
        """Wait until something changed (True) or ``timeout`` passed (False)."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    async def publish_forever(self, bus: object, interval: float = 0.2, tick: float = 1.0) -> None:
        """Publish a snapshot on the ``stats`` stream after changes (owned by cleanup_ctx)."""
        publish = bus.publish  # type: ignore[attr-defined]
        while True:
            if not await self.wait_changed(tick):
                await self.tick()
                if not self._changed.is_set():
                    continue
                self._changed.clear()
            snapshot = self.snapshot().to_dict()
            try:
                await self.store.save_snapshot(snapshot)
                # the stream carries only a notice: snapshots are big and the stream is long
                await publish(STATS_STREAM, {"type": "changed", "at": snapshot["at"]})
            except Exception:
                # a wallboard misses one update; the next change publishes the whole picture
                log.exception("stats: cannot publish the snapshot")
            await asyncio.sleep(interval)  # at most one snapshot per interval under load
