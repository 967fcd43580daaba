"""Sign-in under attack, over real HTTP (issue 21, items 1 and 8): password checks off the
event loop, lockout per account and per client address (behind a trusted proxy too), shared
by web instances through real Redis, and ``next`` values that must not reach a header."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import MemoryBus
from contact_center.config import load_settings
from contact_center.store.models import WebSession
from contact_center.web.keys import PASSWORD_POOL_KEY
from tests.conftest import wait_for
from tests.integration.web_support import (
    PASSWORD,
    add_user,
    database,
    login_form_token,
    settings,
    web_server,
)


@dataclass
class Client:
    """An anonymous browser with the sign-in form's token, claiming an address via a proxy."""

    http: aiohttp.ClientSession
    base: str
    token: str
    forwarded_for: str = ""

    async def sign_in(
        self, login: str, password: str, next_: str = "/console"
    ) -> tuple[int, str, str]:
        headers = {"X-Forwarded-For": self.forwarded_for} if self.forwarded_for else {}
        data = {"login": login, "password": password, "csrf_token": self.token, "next": next_}
        async with self.http.post(
            self.base + "/login", data=data, headers=headers, allow_redirects=False
        ) as resp:
            return resp.status, resp.headers.get("Location", ""), await resp.text()


@contextlib.asynccontextmanager
async def clients(server: TestServer) -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    opened: list[aiohttp.ClientSession] = []

    async def new(forwarded_for: str = "") -> Client:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        opened.append(http)
        base = str(server.make_url("")).rstrip("/")
        return Client(http, base, await login_form_token(http, base), forwarded_for)

    try:
        yield new
    finally:
        for http in opened:
            await http.close()


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "alice", "operator", interface="PJSIP/1")
        await add_user(sessions, "bob", "operator", interface="PJSIP/2")
        yield sessions


class LoopLag:
    """How late a 10 ms sleep wakes up, at worst: what a blocked event loop looks like."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - start - 0.01)


async def test_healthz_answers_while_forty_sign_ins_are_checked(
    db: async_sessionmaker[AsyncSession],
) -> None:
    """40 sign-ins with unknown logins from 40 addresses (each an argon2 check at the
    library's full cost): /healthz answers while most of them are still in flight, and the
    event loop never stalls for long (before the fix: seconds)."""
    cfg = settings(trusted_proxies="127.0.0.1", password_workers=1)
    async with web_server(db, MemoryBus(), cfg=cfg) as server, clients(server) as new:
        attackers = [await new(f"198.51.100.{n}") for n in range(40)]
        lag = LoopLag()
        probe = asyncio.create_task(lag.run())
        try:
            attempts = [
                asyncio.create_task(c.sign_in(f"nobody{n}", "guess"))
                for n, c in enumerate(attackers)
            ]
            pool = server.app[PASSWORD_POOL_KEY]
            # the checks queue in the pool, not on the loop
            await wait_for(lambda: pool.pending >= 20 or all(a.done() for a in attempts), 30)
            async with aiohttp.ClientSession() as http:
                async with http.get(str(server.make_url("/healthz"))) as resp:
                    health = resp.status
            still_running = sum(not a.done() for a in attempts)
            answers = await asyncio.gather(*attempts)
        finally:
            probe.cancel()
    assert 200 == health
    assert still_running >= 10, still_running
    assert {401} == {status for status, _, _ in answers}
    # A generous bound: one argon2 check on the loop alone takes longer than this.
    assert lag.worst < 0.5, lag.worst


async def test_an_account_is_locked_whatever_address_guesses(
    db: async_sessionmaker[AsyncSession],
) -> None:
    cfg = settings(trusted_proxies="127.0.0.1")
    async with web_server(db, MemoryBus(), cfg=cfg) as server, clients(server) as new:
        statuses = [
            (await (await new(f"203.0.113.{n}")).sign_in("alice", "wrong"))[0] for n in range(5)
        ]
        # the right password, from an address never seen: the account itself is locked
        locked = await (await new("203.0.113.99")).sign_in("Alice", PASSWORD)
        other = await (await new("203.0.113.98")).sign_in("bob", PASSWORD)
    assert [401] * 5 == statuses
    assert 429 == locked[0]
    assert "Too many failed attempts" in locked[2]
    assert (303, "/console") == other[:2]  # other accounts are not affected


async def test_an_address_is_locked_whatever_account_it_tries(
    db: async_sessionmaker[AsyncSession],
) -> None:
    cfg = settings(trusted_proxies="127.0.0.1", login_failures_per_address=4)
    async with web_server(db, MemoryBus(), cfg=cfg) as server, clients(server) as new:
        sprayer = await new("192.0.2.7")
        statuses = [(await sprayer.sign_in(f"user{n}", "wrong"))[0] for n in range(4)]
        from_sprayer = await sprayer.sign_in("bob", PASSWORD)
        from_elsewhere = await (await new("192.0.2.8")).sign_in("bob", PASSWORD)
    assert [401] * 4 == statuses
    assert 429 == from_sprayer[0]
    assert (303, "/console") == from_elsewhere[:2]


async def test_behind_a_trusted_proxy_two_clients_are_told_apart(
    db: async_sessionmaker[AsyncSession],
) -> None:
    """Every request arrives from the proxy (127.0.0.1). One client guessing locks only
    itself; a forged X-Forwarded-For from an untrusted peer is not believed."""
    cfg = settings(trusted_proxies="127.0.0.1", login_failures_per_address=3)
    async with web_server(db, MemoryBus(), cfg=cfg) as server, clients(server) as new:
        # the proxy appends the address it saw; anything further left is the client's claim
        guesser = await new("10.9.9.9, 192.0.2.50")
        for n in range(3):
            await guesser.sign_in(f"x{n}", "wrong")
        guesser_again = await guesser.sign_in("bob", PASSWORD)
        colleague = await (await new("192.0.2.51")).sign_in("bob", PASSWORD)
        # the guesser forging the leftmost hop changes nothing: the proxy's hop is what counts
        forged = await (await new("192.0.2.51, 192.0.2.50")).sign_in("bob", PASSWORD)
    assert 429 == guesser_again[0]
    assert 303 == colleague[0]
    assert 429 == forged[0]

    untrusted = settings(login_failures_per_address=3)  # no proxy configured
    async with web_server(db, MemoryBus(), cfg=untrusted) as server, clients(server) as new:
        for n in range(3):
            await (await new(f"192.0.2.{60 + n}")).sign_in(f"y{n}", "wrong")
        # the peer is the address: claiming another one through the header does not help
        claimed = await (await new("192.0.2.70")).sign_in("bob", PASSWORD)
    assert 429 == claimed[0]


async def test_lockout_is_shared_by_two_web_instances_on_redis(
    db: async_sessionmaker[AsyncSession], redis_url: str, redis_prefix: str
) -> None:
    cfg = load_settings(
        environ={},
        overrides={
            "bus": {"backend": "redis", "redis_url": redis_url, "prefix": redis_prefix},
            "web": {"trusted_proxies": "127.0.0.1"},
        },
    )
    async with (
        web_server(db, MemoryBus(), cfg=cfg) as one,
        web_server(db, MemoryBus(), cfg=cfg) as two,
        clients(one) as on_one,
        clients(two) as on_two,
    ):
        for n in range(3):
            assert 401 == (await (await on_one(f"198.18.0.{n}")).sign_in("alice", "wrong"))[0]
        for n in range(2):
            assert 401 == (await (await on_two(f"198.18.1.{n}")).sign_in("alice", "wrong"))[0]
        on_first = await (await on_one("198.18.2.1")).sign_in("alice", PASSWORD)
        on_second = await (await on_two("198.18.2.2")).sign_in("alice", PASSWORD)
    assert (429, 429) == (on_first[0], on_second[0])


@pytest.mark.parametrize(
    "next_",
    ["/console\nSet-Cookie: x=1", "/\t/evil.example", "/console\r", "/ /evil", "/x\x7f"],
)
async def test_a_next_with_control_characters_lands_on_the_home_page(
    db: async_sessionmaker[AsyncSession], next_: str
) -> None:
    async with web_server(db, MemoryBus(), cfg=settings()) as server, clients(server) as new:
        status, location, _ = await (await new()).sign_in("alice", PASSWORD, next_)
        async with db() as session:
            opened = await session.scalar(select(func.count()).select_from(WebSession))
    assert (303, "/") == (status, location)
    assert 1 == opened


async def test_sign_ins_past_the_hashing_budget_are_told_to_retry(
    db: async_sessionmaker[AsyncSession],
) -> None:
    """One thread and no waiting room: of ten simultaneous sign-ins some are checked, the
    rest are answered 503 at once instead of queueing without end."""
    cfg = settings(trusted_proxies="127.0.0.1", password_workers=1, password_queue=0)
    async with web_server(db, MemoryBus(), cfg=cfg) as server, clients(server) as new:
        attackers = [await new(f"198.51.100.{n}") for n in range(10)]
        answers = await asyncio.gather(
            *(c.sign_in(f"nobody{n}", "guess") for n, c in enumerate(attackers))
        )
        after = await (await new("198.51.100.200")).sign_in("alice", PASSWORD)
    statuses = sorted(status for status, _, _ in answers)
    assert 401 in statuses and 503 in statuses, statuses
    assert {401, 503} == set(statuses)
    busy = next(text for status, _, text in answers if status == 503)
    assert "too many sign-ins are being checked, try again shortly" in busy
    assert 303 == after[0]  # the budget frees up as checks finish
