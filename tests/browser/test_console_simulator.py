"""The whole path over real TCP: Asterisk simulator → AMI connector → bus → screen pop →
websocket → the operator's browser, with the right customer and IVR digits, and only there."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contact_center.bus import EVENTS, MemoryBus, pump
from contact_center.calls import events as ev
from contact_center.config import AmiSettings
from contact_center.customers.lookup import CustomerLookup
from contact_center.screenpop import ScreenPop
from tests.browser.conftest import signed_in_page
from tests.integration.web_support import add_customer, add_user, database, web_server

sim_pbx = pytest.importorskip("contact_center.sim.pbx")
sim_config = pytest.importorskip("contact_center.sim.config")
connector_mod = pytest.importorskip("contact_center.ami.connector")

pytestmark = pytest.mark.browser

ALICE, BOB = "Local/101@agents", "Local/102@agents"


class Site:
    def __init__(self, url: str, pbx: Any, ami: Any, sessions: Any) -> None:
        self.url, self.pbx, self.ami, self.sessions = url, pbx, ami, sessions


@pytest.fixture
async def site(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    async with contextlib.AsyncExitStack() as stack:
        _, sessions = await stack.enter_async_context(database(sqlite_url))
        await add_user(sessions, "alice", "operator", ALICE)
        await add_user(sessions, "bob", "operator", BOB)
        bus = MemoryBus()
        screenpop = ScreenPop(bus, CustomerLookup(sessions, region="RU"), sessions)
        worker = asyncio.create_task(
            pump(
                bus, EVENTS, screenpop.handle_message, group="screenpop", consumer="w", block_ms=100
            )
        )

        async def stop_worker() -> None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await screenpop.close()

        stack.push_async_callback(stop_worker)
        server = await stack.enter_async_context(web_server(sessions, bus))
        config = sim_config.SimConfig(
            prompt_seconds=0.2,
            operators=(
                sim_config.Operator(ALICE, "Operator 101", manual=True),
                sim_config.Operator(BOB, "Operator 102", manual=True),
            ),
        )
        pbx = await stack.enter_async_context(sim_pbx.SimPbx(config))

        async def sink(event: ev.DomainEvent) -> None:
            await bus.publish(EVENTS, ev.to_dict(event))

        settings = AmiSettings(
            host="127.0.0.1", port=pbx.port, username="cc", secret="cc-test-secret", auth="md5"
        )
        ami = connector_mod.AmiConnector(settings, "pbx1", sink, state_dir=tmp_path)
        ami_task = asyncio.create_task(ami.run())

        async def stop_ami() -> None:
            ami_task.cancel()
            await asyncio.gather(ami_task, return_exceptions=True)

        stack.push_async_callback(stop_ami)
        await asyncio.wait_for(ami.wait_connected(), 5)
        await ami.actions.queue_add(
            "support", ALICE, member_name="Operator 101", state_interface=ALICE
        )
        await ami.actions.queue_add(
            "support",
            BOB,
            member_name="Operator 102",
            state_interface=BOB,
            paused=True,
            reason="lunch",
        )
        yield Site(str(server.make_url("")).rstrip("/"), pbx, ami, sessions)


async def test_simulated_call_pops_on_the_ringing_operator_only(site: Site, chromium: Any) -> None:
    ivan = await add_customer(site.sessions, "Ivan Petrov", ["+74951234567"], segment="VIP")
    alice = await signed_in_page(chromium, site.url, "alice")
    bob = await signed_in_page(chromium, site.url, "bob")

    call = await site.pbx.place_call(
        "4951110001", "84951234567", "Ivan Petrov", dtmf="2", dtmf_delay=0.1
    )
    card = alice.locator(".pop-card").first
    await card.wait_for(timeout=15_000)
    assert "Ivan Petrov" == await card.locator(".customer-name").text_content()
    assert str(ivan) == await card.get_attribute("data-customer-id")
    assert "2" == await card.locator(".ivr-digits").text_content()
    assert "support" == await card.locator(".queue").text_content()

    await site.pbx.answer(ALICE)
    await alice.locator(".pop-card .stage-answered").wait_for(timeout=10_000)
    await site.pbx.hangup(call.phone)
    await alice.locator(".pop-card.ended").wait_for(timeout=10_000)
    assert 0 == await bob.locator(".pop-card").count()
