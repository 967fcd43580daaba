"""``/metrics`` and ``/readyz`` on a real server: public, token-restricted, check results."""

from __future__ import annotations

import asyncio

import aiohttp

from contact_center.bus.memory import MemoryBus
from contact_center.calls import events as ev
from contact_center.observability import http as obs_http
from contact_center.observability.metrics import Metrics
from tests.integration.web_support import add_user, database, settings, sign_in, web_server


async def test_metrics_public_and_token(sqlite_url: str) -> None:
    metrics = Metrics()
    await metrics.handle(
        ev.CallEnded(server="pbx1", call_id="1", at=1.0, cause=16, outcome="answered")
    )
    async with database(sqlite_url) as (_engine, sessions):
        await add_user(sessions, "alice", "operator")
        extras = {obs_http.METRICS_KEY: metrics}
        async with web_server(sessions, MemoryBus(), plugins=[obs_http], extras=extras) as server:
            url = str(server.make_url("/metrics"))
            async with aiohttp.ClientSession() as http, http.get(url) as resp:
                body = await resp.text()
                assert 200 == resp.status
                assert resp.headers["Content-Type"].startswith("text/plain; version=")
            assert 'cc_calls_total{outcome="answered"} 1.0' in body
            # The signed-in operator's websocket shows up in the gauge at the next scrape.
            alice = await sign_in(server, "alice")
            try:
                async with await alice.ws():
                    async with alice.http.get(url) as resp:
                        assert "cc_websocket_clients 1.0" in await resp.text()
            finally:
                await alice.close()

        cfg = settings(metrics_token="s3cret")
        async with web_server(
            sessions, MemoryBus(), plugins=[obs_http], cfg=cfg, extras=extras
        ) as server:
            url = str(server.make_url("/metrics"))
            async with aiohttp.ClientSession() as http:
                async with http.get(url) as resp:
                    assert 401 == resp.status
                async with http.get(url, headers={"Authorization": "Bearer wrong"}) as resp:
                    assert 401 == resp.status
                async with http.get(url, headers={"Authorization": "Bearer s3cret"}) as resp:
                    assert 200 == resp.status
                    assert "cc_calls_total" in await resp.text()


async def test_readyz_reports_each_check(sqlite_url: str) -> None:
    state = {"ami": True}

    async def ami() -> bool:
        return state["ami"]

    async def database_ok() -> bool:
        return True

    async def redis_down() -> bool:
        raise ConnectionRefusedError("redis at 127.0.0.1:1")

    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    checks = {"ami": ami, "database": database_ok, "redis": redis_down}
    async with database(sqlite_url) as (_engine, sessions):
        extras = {obs_http.CHECKS_KEY: checks}
        async with web_server(sessions, MemoryBus(), plugins=[obs_http], extras=extras) as server:
            url = str(server.make_url("/readyz"))
            async with aiohttp.ClientSession() as http:
                async with http.get(url) as resp:
                    assert 503 == resp.status
                    body = await resp.json()
                assert {"status": "fail", "checks": {"ami": "ok", "database": "ok",
                        "redis": "fail: ConnectionRefusedError"}} == body  # fmt: skip
                checks["redis"] = database_ok
                async with http.get(url) as resp:
                    assert (200, "ok") == (resp.status, (await resp.json())["status"])
                state["ami"] = False
                async with http.get(url) as resp:
                    assert (503, "fail") == (resp.status, (await resp.json())["checks"]["ami"])
    assert "fail: timeout" == await obs_http.run_check("slow", hangs, timeout=0.05)
