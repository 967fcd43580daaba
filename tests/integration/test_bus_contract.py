"""One contract, two buses: every test runs on MemoryBus and on a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest

from contact_center.bus import Bus, BusUnavailable, MemoryBus, compare_ids, pump
from contact_center.bus.pump import follow
from contact_center.bus.redis import RedisBus
from tests.conftest import REDIS_URL, _need


def need_redis() -> None:
    """Skip (or fail in CI) like the shared ``redis_url`` fixture when Redis is down."""
    u = urlparse(REDIS_URL)
    _need("Redis", u.hostname or "127.0.0.1", u.port or 6379)


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[Bus]:
    if request.param == "memory":
        yield MemoryBus(maxlen=50)
        return
    need_redis()
    rbus = RedisBus(REDIS_URL, prefix=redis_prefix, maxlen=50)
    try:
        yield rbus
    finally:
        await rbus.delete_all()
        await rbus.close()


async def test_publish_then_read_returns_messages_in_order(bus: Bus) -> None:
    ids = [await bus.publish("s", {"n": n, "text": "<b>é</b>"}) for n in range(3)]
    entries = await bus.read("s", "0")
    assert ids == [sid for sid, _ in entries]
    assert [{"n": n, "text": "<b>é</b>"} for n in range(3)] == [m for _, m in entries]
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")))


async def test_read_after_last_id_gets_exactly_what_was_missed(bus: Bus) -> None:
    first = await bus.publish("s", {"n": 1})
    await bus.publish("s", {"n": 2})
    await bus.publish("s", {"n": 3})
    assert [2, 3] == [m["n"] for _, m in await bus.read("s", first)]
    assert [2] == [m["n"] for _, m in await bus.read("s", first, count=1)]
    assert [] == await bus.read("s", await bus.last_id("s"))


async def test_streams_are_separate(bus: Bus) -> None:
    await bus.publish("a", {"x": 1})
    assert [] == await bus.read("b", "0")
    assert "0-0" == await bus.last_id("b")


async def test_blocking_read_wakes_on_publish(bus: Bus) -> None:
    start = await bus.last_id("s")
    reader = asyncio.create_task(bus.read("s", start, block_ms=5000))
    await asyncio.sleep(0.05)  # let the reader block before publishing
    sid = await bus.publish("s", {"hello": "world"})
    assert [(sid, {"hello": "world"})] == await asyncio.wait_for(reader, 5)


async def test_blocking_read_times_out_empty(bus: Bus) -> None:
    assert [] == await bus.read("s", "0", block_ms=50)


async def test_maxlen_bounds_the_stream_but_keeps_the_newest(bus: Bus) -> None:
    for n in range(300):
        await bus.publish("s", {"n": n})
    entries = await bus.read("s", "0", count=1000)
    assert 50 <= len(entries) < 300
    assert 299 == entries[-1][1]["n"]


async def test_consumer_group_shares_work_and_ack_settles(bus: Bus) -> None:
    for n in range(4):
        await bus.publish("jobs", {"n": n})
    first = await bus.consume("jobs", "workers", "w1", count=2)
    second = await bus.consume("jobs", "workers", "w2", count=10)
    assert [0, 1] == [m["n"] for _, m in first]
    assert [2, 3] == [m["n"] for _, m in second]
    assert 2 == await bus.ack("jobs", "workers", *(sid for sid, _ in first))
    assert 0 == await bus.ack("jobs", "workers", *(sid for sid, _ in first))
    assert [] == await bus.consume("jobs", "workers", "w1", claim_idle_ms=60_000)


async def test_groups_each_see_every_message(bus: Bus) -> None:
    await bus.publish("jobs", {"n": 1})
    assert [1] == [m["n"] for _, m in await bus.consume("jobs", "history", "h")]
    assert [1] == [m["n"] for _, m in await bus.consume("jobs", "billing", "b")]


async def test_unacked_entries_of_a_dead_worker_are_claimed(bus: Bus) -> None:
    await bus.publish("jobs", {"n": 1})
    taken = await bus.consume("jobs", "workers", "dies")
    assert [1] == [m["n"] for _, m in taken]
    assert [] == await bus.consume("jobs", "workers", "w2", claim_idle_ms=60_000)
    await asyncio.sleep(0.02)  # the entry must have been idle for claim_idle_ms
    again = await bus.consume("jobs", "workers", "w2", claim_idle_ms=10)
    assert taken == again
    assert 1 == await bus.ack("jobs", "workers", again[0][0])


async def test_blocking_consume_wakes_on_publish(bus: Bus) -> None:
    await bus.consume("jobs", "g", "c", block_ms=10)  # creates the group
    task = asyncio.create_task(bus.consume("jobs", "g", "c", block_ms=5000))
    await asyncio.sleep(0.05)
    await bus.publish("jobs", {"n": 7})
    assert [7] == [m["n"] for _, m in await asyncio.wait_for(task, 5)]


async def test_pump_feeds_handler_in_order_and_survives_a_failing_message(bus: Bus) -> None:
    seen: list[int] = []

    async def handler(message: dict[str, object]) -> None:
        if message["n"] == 1:
            raise RuntimeError("hostile message")
        seen.append(int(str(message["n"])))

    for n in range(4):
        await bus.publish("events", {"n": n})
    task = asyncio.create_task(pump(bus, "events", handler, group="g", consumer="c", block_ms=50))
    try:
        from tests.conftest import wait_for

        await wait_for(lambda: len(seen) == 3)
        assert [0, 2, 3] == seen
        assert [] == await bus.consume("events", "g", "other", claim_idle_ms=0)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_follow_hands_over_what_was_stored_and_what_comes_in_order(bus: Bus) -> None:
    """The screen pop's consumer: in the publisher's step on the in-process bus, a consumer
    group on Redis; either way every event, the ones stored before it started too, in order."""
    seen: list[int] = []

    async def handler(message: dict[str, object]) -> None:
        if message["n"] == 2:
            await asyncio.sleep(0.01)  # one that waits (a lookup) keeps its place
        seen.append(int(str(message["n"])))

    for n in range(3):
        await bus.publish("events", {"n": n})
    task = asyncio.create_task(follow(bus, "events", handler, group="g", consumer="c"))
    try:
        from tests.conftest import wait_for

        await wait_for(lambda: len(seen) >= 1)
        for n in range(3, 6):
            await bus.publish("events", {"n": n})
        await wait_for(lambda: len(seen) == 6)
        assert [0, 1, 2, 3, 4, 5] == seen
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_ids_from_publish_compare_in_publish_order(bus: Bus) -> None:
    a = await bus.publish("s", {})
    b = await bus.publish("s", {})
    assert -1 == compare_ids(a, b)


async def test_unreachable_redis_raises_bus_unavailable() -> None:
    rbus = RedisBus("redis://127.0.0.1:1/0", prefix="x")
    try:
        with pytest.raises(BusUnavailable, match=r"Redis at redis://127\.0\.0\.1:1/0 unavailable"):
            await rbus.publish("s", {"n": 1})
    finally:
        await rbus.close()


async def test_backlog_counts_what_each_group_has_not_acknowledged(bus: Bus) -> None:
    assert {} == await bus.backlog("events")  # no stream, no group: nobody is behind
    for n in range(5):
        await bus.publish("events", {"n": n})
    handed = await bus.consume("events", "slow", "w", count=2)
    await bus.consume("events", "fast", "w", count=10)
    assert {"slow": 5, "fast": 5} == await bus.backlog("events")  # handed out, not acked
    await bus.ack("events", "slow", *(sid for sid, _ in handed))
    fast = await bus.consume("events", "fast", "w", count=10, claim_idle_ms=0)
    await bus.ack("events", "fast", *(sid for sid, _ in fast))
    assert {"slow": 3, "fast": 0} == await bus.backlog("events")
    await bus.publish("events", {"n": 5})
    assert {"slow": 4, "fast": 1} == await bus.backlog("events")


async def test_the_service_reports_each_consumer_groups_backlog_on_metrics(bus: Bus) -> None:
    from contact_center.observability.metrics import Metrics
    from contact_center.service import report_backlog
    from tests.conftest import background, wait_for

    metrics = Metrics()

    def shown(group: str) -> float | None:
        return metrics.registry.get_sample_value("cc_worker_backlog", {"worker": group})

    for n in range(3):
        await bus.publish("events", {"n": n})
    await bus.consume("events", "history", "w", count=1)  # a worker that fell behind
    async with background(report_backlog(bus, metrics, interval=0.01)):
        await wait_for(lambda: shown("history") == 3.0)
        for _ in range(2):  # the entry handed out before (claimed again), then the rest
            entries = await bus.consume("events", "history", "w", count=10, claim_idle_ms=0)
            await bus.ack("events", "history", *(sid for sid, _ in entries))
        await wait_for(lambda: shown("history") == 0.0)
    assert b'cc_worker_backlog{worker="history"} 0.0' in metrics.render()[0]


class _Lanes:
    """A :class:`~contact_center.bus.pump.Settling` consumer: message ``n`` leaves work
    running until ``done(n)`` (as the screen pop leaves a pop waiting on its lookup)."""

    def __init__(self, slow: set[int]) -> None:
        self.slow = slow
        self.seen: list[int] = []
        self._issued = 0
        self._open: dict[int, int] = {}  # n -> its mark

    async def handle(self, message: dict[str, object]) -> None:
        n = int(str(message["n"]))
        self.seen.append(n)
        self._issued += 1
        if n in self.slow:
            self._open[n] = self._issued

    def done(self, n: int) -> None:
        self._open.pop(n, None)

    def mark(self) -> int:
        return self._issued

    def settled(self, mark: int) -> bool:
        return not self._open or min(self._open.values()) > mark


async def test_pump_acknowledges_an_entry_only_once_what_it_caused_is_settled(bus: Bus) -> None:
    """An entry whose handler left work running stays pending (a consumer killed now hands
    it to the next) with every entry after it; it is acknowledged once the work is done.
    Its own pending entries, which a claim (claim_idle_ms 0) hands back, are not handled
    twice."""
    from tests.conftest import wait_for

    lanes = _Lanes(slow={1})
    for n in range(4):
        await bus.publish("events", {"n": n})
    task = asyncio.create_task(
        pump(
            bus, "events", lanes.handle, group="g", consumer="c", block_ms=50,
            claim_idle_ms=0, settling=lanes,
        )
    )  # fmt: skip
    try:
        await wait_for(lambda: len(lanes.seen) == 4)
        await asyncio.sleep(0.2)  # several reads, each of which could have carried the acks
        assert {"g": 3} == await bus.backlog("events")  # 0 acknowledged; 1, 2, 3 are not
        lanes.done(1)
        backlog: dict[str, int] = {}

        async def caught_up() -> bool:
            backlog.update(await bus.backlog("events"))
            return backlog == {"g": 0}

        await wait_for(caught_up)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [0, 1, 2, 3] == lanes.seen


async def test_a_consumer_stopped_before_its_work_settled_leaves_it_to_the_next(bus: Bus) -> None:
    """Stopped while entry 1's work still runs: 0 is acknowledged, 1 and 2 are handed to the
    consumer that takes the group over, which sees them (and nothing before them) again."""
    from tests.conftest import wait_for

    first = _Lanes(slow={1})
    for n in range(3):
        await bus.publish("events", {"n": n})
    task = asyncio.create_task(
        pump(bus, "events", first.handle, group="g", consumer="a", block_ms=50, settling=first)
    )
    await wait_for(lambda: len(first.seen) == 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert {"g": 2} == await bus.backlog("events")

    second = _Lanes(slow=set())
    task = asyncio.create_task(
        pump(
            bus, "events", second.handle, group="g", consumer="b", block_ms=50,
            claim_idle_ms=0, settling=second,
        )
    )  # fmt: skip
    try:
        await wait_for(lambda: len(second.seen) == 2)
        await bus.publish("events", {"n": 3})
        await wait_for(lambda: len(second.seen) == 3)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [1, 2, 3] == second.seen


async def test_entries_waiting_to_settle_do_not_hold_up_new_ones(bus: Bus) -> None:
    """More entries waiting to settle than one read takes (count 2, claim_idle_ms 0: the
    group of a lease holder): the claim must not hand them back to their own consumer read
    after read, or a new entry is never read until they settle."""
    from tests.conftest import wait_for

    lanes = _Lanes(slow={0, 1, 2})
    for n in range(3):
        await bus.publish("events", {"n": n})
    task = asyncio.create_task(
        pump(
            bus, "events", lanes.handle, group="g", consumer="c", block_ms=50, count=2,
            claim_idle_ms=0, settling=lanes,
        )
    )  # fmt: skip
    try:
        await wait_for(lambda: len(lanes.seen) == 3)
        await bus.publish("events", {"n": 3})
        await wait_for(lambda: 3 in lanes.seen, 5)  # read while 0, 1, 2 still wait
        assert [0, 1, 2, 3] == lanes.seen
        assert {"g": 4} == await bus.backlog("events")
        for n in (0, 1, 2):
            lanes.done(n)

        async def caught_up() -> bool:
            return {"g": 0} == await bus.backlog("events")

        await wait_for(caught_up)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
