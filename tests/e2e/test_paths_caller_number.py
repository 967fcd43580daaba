"""The pop shows the caller's number as people write it: a provider sending its raw digits
(``74951234567``, no +) over the shipped dial plan pops ``+7 495 123-45-67`` with the
customer found by that number."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from contact_center.sim.config import Operator
from tests.conftest import wait_for
from tests.e2e.service_support import DID, running_service, sign_in

ANNA = "PJSIP/101"


async def first_pop(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data.get("type") == "pop":
                return data


async def test_the_pop_shows_the_providers_digits_as_an_international_number(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with running_service(
        tmp_path, sqlite_url, operators=(Operator(ANNA, "Anna", manual=True),), dialplan="shipped"
    ) as rig:
        anna = await sign_in(rig.base, "anna")
        try:
            ws = await anna.ws()
            await rig.command("anna", "operator", ANNA, "available")
            await wait_for(lambda: rig.pbx.members(ANNA) != [], 5)
            call = await rig.pbx.place_call(DID, "74951234567", "", dtmf="2", dtmf_delay=0.5)
            pop = await first_pop(ws)
            await rig.pbx.hangup_caller(call)
        finally:
            await anna.http.close()

    assert ("74951234567", "+74951234567") == (pop["caller"]["number_raw"], pop["caller"]["number"])
    assert "+7 495 123-45-67" == pop["caller"]["display"]
    assert '<span class="caller-number" title="74951234567">+7 495 123-45-67</span>' in pop["html"]
    assert "Ivan Petrov" in pop["html"]  # the customer, found by the normalised number
