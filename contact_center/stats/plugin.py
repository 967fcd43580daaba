"""Live statistics in the worker: the consumer (rebuilt from the database on start) fed by
group ``stats``, and the snapshot publisher the wallboards read."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contact_center.service import Service


async def worker(svc: Service) -> None:
    from contact_center.stats.consumer import StatsConsumer, create_store
    from contact_center.stats.metrics import MetricsConfig

    core = svc.need_core()
    s = svc.settings
    store = svc.components.stats_store = create_store(s)
    config = MetricsConfig.from_settings(s)
    # the admin's per-queue service levels over the configured ones, refreshed in place
    from contact_center.stats.levels import keep_fresh, refresh

    levels = dict(config.queue_service_levels)
    config = dataclasses.replace(config, queue_service_levels=levels)
    configured = dict(levels)
    await refresh(levels, configured, core.sessions)
    svc.spawn("service-levels", lambda: keep_fresh(levels, configured, core.sessions))
    stats = svc.components.stats = StatsConsumer(store, config)
    lease = svc.lease("stats")
    if lease is not None:
        # several workers: the one holding the lease applies the events, from the figures
        # its predecessor saved in Redis
        import os
        import socket

        from contact_center.ami.leader import run_as_leader

        consumer = f"{socket.gethostname()}-{os.getpid()}"
        svc.spawn(
            "stats",
            lambda: run_as_leader(
                lease,
                lambda: stats.lead(
                    core.bus, core.sessions, consumer=consumer, interval=s.stats.publish_interval
                ),
            ),
        )
        return
    await stats.start_or_rebuild(core.sessions)
    svc.consume("stats", stats.handle, many=stats.handle_many)
    svc.spawn("stats-publisher", lambda: stats.publish_forever(core.bus, s.stats.publish_interval))
