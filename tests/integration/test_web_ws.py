"""Websocket push over real TCP: addressing, resume, snapshot, origin, sign-out, slow clients."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import POPS, MemoryBus
from contact_center.web import ws as ws_module
from contact_center.web.keys import HUB_KEY
from contact_center.web.ws import CloseCode
from tests.conftest import wait_for
from tests.integration.web_support import (
    Browser,
    add_user,
    database,
    next_frame,
    sign_in,
    signed_in,
    web_server,
)


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "alice", "operator", "Local/101@agents")
        await add_user(sessions, "bob", "operator", "Local/102@agents")
        await add_user(sessions, "quinn", "qa")
        yield sessions


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def server(db: async_sessionmaker[AsyncSession], bus: MemoryBus) -> AsyncIterator[TestServer]:
    async with web_server(db, bus) as srv:
        yield srv


def pop(to: str, call_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "pop",
        "to": to,
        "server": "pbx1",
        "call_id": call_id,
        "html": "<p>x</p>",
        **extra,
    }


async def receive(sock: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    """The next ``n`` messages, leaving out the ``ready`` frame that ends a (re)connect."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        msg = await asyncio.wait_for(sock.receive(), 5)
        assert aiohttp.WSMsgType.TEXT == msg.type, msg
        data = json.loads(msg.data)
        if data.get("type") != "ready":
            out.append(data)
    return out


async def nothing_more(sock: aiohttp.ClientWebSocketResponse) -> bool:
    """True when no frame arrives within a short grace period (used after the expected ones)."""
    while True:
        try:
            msg = await asyncio.wait_for(sock.receive(), 0.2)
        except TimeoutError:
            return True
        if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data).get("type") == "ready":
            continue
        raise AssertionError(f"unexpected frame {msg!r}")


async def connected(server: TestServer, login: str, count: int = 1) -> None:
    hub = server.app[HUB_KEY]
    await wait_for(lambda: len(hub.connections(login)) == count)


async def test_pop_reaches_every_tab_of_its_operator_and_no_one_else(
    server: TestServer, bus: MemoryBus
) -> None:
    async with signed_in(server, "alice") as alice, signed_in(server, "bob") as bob:
        tab1, tab2, bob_tab = await alice.ws(), await alice.ws(), await bob.ws()
        await connected(server, "alice", 2)
        await connected(server, "bob")
        sid = await bus.publish(POPS, pop("alice", "c1"))
        expected = {"id": sid, "type": "pop", "server": "pbx1", "call_id": "c1", "html": "<p>x</p>"}
        assert [expected] == await receive(tab1, 1)
        assert [expected] == await receive(tab2, 1)
        assert await nothing_more(bob_tab)


async def test_reconnect_with_last_id_gets_exactly_the_missed_pops(
    server: TestServer, bus: MemoryBus
) -> None:
    async with signed_in(server, "alice") as alice:
        sock = await alice.ws()
        await connected(server, "alice")
        await bus.publish(POPS, pop("alice", "c1"))
        [first] = await receive(sock, 1)
        await sock.close()
        await connected(server, "alice", 0)
        missed = [await bus.publish(POPS, pop("alice", f"c{n}")) for n in (2, 3)]
        await bus.publish(POPS, pop("bob", "c4"))
        again = await alice.ws(last_id=first["id"])
        assert missed == [m["id"] for m in await receive(again, 2)]
        live = await bus.publish(POPS, pop("alice", "c5"))
        assert [live] == [m["id"] for m in await receive(again, 1)]
        assert await nothing_more(again)


async def test_a_reconnect_is_answered_from_memory_not_by_reading_the_stream_back(
    server: TestServer, bus: MemoryBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket moving here (its instance died) asks for what it missed since its last id:
    the hub saw every entry since, so it answers from the operator's last frames without
    reading the stream back — hundreds of sockets at once each scanning thousands of cards
    kept an instance busy for minutes. Missing more than it keeps, the socket still gets
    exactly what it missed, from the stream."""
    async with signed_in(server, "alice") as alice:
        sock = await alice.ws()
        await connected(server, "alice")
        await bus.publish(POPS, pop("alice", "c0"))
        [first] = await receive(sock, 1)
        await sock.close()
        await connected(server, "alice", 0)
        for n in range(2000):
            await bus.publish(POPS, pop("bob", f"b{n}"))
        missed = [await bus.publish(POPS, pop("alice", f"c{n}")) for n in (1, 2)]
        reads: list[str] = []
        read = bus.read

        async def counted(*args: Any, **kwargs: Any) -> Any:
            reads.append(str(args[0]))
            return await read(*args, **kwargs)

        monkeypatch.setattr(bus, "read", counted)
        again = await alice.ws(last_id=first["id"])
        assert missed == [m["id"] for m in await receive(again, 2)]
        assert [] == reads  # from memory
        last = missed[-1]
        await again.close()
        await connected(server, "alice", 0)
        many = [
            await bus.publish(POPS, pop("alice", f"d{n}"))
            for n in range(ws_module.RECENT_FRAMES_PER_OPERATOR + 5)
        ]
        third = await alice.ws(last_id=last)
        assert many == [m["id"] for m in await receive(third, len(many))]
        assert [POPS] == reads[:1]  # more than it keeps: read back from the stream
        assert await nothing_more(third)


async def test_a_tab_that_had_no_message_yet_still_gets_what_came_while_it_was_away(
    server: TestServer, bus: MemoryBus
) -> None:
    """Every (re)connect ends with a ``ready`` frame holding where the stream stood: a tab
    that had no pop yet reconnects with that id, and a call that rang and ended while it
    was away (its instance died) is replayed to it — a fresh tab's snapshot of active calls
    would leave it out."""
    async with signed_in(server, "alice") as alice:
        sock = await alice.ws()
        msg = await asyncio.wait_for(sock.receive(), 5)
        ready = json.loads(msg.data)
        assert "ready" == ready["type"] and ready["id"]
        await sock.close()
        await connected(server, "alice", 0)
        rang = await bus.publish(POPS, pop("alice", "c1"))
        closed = await bus.publish(
            POPS, {"type": "pop.closed", "to": "alice", "server": "pbx1", "call_id": "c1"}
        )
        again = await alice.ws(last_id=ready["id"])
        assert [rang, closed] == [m["id"] for m in await receive(again, 2)]
        fresh = await alice.ws()  # no id: the snapshot, in which the ended call is not
        assert await nothing_more(fresh)


async def test_live_pops_during_a_replay_are_sent_once_in_order(
    server: TestServer, bus: MemoryBus
) -> None:
    async with signed_in(server, "alice") as alice:
        start = await bus.publish(POPS, pop("alice", "c0"))
        ids = [await bus.publish(POPS, pop("alice", f"c{n}")) for n in range(1, 600)]
        sock = await alice.ws(last_id=start)
        more = [await bus.publish(POPS, pop("alice", f"d{n}")) for n in range(5)]
        got = [m["id"] for m in await receive(sock, len(ids) + len(more))]
        assert ids + more == got
        assert await nothing_more(sock)


async def test_a_fresh_tab_gets_the_pops_of_calls_still_active(
    server: TestServer, bus: MemoryBus
) -> None:
    async with signed_in(server, "alice") as alice:
        first = await alice.ws()
        await connected(server, "alice")
        ended = await bus.publish(POPS, pop("alice", "c1"))
        active = await bus.publish(POPS, pop("alice", "c2"))
        closed = await bus.publish(
            POPS, {"type": "pop.closed", "to": "alice", "server": "pbx1", "call_id": "c1"}
        )
        assert [ended, active, closed] == [m["id"] for m in await receive(first, 3)]
        fresh = await alice.ws()
        assert [active] == [m["id"] for m in await receive(fresh, 1)]
        assert await nothing_more(fresh)


async def test_foreign_or_missing_origin_is_refused(server: TestServer) -> None:
    async with signed_in(server, "alice") as alice:
        for headers in ({"Origin": "http://evil.example"}, {}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await alice.http.ws_connect(alice.url("/ws"), headers=headers)
            assert 403 == info.value.status


async def test_configured_origin_is_allowed(db: async_sessionmaker[AsyncSession]) -> None:
    from tests.integration.web_support import settings

    async with web_server(
        db, MemoryBus(), cfg=settings(allowed_origins="https://cc.example")
    ) as srv:
        alice = await sign_in(srv, "alice")
        try:
            sock = await alice.http.ws_connect(
                alice.url("/ws"), headers={"Origin": "https://cc.example"}
            )
            await sock.close()
        finally:
            await alice.close()


async def test_socket_needs_a_session_and_an_operator_role(server: TestServer) -> None:
    anonymous = aiohttp.ClientSession()
    quinn = await sign_in(server, "quinn")
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await anonymous.ws_connect(quinn.url("/ws"), headers={"Origin": quinn.origin})
        assert 401 == info.value.status
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await quinn.ws()
        assert 403 == info.value.status
    finally:
        await anonymous.close()
        await quinn.close()


async def test_malformed_last_id_is_a_bad_request(server: TestServer) -> None:
    async with signed_in(server, "alice") as alice:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await alice.ws(last_id="not-an-id")
        assert 400 == info.value.status


async def test_sign_out_closes_every_tab_of_that_session(server: TestServer) -> None:
    async with signed_in(server, "alice") as alice:
        tab1, tab2 = await alice.ws(), await alice.ws()
        await connected(server, "alice", 2)
        assert 303 == (await alice.post("/logout", {})).status
        for tab in (tab1, tab2):
            msg = await next_frame(tab)
            assert aiohttp.WSMsgType.CLOSE == msg.type
            assert CloseCode.SIGNED_OUT == msg.data


async def test_oversized_client_message_closes_the_socket(server: TestServer) -> None:
    async with signed_in(server, "alice") as alice:
        sock = await alice.ws()
        await sock.send_str("x" * (ws_module.MAX_CLIENT_MESSAGE + 1))
        msg = await next_frame(sock)
        assert aiohttp.WSMsgType.CLOSE == msg.type
        assert CloseCode.MESSAGE_TOO_BIG == msg.data


async def test_ping_is_answered(server: TestServer) -> None:
    async with signed_in(server, "alice") as alice:
        sock = await alice.ws()
        await sock.send_str("ping")
        assert [{"type": "pong"}] == await receive(sock, 1)


async def raw_socket_that_never_reads(browser: Browser) -> asyncio.StreamWriter:
    """A websocket client that completes the handshake and then stops reading."""
    url = aiohttp.client.URL(browser.base)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    cookies = browser.http.cookie_jar.filter_cookies(url)
    cookie = "; ".join(f"{k}={v.value}" for k, v in cookies.items())
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {browser.origin}\r\nCookie: {cookie}\r\n\r\n"
        ).encode()
    )
    status = await reader.readline()
    assert b"101" in status, status
    return writer


async def test_a_client_that_stops_reading_is_closed_and_delays_no_one(
    server: TestServer, bus: MemoryBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_module, "CLOSE_TIMEOUT", 0.2)
    alice, bob = await sign_in(server, "alice"), await sign_in(server, "bob")
    stalled = await raw_socket_that_never_reads(alice)
    try:
        fast = await bob.ws()
        await connected(server, "alice")
        await connected(server, "bob")
        [slow_conn] = server.app[HUB_KEY].connections("alice")
        big = "x" * 64_000
        total = 400  # ~25 MB to alice: far beyond the socket buffers and her queue
        got: list[dict[str, Any]] = []
        for n in range(total):
            await bus.publish(POPS, pop("alice", f"a{n}", html=big))
            await bus.publish(POPS, pop("bob", f"b{n}"))
            if n % 50 == 49:  # bob reads as a browser does, while alice's socket is stuck
                got += await receive(fast, 50)
        assert [f"b{n}" for n in range(total)] == [m["call_id"] for m in got]
        await wait_for(lambda: slow_conn.close_code is not None)
        assert CloseCode.TOO_SLOW == slow_conn.close_code
        await connected(server, "alice", 0)
    finally:
        stalled.close()
        await alice.close()
        await bob.close()


async def test_a_burst_larger_than_the_queue_reaches_a_client_that_reads(
    server: TestServer, bus: MemoryBus
) -> None:
    async with signed_in(server, "alice") as alice:
        sock = await alice.ws()
        await connected(server, "alice")
        burst = 2 * ws_module.QUEUE_SIZE + 10
        ids = [await bus.publish(POPS, pop("alice", f"c{n}")) for n in range(burst)]
        assert ids == [m["id"] for m in await receive(sock, burst)]


async def test_a_session_revoked_elsewhere_loses_its_socket(
    server: TestServer, db: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import update

    from contact_center.store.db import utcnow
    from contact_center.store.models import WebSession

    monkeypatch.setattr(ws_module, "SESSION_RECHECK_SECONDS", 0.05)
    async with signed_in(server, "alice") as alice:
        sock = await alice.ws()
        async with db.begin() as s:  # e.g. an admin disabling the account's sessions
            await s.execute(update(WebSession).values(revoked_at=utcnow()))
        msg = await next_frame(sock)
        assert (aiohttp.WSMsgType.CLOSE, CloseCode.SIGNED_OUT) == (msg.type, msg.data)


async def test_a_client_too_far_behind_gets_the_snapshot_instead_of_a_full_scan(
    server: TestServer, bus: MemoryBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_module, "REPLAY_SCAN_LIMIT", 100)
    async with signed_in(server, "alice") as alice:
        first = await alice.ws()
        await connected(server, "alice")
        await bus.publish(POPS, pop("alice", "ended-long-ago"))
        closed = {
            "type": "pop.closed",
            "to": "alice",
            "server": "pbx1",
            "call_id": "ended-long-ago",
        }
        await bus.publish(POPS, closed)
        for n in range(150):
            await bus.publish(POPS, pop("bob", f"b{n}"))
        active = await bus.publish(POPS, pop("alice", "still-ringing"))
        assert 3 == len(await receive(first, 3))
        await first.close()
        again = await alice.ws(last_id="0")  # asks for everything since the beginning
        assert [active] == [m["id"] for m in await receive(again, 1)]
        assert await nothing_more(again)


async def test_sockets_rechecked_together_keep_the_live_session_and_lose_the_revoked_one(
    server: TestServer, db: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The periodic rechecks of several sockets are asked in one query: each socket gets its
    own session's answer (bob's revoked session closes bob's socket, alice's stays)."""
    from sqlalchemy import select, update

    from contact_center.store.db import utcnow
    from contact_center.store.models import User, WebSession

    monkeypatch.setattr(ws_module, "SESSION_RECHECK_SECONDS", 0.05)
    async with signed_in(server, "alice") as alice, signed_in(server, "bob") as bob:
        alice_sock, bob_sock = await alice.ws(), await bob.ws()
        async with db.begin() as s:
            bob_id = select(User.id).where(User.login == "bob").scalar_subquery()
            await s.execute(
                update(WebSession).where(WebSession.user_id == bob_id).values(revoked_at=utcnow())
            )
        msg = await next_frame(bob_sock)
        assert (aiohttp.WSMsgType.CLOSE, CloseCode.SIGNED_OUT) == (msg.type, msg.data)
        # alice's socket rechecked in the same gathered query (both every 0.05 s): still open
        await alice_sock.send_str("ping")
        msg = await next_frame(alice_sock)
        assert aiohttp.WSMsgType.TEXT == msg.type
