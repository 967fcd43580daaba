"""Helpers for the recording integration tests: a schema, users and recordings rows."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.models import Base, Recording, User


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


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


async def add_user(
    sessions: async_sessionmaker[AsyncSession],
    login: str,
    role: str,
    *,
    interface: str = "",
    queues: dict[str, int] | None = None,
) -> int:
    async with sessions() as session, session.begin():
        user = User(
            login=login,
            display_name=login.title(),
            password_hash="x",
            role=role,
            interface=interface,
            queues=queues or {},
            created_at=utcnow(),
        )
        session.add(user)
        await session.flush()
        return user.id
