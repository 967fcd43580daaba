"""The one backoff helper: growing, capped, jittered delays, reset by a success — with an
injected random source and sleep, so nothing here waits for real."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from contact_center.backoff import Backoff, retry


class Sleeps:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_delays_double_up_to_the_ceiling_without_jitter() -> None:
    b = Backoff(first=0.1, ceiling=1.0, jitter=0)
    assert [round(b.next(), 6) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    b.reset()
    assert b.next() == 0.1


def test_jitter_spreads_each_delay_between_its_floor_and_ceiling() -> None:
    lows = Backoff(first=1.0, ceiling=8.0, jitter=0.5, random=lambda: 1.0)
    highs = Backoff(first=1.0, ceiling=8.0, jitter=0.5, random=lambda: 0.0)
    assert [lows.next() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [highs.next() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    draws = itertools.cycle([0.25, 0.75])
    mixed = Backoff(first=2.0, ceiling=2.0, jitter=0.5, random=lambda: next(draws))
    assert [mixed.next(), mixed.next()] == [1.75, 1.25]


def test_a_long_outage_stays_at_the_ceiling() -> None:
    b = Backoff(first=0.5, ceiling=30.0, jitter=0)
    assert b.delay(10_000) == 30.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first": 0}, "0 < first"),
        ({"first": 2, "ceiling": 1}, "first ≤ ceiling"),
        ({"jitter": 1.5}, "jitter"),
        ({"factor": 0.5}, "factor"),
    ],
)
def test_nonsense_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


async def test_sleep_waits_the_next_delay_through_the_injected_sleep() -> None:
    sleeps = Sleeps()
    b = Backoff(first=0.1, ceiling=0.3, jitter=0, sleeper=sleeps)
    for _ in range(3):
        await b.sleep()
    assert [round(s, 6) for s in sleeps.slept] == [0.1, 0.2, 0.3]


async def test_retry_retries_what_it_is_told_to_and_raises_the_rest() -> None:
    sleeps = Sleeps()
    told: list[tuple[str, float]] = []
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionError(f"down {calls}")
        return "up"

    got = await retry(
        flaky,
        retry_on=lambda exc: isinstance(exc, ConnectionError),
        backoff=Backoff(first=1.0, ceiling=3.0, jitter=0, sleeper=sleeps),
        on_retry=lambda exc, delay: told.append((str(exc), delay)),
    )
    assert got == "up"
    assert told == [("down 1", 1.0), ("down 2", 2.0), ("down 3", 3.0)]
    assert sleeps.slept == [1.0, 2.0, 3.0]

    async def broken() -> str:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        await retry(
            broken,
            retry_on=lambda exc: isinstance(exc, ConnectionError),
            backoff=Backoff(sleeper=sleeps),
        )
    assert sleeps.slept == [1.0, 2.0, 3.0]  # no wait before a bug


def test_the_connector_and_webhooks_use_it() -> None:
    """The AMI reconnect delays and the webhook retry schedule are this backoff."""
    import random
    from datetime import timedelta

    from contact_center.ami.connector import AmiConnector
    from contact_center.config import AmiSettings
    from contact_center.webhooks.dispatcher import RetryPolicy

    async def sink(event: object) -> None:
        return None

    connector = AmiConnector(
        AmiSettings(reconnect_min=0.5, reconnect_max=4.0), "pbx1", sink, rng=random.Random(7)
    )
    expected = Backoff(first=0.5, ceiling=4.0, jitter=0.5, random=random.Random(7).random)
    assert [connector.backoff(n) for n in range(6)] == [expected.delay(n) for n in range(6)]
    policy = RetryPolicy(base_seconds=5.0, max_seconds=60.0, jitter=0.2, random=lambda: 1.0)
    assert [policy.delay(n) for n in (1, 2, 3, 5)] == [
        timedelta(seconds=4.0),
        timedelta(seconds=8.0),
        timedelta(seconds=16.0),
        timedelta(seconds=48.0),
    ]


async def test_retry_stops_on_a_cancellation_the_call_turned_into_a_retried_error() -> None:
    """redis-py may answer the cancellation of a command with a closed-connection error:
    the retry must stop (a cancelled stop would otherwise hang), not try again."""
    calls = 0

    async def blocked() -> str:
        nonlocal calls
        calls += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionError("connection closed by the cancellation") from None
        return "never"

    task = asyncio.create_task(
        retry(
            blocked,
            retry_on=lambda exc: isinstance(exc, ConnectionError),
            backoff=Backoff(first=0.01, ceiling=0.01, sleeper=asyncio.sleep),
        )
    )
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done
    assert task.cancelled()
    assert 1 == calls
