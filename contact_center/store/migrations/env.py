"""Alembic environment: the same revisions on SQLite and PostgreSQL, async drivers.

Normally run through ``contact_center.store.migrate``, which hands us an open connection in
``config.attributes["connection"]``; plain ``alembic -c …/alembic.ini`` also works and then
connects to ``config.attributes["url"]`` or ``sqlalchemy.url`` itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from contact_center.store.db import create_engine
from contact_center.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: Any) -> None:
    # Batch mode lets ALTER TABLE-style revisions work on SQLite too (table copy-and-move).
    context.configure(
        target_metadata=target_metadata, render_as_batch=True, compare_type=True, **kwargs
    )


def run_with_connection(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(run_with_connection)
            await conn.commit()
    finally:
        await engine.dispose()


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass one through contact_center.store.migrate")
    return str(url)


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    run_with_connection(config.attributes["connection"])
else:
    asyncio.run(run_with_own_engine(_url()))
