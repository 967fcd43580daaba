"""The stats store on real Redis (and in memory): restart, redelivery, day rollover."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import pytest

from contact_center.calls import events as ev
from contact_center.stats.consumer import StatsConsumer
from contact_center.stats.metrics import MetricsConfig, business_day, day_start
from contact_center.stats.store import (
    MemoryStatsStore,
    RedisStatsStore,
    StatsStore,
    StatsStoreError,
)
from tests.conftest import REDIS_URL, _need
from tests.unit.stats_events import T0, abandoned_call, answered_call, login, offered, queued

CONFIG = MetricsConfig(service_level_seconds=20)
OP = "Local/101@agents"


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StatsStore]:
    if request.param == "memory":
        yield MemoryStatsStore()
        return
    url = urlparse(REDIS_URL)
    _need("Redis", url.hostname or "127.0.0.1", url.port or 6379)
    prefix = request.getfixturevalue("redis_prefix")
    redis_store = RedisStatsStore(REDIS_URL, prefix)
    try:
        yield redis_store
    finally:
        await redis_store.clear()
        await redis_store.close()


def keyed(events: list[ev.DomainEvent]) -> list[ev.DomainEvent]:
    return [
        dataclasses.replace(e, key=ev.make_key(e.server, e.call_id, e.kind, e.at, i))
        for i, e in enumerate(events)
    ]


async def feed(consumer: StatsConsumer, events: list[ev.DomainEvent]) -> None:
    for event in events:
        await consumer.handle(event)


async def test_a_restarted_consumer_continues_from_the_store(store: StatsStore) -> None:
    events = keyed(
        [
            login(T0),
            *answered_call(T0, "c1", hold=2, talk=6),
            queued(T0 + 20, "c2"),
            offered(T0 + 21, "c2"),
            *abandoned_call(T0 + 30, "c3", hold=12),
        ]
    )
    first = StatsConsumer(store, CONFIG)
    assert not await first.start()
    await feed(first, events[:7])

    second = StatsConsumer(store, CONFIG)
    assert await second.start()
    await feed(second, events)  # the bus redelivers from before the crash: nothing counts twice

    q = second.snapshot(T0 + 50).queues["support"]
    assert (3, 1, 1, 1) == (q.offered, q.answered, q.abandoned, q.waiting)
    assert 50.0 == q.service_level_pct
    assert ("ringing", 1) == (
        second.snapshot(T0 + 50).operators["Local/101@agents"].state,
        second.snapshot(T0 + 50).operators["Local/101@agents"].calls,
    )
    uninterrupted = StatsConsumer(MemoryStatsStore(), CONFIG)
    await feed(uninterrupted, events)
    assert uninterrupted.snapshot(T0 + 50).to_dict() == second.snapshot(T0 + 50).to_dict()


async def test_day_rollover_replaces_the_stored_day(store: StatsStore) -> None:
    tomorrow = day_start(business_day(T0, CONFIG), CONFIG) + 86400
    consumer = StatsConsumer(store, CONFIG, clock=lambda: tomorrow + 5)
    await feed(
        consumer,
        keyed(
            [
                *answered_call(T0, "c1", 2, 6, queue="sales"),
                *answered_call(T0, "c2", 2, 6, queue="support"),
            ]
        ),
    )
    await consumer.tick()  # no event since midnight: the clock rolls the day
    await consumer.handle(queued(tomorrow + 10, "c3", queue="support"))

    restored = StatsConsumer(store, CONFIG)
    assert await restored.start()
    snap = restored.snapshot(tomorrow + 20)
    assert str(business_day(tomorrow, CONFIG)) == snap.day
    assert (0, 0) == (snap.queues["sales"].offered, snap.queues["sales"].answered)
    assert (1, 0) == (snap.queues["support"].offered, snap.queues["support"].answered)


async def test_snapshot_is_kept_for_new_wallboards(store: StatsStore) -> None:
    assert await store.load_snapshot() is None
    await store.save_snapshot({"day": "2026-11-22", "queues": {"support": {"waiting": 2}}})
    assert {"day": "2026-11-22", "queues": {"support": {"waiting": 2}}} == (
        await store.load_snapshot()
    )


async def test_two_instances_share_figures_through_redis(redis_url: str, redis_prefix: str) -> None:
    writer_store = RedisStatsStore(redis_url, redis_prefix)
    reader_store = RedisStatsStore(redis_url, redis_prefix)
    try:
        writer = StatsConsumer(writer_store, CONFIG)
        await feed(writer, keyed(answered_call(T0, "c1", hold=2, talk=6)))
        reader = StatsConsumer(reader_store, CONFIG)
        assert await reader.start()
        assert 1 == reader.snapshot(T0 + 10).queues["support"].answered
    finally:
        await writer_store.clear()
        await writer_store.close()
        await reader_store.close()


async def test_wait_estimator_reads_the_shared_store(store: StatsStore) -> None:
    from contact_center.stats.ewt import WaitEstimate, WaitEstimator

    consumer = StatsConsumer(store, CONFIG)
    await feed(
        consumer,
        keyed(
            [
                login(T0),
                *answered_call(T0, "c1", hold=2, talk=90),
                offered(T0 + 100, "c2"),
                queued(T0 + 100, "c2"),
                queued(T0 + 101, "c3"),
            ]
        ),
    )
    estimator = WaitEstimator.from_store(store, CONFIG, clock=lambda: T0 + 110)
    # the only operator is ringing for c2: c3 is second, one AHT (90 s) away
    assert WaitEstimate(2, 90.0) == await estimator.estimate("support", "c3")


class FlakyStore(MemoryStatsStore):
    """A memory store that can be switched off, like Redis going away."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def save(self, metrics: Any, changed: Any, event_keys: Any = ()) -> None:
        if self.down:
            raise StatsStoreError("stats store: cannot save to Redis: connection refused")
        await super().save(metrics, changed, event_keys)

    async def seen(self, event_key: str) -> bool:
        if self.down:
            raise StatsStoreError("stats store: cannot read Redis: connection refused")
        return await super().seen(event_key)

    async def seen_among(self, event_keys: Any) -> set[str]:
        if self.down:
            raise StatsStoreError("stats store: cannot read Redis: connection refused")
        return await super().seen_among(event_keys)


async def test_figures_stay_live_while_the_store_is_down_and_catch_up_after() -> None:
    store = FlakyStore()
    consumer = StatsConsumer(store, CONFIG)
    events = keyed(
        [
            login(T0),
            *answered_call(T0, "c1", 2, 6),
            queued(T0 + 50, "c2"),
            *abandoned_call(T0 + 60, "c3", hold=12),
        ]
    )
    await feed(consumer, events[:3])
    store.down = True
    await feed(consumer, events[3:8])
    assert 3 == consumer.snapshot(T0 + 100).queues["support"].offered  # live all along
    store.down = False
    await feed(consumer, events[8:])

    restored = StatsConsumer(store, CONFIG)
    assert await restored.start()
    assert consumer.snapshot(T0 + 100).to_dict() == restored.snapshot(T0 + 100).to_dict()
    assert (3, 1, 1) == (
        restored.snapshot(T0 + 100).queues["support"].offered,
        restored.snapshot(T0 + 100).queues["support"].answered,
        restored.snapshot(T0 + 100).queues["support"].abandoned,
    )


class CountingStore:
    """A store that counts its writes and reads of event keys, passing everything on."""

    def __init__(self, inner: StatsStore) -> None:
        self.inner = inner
        self.saves = 0
        self.key_reads = 0

    async def save(self, metrics: Any, changed: Any, event_keys: Any = ()) -> None:
        self.saves += 1
        await self.inner.save(metrics, changed, event_keys)

    async def seen_among(self, event_keys: Any) -> set[str]:
        self.key_reads += 1
        return await self.inner.seen_among(event_keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_batch_counts_as_its_events_one_by_one_and_is_written_once(
    store: StatsStore,
) -> None:
    tomorrow = day_start(business_day(T0, CONFIG), CONFIG) + 86400
    events = keyed(
        [
            login(T0),
            *answered_call(T0, "c1", hold=2, talk=6),
            queued(T0 + 20, "c2"),
            offered(T0 + 21, "c2"),
            *abandoned_call(T0 + 30, "c3", hold=12),
            queued(tomorrow + 10, "c4"),  # the day rolls inside the second batch
            *answered_call(tomorrow + 20, "c5", hold=3, talk=5),
        ]
    )
    counting = CountingStore(store)
    batched = StatsConsumer(counting, CONFIG)  # type: ignore[arg-type]
    await batched.handle_many(events[:6])
    # redelivered after a crash: the first batch again, with the rest; one event twice
    await batched.handle_many([*events, events[-1]])
    assert (2, 2) == (counting.saves, counting.key_reads)

    one_by_one = StatsConsumer(MemoryStatsStore(), CONFIG)
    await feed(one_by_one, events)
    at = tomorrow + 60
    assert one_by_one.snapshot(at).to_dict() == batched.snapshot(at).to_dict()
    q = batched.snapshot(at).queues["support"]
    assert (2, 1, str(business_day(tomorrow, CONFIG))) == (
        q.offered,
        q.answered,
        batched.snapshot(at).day,
    )

    restored = StatsConsumer(store, CONFIG)
    assert await restored.start()
    assert one_by_one.snapshot(at).to_dict() == restored.snapshot(at).to_dict()
    await restored.handle_many(events)  # everything again: all of it seen already
    assert one_by_one.snapshot(at).to_dict() == restored.snapshot(at).to_dict()


async def test_an_event_that_cannot_be_applied_costs_its_batch_nothing(
    store: StatsStore, caplog: pytest.LogCaptureFixture
) -> None:
    events = keyed([login(T0), *answered_call(T0, "c1", hold=2, talk=6), queued(T0 + 20, "c2")])
    hostile = dataclasses.replace(events[2], at="yesterday")  # type: ignore[arg-type]
    consumer = StatsConsumer(store, CONFIG)
    await consumer.handle_many([*events[:2], hostile, *events[3:]])
    assert "stats: event skipped, it cannot be applied" in caplog.text
    q = consumer.snapshot(T0 + 50).queues["support"]
    # c1 offered and answered once, c2 waiting: nothing before the bad event counted twice
    assert (2, 1, 1) == (q.offered, q.answered, q.waiting)


async def test_the_stored_members_follow_their_changes_and_only_theirs(store: StatsStore) -> None:
    other = "Local/102@agents"
    consumer = StatsConsumer(store, CONFIG)

    async def stored_members() -> dict[str, tuple[bool, str]]:
        restored = StatsConsumer(store, CONFIG)
        assert await restored.start()
        saved = restored.metrics.queue_state("support")["members"]
        return {k: (v["paused"], v["reason"]) for k, v in saved.items()}

    await consumer.handle_many(keyed([login(T0), login(T0 + 1, other)]))
    assert {OP: (False, ""), other: (False, "")} == await stored_members()
    version = consumer.metrics.members_version("support")
    await consumer.handle_many(keyed([queued(T0 + 2, "c1"), offered(T0 + 3, "c1")]))
    await consumer.handle_many(keyed([login(T0 + 4, other, logged_in=True)]))  # as it was
    assert version == consumer.metrics.members_version("support")  # a call changes no member
    assert {OP: (False, ""), other: (False, "")} == await stored_members()
    await consumer.handle(keyed([login(T0 + 5, other, paused=True, reason="lunch")])[0])
    assert {OP: (False, ""), other: (True, "lunch")} == await stored_members()
    await consumer.handle(keyed([login(T0 + 6, OP, logged_in=False)])[0])
    assert {other: (True, "lunch")} == await stored_members()
