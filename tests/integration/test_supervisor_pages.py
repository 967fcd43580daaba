"""Supervisor pages over real HTTP: an operator's day (state, totals, day strip, today's calls),
the wallboard's thresholds and colours per queue from [wallboard], scoped to one's queues."""

from __future__ import annotations

import asyncio
import contextlib
import html as htmllib
import json
import re
import time
from pathlib import Path

import pytest

from contact_center.admin.services import add_choice
from contact_center.bus.memory import MemoryBus
from contact_center.calls import events as ev
from contact_center.config import ConfigError, load_settings
from contact_center.history.writer import HistoryWriter
from contact_center.stats import http as stats_http
from contact_center.stats.consumer import StatsConsumer
from contact_center.stats.metrics import MetricsConfig
from contact_center.stats.store import MemoryStatsStore
from contact_center.store.models import Queue, User
from tests.conftest import wait_for
from tests.integration.history_support import answered_call
from tests.integration.web_support import add_customer, add_user, database, sign_in, web_server
from tests.unit import stats_events as se

HTML = {"Accept": "text/html"}
ANNA = "PJSIP/101"


def test_wallboard_settings_refuse_what_cannot_be_shown() -> None:
    ok = load_settings(
        environ={"CC_WALLBOARD_QUEUES": "support.sl_red_below=70,sales.red_colour=#900"}
    )
    look = stats_http.WallboardLook.from_settings(ok.wallboard)
    assert (70.0, "#c53030") == (
        look.for_queue("support").sl_red_below,
        look.for_queue("support").red_colour,
    )
    assert (80.0, "#900") == (
        look.for_queue("sales").sl_red_below,
        look.for_queue("sales").red_colour,
    )
    assert look.default == look.for_queue("other")
    for env, named in (
        ({"CC_WALLBOARD_RED_COLOUR": "red;background:url(x)"}, "CC_WALLBOARD_RED_COLOUR"),
        ({"CC_WALLBOARD_QUEUES": "support.colour=#fff"}, "unknown key 'colour'"),
        ({"CC_WALLBOARD_QUEUES": "support.sl_red_below=lots"}, "expected a number"),
        ({"CC_WALLBOARD_QUEUES": "sl_red_below=70"}, "QUEUE.KEY=VALUE"),
    ):
        with pytest.raises(ConfigError, match=re.escape(named)):
            load_settings(environ=env)


async def test_operator_day_and_per_queue_thresholds(db_url: str, tmp_path: Path) -> None:
    now = time.time()
    async with database(db_url) as (_engine, sessions):
        ivan = await add_customer(sessions, "Ivan Petrov", ["+74951234567"])
        await add_user(sessions, "sup", "supervisor")
        await add_user(sessions, "sid", "supervisor")
        anna_id = await add_user(sessions, "anna", "operator", interface=ANNA)
        async with sessions.begin() as db:
            anna = await db.get(User, anna_id)
            assert anna is not None
            anna.display_name, anna.queues = "Anna Smirnova", {"support": 0}
            db.add_all(
                [
                    Queue(name="support", supervisors={"logins": ["sup"]}),
                    Queue(name="sales", supervisors={"logins": ["sid"]}),
                ]
            )
        # today's call, as the history writer keeps it (Anna talked 1:10 with Ivan)
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        start = now - 500
        for event in answered_call("5.1", t0=start):
            await writer.handle(event)
        await writer.handle(
            ev.OperatorLeft(
                server="pbx1",
                call_id="5.1",
                at=start + 80,
                key=ev.make_key("left", "5.1"),
                interface=ANNA,
                member_name="Alice",
                via="queue",
                queue="support",
                answered_at=start + 10,
                talk_seconds=70.0,
                reason="caller",
            )
        )
        await writer.flush()
        # the live figures: Anna took the call, then went to lunch
        bus = MemoryBus()
        store = MemoryStatsStore()
        consumer = StatsConsumer(store, MetricsConfig(), clock=time.time)
        publisher = asyncio.create_task(consumer.publish_forever(bus, interval=0.02))
        cfg = load_settings(
            environ={"CC_WALLBOARD_QUEUES": "support.sl_red_below=70,support.red_colour=#9b2c2c"}
        )
        try:
            async with web_server(
                sessions,
                bus,
                plugins=[stats_http],
                cfg=cfg,
                extras={stats_http.STATS_STORE_KEY: store},
            ) as server:
                await consumer.handle(se.login(now - 600, ANNA))
                for event in se.answered_call(start, "5.1", hold=4, talk=70, iface=ANNA):
                    await consumer.handle(event)
                await consumer.handle(se.login(now - 100, ANNA, paused=True, reason="lunch"))
                hub = server.app[stats_http.HUB_KEY]

                async def paused() -> bool:
                    op = (await hub.current() or {}).get("operators", {}).get(ANNA, {})
                    return op.get("state") == "paused"

                await wait_for(paused, timeout=5)
                # a reason the admin added is offered for a forced pause too
                await add_choice(sessions, "pause_reason", "coaching", by="admin")
                sup = await sign_in(server, "sup")
                sid = await sign_in(server, "sid")
                op = await sign_in(server, "anna")
                try:
                    async with sup.http.get(sup.url("/wallboard"), headers=HTML) as resp:
                        page = await resp.text()
                    raw = re.search(
                        r'id="wallboard-data" type="application/json">(.*?)</script>', page, re.S
                    )
                    assert raw is not None
                    data = json.loads(htmllib.unescape(raw.group(1)))
                    assert (70.0, "#9b2c2c") == (
                        data["queue_thresholds"]["support"]["sl_red_below"],
                        data["queue_thresholds"]["support"]["red_colour"],
                    )
                    assert 80.0 == data["thresholds"]["sl_red_below"]
                    assert "anna" == data["logins"][ANNA]  # the drill-down link
                    assert "Lunch" == data["reasons"]["lunch"]
                    assert 'type="radio" name="reason" value="lunch" required' in page
                    assert 'type="radio" name="reason" value="coaching" required' in page

                    async with sup.http.get(
                        sup.url("/wallboard/operators/anna"), headers=HTML
                    ) as resp:
                        day = await resp.text()
                    assert 200 == resp.status
                    assert "Anna Smirnova" in day
                    assert re.search(r'id="operator-state">Paused \(Lunch\)<', day)
                    assert re.search(r'id="total-talk">1:10<', day)
                    assert f'href="/customers/{ivan}">Ivan Petrov</a>' in day
                    assert re.search(r'<td class="duration">1:10</td>', day)  # her talk
                    assert re.search(
                        r'<rect class="seg talk"[^>]*><title>Talking with Ivan Petrov</title>', day
                    )
                    assert re.search(
                        r'<rect class="seg paused"[^>]*><title>Paused \(Lunch\)</title>', day
                    )
                    async with sup.http.get(
                        sup.url("/wallboard/operators/anna"),
                        headers={**HTML, "Accept-Language": "ru"},
                    ) as resp:
                        assert "На паузе (Обед)" in await resp.text()

                    # not one's queue, nobody, not a supervisor
                    async with sid.http.get(sid.url("/wallboard/operators/anna")) as resp:
                        assert 404 == resp.status
                    async with sup.http.get(sup.url("/wallboard/operators/nobody")) as resp:
                        assert 404 == resp.status
                    async with op.http.get(op.url("/wallboard/operators/anna")) as resp:
                        assert 403 == resp.status
                finally:
                    for b in (sup, sid, op):
                        await b.close()
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
