"""Helpers for the recording integration tests: a schema, users and recordings rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.store.db import utcnow
from contact_center.store.models import Recording
from tests.integration.web_support import add_user
from tests.integration.web_support import sessions_for as database

__all__ = ["add_recording", "add_user", "database"]


async def add_recording(
    sessions: async_sessionmaker[AsyncSession],
    file_name: str,
    *,
    status: str = "stopped",
    queue: str = "support",
    operator: str = "Local/101@agents",
    started_at: datetime | None = None,
    customer_id: int | None = None,
    **values: object,
) -> int:
    async with sessions() as session, session.begin():
        rec = Recording(
            server="pbx1",
            call_linkedid=file_name.rsplit(".", 1)[0],
            file_name=file_name,
            status=status,
            queue=queue,
            operator_interface=operator,
            started_at=started_at or utcnow(),
            stopped_at=started_at or utcnow(),
            customer_id=customer_id,
            **{"pauses": {"gaps": []}, **values},
        )
        session.add(rec)
        await session.flush()
        return rec.id
