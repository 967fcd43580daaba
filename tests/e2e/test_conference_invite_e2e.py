"""Someone more into a conference room (issue 19): the whole service over real TCP beside the
simulator running the shipped dial plan. Anna (PJSIP/101) takes a support call and moves it
into a room from her console; from the room she invites Boris (extension 102): the connector
originates a Local channel to him into ``[conference] <room>`` — caller and Anna are not moved
again — Boris answers, joins the same room, and her console's participants list names the
three of them; an outside number joins the same way. Inviting before there is a room is
refused with a reason, and nothing rings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from contact_center.sim.config import Operator
from contact_center.testing import EventLog
from tests.conftest import wait_for
from tests.e2e.service_support import DID, running_service
from tests.e2e.test_attended_transfer_e2e import Desk, open_desk

ANNA, BORIS = "PJSIP/101", "PJSIP/102"
OPERATORS = (Operator(ANNA, "Anna", manual=True), Operator(BORIS, "Boris", manual=True))


async def _post(desk: Desk, path: str, data: dict[str, str]) -> dict[str, Any]:
    """Press a call-control button on ``desk``'s console; what the connector did with it."""
    response = await desk.browser.post(path, data)
    assert 202 == response.status, await response.text()
    sent = await response.json()
    async with asyncio.timeout(10):
        while True:
            async with desk.browser.http.get(desk.browser.url(sent["result_url"])) as got:
                result = await got.json()
            if result["status"] != "pending":
                return dict(result)
            await asyncio.sleep(0.1)


def _names(message: dict[str, Any]) -> list[str]:
    return sorted(p["name"] for p in message["participants"])


async def test_the_operator_in_the_room_invites_a_colleague(tmp_path: Path, db_url: str) -> None:
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
            path = f"/api/calls/{rig.settings.general.server_id}/{call.linkedid}"

            # not in a room yet: the connector refuses, in words; Boris's phone stays quiet
            refused = await _post(anna, f"{path}/conference/invite", {"target": "102"})
            assert {
                "status": "failed",
                "action": "conference_invite.failed",
                "reason": "You are in no conference room on this call: start the conference first.",
            } == refused
            assert [] == pbx.phone_channels(BORIS)
            # a target that is no extension, queue or number is refused by the page's server
            bad = await anna.browser.post(f"{path}/conference/invite", {"target": "System(x)"})
            assert 400 == bad.status
            # Boris may not invite into a call that never rang for him
            other = await boris.browser.post(f"{path}/conference/invite", {"target": "103"})
            assert 403 == other.status

            assert {"status": "done", "action": "conference"} == await _post(
                anna, f"{path}/conference", {}
            )
            joined = await log.wait("ConfbridgeJoin", timeout=10, Channel=call.channel)
            room = joined.get("Conference")
            await wait_for(lambda: len(anna.of("call.conference")) >= 2, timeout=10)
            assert ["Anna", "Ivan Petrov"] == _names(anna.of("call.conference")[-1])

            # from the room: Boris is invited, rings, answers and joins the same room
            assert {"status": "done", "action": "conference_invite"} == await _post(
                anna, f"{path}/conference/invite", {"target": "102"}
            )
            await wait_for(lambda: bool(pbx.phone_channels(BORIS)), timeout=10)
            await pbx.answer(BORIS)

            def invited() -> list[Any]:
                return [
                    e for e in log.named("ConfbridgeJoin")
                    if e.get("Channel").startswith("Local/102@transfer-targets-")
                ]  # fmt: skip

            await wait_for(lambda: bool(invited()), timeout=10)
            assert [room] == [e.get("Conference") for e in invited()]
            await wait_for(lambda: len(anna.of("call.conference")[-1]["participants"]) == 3, 10)
            message = anna.of("call.conference")[-1]
            assert ["Anna", "Boris", "Ivan Petrov"] == _names(message)
            roles = {p["name"]: p["role"] for p in message["participants"]}
            assert {"Anna": "operator", "Boris": "operator", "Ivan Petrov": "customer"} == roles
            # nobody already there was moved: caller and Anna entered the room once, and
            # nobody left it
            assert 1 == len(log.named("ConfbridgeJoin", Channel=call.channel))
            assert [] == log.named("ConfbridgeLeave")
            in_room = {ch.name for ch in pbx.dialplan.conferences[room].channels}
            assert {call.channel, invited()[0].get("Channel")} < in_room
            assert 3 == len(in_room)

            # an outside number too: the provider's customer answers and joins the room
            assert {"status": "done", "action": "conference_invite"} == await _post(
                anna, f"{path}/conference/invite", {"target": "+74957654321"}
            )
            await wait_for(lambda: len(anna.of("call.conference")[-1]["participants"]) == 4, 10)
            people = anna.of("call.conference")[-1]["participants"]
            assert ("external", "+74957654321") in {(p["role"], p["name"]) for p in people}
            assert 1 == len(log.named("ConfbridgeJoin", Channel=call.channel))

            await pbx.hangup_caller(call)
        finally:
            log.close()
            for desk in (anna, boris):
                desk.reader.cancel()
                await desk.ws.close()
                await desk.browser.close()
