"""A real Asterisk running ``deploy/asterisk/``: what the simulator claims, checked at the source.

Opt-in (see conftest.py): skipped unless ``CC_TEST_ASTERISK`` names such an Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from contact_center.ami.errors import AmiActionError
from contact_center.ami.parser import Frame
from contact_center.bus.base import EVENTS
from contact_center.calls import events as ev
from contact_center.demo import free_port
from contact_center.service import Service
from contact_center.store.models import Call as CallRow
from contact_center.store.models import Recording
from tests.e2e.service_support import rig_settings, seed_people, sign_in
from tests.integration.web_support import Browser
from tests.live.conftest import Session
from tests.live.phones import (
    ANSWERED,
    ESTABLISHED,
    HUNGUP,
    RINGING,
    SPEAKING,
    SipPhone,
    sip_phone,
)

DID = "4951110006"
CALLER = '"Ivan Petrov" <+74951234567>'
FALLBACK_QUEUE = "support"  # CC_FALLBACK_QUEUE in deploy/asterisk/extensions.conf


def joined(call_id: str, queue: str = "") -> Callable[[Frame], bool]:
    def matches(frame: Frame) -> bool:
        return (
            frame.name == "QueueCallerJoin"
            and frame.get("Linkedid") == call_id
            and (not queue or frame.get("Queue") == queue)
        )

    return matches


async def agi_status(live: Session, channel: str) -> str:
    answer = await live.ami.send_action("Getvar", {"Channel": channel, "Variable": "AGISTATUS"})
    return answer.get("Value")


async def test_the_shipped_ami_user_may_resync_and_nothing_more_and_the_queues_are_ours(
    live: Session,
) -> None:
    # The connector's resync reads CoreShowChannels and QueueStatus; a missing right made it
    # impossible once. Least privilege: no `command` (CLI) right, so Command is refused.
    # Each queue runs the strategy queues.conf gives it (a template's once overrode them).
    channels = await live.ami.send_action("CoreShowChannels", {})
    assert channels.final is not None and channels.final.name == "CoreShowChannelsComplete"
    queues = await live.ami.send_action("QueueStatus", {})
    strategies = {
        i.get("Queue"): i.get("Strategy") for i in queues.items if i.name == "QueueParams"
    }
    assert {
        "support": "rrmemory", "sales": "leastrecent", "vip": "ringall", "billing": "rrmemory"
    }.items() <= strategies.items()  # fmt: skip
    with pytest.raises(AmiActionError, match=r"(?i)permission denied"):
        await live.ami.send_action("Command", {"Command": "core show version"})


async def test_with_the_service_unreachable_a_trunk_caller_waits_in_the_fallback_queue(
    live: Session,
) -> None:
    # Nothing listens at the FastAGI address: res_agi gives up connecting (AGISTATUS
    # FAILURE) and the dial plan queues the caller where CC_FALLBACK_QUEUE says.
    closed = f"agi://{live.asterisk.agi_host}:{free_port()}"
    call_id = await live.trunk_call(DID, CALLER, closed)
    join = await live.watch.wait_for(joined(call_id), timeout=20)
    assert join.get("Queue") == FALLBACK_QUEUE
    assert join.get("CallerIDNum") == "+74951234567"
    assert await agi_status(live, join.get("Channel")) == "FAILURE"


async def test_with_the_service_gone_mid_menu_the_caller_waits_in_the_fallback_queue(
    live: Session,
) -> None:
    # Our FastAGI server takes the call, reads what Asterisk tells it, and goes away without
    # a decision (a restart mid-menu). The simulator reports this as AGISTATUS SUCCESS with
    # nothing set, and the dial plan must still queue the caller.
    told: dict[str, str] = {}

    async def take_and_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := (await reader.readline()).decode().strip():
            key, _sep, value = line.partition(": ")
            told[key] = value
        writer.close()

    server = await asyncio.start_server(take_and_drop, live.asterisk.agi_host, 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        call_id = await live.trunk_call(DID, CALLER, f"agi://{live.asterisk.agi_host}:{port}")
        join = await live.watch.wait_for(joined(call_id), timeout=20)
    assert told["agi_network_script"] == "main"
    assert told["agi_arg_1"] == DID
    assert told["agi_callerid"] == "+74951234567"
    assert join.get("Queue") == FALLBACK_QUEUE
    assert await agi_status(live, join.get("Channel")) == "SUCCESS"


LIVE_MENU = """\
title: Live line
languages: [en]
start: main
prompts:
  line/main: {en: "Press 1 for support."}
nodes:
  main:
    type: menu
    prompt: line/main
    options: {"1": support}
    timeout: 1
    retries: 0
    on_invalid: sales
    on_timeout: sales
  support: {type: queue, queue: support}
  sales: {type: queue, queue: sales}
"""


async def queued_events(service: Service, call_id: str) -> list[ev.DomainEvent]:
    """The call's domain events on the service's bus, once they say it is queued."""
    core = service.core
    assert core is not None

    async def until_queued() -> list[ev.DomainEvent]:
        while True:
            events = [ev.from_dict(m) for _, m in await core.bus.read(EVENTS, "0", 10_000)]
            ours = [e for e in events if e.call_id == call_id]
            if any(isinstance(e, ev.CallQueued) for e in ours):
                return ours
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(until_queued(), 10)


@contextlib.asynccontextmanager
async def our_service(tmp_path: Path, live: Session, routing: str = "") -> AsyncIterator[Service]:
    """The whole service (SQLite, in-process bus) on the live Asterisk: its connector on the
    shipped AMI user, its FastAGI IVR with a menu whose silence leads to `sales`."""
    base = rig_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}", test_line=True)
    menus = Path(base.agi.menus_dir)
    (menus / "line.yaml").write_text(LIVE_MENU)
    rules = tmp_path / "routing.yaml"
    if routing:
        rules.write_text(routing)
    asterisk = live.asterisk
    settings = replace(
        base,
        ami=replace(
            base.ami,
            host=asterisk.host,
            port=asterisk.port,
            username=asterisk.username,
            secret=asterisk.secret,
        ),
        # no routing rules unless given: the menu alone decides the queue
        agi=replace(
            base.agi,
            host=asterisk.agi_host,
            port=free_port(),
            routing_rules=str(rules),
        ),
    )
    if asterisk.spool:  # the recordings Asterisk writes, as this host sees them
        spool = replace(settings.recording, spool_dir=asterisk.spool)
        settings = replace(settings, recording=spool)
    await seed_people(settings, ("PJSIP/101", "PJSIP/102", "PJSIP/105"))
    async with Service(settings, "all") as service:
        await service.components["connector"].wait_connected()
        yield service


async def test_our_ivr_takes_a_trunk_caller_to_the_queue_its_menu_chose(
    tmp_path: Path, live: Session
) -> None:
    # The provider's call reaches our IVR over FastAGI with the shipped dial plan, the menu
    # (no key pressed) sends it to `sales` — not the fallback — and the service's connector
    # follows it on the real event stream: the caller found, the IVR step, the queue.
    async with our_service(tmp_path, live) as service:
        agi_url = f"agi://{live.asterisk.agi_host}:{service.settings.agi.port}"
        call_id = await live.trunk_call(DID, CALLER, agi_url)
        join = await live.watch.wait_for(joined(call_id), timeout=20)
        assert join.get("Queue") == "sales"

        ours = await queued_events(service, call_id)
    assert [e.caller_number for e in ours if isinstance(e, ev.CallArrived)] == ["+74951234567"]
    assert any(isinstance(e, ev.IvrStep) and e.menu == "line" for e in ours)
    assert [e.queue for e in ours if isinstance(e, ev.CallQueued)] == ["sales"]


async def test_a_call_already_queued_when_the_service_starts_is_found_by_its_resync(
    tmp_path: Path, live: Session
) -> None:
    # The service was away when the caller came (the fallback queued them); its connector
    # starts, resyncs from CoreShowChannels and QueueStatus with the shipped AMI user's
    # rights, and knows the call: the caller and the queue they wait in.
    closed = f"agi://{live.asterisk.agi_host}:{free_port()}"
    call_id = await live.trunk_call(DID, CALLER, closed)
    await live.watch.wait_for(joined(call_id, FALLBACK_QUEUE), timeout=20)
    async with our_service(tmp_path, live) as service:
        ours = await queued_events(service, call_id)
    assert [e.caller_number for e in ours if isinstance(e, ev.CallArrived)] == ["+74951234567"]
    assert [e.queue for e in ours if isinstance(e, ev.CallQueued)] == [FALLBACK_QUEUE]


async def console_command(who: Browser, path: str, form: dict[str, str]) -> None:
    """What the operator's console sends, carried out by the service (its result polled)."""
    async with await who.post(path, form) as resp:
        assert resp.status in (200, 202), await resp.text()
        sent = await resp.json()
    for _ in range(200):
        async with who.http.get(who.base + sent["result_url"]) as resp:
            result = await resp.json()
        if result["status"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert result["status"] == "done", result


async def operator_state(who: Browser, state: str) -> None:
    await console_command(who, "/api/operator/state", {"state": state})


async def next_pop(ws: aiohttp.ClientWebSocketResponse, call_id: str) -> dict[str, Any]:
    """The next screen-pop message of this call on the operator's websocket."""
    async with asyncio.timeout(15):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data: dict[str, Any] = json.loads(msg.data)
            if data.get("type") == "pop" and data.get("call_id") == call_id:
                return data


@dataclass
class Desk:
    """Anna at her desk: the service, her phone (sipp as 101), her console's websocket."""

    service: Service
    phone: SipPhone
    anna: Browser
    ws: aiohttp.ClientWebSocketResponse
    agi_url: str


@contextlib.asynccontextmanager
async def anna_available(
    tmp_path: Path, live: Session, *, routing: str = "", voice: bool = False
) -> AsyncIterator[Desk]:
    """The service on the live Asterisk, Anna's phone registered, Anna signed in and
    available (the service adds her phone to her queues); unavailable again after."""
    secret = os.environ.get("CC_TEST_ASTERISK_PHONE_SECRET", "change-me")
    async with (
        sip_phone("101", secret, live.asterisk.host, voice=voice) as phone,
        our_service(tmp_path, live, routing=routing) as service,
    ):
        anna = await sign_in(f"http://127.0.0.1:{service.web_port}", "anna")
        try:
            await operator_state(anna, "available")
            agi_url = f"agi://{live.asterisk.agi_host}:{service.settings.agi.port}"
            yield Desk(service, phone, anna, await anna.ws(), agi_url)
        finally:
            with contextlib.suppress(Exception):
                await operator_state(anna, "offline")  # her phone leaves the queues again
            await anna.close()


async def test_a_queue_offer_pops_the_card_before_the_phone_is_answered(
    tmp_path: Path, live: Session
) -> None:
    # An operator's PJSIP phone (sipp registered as 101, answering after a second): she
    # says she is available in the console, so the service adds her phone to her queues;
    # the caller our IVR queues rings it, and her browser shows the customer's card while it
    # rings (the offer), then as answered.
    async with anna_available(tmp_path, live) as desk:
        call_id = await live.trunk_call(DID, CALLER, desk.agi_url)
        offered = await next_pop(desk.ws, call_id)
        assert offered["stage"] == "offered"
        assert offered["match"] == "known", (offered["match"], offered["caller"])
        assert "Ivan Petrov" in offered["html"]
        assert offered["queue"] == "sales"
        assert offered["caller"]["number"] == "+74951234567"
        answered = await next_pop(desk.ws, call_id)
        assert answered["stage"] == "answered"
        await live.watch.wait_for(
            lambda f: f.name == "AgentConnect" and f.get("Linkedid") == call_id
        )
        assert desk.phone.count(ANSWERED) >= 1


async def test_what_the_operator_said_is_a_recording_of_the_call_once_it_ends(
    tmp_path: Path, live: Session
) -> None:
    # The shipped [to-queue] records every queued call with MixMonitor; the service reads
    # Asterisk's own file from the spool it shares with Asterisk, post-processes it once the
    # call ended and keeps it with its measures. Anna's phone speaks (a tone over RTP).
    if not live.asterisk.spool:
        pytest.skip("set CC_TEST_ASTERISK_SPOOL to where this host reads the recordings")
    async with anna_available(tmp_path, live, voice=True) as desk:
        core = desk.service.core
        assert core is not None
        call_id = await live.trunk_call(DID, CALLER, desk.agi_url)
        assert (await next_pop(desk.ws, call_id))["stage"] == "offered"
        assert (await next_pop(desk.ws, call_id))["stage"] == "answered"
        await desk.phone.wait_for(SPEAKING)
        await asyncio.sleep(3)  # she talks
        await live.hang_up_ours()

        async def processed() -> Recording:
            while True:
                async with core.sessions() as db:
                    found = await db.scalar(
                        select(Recording).where(
                            Recording.call_linkedid == call_id, Recording.status == "done"
                        )
                    )
                if found is not None:
                    return found
                await asyncio.sleep(0.2)

        recording = await asyncio.wait_for(processed(), 30)
    assert 2.5 <= recording.duration_seconds <= 10
    assert recording.loudness_dbfs is not None and recording.loudness_dbfs > -30


STICKY = """\
default_queue: sales
queues: {sales: {}, support: {}}
sticky: {enabled: true, ring_first_seconds: 15, max_age_days: 30}
"""


async def test_a_returning_caller_rings_her_last_operator_first_and_her_card_pops(
    tmp_path: Path, live: Session
) -> None:
    # Ivan's first call goes through the queue to Anna and ends: history says she served
    # him. His next call rings her phone directly (routing's sticky rule, the shipped
    # `Dial(${CC_PREFERRED})` before the queue) and her browser shows his card for it as a
    # direct ring — the path that once fell out of the call model on a real Asterisk.
    async with anna_available(tmp_path, live, routing=STICKY) as desk:
        core = desk.service.core
        assert core is not None
        ws = desk.ws
        first = await live.trunk_call(DID, CALLER, desk.agi_url)
        assert (await next_pop(ws, first))["queue"] == "sales"
        assert (await next_pop(ws, first))["stage"] == "answered"
        await live.hang_up_ours()

        async def served_by() -> str:
            while True:
                async with core.sessions() as db:
                    row = await db.scalar(
                        select(CallRow.operator_interface).where(CallRow.linkedid == first)
                    )
                if row:
                    return row
                await asyncio.sleep(0.1)

        assert await asyncio.wait_for(served_by(), 10) == "PJSIP/101"
        await desk.phone.wait_for(HUNGUP)
        second = await live.trunk_call(DID, CALLER, desk.agi_url)
        offered = await next_pop(ws, second)
        assert offered["stage"] == "offered"
        assert offered["match"] == "known", (offered["match"], offered["caller"])
        assert "Ivan Petrov" in offered["html"]
        assert "Rings you directly" in offered["html"]
        dialled = await live.watch.wait_for(
            lambda f: (
                f.name == "DialBegin"
                and f.get("Linkedid") == second
                and f.get("DestChannel").startswith("PJSIP/101-")
            )
        )
        assert dialled.get("Context") == "to-queue"  # the sticky Dial, not the queue's
        assert (await next_pop(ws, second))["stage"] == "answered"
        assert not [
            f for f in live.watch.frames
            if f.name == "QueueCallerJoin" and f.get("Linkedid") == second
        ]  # fmt: skip


async def test_a_blind_transfer_to_a_queue_takes_the_caller_there(
    tmp_path: Path, live: Session
) -> None:
    # Anna answers and blind-transfers the caller to `support` from her console: the service
    # redirects the caller's channel (AMI, the shipped transfer context), her phone is hung
    # up, the caller waits in support, and the call model says who transferred it where.
    async with anna_available(tmp_path, live) as desk:
        call_id = await live.trunk_call(DID, CALLER, desk.agi_url)
        assert (await next_pop(desk.ws, call_id))["stage"] == "offered"
        assert (await next_pop(desk.ws, call_id))["stage"] == "answered"
        await desk.phone.wait_for(ESTABLISHED)
        path = f"/api/calls/pbx1/{call_id}/transfer"
        await console_command(desk.anna, path, {"target": "support", "mode": "blind"})
        await live.watch.wait_for(joined(call_id, "support"))
        await desk.phone.wait_for(HUNGUP)
        core = desk.service.core
        assert core is not None

        async def transferred() -> list[ev.CallTransferred]:
            while True:
                events = [ev.from_dict(m) for _, m in await core.bus.read(EVENTS, "0", 10_000)]
                found = [
                    e for e in events
                    if isinstance(e, ev.CallTransferred) and e.call_id == call_id
                ]  # fmt: skip
                queued = [
                    e.queue for e in events
                    if isinstance(e, ev.CallQueued) and e.call_id == call_id
                ]  # fmt: skip
                if found and queued == ["sales", "support"]:
                    return found
                await asyncio.sleep(0.1)

        found = await asyncio.wait_for(transferred(), 10)
    assert [(e.transfer_type, e.target, e.by_interface) for e in found] == [
        ("blind", "support", "PJSIP/101")
    ]


async def test_a_paused_operator_is_paused_in_asterisk_with_her_reason_and_not_rung(
    tmp_path: Path, live: Session
) -> None:
    # Anna pauses for lunch from her console: Asterisk pauses her phone in each of her
    # queues with the reason, a caller queued meanwhile does not ring her; once she is
    # available again the waiting caller rings her and her browser pops the card.
    async with anna_available(tmp_path, live) as desk:
        paused_at = len(live.watch.frames)
        lunch = {"state": "paused", "reason": "lunch"}
        await console_command(desk.anna, "/api/operator/state", lunch)

        def paused_in(queue: str) -> Callable[[Frame], bool]:
            return lambda f: (
                f.name == "QueueMemberPause"
                and f.get("Interface") == "PJSIP/101"
                and f.get("Queue") == queue
                and f.get("Paused") == "1"
            )

        for queue in ("sales", "support"):
            pause = await live.watch.wait_for(paused_in(queue))
            assert pause.get("PausedReason") == "lunch"
        assert live.watch.frames.index(pause) >= paused_at
        call_id = await live.trunk_call(DID, CALLER, desk.agi_url)
        await live.watch.wait_for(joined(call_id, "sales"))
        await asyncio.sleep(2)  # a free member would have been rung at once
        assert desk.phone.count(RINGING) == 0
        await operator_state(desk.anna, "available")
        offered = await next_pop(desk.ws, call_id)
        assert offered["stage"] == "offered" and offered["queue"] == "sales"
        await desk.phone.wait_for(ESTABLISHED)
