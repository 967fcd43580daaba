"""History's part of the worker: the writer (batched, spills to disk in an outage) fed by
consumer group ``history``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contact_center.service import Service


async def worker(svc: Service) -> None:
    from contact_center.history.writer import build_history_writer
    from contact_center.service import retrying_outages

    core = svc.need_core()
    history = build_history_writer(
        svc.settings, core.sessions, lookup=core.lookup, registry=svc.metrics.registry
    )
    await svc.enter(history)
    svc.consume("history", retrying_outages(history.handle))
    svc.components.history = history
