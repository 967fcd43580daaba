"""Asterisk's own autopause, end to end: the simulator runs the queues.conf we ship
(``autopause = all``); an operator who lets a queue call ring out is paused by Asterisk with
reason ``Auto-Pause`` in all their queues, and the console, the wallboard and the API all say
so — until the operator clicks Available, which unpauses them everywhere."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from contact_center.sim.config import Operator
from tests.conftest import wait_for
from tests.e2e.service_support import DID, Operator_, Rig, running_service, sign_in

ANNA, BORIS = "PJSIP/101", "PJSIP/102"
OPERATORS = (
    Operator(ANNA, "Anna", answer_after=None),  # away from her desk: never answers
    Operator(BORIS, "Boris", answer_after=0.3),
)


async def state_of(who: Operator_, path: str) -> Any:
    async with who.http.get(who.base + path) as resp:
        assert 200 == resp.status, await resp.text()
        return await resp.json()


async def command(who: Operator_, state: str) -> None:
    async with await who.post("/api/operator/state", {"state": state}) as resp:
        assert 200 == resp.status, await resp.text()
        sent = await resp.json()
    for _ in range(100):
        result = await state_of(who, sent["result_url"])
        if result["status"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert "done" == result["status"], result


def asterisk(rig: Rig, interface: str) -> dict[str, tuple[bool, str]]:
    return {m.queue: (m.paused, m.paused_reason) for m in rig.pbx.members(interface)}


async def test_an_autopaused_operator_is_paused_auto_pause_everywhere(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with running_service(
        tmp_path, sqlite_url, operators=OPERATORS, dialplan="shipped"
    ) as rig:
        anna, boris, sue = [await sign_in(rig.base, who) for who in ("anna", "boris", "sue")]
        try:
            await command(anna, "available")
            call = await rig.pbx.place_call(DID, "+74951234567", "Ivan Petrov", dtmf="2")
            await wait_for(lambda: (True, "Auto-Pause") in asterisk(rig, ANNA).values(), 10)
            await command(boris, "available")  # the caller, still waiting, reaches Boris
            await wait_for(lambda: rig.pbx.phone_channels(BORIS) != [], 10)

            async def everyone_says_auto_pause() -> bool:
                console = await state_of(anna, "/api/operator/state")
                live = await state_of(sue, "/api/stats/live")
                board = live["operators"].get(ANNA, {})
                return (
                    ("paused", "Auto-Pause") == (console["state"], console["reason"])
                    and ("paused", "Auto-Pause") == (board.get("state"), board.get("reason"))
                    and {"support": (True, "Auto-Pause"), "sales": (True, "Auto-Pause")}
                    == asterisk(rig, ANNA)
                )

            await wait_for(everyone_says_auto_pause, 10, interval=0.1)
            await rig.pbx.hangup_caller(call)

            await command(anna, "available")

            async def available_again() -> bool:
                console = await state_of(anna, "/api/operator/state")
                return ("available", "") == (console["state"], console["reason"]) and {
                    "support": (False, ""),
                    "sales": (False, ""),
                } == asterisk(rig, ANNA)

            await wait_for(available_again, 10, interval=0.1)
        finally:
            for who in (anna, boris, sue):
                await who.http.close()
