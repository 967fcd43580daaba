"""A browser that stops reading and a flood of 500 calls at once, through the whole service:
the simulator, the screen-pop worker and the operators' websockets over real TCP."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from yarl import URL

from contact_center.bus.base import EVENTS
from contact_center.calls import events as ev
from contact_center.web.auth import SESSION_COOKIE
from contact_center.web.keys import HUB_KEY
from contact_center.web.ws import QUEUE_SIZE
from tests.conftest import wait_for
from tests.e2e.service_support import Rig, sign_in
from tests.resilience.rig import FaultRig, died, fault_rig

FLOOD_CALLS = int(os.environ.get("CC_FLOOD_CALLS", "500"))


async def stalled_socket(
    base: str, cookie: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket that completes the handshake and then never reads another byte."""
    parts = urlsplit(base)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive window, as a phone on a bad link: the server's writes back up at once
    # instead of filling megabytes of loopback buffers first.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
    reader, writer = await asyncio.open_connection(sock=sock)
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
    """``n`` calls offered to ``interface`` and ended (each call's events in order)."""
    out: list[ev.DomainEvent] = []
    now = time.time()
    for i in range(n):
        cid = f"1700009000.{i}"
        base: dict[str, Any] = {"server": "pbx1", "call_id": cid, "at": now, "leg_id": cid}
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


async def read_all(
    ws: aiohttp.ClientWebSocketResponse, into: asyncio.Queue[dict[str, Any]]
) -> None:
    """A browser that keeps up: reads every frame (and so answers the server's pings)."""
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            into.put_nowait(json.loads(msg.data))


async def pop_latency(rig: FaultRig, inbox: asyncio.Queue[dict[str, Any]], did: str) -> float:
    """Seconds from a real call being placed to anna's pop for it arriving."""
    started = time.monotonic()
    call = await rig.pbx.place_call(did, "+74951234567", "Ivan Petrov", dtmf="2", dtmf_delay=0.1)
    async with asyncio.timeout(60):
        while True:
            data = await inbox.get()
            if data.get("type") == "pop" and data.get("call_id") == call.linkedid:
                latency = time.monotonic() - started
                break
    await rig.pbx.hangup(call.phone)
    return latency


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def sample_lag(lags: list[float], tick: float = 0.01) -> None:
    """How late a 10 ms timer fires: the event loop's lag (what every socket waits)."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(tick)
        lags.append(loop.time() - start - tick)


async def sample_queues(hub: Any, peaks: list[int]) -> None:
    """Record the fullest per-socket queue every few milliseconds (memory stays bounded)."""
    while True:
        peaks.append(max((c.queue.qsize() for c in hub.connections()), default=0))
        await asyncio.sleep(0.005)


async def test_stalled_client_and_flood_do_not_stop_other_operators(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property: while boris's browser stops reading and 500 calls' events are published at
    once (each ringing boris), anna's pops still arrive on her socket, every per-socket
    queue stays within its bound, boris never keeps a pop without its close, memory growth
    stays small, and no background task dies."""
    await flood_scenario(tmp_path, postgres_url, caplog, FLOOD_CALLS, wait_for_close=False)


@pytest.mark.soak
@pytest.mark.skipif(not os.environ.get("CC_SOAK"), reason="soak: set CC_SOAK=1")
async def test_soak_big_flood_closes_the_stalled_socket(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property (soak): a 5,000-call flood at a browser that never reads — its socket is
    closed (too slow, or heartbeat unanswered) rather than buffered without bound, while
    anna's socket stays up and gets her pop."""
    await flood_scenario(tmp_path, postgres_url, caplog, 5000, wait_for_close=True)


async def flood_scenario(
    tmp_path: Path,
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
    n_calls: int,
    *,
    wait_for_close: bool,
) -> None:
    async with fault_rig(tmp_path, postgres_url) as rig:
        app = rig.service.components["app"]
        hub = app[HUB_KEY]
        anna = await sign_in(rig.base, "anna")
        boris = await sign_in(rig.base, "boris")
        peaks: list[int] = []
        sampler = asyncio.create_task(sample_queues(hub, peaks))
        try:
            anna_ws = await anna.ws()
            inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            reading = asyncio.create_task(read_all(anna_ws, inbox))
            await Rig(rig.pbx, rig.service, rig.settings).command(
                "anna", "operator", "Local/101@agents", "available"
            )
            await wait_for(lambda: bool(rig.pbx.members("Local/101@agents")), timeout=5)
            cookie = boris.http.cookie_jar.filter_cookies(URL(rig.base))[SESSION_COOKIE].value
            _reader, slow = await stalled_socket(rig.base, cookie)
            await wait_for(lambda: len(hub.connections("boris")) == 1, timeout=5)
            baseline = await pop_latency(rig, inbox, "4951110001")

            core = rig.service.core
            assert core is not None
            rss_before = rss_kib()
            events = flood(n_calls, "Local/102@agents")
            lags: list[float] = []
            lag_sampler = asyncio.create_task(sample_lag(lags))
            flood_at = time.monotonic()
            ringing = [e for e in events if not isinstance(e, ev.CallEnded)]
            await asyncio.gather(*(core.bus.publish(EVENTS, ev.to_dict(e)) for e in ringing))
            during = await pop_latency(rig, inbox, "4951110002")
            # The flood's calls stop ringing boris once every one of them popped for him.
            screenpop = rig.service.components["screenpop"]
            await wait_for(lambda: "Local/102@agents" not in screenpop._lanes, timeout=60)
            ended = [e for e in events if isinstance(e, ev.CallEnded)]
            await asyncio.gather(*(core.bus.publish(EVENTS, ev.to_dict(e)) for e in ended))
            flood_ids = [f"1700009000.{i}" for i in range(n_calls)]

            def all_handled() -> bool:  # every flood call ended, no pop waiting in a lane
                gone = all(screenpop.contexts.get("pbx1", c) is None for c in flood_ids)
                return gone and not screenpop._runners

            await wait_for(all_handled, timeout=60)
            drained = time.monotonic() - flood_at
            entries = await core.bus.read("pops", "0", 10 * n_calls + 100)
            to_boris = [m for _, m in entries if m.get("to") == "boris"]
            pops_for_boris = len(to_boris)
            # Each flood call rang boris and ended: he got its pop and its close, or — when
            # the call ended before its lookup was done — neither; never a pop left open.
            shown = {m["call_id"] for m in to_boris if m["type"] == "pop"}
            closed = {m["call_id"] for m in to_boris if m["type"] == "pop.closed"}
            assert shown == closed
            assert shown <= set(flood_ids)
            lag_sampler.cancel()
            lags.sort()
            lag_p99, lag_max = lags[int(len(lags) * 0.99)], lags[-1]
            slow_closed = float("nan")  # not waited for outside the soak run
            if wait_for_close:
                await wait_for(lambda: not hub.connections("boris"), timeout=120)
                slow_closed = time.monotonic() - flood_at
            rss_growth = rss_kib() - rss_before

            assert max(peaks) <= QUEUE_SIZE
            # Budgets (generous: a shared 2-core box): boris's burst does not hold up anna's
            # pop (it waited 1.6 s before pops had per-operator lanes; baseline ~0.05 s),
            # and the event loop keeps answering every socket.
            if n_calls <= FLOOD_CALLS:  # the burst; the soak's 10x is measured only
                assert during < 1.0, f"anna's pop took {during:.2f} s during the flood"
                assert lag_p99 < 0.5, f"event-loop lag p99 {lag_p99 * 1000:.0f} ms"
            assert 1 == len(hub.connections("anna"))  # anna's socket lived through it all
            assert not anna_ws.closed
            assert [] == died(caplog)
            slow.transport.abort()
            reading.cancel()
        finally:
            sampler.cancel()
            await anna.http.close()
            await boris.http.close()
    print(
        f"\nflood of {n_calls} calls ({len(events)} events, {pops_for_boris} pops to the "
        f"stalled browser): anna's pop in {during:.2f} s (baseline {baseline:.2f} s); "
        f"all pops out in {drained:.2f} s; peak socket queue {max(peaks)}/{QUEUE_SIZE}; "
        f"stalled socket closed after {slow_closed:.2f} s; RSS +{rss_growth} KiB; "
        f"event-loop lag p99 {lag_p99 * 1000:.0f} ms, max {lag_max * 1000:.0f} ms"
    )
