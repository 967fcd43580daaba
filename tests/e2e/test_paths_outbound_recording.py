"""Calls we place are recorded like inbound ones: a click-to-call over the simulator running
the shipped dial plan (cc-originate records with MixMonitor, as to-queue does) gives a
recording of the call, attributed to the operator who placed it and to the customer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select

from contact_center.sim.config import Operator
from contact_center.store.models import Call, Recording
from tests.conftest import wait_for
from tests.e2e.service_support import Rig, running_service, sign_in

ANNA = "PJSIP/101"
OPERATORS = (Operator(ANNA, "Anna", manual=True), Operator("PJSIP/102", "Boris", manual=True))


async def rows(rig: Rig, model: Any, *where: Any) -> list[Any]:
    core = rig.service.core
    assert core is not None
    async with core.sessions() as db:
        return list((await db.execute(select(model).where(*where))).scalars())


async def test_a_click_to_call_is_recorded_for_its_operator(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with running_service(
        tmp_path, sqlite_url, operators=OPERATORS, dialplan="shipped"
    ) as rig:
        anna = await sign_in(rig.base, "anna")
        try:
            async with await anna.post(
                "/api/operator/click-to-call", {"number": "+7 495 123-45-67"}
            ) as resp:
                assert 202 == resp.status, await resp.text()
            await wait_for(lambda: rig.pbx.phone_channels(ANNA) != [], 10)
            await rig.pbx.answer(ANNA)  # the operator picks up; then the customer is dialled

            def customer_talking() -> bool:
                return any(
                    ch.name.startswith("PJSIP/trunk-") and ch.state == 6 and not ch.dead
                    for ch in rig.pbx.channels.values()
                )

            await wait_for(customer_talking, 10)
            await asyncio.sleep(0.3)  # a short conversation (the recording has sound)
            await rig.pbx.hangup_operator(ANNA)

            async def recorded() -> list[Recording]:
                found = await rows(rig, Recording, Recording.call_linkedid.like("cc-out-%"))
                return [r for r in found if r.stopped_at is not None]

            await wait_for(recorded, 10, interval=0.1)
            (recording,) = await recorded()
            (call,) = await rows(rig, Call, Call.linkedid == recording.call_linkedid)
        finally:
            await anna.http.close()

    assert ANNA == recording.operator_interface
    assert ("outbound", "+74951234567") == (call.direction, call.caller_number)
    assert recording.customer_id is not None and recording.customer_id == call.customer_id
    assert recording.file_name.endswith(".wav")
