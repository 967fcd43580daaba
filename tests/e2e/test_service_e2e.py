"""The whole service over real TCP: the simulator as Asterisk, AMI → tracker → bus → screen
pop → the operator's websocket; history, charge and recording after the call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from contact_center.sim.config import Operator
from contact_center.store.models import Call, Charge, InteractionEvent, Recording
from tests.conftest import wait_for
from tests.e2e.service_support import DID, running_service, sign_in

OPERATORS = (
    Operator("PJSIP/101", "Anna", manual=True),
    Operator("PJSIP/102", "Boris", manual=True),
)


async def next_message(
    ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 10.0
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data.get("type") == kind:
                return data


async def test_a_call_pops_for_its_operator_only_then_lands_in_history(
    tmp_path: Path, db_url: str
) -> None:
    async with running_service(tmp_path, db_url, operators=OPERATORS, dialplan="shipped") as rig:
        anna = await sign_in(rig.base, "anna")
        boris = await sign_in(rig.base, "boris")
        try:
            anna_ws, boris_ws = await anna.ws(), await boris.ws()
            await rig.command("anna", "operator", "PJSIP/101", "available")
            members = rig.pbx.queues
            await wait_for(lambda: "PJSIP/101" in str(members.queues["support"].members), timeout=5)

            call = await rig.pbx.place_call(
                DID, "+74951234567", "Ivan Petrov", dtmf="2", dtmf_delay=0.5
            )
            pop = await next_message(anna_ws, "pop")
            assert "offered" == pop["stage"]
            assert "known" == pop["match"]
            assert "Ivan Petrov" in pop["html"] and "VIP" in pop["html"]
            assert "support" == pop["queue"]
            assert "2" == pop["ivr_digits"]  # once: DTMF (SIP INFO) and the IVR's own step
            assert "+74951234567" == pop["caller"]["number"]

            await rig.pbx.answer("PJSIP/101")
            answered = await next_message(anna_ws, "pop")
            assert "answered" == answered["stage"]
            await asyncio.sleep(0.3)  # a short conversation
            await rig.pbx.hangup_caller(call)
            closed = await next_message(anna_ws, "pop.closed")
            assert call.linkedid == closed["call_id"]

            # boris never saw the pop: nothing but heartbeats/state on his socket
            got: list[dict[str, Any]] = []
            while True:
                try:
                    msg = await boris_ws.receive(timeout=0.3)
                except TimeoutError:
                    break
                if msg.type == aiohttp.WSMsgType.TEXT:
                    got.append(json.loads(msg.data))
            assert [] == [m for m in got if m.get("type", "").startswith("pop")]

            sessions = rig.service.core.sessions  # type: ignore[union-attr]

            async def call_row() -> Call | None:
                async with sessions() as db:
                    return (
                        await db.execute(select(Call).where(Call.linkedid == call.linkedid))
                    ).scalar_one_or_none()

            await wait_for(lambda: _ended(call_row), timeout=10)
            row = await call_row()
            assert row is not None
            assert ("answered", "support", "PJSIP/101") == (
                row.outcome,
                row.queue,
                row.operator_interface,
            )
            assert row.customer_id is not None

            async def has_charge() -> bool:
                async with sessions() as db:
                    return (
                        await db.execute(
                            select(Charge).where(Charge.call_linkedid == call.linkedid)
                        )
                    ).scalar_one_or_none() is not None

            await wait_for(has_charge, timeout=10)
            async with sessions() as db:
                kinds = set(
                    (
                        await db.execute(
                            select(InteractionEvent.kind).where(
                                InteractionEvent.call_linkedid == call.linkedid
                            )
                        )
                    ).scalars()
                )
                recordings = (
                    (
                        await db.execute(
                            select(Recording).where(Recording.call_linkedid == call.linkedid)
                        )
                    )
                    .scalars()
                    .all()
                )
            assert {"call.arrived", "call.queued", "call.answered", "call.ended"} <= kinds
            assert 1 == len(recordings)
        finally:
            await anna.http.close()
            await boris.http.close()


async def _ended(call_row: Any) -> bool:
    row = await call_row()
    return row is not None and row.ended_at is not None


async def test_a_digit_pressed_in_our_ivr_is_shown_once(tmp_path: Path, db_url: str) -> None:
    async with running_service(tmp_path, db_url, operators=OPERATORS, dialplan="shipped") as rig:
        anna = await sign_in(rig.base, "anna")
        try:
            ws = await anna.ws()
            await rig.command("anna", "operator", "PJSIP/101", "available")
            await wait_for(
                lambda: "PJSIP/101" in str(rig.pbx.queues.queues["support"].members), timeout=5
            )
            call = await rig.pbx.place_call(DID, "+74951234567", "Ivan Petrov", dtmf="2")
            pop = await next_message(ws, "pop")
            await rig.pbx.hangup_caller(call)

            assert "2" == pop["ivr_digits"]
        finally:
            await anna.http.close()
