"""Wallboard over real HTTP and websockets: live snapshots, roles, actions, reports."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from contact_center.bus.base import EVENTS
from contact_center.bus.memory import MemoryBus
from contact_center.calls import events as ev
from contact_center.stats import http as stats_http
from contact_center.stats.consumer import StatsConsumer
from contact_center.stats.metrics import MetricsConfig
from contact_center.stats.store import MemoryStatsStore
from tests.conftest import wait_for
from tests.integration.web_support import Browser, add_user, database, sign_in, web_server
from tests.unit.stats_events import T0, abandoned, answered, login, queued

NOW = T0 + 1000


@dataclass
class Wallboard:
    server: TestServer
    bus: MemoryBus
    consumer: StatsConsumer
    sessions: Any


@pytest.fixture
async def wallboard(sqlite_url: str) -> AsyncIterator[Wallboard]:
    async with database(sqlite_url) as (_engine, sessions):
        await add_user(sessions, "sup", "supervisor")
        await add_user(sessions, "op", "operator", "Local/101@agents")
        bus = MemoryBus()
        store = MemoryStatsStore()
        consumer = StatsConsumer(store, MetricsConfig(), clock=lambda: NOW)
        publisher = asyncio.create_task(consumer.publish_forever(bus, interval=0.02))
        try:
            async with web_server(
                sessions, bus, plugins=[stats_http], extras={stats_http.STATS_STORE_KEY: store}
            ) as server:
                yield Wallboard(server, bus, consumer, sessions)
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher


async def open_socket(browser: Browser) -> aiohttp.ClientWebSocketResponse:
    return await browser.http.ws_connect(
        browser.url("/wallboard/ws"), headers={"Origin": browser.origin}
    )


async def next_snapshot(ws: aiohttp.ClientWebSocketResponse, until: Any) -> dict[str, Any]:
    """Read snapshots until ``until(snapshot)`` holds (the stream may send earlier ones)."""
    async with asyncio.timeout(5):
        while True:
            message = json.loads((await ws.receive()).data)
            assert "snapshot" == message["type"]
            if until(message["snapshot"]):
                return dict(message["snapshot"])


async def test_websocket_pushes_waiting_answered_and_abandoned(wallboard: Wallboard) -> None:
    browser = await sign_in(wallboard.server, "sup")
    try:
        ws = await open_socket(browser)
        await wallboard.consumer.handle(login(T0))
        await wallboard.consumer.handle(queued(T0 + 1, "c1"))
        snap = await next_snapshot(ws, lambda s: s["queues"].get("support", {}).get("waiting"))
        assert (1, 1) == (
            snap["queues"]["support"]["waiting"],
            snap["queues"]["support"]["offered"],
        )

        await wallboard.consumer.handle(answered(T0 + 3, "c1", hold=2))
        snap = await next_snapshot(ws, lambda s: s["queues"]["support"]["answered"] == 1)
        assert ("on_call", 0) == (
            snap["operators"]["Local/101@agents"]["state"],
            snap["queues"]["support"]["waiting"],
        )

        await wallboard.consumer.handle(queued(T0 + 5, "c2"))
        await wallboard.consumer.handle(abandoned(T0 + 15, "c2", hold=10))
        snap = await next_snapshot(ws, lambda s: s["queues"]["support"]["abandoned"] == 1)
        assert (50.0, 0) == (
            snap["queues"]["support"]["service_level_pct"],
            snap["queues"]["support"]["waiting"],
        )
        async with browser.http.get(browser.url("/api/stats/live")) as resp:
            assert 1 == (await resp.json())["queues"]["support"]["abandoned"]
        await ws.close()
    finally:
        await browser.close()


async def test_operators_may_not_see_the_wallboard(wallboard: Wallboard) -> None:
    browser = await sign_in(wallboard.server, "op")
    try:
        for path in ("/wallboard", "/api/stats/live", "/api/stats/reports", "/reports"):
            async with browser.http.get(browser.url(path)) as resp:
                assert 403 == resp.status, path
        resp = await browser.post(
            "/wallboard/action", {"action": "barge", "interface": "Local/101@agents"}
        )
        assert 403 == resp.status
    finally:
        await browser.close()


async def test_wallboard_page_embeds_the_latest_snapshot(wallboard: Wallboard) -> None:
    await wallboard.consumer.handle(queued(T0, "c1"))
    hub = wallboard.server.app[stats_http.HUB_KEY]
    await wait_for(lambda: hub.notices > 0)
    browser = await sign_in(wallboard.server, "sup")
    try:
        async with browser.http.get(
            browser.url("/wallboard?queue=support"), headers={"Accept": "text/html"}
        ) as resp:
            page = await resp.text()
        assert 200 == resp.status
        assert '"queue": "support"' in page
        assert '"waiting": 1' in page
        assert "/static/stats/wallboard.js" in page
    finally:
        await browser.close()


async def test_with_no_wallboard_open_a_snapshot_is_loaded_only_when_a_page_asks(
    wallboard: Wallboard,
) -> None:
    hub = wallboard.server.app[stats_http.HUB_KEY]
    loads = 0
    load = hub.load

    async def counting_load() -> dict[str, Any] | None:
        nonlocal loads
        loads += 1
        return await load()

    hub.load = counting_load
    browser = await sign_in(wallboard.server, "sup")
    try:
        await wallboard.consumer.handle(login(T0))
        for i in range(5):
            await wallboard.consumer.handle(queued(T0 + i, f"c{i}"))
            notices = hub.notices
            await wait_for(lambda: hub.notices > notices)  # noqa: B023
        assert 0 == loads  # nobody watched: nothing loaded
        async with browser.http.get(browser.url("/api/stats/live")) as resp:
            assert 5 == (await resp.json())["queues"]["support"]["waiting"]
        async with browser.http.get(browser.url("/api/stats/live")) as resp:
            assert 5 == (await resp.json())["queues"]["support"]["waiting"]
        assert 1 == loads  # loaded once, when asked, not again while nothing changed

        ws = await open_socket(browser)
        snap = await next_snapshot(ws, lambda s: True)
        assert 5 == snap["queues"]["support"]["waiting"]
        await wallboard.consumer.handle(answered(T0 + 9, "c0", hold=9))
        snap = await next_snapshot(ws, lambda s: s["queues"]["support"]["answered"] == 1)
        assert (4, 2) == (snap["queues"]["support"]["waiting"], loads)  # watched: loaded at once
        await ws.close()
    finally:
        await browser.close()


async def test_action_publishes_an_operator_command(wallboard: Wallboard) -> None:
    await wallboard.consumer.handle(login(T0))
    await wallboard.consumer.handle(queued(T0, "c1"))
    await wallboard.consumer.handle(answered(T0 + 2, "c1", hold=2))
    hub = wallboard.server.app[stats_http.HUB_KEY]

    async def answered_one() -> bool:
        latest = await hub.current()
        return latest is not None and bool(latest["queues"]["support"]["answered"])

    await wait_for(answered_one)
    browser = await sign_in(wallboard.server, "sup")
    try:
        before = await wallboard.bus.last_id(EVENTS)
        resp = await browser.post(
            "/wallboard/action", {"action": "whisper", "interface": "Local/101@agents"}
        )
        assert 200 == resp.status, await resp.text()
        [(_sid, message)] = await wallboard.bus.read(EVENTS, before)
        event = ev.from_dict(message)
        assert isinstance(event, ev.OperatorCommand)
        assert ("sup", "supervisor", "whisper", "c1", {"interface": "Local/101@agents"}) == (
            event.user,
            event.role,
            event.command,
            event.call_id,
            event.args,
        )
        # a forced pause names the operator by login (the users table maps the phone)
        before = await wallboard.bus.last_id(EVENTS)
        for action, reason in (("pause", "lunch"), ("unpause", "")):
            resp = await browser.post(
                "/wallboard/action",
                {"action": action, "interface": "Local/101@agents", "reason": reason},
            )
            assert 200 == resp.status, await resp.text()
        # a pause without a reason (or with one that is none) is refused: no silent default
        for reason in ("", "supervisor"):
            resp = await browser.post(
                "/wallboard/action",
                {"action": "pause", "interface": "Local/101@agents", "reason": reason},
            )
            assert 400 == resp.status
            assert "Choose a pause reason" in await resp.text()
        commands = [ev.from_dict(m) for _sid, m in await wallboard.bus.read(EVENTS, before)]
        assert [
            ("force_pause", {"login": "op", "reason": "lunch"}),
            ("force_unpause", {"login": "op"}),
        ] == [(c.command, c.args) for c in commands if isinstance(c, ev.OperatorCommand)]
        bad = await browser.post("/wallboard/action", {"action": "hack", "interface": "x"})
        assert 400 == bad.status
    finally:
        await browser.close()


async def test_reports_api_answers_json_and_csv(wallboard: Wallboard) -> None:
    browser = await sign_in(wallboard.server, "sup")
    try:
        query = "start=2026-11-22T00:00:00%2B00:00&end=2026-11-23T00:00:00%2B00:00&interval=day"
        async with browser.http.get(browser.url(f"/api/stats/reports?{query}")) as resp:
            assert {"rows": []} == await resp.json()
        async with browser.http.get(browser.url(f"/api/stats/reports?{query}&format=csv")) as resp:
            assert "text/csv" == resp.content_type
            assert (await resp.text()).startswith("interval_start,queue,operator,offered")
        async with browser.http.get(browser.url("/api/stats/reports?interval=week")) as resp:
            assert 400 == resp.status
        async with browser.http.get(
            browser.url(f"/reports?{query}"), headers={"Accept": "text/html"}
        ) as resp:
            assert 200 == resp.status
            assert "No calls in this period." in await resp.text()
    finally:
        await browser.close()


async def test_supervisor_sees_only_the_queues_they_supervise(wallboard: Wallboard) -> None:
    from contact_center.store.models import Queue

    async with wallboard.sessions.begin() as db:
        db.add_all(
            [
                Queue(name="support", supervisors={"logins": ["sup"]}),
                Queue(name="sales", supervisors={"logins": ["someone-else"]}),
            ]
        )
    await wallboard.consumer.handle(login(T0))
    await wallboard.consumer.handle(login(T0, "Local/103@agents", queue="sales"))
    await wallboard.consumer.handle(queued(T0, "c1"))
    await wallboard.consumer.handle(queued(T0, "c2", queue="sales"))
    hub = wallboard.server.app[stats_http.HUB_KEY]

    async def two_queues() -> bool:
        latest = await hub.current()
        return latest is not None and len(latest["queues"]) == 2

    await wait_for(two_queues)
    browser = await sign_in(wallboard.server, "sup")
    try:
        async with browser.http.get(browser.url("/api/stats/live")) as resp:
            live = await resp.json()
        assert (["support"], ["Local/101@agents"]) == (
            sorted(live["queues"]),
            sorted(live["operators"]),
        )
        ws = await open_socket(browser)
        snap = await next_snapshot(ws, lambda s: True)
        assert ["support"] == sorted(snap["queues"])
        await ws.close()
        resp = await browser.post(
            "/wallboard/action", {"action": "pause", "interface": "Local/103@agents"}
        )
        assert 403 == resp.status
    finally:
        await browser.close()


async def test_action_goes_to_the_supervision_executor_when_wired(sqlite_url: str) -> None:
    done: list[tuple[str, str, str, str]] = []

    async def execute(user: Any, action: str, interface: str, reason: str) -> None:
        if interface == "Local/999@agents":
            raise PermissionError("Local/999@agents is not signed in")
        done.append((user.login, action, interface, reason))

    async with database(sqlite_url) as (_engine, sessions):
        await add_user(sessions, "sup", "supervisor")
        bus = MemoryBus()
        extras = {
            stats_http.STATS_STORE_KEY: MemoryStatsStore(),
            stats_http.SUPERVISION_KEY: execute,
        }
        async with web_server(sessions, bus, plugins=[stats_http], extras=extras) as server:
            browser = await sign_in(server, "sup")
            try:
                ok = await browser.post(
                    "/wallboard/action",
                    {"action": "pause", "interface": "Local/101@agents", "reason": "training"},
                )
                assert 200 == ok.status, await ok.text()
                refused = await browser.post(
                    "/wallboard/action", {"action": "barge", "interface": "Local/999@agents"}
                )
                assert (409, "Local/999@agents is not signed in") == (
                    refused.status,
                    await refused.text(),
                )
            finally:
                await browser.close()
    assert [("sup", "pause", "Local/101@agents", "training")] == done
    assert [] == await bus.read(EVENTS, "0")  # the executor logs; nothing published twice
