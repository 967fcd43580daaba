"""Historical reports from the calls table, on SQLite and real PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.stats.consumer import StatsConsumer
from contact_center.stats.metrics import MetricsConfig
from contact_center.stats.reports import ReportError, history_events, report, rows_to_csv
from contact_center.stats.store import MemoryStatsStore
from contact_center.store.db import create_engine, session_factory
from contact_center.store.models import Base, Call

DAY = datetime(2026, 11, 22, tzinfo=UTC)
CONFIG = MetricsConfig(service_level_seconds=20, short_abandon_seconds=5)


def call(
    n: int,
    queue: str,
    start: datetime,
    outcome: str,
    wait: float,
    talk: float = 0.0,
    operator: str = "",
) -> Call:
    answered = start + timedelta(seconds=wait) if outcome == "answered" else None
    return Call(
        server="pbx1",
        linkedid=f"17953440{n:02d}.0",
        queue=queue,
        started_at=start,
        answered_at=answered,
        ended_at=start + timedelta(seconds=wait + talk),
        wait_seconds=wait,
        talk_seconds=talk,
        outcome=outcome,
        operator_interface=operator,
        ivr_path={},
    )


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    factory = session_factory(engine)
    at = DAY.replace(hour=9)
    async with factory() as db:
        db.add_all(
            [
                call(1, "support", at + timedelta(minutes=5), "answered", 10, 60, "PJSIP/101"),
                call(2, "support", at + timedelta(minutes=20), "answered", 30, 120, "PJSIP/102"),
                call(3, "support", at + timedelta(minutes=50), "abandoned", 40),
                call(4, "support", at + timedelta(minutes=55), "abandoned", 2.5),
                call(5, "sales", at + timedelta(minutes=70), "answered", 5, 30, "PJSIP/101"),
                call(6, "", at + timedelta(minutes=71), "ivr_only", 0),
            ]
        )
        await db.commit()
    yield factory
    await engine.dispose()


async def test_hourly_queue_report(sessions: async_sessionmaker[AsyncSession]) -> None:
    rows = await report(
        sessions, start=DAY, end=DAY + timedelta(days=1), interval="hour", config=CONFIG
    )

    assert [("2026-11-22T09:00:00+00:00", "support"), ("2026-11-22T10:00:00+00:00", "sales")] == [
        (r.interval_start, r.queue) for r in rows
    ]
    support = rows[0]
    assert (4, 2, 1, 2, 1, 0) == (
        support.offered,
        support.answered,
        support.answered_in_sl,
        support.abandoned,
        support.short_abandoned,
        support.left,
    )
    # SL = 1 / (2 answered + 2 abandoned − 1 short) ; abandon rate = (2 − 1) / 3
    assert (33.33, 33.33, 20.0, 90.0) == (
        support.service_level_pct,
        support.abandon_rate_pct,
        support.asa_seconds,
        support.aht_seconds,
    )


async def test_quarter_hour_and_operator_reports(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    quarter = await report(
        sessions,
        start=DAY,
        end=DAY + timedelta(days=1),
        interval="15min",
        queues=["support"],
        config=CONFIG,
    )
    assert [("09:00", 1), ("09:15", 1), ("09:45", 2)] == [
        (r.interval_start[11:16], r.offered) for r in quarter
    ]

    by_operator = await report(
        sessions,
        start=DAY,
        end=DAY + timedelta(days=1),
        interval="day",
        group="operator",
        config=CONFIG,
    )
    assert [
        ("sales", "PJSIP/101", 1, 30.0),
        ("support", "PJSIP/101", 1, 60.0),
        ("support", "PJSIP/102", 1, 120.0),
    ] == [(r.queue, r.operator, r.answered, r.talk_seconds) for r in by_operator]


async def test_day_report_uses_timezone_and_day_start(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # 09:05 UTC is 12:05 in Moscow; with days starting at 13:00 local it belongs to the 21st
    config = MetricsConfig(timezone="Europe/Moscow", day_start_hour=13)
    rows = await report(
        sessions, start=DAY, end=DAY + timedelta(days=1), interval="day", config=config
    )
    assert [
        ("2026-11-21T13:00:00+03:00", "support", 4),
        ("2026-11-22T13:00:00+03:00", "sales", 1),
    ] == [(r.interval_start, r.queue, r.offered) for r in rows]


async def test_csv_has_a_header_and_empty_cells_for_undefined_figures(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rows = await report(
        sessions, start=DAY, end=DAY + timedelta(days=1), interval="day", config=CONFIG
    )
    table = list(csv.DictReader(io.StringIO(rows_to_csv(rows))))
    assert ["sales", "support"] == [r["queue"] for r in table]
    assert ("1", "100.0", "5.0") == (
        table[0]["answered"],
        table[0]["service_level_pct"],
        table[0]["asa_seconds"],
    )


async def test_live_figures_rebuilt_from_history_equal_the_report(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    consumer = StatsConsumer(MemoryStatsStore(), CONFIG, clock=lambda: DAY.timestamp() + 86000)
    await consumer.rebuild(await history_events(sessions, DAY, DAY + timedelta(days=1)))
    live = consumer.snapshot().queues["support"]
    [day_row] = await report(
        sessions,
        start=DAY,
        end=DAY + timedelta(days=1),
        interval="day",
        queues=["support"],
        config=CONFIG,
    )

    assert (
        day_row.offered,
        day_row.answered,
        day_row.abandoned,
        day_row.service_level_pct,
        day_row.asa_seconds,
        day_row.aht_seconds,
    ) == (
        live.offered,
        live.answered,
        live.abandoned,
        live.service_level_pct,
        live.asa_seconds,
        live.aht_seconds,
    )
    assert 2 == consumer.snapshot().operators["PJSIP/101"].calls


async def test_bad_requests_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(ReportError, match="unknown interval"):
        await report(sessions, start=DAY, end=DAY + timedelta(days=1), interval="week")
    with pytest.raises(ReportError, match="ends before it starts"):
        await report(sessions, start=DAY, end=DAY)


async def test_start_without_saved_state_rebuilds_today_from_history(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    consumer = StatsConsumer(MemoryStatsStore(), CONFIG, clock=lambda: DAY.timestamp() + 86000)
    assert "history" == await consumer.start_or_rebuild(sessions)
    assert (5, 3) == (
        sum(q.offered for q in consumer.snapshot().queues.values()),
        sum(q.answered for q in consumer.snapshot().queues.values()),
    )
    restarted = StatsConsumer(consumer.store, CONFIG, clock=lambda: DAY.timestamp() + 86000)
    assert "store" == await restarted.start_or_rebuild(sessions)
    assert consumer.snapshot().to_dict() == restarted.snapshot().to_dict()


async def test_report_page_reads_in_names_mmss_and_local_time(db_url: str) -> None:
    """The page: the period picked in the call center's time zone, operators by name,
    waits and handle times as m:ss; the CSV keeps raw seconds."""
    from contact_center.bus.memory import MemoryBus
    from contact_center.config import load_settings
    from contact_center.stats import http as stats_http
    from tests.integration.web_support import add_user, database, sign_in, web_server

    async with database(db_url) as (_, factory):
        await add_user(factory, "sup", "supervisor")
        anna = await add_user(factory, "anna", "operator", "PJSIP/101")
        async with factory.begin() as db:
            from contact_center.store.models import User

            user = await db.get(User, anna)
            assert user is not None
            user.display_name = "Anna Smirnova"
            # 09:20 UTC is 12:20 in Moscow
            db.add(
                call(
                    1,
                    "support",
                    DAY.replace(hour=9, minute=20),
                    "answered",
                    52.6,
                    146.9,
                    "PJSIP/101",
                )
            )
        cfg = load_settings(environ={"CC_GENERAL_TIMEZONE": "Europe/Moscow"})
        async with web_server(
            factory,
            MemoryBus(),
            plugins=[stats_http],
            cfg=cfg,
            extras={stats_http.STATS_STORE_KEY: MemoryStatsStore()},
        ) as server:
            sup = await sign_in(server, "sup")
            try:
                # 12:00–13:00 Moscow time as the pickers send it (no offset)
                query = "start=2026-11-22T12:00&end=2026-11-22T13:00&group=operator&interval=hour"
                async with sup.http.get(sup.url("/reports?" + query)) as resp:
                    page = await resp.text()
                assert resp.status == 200
                assert "22 Nov 2026, 12:00–13:00" in page
                assert 'Anna Smirnova <span class="detail">PJSIP/101</span>' in page
                assert '<td class="duration">0:53</td><td class="duration">2:27</td>' in page
                assert 'value="2026-11-22"' in page  # the day pickers show the period asked
                # the pickers' days: the whole of 22 Nov in Moscow holds the call
                days = "start=2026-11-22&end=2026-11-22&group=operator&interval=day"
                async with sup.http.get(sup.url("/reports?" + days)) as resp:
                    page = await resp.text()
                assert "<td>22 Nov 2026</td>" in page and "Anna Smirnova" in page
                async with sup.http.get(
                    sup.url("/reports?start=2026-11-23&end=2026-11-23")
                ) as resp:
                    assert "No calls in this period." in await resp.text()
                async with sup.http.get(
                    sup.url("/reports?" + days), headers={"Accept-Language": "ru"}
                ) as resp:
                    page = await resp.text()
                assert "22 нояб. 2026" in page and "Время в поясе Europe/Moscow" in page
                # an hour earlier in Moscow time holds no call
                early = "start=2026-11-22T11:00&end=2026-11-22T12:00"
                async with sup.http.get(sup.url("/reports?" + early)) as resp:
                    assert "No calls in this period." in await resp.text()
                async with sup.http.get(
                    sup.url("/api/stats/reports?" + query + "&format=csv")
                ) as resp:
                    raw = await resp.text()
                assert "146.9" in raw and "PJSIP/101" in raw
            finally:
                await sup.close()


async def test_the_admins_service_level_per_queue_is_what_reports_and_live_figures_count(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """An admin sets support's threshold to 60 s on the queues page: support's 30 s answer
    now counts in service level, in the report and in the live figures' mapping (refreshed
    in place); sales keeps the configured 3 s, other queues the default."""
    from contact_center.stats.levels import refresh, with_stored_levels
    from contact_center.store.models import Queue

    configured = MetricsConfig(
        service_level_seconds=20, short_abandon_seconds=5, queue_service_levels={"sales": 3}
    )
    before = await with_stored_levels(configured, sessions)
    assert before == configured  # nothing stored yet
    rows = await report(
        sessions, start=DAY, end=DAY + timedelta(days=1), interval="day", config=before
    )
    in_sl = {r.queue: r.answered_in_sl for r in rows}
    assert {"support": 1, "sales": 0} == in_sl

    async with sessions.begin() as db:
        db.add(Queue(name="support", service_level_seconds=60))
    after = await with_stored_levels(configured, sessions)
    assert (60, 3, 20) == tuple(after.service_level_for(q) for q in ("support", "sales", "x"))
    rows = await report(
        sessions, start=DAY, end=DAY + timedelta(days=1), interval="day", config=after
    )
    assert {"support": 2, "sales": 0} == {r.queue: r.answered_in_sl for r in rows}

    live = {"sales": 3}
    await refresh(live, {"sales": 3}, sessions)
    assert {"sales": 3, "support": 60} == live
