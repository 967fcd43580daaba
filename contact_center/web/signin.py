"""What stands between a password guesser and the sign-in form.

* :class:`PasswordPool` — argon2 is slow on purpose (tens of milliseconds of CPU and 64 MiB
  per check). Run on the event loop it froze every page, pop and websocket of the process
  while a burst of sign-ins was checked; here it runs on a few threads (argon2-cffi releases
  the GIL), and at most ``max_waiting`` checks wait for one: past that budget a sign-in is
  turned away at once (503) rather than queued without end.
* :class:`LoginThrottle` — failed sign-ins counted per account and per client address with
  the ``limits`` library: moving windows in Redis when the bus is Redis (every web instance
  sees the same counts), in memory otherwise. The windows double as the failures grow
  (:func:`backoff_limits`), so each failure past the threshold doubles the wait. Counts only
  expire with their window: there is no wholesale reset for a flood of keys to trigger.
* :func:`client_address` — the address a request came from: the peer, or, when the peer is a
  configured reverse proxy, the last ``X-Forwarded-For`` hop that is not one of ours. Without
  it every client behind the TLS proxy shares one address and five failures lock out all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from contact_center.config import ConfigError, Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SignInUnavailable(Exception):
    """A sign-in cannot be checked now (the hashing budget is spent)."""


# --- password checks off the event loop ------------------------------------------------------


class PasswordPool:
    """argon2 hashing and checking on ``workers`` threads, at most ``max_waiting`` queued."""

    def __init__(self, workers: int = 2, max_waiting: int = 64) -> None:
        self.workers = max(1, workers)
        self.max_waiting = max(0, max_waiting)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="argon2")
        self._pending = 0

    @property
    def pending(self) -> int:
        """Checks running or waiting now."""
        return self._pending

    async def run(self, func: Callable[..., T], *args: object) -> T:
        if self._pending >= self.workers + self.max_waiting:
            raise SignInUnavailable("too many sign-ins are being checked, try again shortly")
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


# --- client address --------------------------------------------------------------------------


def parse_networks(raw: str, where: str = "web.trusted_proxies") -> tuple[Network, ...]:
    """``"10.0.0.2, 172.18.0.0/16"`` → networks; a malformed entry is a ConfigError."""
    out: list[Network] = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"{where}: {part!r} is not an address or network") from None
    return tuple(out)


def _within(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


def client_address(request: web.Request, trusted: tuple[Network, ...]) -> str:
    """The client's address: the peer unless the peer is a trusted proxy, then the nearest
    ``X-Forwarded-For`` hop that is not a trusted proxy (hops further left are the client's
    own claims and could be anything)."""
    peer = request.remote or ""
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else peer


# --- failure counting ------------------------------------------------------------------------


def backoff_limits(failures: int, first_seconds: int, max_seconds: int) -> list[RateLimitItem]:
    """Moving windows that double the wait with each failure past ``failures``.

    ``failures`` within ``first_seconds`` lock for up to that long; one more within twice
    that window locks for twice as long, and so on up to ``max_seconds``.
    """
    limits: list[RateLimitItem] = []
    window, count = max(1, first_seconds), max(1, failures)
    while True:
        limits.append(RateLimitItemPerSecond(count, min(window, max_seconds)))
        if window >= max_seconds:
            return limits
        window, count = window * 2, count + 1


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    account_failures: int = 5
    address_failures: int = 20
    first_lock_seconds: int = 60
    max_lock_seconds: int = 86_400


class LoginThrottle:
    """Failed sign-ins per account and per address, shared through ``storage``.

    When the storage fails (Redis down), counting goes on in this process's memory, with a
    warning: sign-in keeps working on each instance, its lockouts per instance until Redis
    is back (the design's rule: Redis down, the service keeps working on one host)."""

    def __init__(self, storage: Storage, policy: ThrottlePolicy = ThrottlePolicy()) -> None:
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._fallback = MovingWindowRateLimiter(MemoryStorage())
        first, top = policy.first_lock_seconds, policy.max_lock_seconds
        self._account = backoff_limits(policy.account_failures, first, top)
        self._address = backoff_limits(policy.address_failures, first, top)

    def _checks(self, login: str, address: str) -> list[tuple[RateLimitItem, str]]:
        account = login.strip().lower()
        return [(item, f"account:{account}") for item in self._account] + [
            (item, f"address:{address}") for item in self._address
        ]

    async def blocked(self, login: str, address: str) -> bool:
        """Is this account or this address locked out now?"""
        try:
            return await self._blocked(self._limiter, login, address)
        except StorageError as exc:
            log.warning("sign-in throttle storage unavailable, counting in memory: %s", exc)
            return await self._blocked(self._fallback, login, address)

    async def failed(self, login: str, address: str) -> None:
        """Count one failed sign-in against the account and the address."""
        try:
            await self._hit(self._limiter, login, address)
        except StorageError as exc:
            log.warning("sign-in throttle storage unavailable, counting in memory: %s", exc)
            await self._hit(self._fallback, login, address)

    async def _blocked(self, limiter: MovingWindowRateLimiter, login: str, address: str) -> bool:
        for item, key in self._checks(login, address):
            if not await limiter.test(item, "login-failures", key):
                return True
        return False

    async def _hit(self, limiter: MovingWindowRateLimiter, login: str, address: str) -> None:
        for item, key in self._checks(login, address):
            await limiter.hit(item, "login-failures", key)


def throttle_storage(settings: Settings) -> Storage:
    """Redis storage (the bus's Redis, under the bus prefix) when the bus is Redis, so every
    web instance counts the same failures; memory for a single process."""
    if settings.bus.backend == "redis":
        url = settings.bus.redis_url
        scheme, sep, rest = url.partition("://")
        return RedisStorage(
            f"async+{scheme}{sep}{rest}",
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix=f"{settings.bus.prefix}:signin",
        )
    return MemoryStorage(wrap_exceptions=True)


def policy_from(settings: Settings) -> ThrottlePolicy:
    web_settings = settings.web
    return ThrottlePolicy(
        account_failures=web_settings.login_failures_per_account,
        address_failures=web_settings.login_failures_per_address,
        first_lock_seconds=web_settings.login_lock_seconds,
        max_lock_seconds=web_settings.login_lock_max_seconds,
    )
