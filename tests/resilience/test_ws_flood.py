"""A browser that stops reading and a flood of 500 calls at once, through the whole service:
the simulator, the screen-pop worker and the operators' websockets over real TCP."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from contact_center.bus.base import EVENTS
from contact_center.calls import events as ev
from contact_center.web.app import HUB_KEY
from contact_center.web.auth import SESSION_COOKIE
from contact_center.web.ws import QUEUE_SIZE
from tests.conftest import wait_for
from tests.e2e.service_support import Rig, sign_in
from tests.resilience.rig import FaultRig, died, fault_rig

FLOOD_CALLS = int(os.environ.get("CC_FLOOD_CALLS", "500"))


async def stalled_socket(base: str, cookie: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket that completes the handshake and then never reads another byte."""
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {base}\r\n"
            f"Cookie: {SESSION_COOKIE}={cookie}\r\n\r\n"
        ).encode()
    )
    status = await reader.readline()
    assert b"101" in status, status
    return reader, writer


def flood(n: int, interface: str) -> list[ev.DomainEvent]:
    """``n`` calls offered to ``interface`` and ended, all at once."""
    out: list[ev.DomainEvent] = []
    now = time.time()
    for i in range(n):
        cid = f"1700009000.{i}"
        base = {"server": "pbx1", "call_id": cid, "at": now, "leg_id": cid}
        out += [
            ev.CallArrived(
                **base,
                seq=1,
                key=ev.make_key("flood", cid, "arrived"),
                caller_number=f"+7495{i:07d}",
                caller_number_raw=f"+7495{i:07d}",
                caller_name="Flood",
                did="4951110001",
                channel=f"Local/4951110001@inbound-{i:08x};1",
                direction="inbound",
            ),
            ev.CallOffered(
                **base,
                seq=2,
                key=ev.make_key("flood", cid, "offered"),
                queue="support",
                interface=interface,
                member_name="Boris",
                operator_leg_id=f"{cid}9",
            ),
            ev.CallEnded(
                **base,
                seq=3,
                key=ev.make_key("flood", cid, "ended"),
                cause=16,
                cause_txt="Normal Clearing",
                hung_up_by="caller",
                outcome="abandoned",
                talk_seconds=0.0,
                source="ami",
            ),
        ]
    return out


async def pop_latency(rig: FaultRig, ws: aiohttp.ClientWebSocketResponse, did: str) -> float:
    """Seconds from a real call entering the queue of anna to her pop arriving."""
    started = time.monotonic()
    call = await rig.pbx.place_call(did, "+74951234567", "Ivan Petrov", dtmf="2", dtmf_delay=0.1)
    async with asyncio.timeout(60):
        while True:
            msg = await ws.receive()
            assert aiohttp.WSMsgType.TEXT == msg.type, msg
            data: dict[str, Any] = json.loads(msg.data)
            if data.get("type") == "pop" and data.get("call_id") == call.linkedid:
                latency = time.monotonic() - started
                break
    await rig.pbx.hangup(call.phone)
    return latency


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def test_stalled_client_and_flood_do_not_delay_other_operators(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property: while boris's browser stops reading and 500 calls' events are published at
    once (each popping for boris), anna's pops still arrive, boris's socket is closed as too
    slow instead of buffering without bound (every queue stays ≤ its bound), and no
    background task dies."""
    async with fault_rig(tmp_path, postgres_url) as rig:
        app = rig.service.components["app"]
        hub = app[HUB_KEY]
        anna = await sign_in(rig.base, "anna")
        boris = await sign_in(rig.base, "boris")
        try:
            anna_ws = await anna.ws()
            await Rig(rig.pbx, rig.service, rig.settings).command(
                "anna", "operator", "Local/101@agents", "available"
            )
            await wait_for(lambda: bool(rig.pbx.members("Local/101@agents")), timeout=5)
            cookie = boris.http.cookie_jar.filter_cookies(rig.base)[SESSION_COOKIE].value
            _reader, slow = await stalled_socket(rig.base, cookie)
            await wait_for(lambda: len(hub.connections("boris")) == 1, timeout=5)
            baseline = await pop_latency(rig, anna_ws, "4951110001")

            core = rig.service.core
            assert core is not None
            rss_before = rss_kib()
            events = flood(FLOOD_CALLS, "Local/102@agents")
            flood_at = time.monotonic()
            await asyncio.gather(*(core.bus.publish(EVENTS, ev.to_dict(e)) for e in events))
            during = await pop_latency(rig, anna_ws, "4951110002")
            max_queue = max((c.queue.qsize() for c in hub.connections()), default=0)
            t0 = time.monotonic()
            async def watch():
                while True:
                    print("DBGW", round(time.monotonic() - t0, 2), {k: (len(v), [c.queue.qsize() for c in v], [c.close_code for c in v]) for k, v in hub._by_login.items()})
                    await asyncio.sleep(2)
            wt = asyncio.create_task(watch())
            await wait_for(lambda: not hub.connections("boris"), timeout=30)
            wt.cancel()
            slow_closed = time.monotonic() - flood_at
            rss_growth = rss_kib() - rss_before

            assert max_queue <= QUEUE_SIZE
            print("DBG", during, baseline, slow_closed)
            while True:
                m = await anna_ws.receive(timeout=3)
                print("DBG", m)
                if m.type != aiohttp.WSMsgType.TEXT:
                    break
            assert 1 == len(hub.connections("anna"))  # anna's socket lived through it all
            assert [] == died(caplog)
            slow.transport.abort()
        finally:
            await anna.http.close()
            await boris.http.close()
    print(
        f"\nflood of {FLOOD_CALLS} calls ({len(events)} events): anna's pop in {during:.2f} s "
        f"(baseline {baseline:.2f} s, ratio {during / baseline:.1f}); stalled socket closed "
        f"after {slow_closed:.2f} s; RSS +{rss_growth} KiB"
    )
