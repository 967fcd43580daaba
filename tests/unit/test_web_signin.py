"""The sign-in throttle's rules, on the memory storage (issue 21, item 1)."""

from __future__ import annotations

import pytest
from limits.aio.storage import MemoryStorage

from contact_center.config import ConfigError
from contact_center.web.signin import LoginThrottle, ThrottlePolicy, backoff_limits, parse_networks


def test_each_failure_past_the_threshold_doubles_the_lock() -> None:
    windows = [(item.amount, item.get_expiry()) for item in backoff_limits(5, 60, 600)]
    assert [(5, 60), (6, 120), (7, 240), (8, 480), (9, 600)] == windows


async def test_a_flood_of_other_keys_does_not_unlock_an_account() -> None:
    """The old limiter cleared its whole table past 100k keys: 83,332 failures from other
    addresses un-blocked a locked admin. Counts now only expire with their window."""
    # one window each, to keep 120k failures quick
    policy = ThrottlePolicy(account_failures=3, first_lock_seconds=600, max_lock_seconds=600)
    throttle = LoginThrottle(MemoryStorage(), policy)
    for _ in range(3):
        await throttle.failed("root", "192.0.2.1")
    assert await throttle.blocked("root", "192.0.2.99")
    for n in range(120_000):
        await throttle.failed(f"spray{n}", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert await throttle.blocked("ROOT", "192.0.2.200")
    assert not await throttle.blocked("alice", "192.0.2.200")


def test_trusted_proxies_must_be_addresses() -> None:
    assert 2 == len(parse_networks("127.0.0.1, 10.0.0.0/8"))
    with pytest.raises(ConfigError, match=r"web\.trusted_proxies: 'proxy\.local'"):
        parse_networks("proxy.local")


async def test_with_redis_down_failures_are_counted_in_memory() -> None:
    """Redis down (nothing listens on port 1): sign-in keeps working, lockout per process."""
    from limits.aio.storage import RedisStorage

    storage = RedisStorage(
        "async+redis://127.0.0.1:1/0", wrap_exceptions=True, implementation="redispy"
    )
    throttle = LoginThrottle(storage, ThrottlePolicy(account_failures=2))
    assert not await throttle.blocked("root", "192.0.2.1")
    for _ in range(2):
        await throttle.failed("root", "192.0.2.1")
    assert await throttle.blocked("root", "192.0.2.2")
