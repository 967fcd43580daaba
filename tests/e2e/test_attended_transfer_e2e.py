"""An attended transfer steered from the console (issue 19): the whole service over real TCP
beside the simulator running the shipped dial plan and features.conf.

Anna (PJSIP/101) answers a support call and starts an attended transfer to Boris (102): the
caller is on hold, Boris's phone rings with the call's card, Boris answers and Anna talks to
him. Then, from her console: *Complete* (her leg hangs up: Asterisk bridges the caller with
Boris, her card goes to wrap-up, Boris's card is the answered call), *Cancel* (PlayDTMF
``Receive`` of features.conf's ``atxferabort``: Boris is hung up and his card closes, Anna is
back with the caller), *Swap* (``atxferswap``: Anna talks to the caller, Boris waits, and
back), or Boris hangs up himself (the same as a cancel, without any transfer event)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contact_center.sim.config import Operator
from contact_center.sim.pbx import Call
from contact_center.testing import EventLog
from tests.conftest import wait_for
from tests.e2e.service_support import DID, Rig, running_service, sign_in
from tests.integration.web_support import Browser

ANNA, BORIS = "PJSIP/101", "PJSIP/102"
OPERATORS = (Operator(ANNA, "Anna", manual=True), Operator(BORIS, "Boris", manual=True))


@dataclass
class Desk:
    """One signed-in operator: their HTTP client and the messages of their websocket."""

    browser: Browser
    ws: aiohttp.ClientWebSocketResponse
    messages: list[dict[str, Any]]
    reader: asyncio.Task[None]

    def of(self, kind: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            m for m in self.messages
            if m.get("type") == kind and all(m.get(k) == v for k, v in fields.items())
        ]  # fmt: skip

    async def wait(self, kind: str, **fields: Any) -> dict[str, Any]:
        await wait_for(lambda: bool(self.of(kind, **fields)), timeout=10)
        return self.of(kind, **fields)[-1]

    async def consultation(self, state: str) -> dict[str, Any]:
        return await self.wait("call.consultation", state=state)


async def open_desk(base: str, login: str) -> Desk:
    browser = await sign_in(base, login)
    ws = await browser.ws()
    messages: list[dict[str, Any]] = []

    async def read() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                messages.append(json.loads(msg.data))

    return Desk(browser, ws, messages, asyncio.create_task(read()))


@dataclass
class Consulting:
    rig: Rig
    log: EventLog
    call: Call
    anna: Desk
    boris: Desk

    @property
    def path(self) -> str:
        return f"/api/calls/{self.rig.settings.general.server_id}/{self.call.linkedid}"

    async def step(self, desk: Desk, step: str) -> dict[str, Any]:
        """Press Complete / Cancel / Swap on ``desk``'s console; what the connector did."""
        response = await desk.browser.post(f"{self.path}/transfer/{step}", {})
        assert 202 == response.status, await response.text()
        sent = await response.json()
        async with asyncio.timeout(10):
            while True:
                async with desk.browser.http.get(desk.browser.url(sent["result_url"])) as got:
                    result = await got.json()
                if result["status"] != "pending":
                    return dict(result)
                await asyncio.sleep(0.1)

    def live(self) -> Any:
        connector = self.rig.service.components["connector"]
        return connector.tracker.live_channels(self.call.linkedid)  # type: ignore[attr-defined]

    def bridged_with_caller(self, interface: str) -> bool:
        """``interface``'s phone is in the caller's bridge (they can hear each other)."""
        caller = self.rig.pbx.channels.get(self.call.channel)
        if caller is None or caller.bridge is None:
            return False
        for ch in caller.bridge.channels:
            if ch.device == interface:
                return True
            # through a Local pair (the consultation channel after the transfer)
            peer = ch.peer
            if ch.name.startswith("Local/") and peer is not None and peer.bridge is not None:
                if any(other.device == interface for other in peer.bridge.channels):
                    return True
        return False


@contextlib.asynccontextmanager
async def consultation(
    tmp_path: Path, db_url: str, *, boris_answers: bool = True
) -> AsyncIterator[Consulting]:
    """Anna talks to the caller, then consults Boris (who answered, unless told not to);
    the caller on hold."""
    async with running_service(tmp_path, db_url, operators=OPERATORS, dialplan="shipped") as rig:
        pbx = rig.pbx
        log = EventLog(pbx)
        anna = await open_desk(rig.base, "anna")
        boris = await open_desk(rig.base, "boris")
        try:
            await rig.command("anna", "operator", ANNA, "available")
            await wait_for(lambda: ANNA in pbx.queues.queues["support"].members, timeout=5)
            call = await pbx.place_call(DID, "+74951234567", "Ivan Petrov", dtmf="2")
            await anna.wait("pop", stage="offered")
            await pbx.answer(ANNA)
            await anna.wait("pop", stage="answered")
            rig_ = Consulting(rig, log, call, anna, boris)

            response = await anna.browser.post(
                f"{rig_.path}/transfer", {"target": "102", "mode": "attended"}
            )
            assert 202 == response.status, await response.text()
            ringing = await anna.consultation("ringing")
            assert "Boris" == ringing["target"]
            offered = await boris.wait("pop", stage="offered")  # his card, while it rings
            assert call.linkedid == offered["call_id"] and "Ivan Petrov" in offered["html"]
            assert not rig_.bridged_with_caller(ANNA)  # the caller hears music on hold
            assert pbx.channels[call.channel].on_hold_music
            assert BORIS == rig_.live().consulting
            if boris_answers:
                await pbx.answer(BORIS)
                await anna.consultation("talking")
            yield rig_
            await pbx.hangup_caller(call)
            connector = rig.service.components["connector"]
            await wait_for(lambda: not connector.tracker.calls, timeout=10)  # type: ignore[attr-defined]
        finally:
            log.close()
            for desk in (anna, boris):
                desk.reader.cancel()
                await desk.browser.close()


@pytest.fixture
async def consulting(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Consulting]:
    async with consultation(tmp_path, sqlite_url) as rig:
        yield rig


async def test_complete_hands_the_caller_to_the_consulted_operator(c: Consulting) -> None:
    result = await c.step(c.anna, "complete")

    assert "done" == result["status"]
    moved = await c.log.wait("AttendedTransfer", timeout=10)
    assert c.call.channel == moved.get("TransfereeChannel")
    done = await c.anna.consultation("completed")
    assert "Boris" == done["target"]
    closed = await c.anna.wait("pop.closed", call_id=c.call.linkedid)
    assert "transferred" == closed["reason"]  # kept for Anna's wrap-up
    await c.boris.wait("pop", stage="answered", call_id=c.call.linkedid)
    await wait_for(lambda: c.bridged_with_caller(BORIS), timeout=10)
    assert not c.rig.pbx.phone_channels(ANNA)  # her phone hung up
    live = c.live()
    assert (BORIS, "") == (live.operator_interface, live.consulting)
    assert [] == c.boris.of("pop.closed")


async def test_cancel_returns_to_the_caller_and_closes_the_consulted_card(
    c: Consulting,
) -> None:
    result = await c.step(c.anna, "cancel")

    assert "done" == result["status"]
    cancelled = await c.anna.consultation("cancelled")
    assert "Boris" == cancelled["target"]
    closed = await c.boris.wait("pop.closed", call_id=c.call.linkedid)
    assert "consultation_cancelled" == closed["reason"]
    await wait_for(lambda: c.bridged_with_caller(ANNA), timeout=10)
    await wait_for(lambda: not c.rig.pbx.phone_channels(BORIS), timeout=10)
    assert not c.rig.pbx.channels[c.call.channel].on_hold_music
    # features.conf's atxferabort, received on Anna's channel (Atxfer's own digits last 0 ms)
    pressed = [
        e.get("Digit")
        for e in c.log.named("DTMFEnd", Direction="Received")
        if e.get("Channel").startswith(ANNA + "-") and e.get("DurationMs") != "0"
    ]
    assert ["*", "1"] == pressed
    assert [] == c.log.named("AttendedTransfer")
    live = c.live()
    assert (ANNA, "") == (live.operator_interface, live.consulting)
    assert [] == c.anna.of("pop.closed")  # still her call


async def test_swap_talks_to_the_caller_and_back_then_completes(c: Consulting) -> None:
    assert "done" == (await c.step(c.anna, "swap"))["status"]
    await c.anna.consultation("with_caller")
    await wait_for(lambda: c.bridged_with_caller(ANNA), timeout=10)
    assert not c.rig.pbx.channels[c.call.channel].on_hold_music
    assert BORIS == c.live().consulting  # Boris waits on hold, still consulted

    assert "done" == (await c.step(c.anna, "swap"))["status"]
    await wait_for(lambda: len(c.anna.of("call.consultation", state="talking")) == 2, 10)
    await wait_for(lambda: not c.bridged_with_caller(ANNA), timeout=10)
    assert c.rig.pbx.channels[c.call.channel].on_hold_music

    assert "done" == (await c.step(c.anna, "complete"))["status"]
    await c.anna.consultation("completed")
    await c.boris.wait("pop", stage="answered", call_id=c.call.linkedid)
    await wait_for(lambda: c.bridged_with_caller(BORIS), timeout=10)


async def test_the_consulted_operator_hanging_up_cancels_the_transfer(c: Consulting) -> None:
    await c.rig.pbx.hangup_operator(BORIS)

    await c.anna.consultation("cancelled")
    await c.boris.wait("pop.closed", call_id=c.call.linkedid)
    await wait_for(lambda: c.bridged_with_caller(ANNA), timeout=10)
    assert [] == c.log.named("AttendedTransfer")
    assert ANNA == c.live().operator_interface
    # nothing is left to complete: the console's Complete is refused, not sent to Asterisk
    result = await c.step(c.anna, "complete")
    assert ("failed", "No transfer is waiting on this call any more.") == (
        result["status"],
        result["reason"],
    )
    assert ANNA == c.live().operator_interface


async def test_only_the_transferring_operator_steers_the_consultation(c: Consulting) -> None:
    # Boris was offered the call, yet it is Anna's: the connector refuses his Complete
    result = await c.step(c.boris, "complete")

    assert ("failed", "This call is with another operator now.") == (
        result["status"],
        result["reason"],
    )
    assert [] == c.log.named("AttendedTransfer")
    response = await c.boris.browser.post(f"{c.path}/transfer/whatever", {})
    assert 404 == response.status


@pytest.fixture
def c(consulting: Consulting) -> Consulting:
    return consulting


async def test_complete_while_the_consulted_phone_rings_gives_him_the_call(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with consultation(tmp_path, sqlite_url, boris_answers=False) as c:
        assert "done" == (await c.step(c.anna, "complete"))["status"]
        await c.log.wait("AttendedTransfer", timeout=10)  # at once: a "blond" transfer
        await c.anna.consultation("completed")
        await c.anna.wait("pop.closed", call_id=c.call.linkedid)
        await c.rig.pbx.answer(BORIS)
        await c.boris.wait("pop", stage="answered", call_id=c.call.linkedid)
        await wait_for(lambda: c.bridged_with_caller(BORIS), timeout=10)
        await wait_for(lambda: c.live().operator_interface == BORIS, timeout=10)
