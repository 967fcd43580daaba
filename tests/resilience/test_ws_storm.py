"""Many browsers reconnecting at once (a web instance restarted, a network blip): each gets
exactly what it missed, from its last event id, and the service keeps serving."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contact_center.web.keys import HUB_KEY
from contact_center.web.ws import POPS
from tests.conftest import wait_for
from tests.e2e.service_support import sign_in
from tests.resilience.rig import died, fault_rig
from tests.resilience.test_ws_flood import rss_kib

CLIENTS = 200
MISSED = 3


def pop(call_id: str) -> dict[str, Any]:
    return {"type": "pop", "to": "boris", "server": "pbx1", "call_id": call_id, "stage": "offered"}


async def catch_up(http: aiohttp.ClientSession, base: str, last_id: str) -> list[str]:
    ws = await http.ws_connect(f"{base}/ws?last_id={last_id}", headers={"Origin": base})
    try:
        got: list[str] = []
        async with asyncio.timeout(60):
            while len(got) < MISSED:
                msg = await ws.receive()
                assert aiohttp.WSMsgType.TEXT == msg.type, msg
                data = json.loads(msg.data)
                if data.get("type") == "pop":
                    got.append(data["id"])
        return got
    finally:
        await ws.close()


async def storm(tmp_path: Path, postgres_url: str, caplog: Any, n: int) -> None:
    async with fault_rig(tmp_path, postgres_url) as rig:
        hub = rig.service.components["app"][HUB_KEY]
        core = rig.service.core
        assert core is not None
        boris = await sign_in(rig.base, "boris")
        http = aiohttp.ClientSession(
            cookie_jar=boris.http.cookie_jar, connector=aiohttp.TCPConnector(limit=0)
        )
        try:
            first = await core.bus.publish(POPS, pop("c0"))
            missed = [await core.bus.publish(POPS, pop(f"c{i}")) for i in range(1, MISSED + 1)]
            rss_before = rss_kib()
            started = time.monotonic()
            results = await asyncio.gather(*(catch_up(http, rig.base, first) for _ in range(n)))
            took = time.monotonic() - started
            rss_growth = rss_kib() - rss_before
            assert [missed] * n == results  # each got exactly what it missed, in order
            await wait_for(lambda: not hub.connections("boris"), timeout=10)
            assert [] == died(caplog)
        finally:
            await http.close()
            await boris.http.close()
    print(
        f"\n{n} sockets reconnecting at once: all caught up in {took:.2f} s; RSS +{rss_growth} KiB"
    )


async def test_reconnect_storm_each_client_gets_exactly_what_it_missed(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property: 200 sockets reconnecting at the same moment with their last event id each
    receive exactly the pops they missed, in order, once; all are served, none dropped, and
    no background task dies."""
    await storm(tmp_path, postgres_url, caplog, CLIENTS)


@pytest.mark.soak
@pytest.mark.skipif(not os.environ.get("CC_SOAK"), reason="soak: set CC_SOAK=1")
async def test_soak_thousand_clients_reconnecting(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property (soak): the same with 1,000 sockets at once."""
    await storm(tmp_path, postgres_url, caplog, 1000)
