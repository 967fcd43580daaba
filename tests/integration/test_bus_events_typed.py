"""Domain events cross Redis as validated, typed events: what goes in comes out equal, and a
malformed entry on the stream (unreadable payload, unknown kind, missing or mistyped field)
is logged with its id and skipped — the consumer goes on with the next event and the entry
is acknowledged (it does not come back)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from contact_center.bus import EVENTS
from contact_center.bus.pump import pump
from contact_center.bus.redis import RedisBus
from contact_center.calls import events as ev
from contact_center.service import decoding
from tests.conftest import background, wait_for

pytestmark = pytest.mark.redis


@pytest.fixture
async def bus(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisBus]:
    b = RedisBus(redis_url, prefix=redis_prefix)
    try:
        yield b
    finally:
        await b.delete_all()
        await b.close()


def offered(n: int) -> ev.CallOffered:
    return ev.CallOffered(
        server="pbx1",
        call_id=f"1700000000.{n}",
        at=1700000000.5 + n,
        seq=n,
        key=ev.make_key("t", n),
        leg_id=f"1700000000.{n}",
        queue="support",
        interface="PJSIP/101",
        member_name="Анна",
        previous_operators=["PJSIP/102"],
    )


def one_of(cls: type[ev.DomainEvent], n: int) -> ev.DomainEvent:
    """An event of ``cls`` with every field set to a value of its type (none left default)."""
    import dataclasses
    import typing

    samples: dict[object, object] = {
        str: "Иван ☎",
        int: 7,
        float: 12.25,
        bool: True,
        float | None: 3.5,
        int | None: 42,
        dict[str, str]: {"KIND": "callback"},
        list[str]: ["a.wav", "b.wav"],
        dict[str, typing.Any]: {"note": "вип", "n": 1, "nested": [1, 2]},
        list[dict[str, typing.Any]]: [{"interface": "PJSIP/101", "paused": False}],
        list[dict[str, str]]: [{"name": "Анна", "role": "operator"}],
    }
    hints = typing.get_type_hints(cls)
    values = {f.name: samples[hints[f.name]] for f in dataclasses.fields(cls)}
    values.update(server="pbx1", call_id=f"1700000000.{n}", seq=n)
    return cls(**values)


async def test_every_kind_round_trips_through_redis_equal(bus: RedisBus) -> None:
    sent = [one_of(cls, n) for n, cls in enumerate(ev.EVENT_TYPES.values())]
    assert len(sent) > 20
    for event in sent:
        await bus.publish(EVENTS, ev.to_dict(event))
    got = [ev.from_dict(message) for _, message in await bus.read(EVENTS, "0", 1000)]
    assert got == sent


async def test_a_malformed_event_is_logged_with_its_id_and_skipped(
    bus: RedisBus, caplog: pytest.LogCaptureFixture
) -> None:
    key = bus.key(EVENTS)
    raw = bus._redis
    first = await bus.publish(EVENTS, ev.to_dict(offered(1)))
    not_json = await raw.xadd(key, {"d": "{not json"})
    no_payload = await raw.xadd(key, {"x": "1"})
    unknown = await raw.xadd(key, {"d": '{"kind":"call.teleported","server":"pbx1"}'})
    missing = await raw.xadd(key, {"d": '{"kind":"call.offered","server":"pbx1","at":1.0}'})
    bad = dict(ev.to_dict(offered(9)), at="yesterday")
    mistyped = await bus.publish(EVENTS, bad)
    last = await bus.publish(EVENTS, ev.to_dict(offered(2)))
    seen: list[ev.DomainEvent] = []

    async def handle(event: ev.DomainEvent) -> None:
        seen.append(event)

    with caplog.at_level(logging.WARNING):
        async with background(
            pump(bus, EVENTS, decoding(handle), group="history", consumer="w1", block_ms=50)
        ) as task:
            await wait_for(lambda: len(seen) == 2)
            await wait_for(lambda: _backlog(bus), timeout=5)
            assert not task.done()  # the consumer goes on
    assert seen == [offered(1), offered(2)]
    assert first and last
    log = caplog.text
    for sid in (not_json, no_payload, unknown, missing, mistyped):
        assert sid in log, f"{sid} not logged"
    assert "DecodeError" in log and "KeyError" in log
    assert "unknown domain event kind 'call.teleported'" in log
    assert "call.offered: Object missing required field" in log
    assert "Expected `float`, got `str` - at `$.at`" in log
    # all acknowledged: nothing is handed out again
    assert await bus.consume(EVENTS, "history", "w2", claim_idle_ms=0) == []


async def _backlog(bus: RedisBus) -> bool:
    return (await bus.backlog(EVENTS)).get("history", 1) == 0


async def test_a_gateway_read_skips_an_unreadable_entry(
    bus: RedisBus, caplog: pytest.LogCaptureFixture
) -> None:
    await bus.publish("pops", {"type": "pop", "to": "anna"})
    broken = await bus._redis.xadd(bus.key("pops"), {"d": "[1, 2"})
    await bus.publish("pops", {"type": "pop", "to": "boris"})
    with caplog.at_level(logging.WARNING):
        got = await bus.read("pops", "0")
    assert [m["to"] for _, m in got] == ["anna", "boris"]
    assert f"unreadable bus entry {broken}" in caplog.text
