"""A trunk DID ([from-trunk] of deploy/asterisk/extensions.conf) against our IVR server: the
simulator runs AGI(agi://…/main,<DID>) over real FastAGI, then queues the call where the IVR
said (CC_QUEUE), ahead of callers of a lower CC_PRIORITY."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contact_center.calls.events import DomainEvent
from contact_center.config import AgiSettings
from contact_center.ivr.service import IvrService
from contact_center.sim.agi import FastAgiStep
from contact_center.sim.pbx import SimPbx
from contact_center.testing import EventLog, sim_config

MENU = """\
title: Test line
languages: [en]
start: main
prompts:
  t/main: {{en: "Press 1 for sales, 2 for support."}}
nodes:
  main:
    type: menu
    prompt: t/main
    options: {{"1": sales, "2": support}}
    on_invalid: support
  sales: {{type: queue, queue: sales, priority: {sales}}}
  support: {{type: queue, queue: support, priority: {support}}}
"""


@pytest.fixture
async def ivr(tmp_path: Path) -> AsyncIterator[IvrService]:
    menus = tmp_path / "menus"
    (menus / "prompts" / "en" / "t").mkdir(parents=True)
    (menus / "prompts" / "en" / "t" / "main.wav").write_bytes(b"RIFF")
    # the runner names the menu by the AGI argument: the DID
    (menus / "4951110006.yaml").write_text(MENU.format(sales=0, support=0))
    (menus / "4951110007.yaml").write_text(MENU.format(sales=0, support=5))
    events: list[DomainEvent] = []

    async def sink(event: DomainEvent) -> None:
        events.append(event)

    service = IvrService(AgiSettings(port=0, menus_dir=str(menus)), sink=sink)
    async with service:
        yield service


async def test_a_trunk_call_ends_in_the_queue_the_ivr_chose(
    ivr: IvrService, tmp_path: Path
) -> None:
    config = sim_config(tmp_path, operators=[], dialplan="shipped", agi_port=ivr.port)
    async with SimPbx(config, agi=FastAgiStep(timeout=10)) as pbx:
        log = EventLog(pbx)
        call = await pbx.place_call("4951110006", "+74951234567", "Ivan Petrov", dtmf="1")
        join = await log.wait("QueueCallerJoin", timeout=10)

    assert ("sales", call.channel) == (join.get("Queue"), join.get("Channel"))
    agi = log.named("Newexten", Application="AGI")[0]
    # the shipped dial plan names its FastAGI host (CC_AGI); the simulator connects to ours
    assert "agi://contact-center:4573/main,4951110006" == agi.get("AppData")
    assert "SUCCESS" == log.named("VarSet", Variable="AGISTATUS")[0].get("Value")


async def test_a_higher_priority_caller_waits_ahead(ivr: IvrService, tmp_path: Path) -> None:
    config = sim_config(tmp_path, operators=[], dialplan="shipped", agi_port=ivr.port)
    async with SimPbx(config, agi=FastAgiStep(timeout=10)) as pbx:
        log = EventLog(pbx)
        plain = await pbx.place_call("4951110006", "+74951110000", "Plain", dtmf="2")
        await log.wait("QueueCallerJoin", Channel=plain.channel, timeout=10)
        vip = await pbx.place_call("4951110007", "+74952220000", "Vip", dtmf="2")
        join = await log.wait("QueueCallerJoin", Channel=vip.channel, timeout=10)

        order = [e.channel.name for e in pbx.queues.queues["support"].entries]

    assert ("support", "1", "2") == (join.get("Queue"), join.get("Position"), join.get("Count"))
    assert [vip.channel, plain.channel] == order


async def test_a_trunk_call_our_ivr_cannot_take_waits_in_the_fallback_queue(
    tmp_path: Path,
) -> None:
    # no FastAGI server listening: AGI fails, CC_QUEUE stays empty, CC_FALLBACK_QUEUE takes it
    config = sim_config(tmp_path, operators=[], dialplan="shipped", agi_port=1)
    async with SimPbx(config, agi=FastAgiStep(timeout=2)) as pbx:
        log = EventLog(pbx)
        call = await pbx.place_call("4951110009", "+74951234567", "Ivan Petrov")
        join = await log.wait("QueueCallerJoin", Channel=call.channel)
        await pbx.hangup_caller(call)
        await log.wait("Hangup", Channel=call.channel)

    assert "FAILURE" == log.named("VarSet", Variable="AGISTATUS")[0].get("Value")
    assert "support" == join.get("Queue")
