"""The wallboard's charts and colours in a real chromium: axes with hour and value labels, a
tooltip on each bar (pointer and keyboard), the same figures as a table; thresholds and colours
per queue from [wallboard]; an operator's name leads to their day."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, async_playwright, expect

from contact_center.bus.memory import MemoryBus
from contact_center.config import load_settings
from contact_center.stats import http as stats_http
from contact_center.stats.consumer import StatsConsumer
from contact_center.stats.metrics import MetricsConfig
from contact_center.stats.store import MemoryStatsStore
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.browser.test_accessibility import require_axe, violations
from tests.integration.web_support import PASSWORD, add_user, database, web_server
from tests.unit.stats_events import T0, abandoned_call, answered_call, login

pytestmark = pytest.mark.browser

OP = "Local/101@agents"
PURPLE = "rgb(107, 33, 168)"  # support's amber, as configured


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    require_chromium()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield await (
                await browser.new_context(viewport={"width": 1280, "height": 900})
            ).new_page()
        finally:
            await browser.close()


def tile(page: Page, queue: str, metric: str):  # type: ignore[no-untyped-def]
    return page.locator(f'section[data-queue="{queue}"] .tile[data-metric="{metric}"]')


async def test_charts_have_axes_tooltips_and_tables_and_queues_their_colours(
    page: Page, sqlite_url: str
) -> None:
    async with database(sqlite_url) as (_engine, sessions):
        await add_user(sessions, "sup", "supervisor")
        await add_user(sessions, "op", "operator", interface=OP)
        bus = MemoryBus()
        store = MemoryStatsStore()
        consumer = StatsConsumer(store, MetricsConfig(), clock=lambda: T0 + 900)
        publisher = asyncio.create_task(consumer.publish_forever(bus, interval=0.05))
        cfg = load_settings(
            environ={"CC_WALLBOARD_QUEUES": "support.sl_red_below=40,support.amber_colour=#6b21a8"}
        )
        try:
            async with web_server(
                sessions, bus, plugins=[stats_http], cfg=cfg,
                extras={stats_http.STATS_STORE_KEY: store},
            ) as server:  # fmt: skip
                base = str(server.make_url("")).rstrip("/")
                # in each queue: one call answered in time, one abandoned (SL 50 %), 10:40 UTC
                await consumer.handle(login(T0, OP))
                await consumer.handle(login(T0, OP, queue="sales"))
                for queue, n in (("support", 1), ("sales", 3)):
                    for event in answered_call(T0 + n, f"a{n}", 5, 60, queue=queue):
                        await consumer.handle(event)
                    for event in abandoned_call(T0 + 100 + n, f"b{n}", 40, queue=queue):
                        await consumer.handle(event)
                await page.goto(base + "/login?next=/wallboard")
                await page.fill('input[name="login"]', "sup")
                await page.fill('input[name="password"]', PASSWORD)
                await page.click('button[type="submit"]')
                await expect(page.locator("#wb-status")).to_have_text("live")
                await expect(tile(page, "support", "service_level").locator(".value")).to_have_text(
                    "50%"
                )

                # 50 %: amber in support (red only below 40 there), red in sales (below 80)
                await expect(tile(page, "support", "service_level")).to_have_class("tile warn")
                await expect(tile(page, "sales", "service_level")).to_have_class("tile alert")
                colour = await tile(page, "support", "service_level").evaluate(
                    "t => getComputedStyle(t).borderTopColor"
                )
                assert PURPLE == colour
                default_red = await tile(page, "sales", "service_level").evaluate(
                    "t => getComputedStyle(t).borderTopColor"
                )
                assert "rgb(197, 48, 48)" == default_red  # #c53030

                # axes: hours along the bottom, values up the side, both titled
                chart = page.locator('section[data-queue="support"] figure[data-chart="offered"]')
                await expect(chart.locator("figcaption")).to_have_text("Calls offered per hour")
                await expect(chart.locator("text.x-tick")).to_have_text(
                    ["00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"]
                )
                await expect(chart.locator("text.y-tick")).to_have_text(["0", "2", "4"])
                await expect(chart.locator("text.axis-title")).to_have_text(
                    ["Calls", "Hour of the day"]
                )
                sl = page.locator('section[data-queue="support"] figure[data-chart="sl"]')
                await expect(sl.locator("text.y-tick")).to_have_text(["0%", "50%", "100%"])

                # a tooltip on the bar, by pointer and by keyboard
                bar = chart.locator("rect.bar")
                await expect(bar).to_have_count(1)
                await bar.hover()
                tip = page.locator("#chart-tip")
                await expect(tip).to_be_visible()
                await expect(tip).to_have_text("10:00–11:00: 2 calls offered")
                await page.mouse.move(5, 5)
                await expect(tip).to_be_hidden()
                await sl.locator("rect.bar").focus()
                await expect(tip).to_have_text("10:00–11:00: 50% answered in time")

                # the same figures as a table
                await chart.locator("summary").click()
                await expect(chart.locator("table tbody td")).to_have_text(["10:00–11:00", "2"])

                # axe-core: the wallboard with its charts, and with the pause dialog open
                axe = require_axe()
                assert [] == await violations(page, axe)
                await page.click(f'tr[data-interface="{OP}"] button[data-action="pause"]')
                await expect(page.locator("#pause-dialog")).to_be_visible()
                assert [] == await violations(page, axe)
                await page.click("#pause-cancel")

                # the operator's name leads to their day
                await page.click(f'tr[data-interface="{OP}"] .op-name a')
                await page.wait_for_url(base + "/wallboard/operators/op")
                await expect(page.locator("#operator-name")).to_contain_text("Op")
                await expect(page.locator("#total-talk")).to_have_text("2:00")
                assert [] == await violations(page, axe)
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
