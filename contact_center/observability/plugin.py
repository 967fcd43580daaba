"""Metrics in the worker: domain events counted (group ``metrics``) and the consumer groups'
backlog read every few seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contact_center.service import Service


async def worker(svc: Service) -> None:
    from contact_center.service import report_backlog

    metrics = svc.metrics
    bus = svc.need_core().bus
    svc.consume("metrics", metrics.handle)
    svc.spawn("bus-backlog", lambda: report_backlog(bus, metrics))
