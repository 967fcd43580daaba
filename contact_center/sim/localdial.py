"""Dial(Local/<exten>@<context>) outside any queue: the ``;2`` half runs the dial plan (an
operator's phone in the rig's ``[agents]``, a customer's phone in ``[customer-phones]``) and
app_dial's events go out on the dialling channel."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from contact_center.sim.errors import ChannelHungUp
from contact_center.sim.model import Channel

if TYPE_CHECKING:
    from contact_center.sim.core import PbxCore


async def dial_local(pbx: PbxCore, ch: Channel, exten: str, context: str, timeout: float) -> str:
    """Dial(Local/<exten>@<context>) outside any queue: the ``;2`` runs the dial plan
    (an operator's phone, a customer's phone); returns DIALSTATUS."""
    one, two = pbx.local_pair(exten, context, linkedid=ch.linkedid)
    two.origin = "dial"
    pbx.newexten(one, "AppDial", "(Outgoing Line)")
    pbx.set_callerid(one, ch.caller_num, ch.caller_name)
    pbx.set_callerid(two, ch.caller_num, ch.caller_name)
    pbx.local_bridge_event(one, two)
    dial_string = f"{exten}@{context}"  # app_dial reports it without the technology
    pbx.emit("DialBegin", "call", [*ch.block(), *one.block("Dest"), ("DialString", dial_string)])

    async def ringing() -> None:
        pbx.set_state(one, 5)
        pbx.emit("DialState", "call", [*ch.block(), *one.block("Dest"), ("DialStatus", "RINGING")])

    async def answered() -> None:
        pbx.set_state(one, 6)
        one.answered_event.set()
        await pbx.wait_for_event(two, one.proceed, None)

    two.on_ringing, two.on_answer = ringing, answered
    pbx.dialplan.prepare_phone(two)
    phone = pbx.spawn(pbx.dialplan.run(two), name=two.name)
    try:
        answered_in_time = await pbx.wait_for_event(ch, one.answered_event, timeout or None)
    except ChannelHungUp:
        pbx.emit("DialEnd", "call", [*ch.block(), *one.block("Dest"), ("DialStatus", "CANCEL")])
        await _hang_up_leg(pbx, one, two, phone)
        raise
    if not answered_in_time:
        pbx.emit("DialEnd", "call", [*ch.block(), *one.block("Dest"), ("DialStatus", "NOANSWER")])
        await _hang_up_leg(pbx, one, two, phone, cause=0)
        return "NOANSWER"
    pbx.emit("DialEnd", "call", [*ch.block(), *one.block("Dest"), ("DialStatus", "ANSWER")])
    bridge = pbx.bridge_create()
    pbx.bridge_enter(bridge, one)
    pbx.answer_dialer(ch)  # an Atxfer consultation is answered now (capture 17's order)
    pbx.bridge_enter(bridge, ch)
    ch.cdr_dest_channel = one.name
    one.proceed.set()
    try:
        await pbx.wait_for_event(ch, one.hangup_requested, None)
    finally:
        pbx.bridge_leave(bridge, ch)
        pbx.bridge_leave(bridge, one)
        pbx.bridge_destroy(bridge)
        await _hang_up_leg(pbx, one, two, phone)
    return "ANSWER"


async def _hang_up_leg(
    pbx: PbxCore, one: Channel, two: Channel, phone: asyncio.Task[Any], cause: int = 16
) -> None:
    if not one.dead:
        if not two.dead:
            pbx.peer_hangup(two, cause)
        one.peer = None
        one.cause = cause
        pbx.finish(one, soft=False)
    await asyncio.shield(phone)
