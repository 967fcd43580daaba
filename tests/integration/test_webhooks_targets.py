"""Webhooks cannot be aimed inside the network, nor flood the service (issue 21, item 2):
real receivers on loopback, the admin API over real HTTP, a real dispatcher."""

from __future__ import annotations

import contextlib
import gzip
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus.memory import MemoryBus
from contact_center.config import load_settings
from contact_center.store.db import utcnow
from contact_center.webhooks import http as webhooks_http
from contact_center.webhooks.repository import DEAD, DELIVERED, WebhookStore
from contact_center.webhooks.targets import TargetPolicy, parse_networks
from tests.conftest import wait_for
from tests.integration.test_webhooks import answered, dispatcher_for, running
from tests.integration.web_support import SQLITE_ONLY, add_user, database, sign_in, web_server

LOCAL = TargetPolicy(parse_networks("127.0.0.1"))
NOBODY = TargetPolicy()  # the default: public addresses only


@dataclass
class Sink:
    """A receiver answering with ``reply`` and counting what it managed to send."""

    port: int = 0
    requests: int = 0
    sent: int = 0

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/hook"


@contextlib.asynccontextmanager
async def sink(reply: str) -> AsyncIterator[Sink]:
    state = Sink()
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MiB of zeros in ~64 KiB

    async def hook(request: web.Request) -> web.StreamResponse:
        state.requests += 1
        await request.read()
        if reply == "ok":
            return web.Response(status=204)
        if reply == "gzip-bomb":
            return web.Response(
                body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"}
            )
        # "endless": a 1 GiB body, written until the client stops reading
        response = web.StreamResponse(headers={"Content-Length": str(1024**3)})
        await response.prepare(request)
        chunk = b"x" * 65536
        with contextlib.suppress(ConnectionError, RuntimeError):
            while state.sent < 1024**3:
                await response.write(chunk)
                state.sent += len(chunk)
        return response

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    assert server.port is not None
    state.port = server.port
    try:
        yield state
    finally:
        await server.close()


INTERNAL = [
    "http://127.0.0.1:{port}/hook",
    "http://localhost:{port}/hook",
    "http://0x7f000001:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://127.1:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://[::ffff:7f00:1]:{port}/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0:{port}/hook",
    "http://[::]:{port}/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://[fe80::1]/hook",
]


@SQLITE_ONLY
async def test_internal_targets_are_refused_when_added(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions), sink("ok") as crm:
        await add_user(sessions, "root", "admin")
        async with web_server(sessions, MemoryBus(), plugins=[webhooks_http]) as server:
            admin = await sign_in(server, "root")
            try:
                answers = {}
                for template in INTERNAL:
                    url = template.format(port=crm.port)
                    async with admin.http.post(
                        admin.url("/api/webhooks"),
                        json={"url": url, "kinds": ["call.answered"]},
                        headers={"X-CSRF-Token": admin.csrf},
                    ) as resp:
                        answers[url] = (resp.status, "refused" in await resp.text())
                # the form says so too
                async with admin.http.post(
                    admin.url("/admin/webhooks"),
                    data={"url": crm.url(), "kinds": "call.answered", "csrf_token": admin.csrf},
                ) as resp:
                    form = (resp.status, await resp.text())
            finally:
                await admin.close()
        assert {t.format(port=crm.port): (400, True) for t in INTERNAL} == answers
        assert 400 == form[0]
        assert "resolves to a loopback address (see webhooks.allow_networks)" in form[1]
        assert [] == await WebhookStore(sessions).webhooks()
        assert 0 == crm.requests


@SQLITE_ONLY
async def test_the_allow_list_lets_a_local_receiver_in(db_url: str) -> None:
    cfg = load_settings(environ={}, overrides={"webhooks": {"allow_networks": "127.0.0.1/32"}})
    async with database(db_url) as (_engine, sessions), sink("ok") as crm:
        await add_user(sessions, "root", "admin")
        async with web_server(sessions, MemoryBus(), plugins=[webhooks_http], cfg=cfg) as server:
            admin = await sign_in(server, "root")
            try:
                statuses = []
                for url in (crm.url(), crm.url("[::1]")):  # ::1 is not in the list
                    async with admin.http.post(
                        admin.url("/api/webhooks"),
                        json={"url": url, "kinds": ["call.answered"]},
                        headers={"X-CSRF-Token": admin.csrf},
                    ) as resp:
                        statuses.append(resp.status)
            finally:
                await admin.close()
        assert [201, 400] == statuses


async def _deliver_one(
    sessions: async_sessionmaker[AsyncSession], url: str, targets: TargetPolicy
) -> tuple[str, str]:
    """Store a subscription as it is (as if DNS changed after it was added), deliver one
    event, and return the delivery's final (status, error)."""
    await WebhookStore(sessions).add(url, ["call.answered"], now=utcnow())
    dispatcher = dispatcher_for(sessions, targets=targets)
    await dispatcher.handle(answered("5.0"))
    async with running(dispatcher):
        await wait_for(lambda: dispatcher.sent + dispatcher.failed >= 3 or dispatcher.sent == 1)
        await wait_for(lambda: _settled(sessions))
    [delivery] = await WebhookStore(sessions).deliveries()
    return delivery.status, delivery.last_error


async def _settled(sessions: async_sessionmaker[AsyncSession]) -> bool:
    return all(d.status in (DEAD, DELIVERED) for d in await WebhookStore(sessions).deliveries())


@SQLITE_ONLY
@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/hook",
        "http://0x7f000001:{port}/hook",
        "http://localhost:{port}/hook",
    ],
)
async def test_connections_to_internal_addresses_are_refused_at_delivery(
    db_url: str, template: str
) -> None:
    async with database(db_url) as (_engine, sessions), sink("ok") as crm:
        status, error = await _deliver_one(sessions, template.format(port=crm.port), NOBODY)
    assert (DEAD, "target address not allowed") == (status, error)
    assert 0 == crm.requests  # not one byte reached the internal service


@SQLITE_ONLY
async def test_delivery_errors_name_no_address_or_port(db_url: str) -> None:
    """A closed port and a refused address read alike in kind, never with the address, the
    port or the system's error text (which told open, closed and filtered ports apart)."""
    async with database(db_url) as (_engine, sessions), sink("ok") as crm:
        port = crm.port
    async with database(db_url) as (_engine, sessions):  # the receiver is gone: port closed
        status, error = await _deliver_one(sessions, f"http://127.0.0.1:{port}/hook", LOCAL)
    assert (DEAD, "could not connect") == (status, error)
    assert str(port) not in error


@SQLITE_ONLY
async def test_a_gzip_bomb_is_not_inflated(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions), sink("gzip-bomb") as crm:
        tracemalloc.start()
        try:
            status, _ = await _deliver_one(sessions, crm.url(), LOCAL)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert DELIVERED == status
    # The reply inflates to 64 MiB; the dispatcher reads at most 64 KiB of it, raw.
    assert peak < 16 * 1024 * 1024, peak


@SQLITE_ONLY
async def test_a_huge_reply_is_cut_short(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions), sink("endless") as crm:
        status, _ = await _deliver_one(sessions, crm.url(), LOCAL)
        await wait_for(lambda: crm.sent > 0)
    assert DELIVERED == status
    # The receiver offered 1 GiB; the dispatcher hung up after 64 KiB (the rest is what the
    # sockets' buffers took before the receiver noticed).
    assert crm.sent < 64 * 1024 * 1024, crm.sent
