"""A real PostgreSQL outage mid-stream: the writer loses nothing and duplicates nothing.

The writer talks to PostgreSQL through a TCP proxy run by the test; cutting the proxy resets
every connection and refuses new ones, as a crashed or unreachable database server would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from contact_center.calls import events as ev
from contact_center.history.writer import HistoryWriter
from contact_center.store import models
from contact_center.store.db import create_engine, session_factory
from tests.conftest import wait_for
from tests.integration.history_support import (
    HISTORY_EVENTS_PER_CALL,
    T0,
    Sessions,
    answered_call,
    count,
    database,
)
from tests.integration.tcp_proxy import TcpProxy


@pytest.fixture
async def proxied(postgres_url: str) -> AsyncIterator[tuple[TcpProxy, Sessions, Sessions]]:
    """(proxy, sessions through the proxy, direct sessions to check what was written)."""
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = create_engine(through, pool_size=2)
    try:
        async with database(postgres_url) as direct:
            yield proxy, session_factory(engine), direct
    finally:
        await engine.dispose()
        await proxy.close()


def calls(n: int, offset: int = 0) -> list[ev.DomainEvent]:
    out: list[ev.DomainEvent] = []
    for i in range(offset, offset + n):
        out.extend(answered_call(f"1700001000.{i}", t0=T0 + i * 200))
    return out


async def distinct_keys(sessions: Sessions) -> int:
    async with sessions() as session:
        stmt = select(func.count(func.distinct(models.InteractionEvent.key)))
        return int((await session.execute(stmt)).scalar_one())


async def test_outage_mid_stream_loses_nothing(
    proxied: tuple[TcpProxy, Sessions, Sessions], tmp_path: Path
) -> None:
    proxy, sessions, direct = proxied
    writer = HistoryWriter(
        sessions,
        spill_dir=tmp_path / "spill",
        batch_size=5,
        flush_interval=0.02,
        retry_min=0.02,
        retry_max=0.1,
        write_timeout=5,
    )
    before, during, after = calls(3), calls(4, offset=3), calls(2, offset=7)
    async with writer:
        for event in before:
            await writer.handle(event)
        proxy.cut()
        for event in during:
            await writer.handle(event)
        await wait_for(lambda: not writer.db_ok, timeout=10)
        assert writer.buffer.on_disk > 0  # waiting on disk, not only in memory
        proxy.restore()
        for event in after:
            await writer.handle(event)
        await wait_for(lambda: writer.pending == 0 and writer.db_ok, timeout=15)

    expected = 9 * HISTORY_EVENTS_PER_CALL
    assert expected == await count(direct, models.InteractionEvent)
    assert expected == await distinct_keys(direct)
    assert 9 == await count(direct, models.Call, models.Call.ended_at.is_not(None))
    assert 1 <= writer.stats.outages


async def test_events_buffered_during_outage_survive_a_restart(
    proxied: tuple[TcpProxy, Sessions, Sessions], tmp_path: Path
) -> None:
    proxy, sessions, direct = proxied
    spill = tmp_path / "spill"
    proxy.cut()
    first = HistoryWriter(sessions, spill_dir=spill, batch_size=4, retry_min=0.02, write_timeout=5)
    async with first:
        for event in calls(2):
            await first.handle(event)
        await wait_for(lambda: not first.db_ok, timeout=10)
    # The process stops while the database is still down; its events stay on disk.
    assert 2 * HISTORY_EVENTS_PER_CALL == first.buffer.on_disk

    proxy.restore()
    second = HistoryWriter(sessions, spill_dir=spill, batch_size=4, retry_min=0.02)
    async with second:
        for event in calls(2):  # the bus redelivers what was not acknowledged: duplicates
            await second.handle(event)
        await wait_for(lambda: second.pending == 0, timeout=15)

    assert 2 * HISTORY_EVENTS_PER_CALL == await count(direct, models.InteractionEvent)
    assert 2 == await count(direct, models.Call)
    assert not any(spill.iterdir())
