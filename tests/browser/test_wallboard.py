"""A real chromium on the wallboard: tiles follow a call that waits, is answered, is abandoned."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from playwright.async_api import Page, expect

from contact_center.bus.memory import MemoryBus
from contact_center.stats import http as stats_http
from contact_center.stats.consumer import StatsConsumer
from contact_center.stats.metrics import MetricsConfig
from contact_center.stats.store import MemoryStatsStore
from tests.browser.conftest import sign_in_page
from tests.integration.web_support import add_user, database, web_server
from tests.unit.stats_events import T0, abandoned, answered, completed, login, queued

pytestmark = pytest.mark.browser

OP = "Local/101@agents"


def tile(page: Page, queue: str, metric: str):  # type: ignore[no-untyped-def]
    return page.locator(f'section[data-queue="{queue}"] [data-metric="{metric}"] .value')


async def test_wallboard_follows_a_call(chromium: Any, sqlite_url: str) -> None:
    async with database(sqlite_url) as (_engine, sessions):
        await add_user(sessions, "sup", "supervisor")
        bus = MemoryBus()
        store = MemoryStatsStore()
        consumer = StatsConsumer(store, MetricsConfig(), clock=lambda: T0 + 100)
        publisher = asyncio.create_task(consumer.publish_forever(bus, interval=0.05))
        try:
            async with web_server(
                sessions, bus, plugins=[stats_http], extras={stats_http.STATS_STORE_KEY: store}
            ) as server:
                base = str(server.make_url("")).rstrip("/")
                page = await sign_in_page(chromium, base, "sup", path="/wallboard")
                await page.wait_for_url(base + "/wallboard")
                await expect(page.locator("#wb-status")).to_have_text("live")

                await consumer.handle(login(T0))
                await consumer.handle(queued(T0 + 1, "c1"))
                await expect(tile(page, "support", "waiting")).to_have_text("1")
                await expect(tile(page, "support", "offered")).to_have_text("1")
                await expect(page.locator(f'tr[data-interface="{OP}"] .op-state')).to_have_text(
                    "Available"
                )

                await consumer.handle(answered(T0 + 3, "c1", hold=2))
                await expect(tile(page, "support", "waiting")).to_have_text("0")
                await expect(tile(page, "support", "answered")).to_have_text("1")
                await expect(tile(page, "support", "service_level")).to_have_text("100%")
                await expect(page.locator(f'tr[data-interface="{OP}"] .op-state')).to_have_text(
                    "On call"
                )
                # listen / whisper / barge are offered while the operator is on a call
                await expect(page.locator(f'tr[data-interface="{OP}"] button')).to_have_text(
                    ["Listen", "Whisper", "Barge", "Pause…"]
                )
                await consumer.handle(completed(T0 + 10, "c1", talk=7))

                await consumer.handle(queued(T0 + 20, "c2"))
                await expect(tile(page, "support", "waiting")).to_have_text("1")
                await consumer.handle(abandoned(T0 + 50, "c2", hold=30))
                await expect(tile(page, "support", "abandoned")).to_have_text("1")
                await expect(tile(page, "support", "waiting")).to_have_text("0")
                # SL 50 % is below the red threshold (80 %): the tile turns red
                await expect(tile(page, "support", "service_level")).to_have_text("50%")
                await expect(
                    page.locator('section[data-queue="support"] .tile[data-metric="service_level"]')
                ).to_have_class("tile alert")

                # filter by queue: a second queue disappears when "support" is chosen
                await consumer.handle(queued(T0 + 60, "c3", queue="sales"))
                await expect(page.locator("section[data-queue]")).to_have_count(2)
                await page.select_option("#queue-filter", "support")
                await expect(page.locator("section[data-queue]")).to_have_count(1)
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
