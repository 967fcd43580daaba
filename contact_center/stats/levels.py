"""Service-level thresholds an admin sets per queue (``queues.service_level_seconds``, the
admin's queues page) over those of ``[stats] queue_service_levels``: the stored value wins.

The live figures read them from one mutable mapping refreshed every half minute
(:func:`keep_fresh`); reports read them per request (:func:`with_stored_levels`)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.stats.metrics import MetricsConfig
from contact_center.store.models import Queue

log = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0


async def stored_service_levels(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """queue → threshold (seconds) for every queue the database keeps."""
    async with sessions() as db:
        rows = await db.execute(select(Queue.name, Queue.service_level_seconds))
        return {name: int(seconds) for name, seconds in rows if seconds and seconds > 0}


async def with_stored_levels(
    config: MetricsConfig, sessions: async_sessionmaker[AsyncSession]
) -> MetricsConfig:
    """``config`` with the stored thresholds over the configured ones."""
    stored = await stored_service_levels(sessions)
    if not stored:
        return config
    return dataclasses.replace(
        config, queue_service_levels={**config.queue_service_levels, **stored}
    )


async def refresh(
    levels: dict[str, int],
    configured: Mapping[str, int],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Bring ``levels`` (the live consumer's mapping) in step with the database, in place."""
    merged = {**configured, **await stored_service_levels(sessions)}
    if merged != levels:
        levels.clear()
        levels.update(merged)


async def keep_fresh(
    levels: dict[str, int],
    configured: Mapping[str, int],
    sessions: async_sessionmaker[AsyncSession],
    interval: float = REFRESH_SECONDS,
) -> None:
    """Refresh ``levels`` forever; a database outage keeps the last thresholds."""
    while True:
        try:
            await refresh(levels, configured, sessions)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("service levels not refreshed (database): %s", exc)
        await asyncio.sleep(interval)
