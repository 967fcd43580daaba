"""Two web instances behind a (pretend) load balancer on real Redis and PostgreSQL.

The call is seen by the connector on instance A (events published through A's bus); the
screen-pop worker turns it into a pop; the operator's browser is connected to instance B.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import EVENTS, POPS, pump
from contact_center.bus.redis import RedisBus
from contact_center.calls import events as ev
from contact_center.customers.lookup import CustomerLookup
from contact_center.screenpop import ScreenPop
from contact_center.web.keys import HUB_KEY
from contact_center.web.ws import CloseCode
from tests.conftest import wait_for
from tests.integration.web_support import (
    Browser,
    add_customer,
    add_user,
    database,
    next_frame,
    sign_in,
    web_server,
)

ALICE = "Local/101@agents"


class Cluster:
    def __init__(self, a: TestServer, b: TestServer, connector_bus: RedisBus) -> None:
        self.a, self.b, self.connector_bus = a, b, connector_bus

    async def pops_on_stream(self, expected: int) -> bool:
        entries = await self.connector_bus.read(POPS, "0", count=100)
        return expected == len([m for _, m in entries if m.get("type") == "pop"])

    async def call(self, call_id: str, number: str, digits: str) -> None:
        """What the AMI connector on instance A publishes for a call ringing at alice."""
        base: dict[str, Any] = {"server": "pbx1", "call_id": call_id, "at": 1_790_000_000.0}
        for event in [
            ev.CallArrived(**base, caller_number=number, caller_number_raw=number, caller_name="X"),
            ev.IvrStep(**base, menu="main", node="start", digits=digits),
            ev.CallQueued(**base, queue="support", position=1),
            ev.CallOffered(**base, queue="support", interface=ALICE, member_name="Alice"),
        ]:
            await self.connector_bus.publish(EVENTS, ev.to_dict(event))


@pytest.fixture
async def cluster(
    postgres_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[Cluster, async_sessionmaker[AsyncSession]]]:
    async with AsyncExitStack() as stack:
        _, sessions = await stack.enter_async_context(database(postgres_url))
        await add_user(sessions, "alice", "operator", ALICE)
        buses = [RedisBus(redis_url, prefix=redis_prefix) for _ in range(4)]
        for bus in buses:
            stack.push_async_callback(bus.close)
        stack.push_async_callback(buses[0].delete_all)
        a = await stack.enter_async_context(web_server(sessions, buses[0]))
        b = await stack.enter_async_context(web_server(sessions, buses[1]))
        screenpop = ScreenPop(buses[2], CustomerLookup(sessions, region="RU"), sessions)
        worker = asyncio.create_task(
            pump(
                buses[2],
                EVENTS,
                screenpop.handle_message,
                group="screenpop",
                consumer="w1",
                block_ms=200,
            )
        )

        async def stop_worker() -> None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await screenpop.close()

        stack.push_async_callback(stop_worker)
        yield Cluster(a, b, buses[3]), sessions


def on(server: TestServer, browser: Browser) -> Browser:
    """The same signed-in browser, talking to another instance."""
    return Browser(browser.http, str(server.make_url("")).rstrip("/"), browser.csrf)


async def next_pop(sock: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await next_frame(sock, 10)
    assert aiohttp.WSMsgType.TEXT == msg.type, msg
    return json.loads(msg.data)


async def test_operator_on_b_gets_the_pop_of_a_call_seen_on_a_and_resumes_exactly(
    cluster: tuple[Cluster, async_sessionmaker[AsyncSession]],
) -> None:
    c, sessions = cluster
    ivan = await add_customer(sessions, "Ivan Petrov", ["+74951234567"])
    alice_a = await sign_in(c.a, "alice")
    alice_b = on(c.b, alice_a)
    try:
        sock = await alice_b.ws()
        await wait_for(lambda: len(c.b.app[HUB_KEY].connections("alice")) == 1)
        await c.call("c1", "84951234567", "2")
        first = await next_pop(sock)
        assert ("pop", "c1", ivan, "2") == (
            first["type"],
            first["call_id"],
            first["customer_id"],
            first["ivr_digits"],
        )
        assert "Ivan Petrov" in first["html"]
        await sock.close()

        await c.call("c2", "+74950000002", "1")
        await c.call("c3", "+74950000003", "9")
        # Both pops are on the stream before alice comes back (to instance A this time).
        await wait_for(lambda: c.pops_on_stream(3), timeout=10)
        again = await on(c.a, alice_a).ws(last_id=first["id"])
        missed = [await next_pop(again), await next_pop(again)]
        assert [("c2", "1"), ("c3", "9")] == [(m["call_id"], m["ivr_digits"]) for m in missed]
        await c.call("c4", "+74950000004", "3")
        live = await next_pop(again)
        assert "c4" == live["call_id"]
        with pytest.raises(TimeoutError):
            await next_frame(again, 0.3)  # nothing twice, nothing extra
    finally:
        await alice_a.close()


async def test_sign_out_on_a_closes_the_socket_on_b(
    cluster: tuple[Cluster, async_sessionmaker[AsyncSession]],
) -> None:
    c, _ = cluster
    alice_a = await sign_in(c.a, "alice")
    try:
        sock = await on(c.b, alice_a).ws()
        await wait_for(lambda: len(c.b.app[HUB_KEY].connections("alice")) == 1)
        assert 303 == (await alice_a.post("/logout", {})).status
        msg = await next_frame(sock, 10)
        assert (aiohttp.WSMsgType.CLOSE, CloseCode.SIGNED_OUT) == (msg.type, msg.data)
    finally:
        await alice_a.close()
