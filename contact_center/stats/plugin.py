"""Live statistics in the worker: the consumer (rebuilt from the database on start) fed by
group ``stats``, and the snapshot publisher the wallboards read."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contact_center.service import Service


async def worker(svc: Service) -> None:
    from contact_center.stats.consumer import StatsConsumer, create_store
    from contact_center.stats.metrics import MetricsConfig

    core = svc.need_core()
    s = svc.settings
    store = svc.components.stats_store = create_store(s)
    stats = svc.components.stats = StatsConsumer(store, MetricsConfig.from_settings(s))
    await stats.start_or_rebuild(core.sessions)
    svc.consume("stats", stats.handle)
    svc.spawn("stats-publisher", lambda: stats.publish_forever(core.bus, s.stats.publish_interval))
