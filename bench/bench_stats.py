"""Stats: metric updates/s, and wallboard update latency with many supervisors connected.

1. **Updates/s.** A synthetic day (``--calls`` queue calls over ``--operators`` operators in
   4 queues: queued → ringing → answered → completed → ended, every 10th abandoned), applied
   (a) to a bare baseline that only dispatches each event on its type and bumps a counter,
   (b) to :class:`LiveMetrics` alone, (c) through :class:`StatsConsumer` with the memory store
   (idempotency check + JSON documents of what changed, as the worker does).
2. **Wallboard latency.** A real aiohttp server with the stats plugin, ``--supervisors``
   websockets signed in, ``--concurrent`` callers waiting; then events one by one: the time
   from ``consumer.handle(event)`` until *every* socket got a snapshot showing it. Baseline:
   the same with one supervisor connected.

    .venv/bin/python -m bench.bench_stats [--calls 20000] [--supervisors 100] [--concurrent 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from contact_center.bus.memory import MemoryBus
from contact_center.calls import events as ev
from contact_center.config import load_settings
from contact_center.stats import http as stats_http
from contact_center.stats.consumer import StatsConsumer
from contact_center.stats.metrics import LiveMetrics, MetricsConfig
from contact_center.stats.store import MemoryStatsStore
from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.models import Base, User
from contact_center.web.app import Deps, create_app
from contact_center.web.auth import hash_password

T0 = 1_795_344_000.0
QUEUES = ("support", "sales", "billing", "vip")
PASSWORD = "bench password 123"


def synthetic_day(calls: int, operators: int) -> list[ev.DomainEvent]:
    """Events of ``calls`` queue calls spread over the operators, in time order."""
    out: list[ev.DomainEvent] = []
    ifaces = [f"PJSIP/{100 + i}" for i in range(operators)]
    for i, iface in enumerate(ifaces):
        out.append(
            ev.OperatorState(
                server="pbx1",
                call_id="",
                at=T0,
                queue=QUEUES[i % 4],
                interface=iface,
                member_name=iface,
                logged_in=True,
                paused=False,
            )
        )
    for n in range(calls):
        start = T0 + 1 + n * 2.0
        queue = QUEUES[n % 4]
        call = f"{start:.0f}.{n}"
        c: dict[str, Any] = {"server": "pbx1", "call_id": call}
        iface = ifaces[n % operators]
        m: dict[str, Any] = {"queue": queue, "interface": iface, "member_name": iface}
        out.append(ev.CallQueued(**c, at=start, queue=queue, position=1))
        if n % 10 == 9:
            out.append(
                ev.CallAbandoned(
                    **c, at=start + 8, queue=queue, position=1, original_position=1, hold_seconds=8
                )
            )
            out.append(ev.CallEnded(**c, at=start + 8, cause=16, outcome="abandoned"))
            continue
        out.append(ev.CallOffered(**c, **m, at=start + 1))
        out.append(ev.CallAnswered(**c, **m, at=start + 2, hold_seconds=2, ring_seconds=1))
        out.append(
            ev.AgentCompleted(
                **c, **m, at=start + 60, hold_seconds=2, talk_seconds=58, reason="caller"
            )
        )
        out.append(ev.CallEnded(**c, at=start + 60, cause=16, outcome="answered"))
    out.sort(key=lambda e: e.at)
    return [dataclasses.replace(e, key=f"k{i}") for i, e in enumerate(out)]


def rate(run: Callable[[], None], events: int) -> float:
    start = time.perf_counter()
    run()
    return events / (time.perf_counter() - start)


def updates_per_second(calls: int, operators: int) -> dict[str, float]:
    events = synthetic_day(calls, operators)

    def baseline() -> None:
        counts: dict[type, int] = {}
        for e in events:
            counts[type(e)] = counts.get(type(e), 0) + 1

    def metrics_only() -> None:
        LiveMetrics(MetricsConfig()).apply_all(events)

    def consumer() -> None:
        c = StatsConsumer(MemoryStatsStore(), MetricsConfig())

        async def feed() -> None:
            for e in events:
                await c.handle(e)

        asyncio.run(feed())

    base = rate(baseline, len(events))
    live = rate(metrics_only, len(events))
    worker = rate(consumer, len(events))
    return {
        "events": len(events),
        "baseline_dispatch_per_s": round(base),
        "metrics_updates_per_s": round(live),
        "consumer_updates_per_s": round(worker),
        "metrics_vs_baseline_ratio": round(live / base, 4),
        "consumer_vs_metrics_ratio": round(worker / live, 3),
    }


# --- wallboard latency ------------------------------------------------------------------------


async def _signed_in_session(base: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(base + "/login") as resp:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
    assert token is not None
    async with http.post(
        base + "/login",
        allow_redirects=False,
        data={
            "login": "sup",
            "password": PASSWORD,
            "csrf_token": token.group(1),
            "next": "/wallboard",
        },
    ) as resp:
        if resp.status not in (302, 303):
            raise RuntimeError(f"sign-in failed: {resp.status} {await resp.text()}")
    return http


async def _latency(supervisors: int, concurrent: int, probes: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}")
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessions = session_factory(engine)
        async with sessions.begin() as db:
            db.add(
                User(
                    login="sup",
                    display_name="Sup",
                    password_hash=hash_password(PASSWORD),
                    role="supervisor",
                    interface="",
                    queues={},
                    skills={},
                    active=True,
                    created_at=utcnow(),
                )
            )
        bus = MemoryBus(maxlen=10_000)
        store = MemoryStatsStore()
        consumer = StatsConsumer(store, MetricsConfig(), clock=lambda: T0 + 10_000)
        settings = load_settings(environ={})
        app = create_app(
            Deps(settings, sessions, bus), [stats_http], extras={stats_http.STATS_STORE_KEY: store}
        )
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        publisher = asyncio.create_task(consumer.publish_forever(bus, interval=0.0))
        base = str(server.make_url("")).rstrip("/")
        http = await _signed_in_session(base)
        for e in synthetic_day(0, 100):
            await consumer.handle(e)
        for n in range(concurrent):
            await consumer.handle(
                ev.CallQueued(
                    server="pbx1",
                    call_id=f"w{n}",
                    at=T0 + 1,
                    queue=QUEUES[n % 4],
                    position=n // 4 + 1,
                )
            )
        sockets = [
            await http.ws_connect(base + "/wallboard/ws", headers={"Origin": base})
            for _ in range(supervisors)
        ]
        latencies: list[float] = []
        try:
            for p in range(probes):
                call = f"probe{p}"
                wanted = concurrent + p + 1  # offered in all queues after this event
                started = time.perf_counter()
                await consumer.handle(
                    ev.CallQueued(
                        server="pbx1", call_id=call, at=T0 + 2 + p, queue="support", position=1
                    )
                )
                await asyncio.gather(*(_until_offered(ws, wanted) for ws in sockets))
                latencies.append(time.perf_counter() - started)
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
            for ws in sockets:
                await ws.close()
            await http.close()
            await server.close()
            await engine.dispose()
        return latencies


async def _until_offered(ws: aiohttp.ClientWebSocketResponse, wanted: int) -> None:
    while True:
        message = json.loads((await ws.receive(timeout=10)).data)
        queues = message["snapshot"]["queues"]
        if sum(q["offered"] for q in queues.values()) >= wanted:
            return


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p95_ms": round(1000 * ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "max_ms": round(1000 * ordered[-1], 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--operators", type=int, default=100)
    parser.add_argument("--supervisors", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--probes", type=int, default=30)
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"updates": updates_per_second(args.calls, args.operators)}
    one = asyncio.run(_latency(1, args.concurrent, args.probes))
    many = asyncio.run(_latency(args.supervisors, args.concurrent, args.probes))
    figures["wallboard"] = {
        "supervisors": args.supervisors,
        "concurrent_calls": args.concurrent,
        "baseline_1_supervisor": _summary(one),
        "with_supervisors": _summary(many),
        "p95_ratio_vs_baseline": round(_summary(many)["p95_ms"] / _summary(one)["p95_ms"], 2),
    }
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
